//! Save and open of a feature-sized project (10,000 shots, 10,000 clips), side by side with the
//! plain-file floor: `cp` + `sync` of the same bytes for save, read + parse into
//! `serde_json::Value` for open. Medians of 5 runs; no assertions, numbers only.
//!
//! ```text
//! cargo bench -p previz-storage --bench save_open --profile dev
//! PREVIZ_BENCH_DIR=/mnt/share cargo bench …   # measure on a particular disk or share
//! ```

#![expect(
    clippy::print_stdout,
    reason = "a benchmark's report is what it prints"
)]

use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use previz_core::{EditCommand, ShotField};
use previz_storage::{OpenMode, Session};

const RUNS: usize = 5;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(ours: Duration, peer: Duration) -> String {
    if peer.is_zero() {
        "-".to_owned()
    } else {
        format!("{:.1}x", ours.as_secs_f64() / peer.as_secs_f64())
    }
}

/// `cp src dst && sync dst`, timed; an error names the missing tool.
fn copy_and_sync(src: &Path, dst: &Path) -> Result<Duration, String> {
    let start = Instant::now();
    for (tool, args) in [
        ("cp", vec![src.as_os_str(), dst.as_os_str()]),
        ("sync", vec![dst.as_os_str()]),
    ] {
        let status = Command::new(tool)
            .args(args)
            .status()
            .map_err(|e| format!("`{tool}` could not be run ({e})"))?;
        if !status.success() {
            return Err(format!("`{tool}` failed ({status})"));
        }
    }
    Ok(start.elapsed())
}

/// Medians of `format::to_json` and `format::from_json` of the same document.
fn format_times(project: &previz_core::Project) -> (Duration, Duration) {
    let mut save = Vec::new();
    let mut open = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let bytes = previz_core::format::to_json(project);
        save.push(start.elapsed());
        let start = Instant::now();
        let parsed = previz_core::format::from_json(&bytes);
        open.push(start.elapsed());
        drop(parsed);
    }
    (median(save), median(open))
}

fn run() -> Result<(), Box<dyn Error>> {
    let root = std::env::var_os("PREVIZ_BENCH_DIR")
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let tmp = tempfile::tempdir_in(&root)?;
    let dir = tmp.path().join("bench.previz");

    let generated = Instant::now();
    let project = previz_core::synth::project(10_000, 10_000);
    let shot = project.shots.first().map(|s| s.id).ok_or("no shots")?;
    println!(
        "project: 10k shots/10k clips generated in {}; folder {}",
        ms(generated.elapsed()),
        tmp.path().display()
    );
    // Timed on its own below, to tell storage's cost from the document format's.
    let format_copy = project.clone();
    let mut session = Session::create(&dir, project)?;

    // Save: an edit before each run so every save writes and backs up new content.
    let mut ours = Vec::new();
    for run in 0..RUNS {
        session.apply(&EditCommand::EditShot {
            shot,
            field: ShotField::Notes(format!("run {run}")),
        })?;
        let start = Instant::now();
        session.save()?;
        ours.push(start.elapsed());
    }
    let save_ours = median(ours);
    session.close().map_err(|e| e.error)?;
    let project_file = dir.join("project.json");
    let size_mb = std::fs::metadata(&project_file)?.len() as f64 / 1e6;

    let mut peer = Vec::new();
    let mut peer_problem = None;
    for run in 0..RUNS {
        match copy_and_sync(&project_file, &tmp.path().join(format!("copy-{run}.json"))) {
            Ok(t) => peer.push(t),
            Err(why) => {
                peer_problem = Some(why);
                break;
            }
        }
    }
    let save_peer = median(peer);
    let (to_json, from_json) = format_times(&format_copy);
    match &peer_problem {
        None => println!(
            "save  10k shots/10k clips  {size_mb:.1} MB  ours {}  peer(cp+sync) {}  ratio {}  target <= 150 ms",
            ms(save_ours),
            ms(save_peer),
            ratio(save_ours, save_peer)
        ),
        Some(why) => println!(
            "save  10k shots/10k clips  {size_mb:.1} MB  ours {}  peer(cp+sync) unavailable: {why}  target <= 150 ms",
            ms(save_ours)
        ),
    }

    // Open: lock, read, hash, parse, journal check. Closing is outside the timing.
    let mut ours = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let (session, _) = Session::open(&dir, OpenMode::ReadWrite)?;
        ours.push(start.elapsed());
        session.close().map_err(|e| e.error)?;
    }
    let open_ours = median(ours);
    let mut peer = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let bytes = std::fs::read(&project_file)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)?;
        peer.push(start.elapsed());
        drop(value);
    }
    let open_peer = median(peer);
    println!(
        "open  10k shots/10k clips  {size_mb:.1} MB  ours {}  peer(read+parse Value) {}  ratio {}",
        ms(open_ours),
        ms(open_peer),
        ratio(open_ours, open_peer)
    );
    println!(
        "of which previz-core: to_json {} (in save), from_json {} (in open); storage's own work is the rest",
        ms(to_json),
        ms(from_json)
    );
    println!(
        "profile: {}",
        if cfg!(debug_assertions) {
            "dev (previz-core, previz-storage and all dependencies at opt-level 3, as CI builds them)"
        } else {
            "optimized"
        }
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        println!("benchmark failed: {e}");
        std::process::exit(1);
    }
}
