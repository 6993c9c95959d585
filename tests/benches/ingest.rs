//! `previz ingest` against `cp -r` to the same filesystem, on a folder of mixed rushes (many
//! small stills and WAVs, a few large video files), printed as a throughput ratio. The target
//! is ingest ≥ 0.9× cp, although ingest also hashes every byte (blake3), fsyncs every file,
//! probes media and registers the assets in the project. Run:
//!
//! ```text
//! cargo build -p previz-cli && cargo bench -p previz-e2e --bench ingest --profile dev
//! ```
//!
//! INGEST_BENCH_SMALL (default 1200 files of 64 KB) and INGEST_BENCH_LARGE_MB (default 3 files
//! of 300 MB) size the folder; INGEST_BENCH_DIR puts it on another filesystem (the share).
//! Six rounds, each running both tools from a warm page cache (the folder was just written),
//! after a `sync` so neither pays for the other's write-back; which goes first alternates by
//! round (the disk takes a gigabyte more slowly right after another, and more slowly as the
//! kept copies fill it, so a fixed order favours one side). The headline is the median of the
//! rounds' ratios; the best and median runs of each are printed too (disks in VMs are noisy). `cp` is followed by `sync` so both
//! have put their bytes on disk. Copies are kept until the end (about 12 GB with the defaults):
//! deleting thousands of files just before a run makes ext4 scan its recently freed inodes on
//! every create (`recently_deleted`, for a minute or more), which measured the previous run's
//! deletion rather than the tool, and hit the tool that creates more folders harder. No assertion on time: the figures are for people to compare.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use previz_e2e::previz_binary;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Incompressible bytes (xorshift), so neither tool gets a free ride.
fn fill(bytes: &mut [u8], mut state: u64) {
    for chunk in bytes.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut chunk = kind.to_vec();
    chunk.extend_from_slice(data);
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
}

/// A PNG file as a renderer writes one (signature, IHDR, IDAT, IEND, with checksums) of
/// `len` bytes: what ingest's probe reads is real; the pixels are not decoded.
fn png_file(width: u32, height: u32, payload: &[u8], len: usize) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    let idat = len - out.len() - 12 - 12;
    png_chunk(&mut out, b"IDAT", &payload[..idat]);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A 16-bit mono 48 kHz WAV header for `data` bytes of samples.
fn wav_header(data: u32) -> Vec<u8> {
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&48_000u32.to_le_bytes());
    out.extend_from_slice(&96_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    out
}

fn make_rushes(dir: &Path, small: u64, large_mb: u64) -> u64 {
    let mut total = 0;
    let mut buf = vec![0u8; 64 << 10];
    for i in 0..small {
        let sub = dir.join(format!("day{}", i % 4 + 1));
        std::fs::create_dir_all(&sub).expect("create the rush folder");
        fill(&mut buf, 0x9e37_79b9_7f4a_7c15 ^ i);
        let (name, bytes) = if i % 2 == 0 {
            (
                format!("still_{i:05}.png"),
                png_file(1920, 1080, &buf, buf.len()),
            )
        } else {
            let mut bytes = buf.clone();
            let header = wav_header(buf.len() as u32 - 44);
            bytes[..header.len()].copy_from_slice(&header);
            (format!("sound_{i:05}.wav"), bytes)
        };
        std::fs::write(sub.join(name), &bytes).expect("write a rush");
        total += bytes.len() as u64;
    }
    let mut big = vec![0u8; (large_mb << 20) as usize];
    for i in 0..3u64 {
        fill(&mut big, 0x1234_5678 ^ (i << 40));
        std::fs::write(dir.join(format!("A00{i}_C001.mov")), &big).expect("write a clip");
        total += big.len() as u64;
    }
    total
}

fn time(mut command: Command) -> f64 {
    let _ = Command::new("sync").status();
    let started = Instant::now();
    let out = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("the command runs");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        command,
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}

fn main() {
    let small = env_or("INGEST_BENCH_SMALL", 1200);
    let large_mb = env_or("INGEST_BENCH_LARGE_MB", 300);
    let base = std::env::var_os("INGEST_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let tmp = tempfile::tempdir_in(base).expect("a scratch folder");
    let rushes = tmp.path().join("rushes");
    let bytes = make_rushes(&rushes, small, large_mb);
    let mb = bytes as f64 / 1e6;
    eprintln!(
        "ingest bench: {small} small files and 3 × {large_mb} MB clips ({mb:.0} MB) in {}",
        rushes.display()
    );
    let mut cps = Vec::new();
    let mut ingests = Vec::new();
    let mut ratios = Vec::new();
    // The two alternate which goes first: the disk absorbs a gigabyte more slowly right after
    // another one (and as the kept copies fill it), so a fixed order would favour one side.
    for round in 0..6 {
        let target = tmp.path().join(format!("copy{round}"));
        let project = tmp.path().join(format!("film{round}.previz"));
        let mut new = Command::new(previz_binary());
        new.arg("new").arg(&project);
        time(new);
        let run_cp = || {
            let mut cp = Command::new("sh");
            cp.arg("-c")
                .arg("cp -r \"$0\" \"$1\" && sync")
                .arg(&rushes)
                .arg(&target);
            time(cp)
        };
        let run_ingest = || {
            let mut ingest = Command::new(previz_binary());
            ingest
                .arg("ingest")
                .arg(&rushes)
                .arg("--into")
                .arg(&project)
                .arg("--json");
            time(ingest)
        };
        let (t, t2) = if round % 2 == 0 {
            let t = run_cp();
            (t, run_ingest())
        } else {
            let t2 = run_ingest();
            (run_cp(), t2)
        };
        cps.push(t);
        ingests.push(t2);
        ratios.push(t / t2);
        eprintln!(
            "  round {round} ({} first): cp -r + sync {t:.2} s, previz ingest {t2:.2} s: {:.2}× cp",
            if round % 2 == 0 { "cp" } else { "ingest" },
            t / t2
        );
    }
    cps.sort_by(f64::total_cmp);
    ingests.sort_by(f64::total_cmp);
    ratios.sort_by(f64::total_cmp);
    let (cp_best, ingest_best) = (mb / cps[0], mb / ingests[0]);
    let median = |v: &[f64]| f64::midpoint(v[v.len() / 2 - 1], v[v.len() / 2]);
    let (cp_median, ingest_median) = (mb / median(&cps), mb / median(&ingests));
    let ratio = median(&ratios);
    eprintln!(
        "ingest bench: median of the rounds' ratios: previz ingest (hash + fsync + probe + register) {ratio:.2}× cp -r + sync (target ≥ 0.90×: {}); best runs: {cp_best:.0} and {ingest_best:.0} MB/s: {:.2}×; medians: {cp_median:.0} and {ingest_median:.0} MB/s: {:.2}×",
        if ratio >= 0.9 { "met" } else { "NOT met" },
        ingest_best / cp_best,
        ingest_median / cp_median
    );
}
