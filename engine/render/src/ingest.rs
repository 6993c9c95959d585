//! Rush ingest: a folder of existing images, audio and video into a project's content-addressed
//! store, hashed while copied (one read, one write per file), on every core, probed for size,
//! duration and rate (image headers, WAV headers, ffprobe for video when installed).
//!
//! Files already in the store are found by the previous ingests' manifests (same path, size
//! and modification time) and not read again. Symbolic links that lead outside the folder, hidden
//! files and NFS's `.nfsXXXX` placeholders are skipped and reported; a file that cannot be read
//! is reported and the rest go on. Nothing partial is ever visible in the store (temp file,
//! fsync, rename), so an ingest killed midway is resumed by running it again.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use previz_core::ContentHash;
use previz_core::shot::{AssetKind, MediaInfo};
use previz_core::time::{Rate, RationalTime};
use previz_jobs::CancelToken;
use previz_storage::AssetStore;
use serde::{Deserialize, Serialize};

/// One file brought in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestedFile {
    /// Relative to the ingested folder, `/`-separated.
    pub source: String,
    pub size: u64,
    /// Seconds since the epoch (with the size: how a later ingest knows the file unchanged).
    pub modified: u64,
    pub hash: ContentHash,
    pub kind: AssetKind,
    pub media: MediaInfo,
    /// Whether this ingest read it (false: known from a previous manifest).
    pub read: bool,
}

/// What an ingest did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IngestReport {
    pub folder: PathBuf,
    pub files: Vec<IngestedFile>,
    /// Files left out, and why.
    pub skipped: Vec<(String, String)>,
    /// Bytes read and hashed by this ingest.
    pub bytes_read: u64,
    pub cancelled: bool,
}

/// A previous ingest's knowledge: (relative path, size, modified) → hash.
pub type Known = HashMap<(String, u64, u64), ContentHash>;

const IMAGE: &[&str] = &[
    "png", "jpg", "jpeg", "tif", "tiff", "exr", "dpx", "bmp", "webp",
];
const AUDIO: &[&str] = &["wav", "wave", "aif", "aiff", "flac", "mp3", "m4a"];
const VIDEO: &[&str] = &[
    "mov", "mp4", "m4v", "mxf", "mkv", "avi", "webm", "r3d", "braw",
];

/// Whether ingest brings this file in (an image, audio or video file by its extension).
#[must_use]
pub fn is_media(path: &Path) -> bool {
    classify(path).is_some()
}

fn classify(path: &Path) -> Option<(AssetKind, String)> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    let mime = |kind: &str, sub: &str| format!("{kind}/{sub}");
    if IMAGE.contains(&ext.as_str()) {
        let sub = match ext.as_str() {
            "jpg" | "jpeg" => "jpeg",
            "tif" | "tiff" => "tiff",
            other => other,
        };
        return Some((AssetKind::Image, mime("image", sub)));
    }
    if AUDIO.contains(&ext.as_str()) {
        let sub = match ext.as_str() {
            "wav" | "wave" => "wav",
            "aif" | "aiff" => "aiff",
            "mp3" => "mpeg",
            "m4a" => "mp4",
            other => other,
        };
        return Some((AssetKind::Audio, mime("audio", sub)));
    }
    if VIDEO.contains(&ext.as_str()) {
        let sub = match ext.as_str() {
            "mov" => "quicktime",
            "m4v" => "mp4",
            "mkv" => "x-matroska",
            "avi" => "x-msvideo",
            other => other,
        };
        return Some((AssetKind::Video, mime("video", sub)));
    }
    None
}

/// A file to ingest: relative name, path, size, modified.
type Found = (String, PathBuf, u64, u64);
/// A file left out, and why.
type Skipped = (String, String);

/// The files under `root` to ingest, and those skipped.
fn walk(root: &Path) -> std::io::Result<(Vec<Found>, Vec<Skipped>)> {
    let canonical_root = fs::canonicalize(root)?;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&dir)?.flatten().collect();
        entries.sort_by_key(fs::DirEntry::file_name);
        for e in entries {
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                let why = if name.starts_with(".nfs") {
                    "an NFS placeholder for a file deleted while open"
                } else {
                    "hidden"
                };
                skipped.push((rel, why.to_owned()));
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&path) else {
                skipped.push((rel, "vanished while listed".into()));
                continue;
            };
            let meta = if meta.file_type().is_symlink() {
                match fs::canonicalize(&path) {
                    Ok(target) if target.starts_with(&canonical_root) => {
                        match fs::metadata(&target) {
                            Ok(m) if m.is_file() => m,
                            _ => {
                                skipped.push((rel, "a link to a folder or to nothing".into()));
                                continue;
                            }
                        }
                    }
                    _ => {
                        skipped.push((rel, "a link that leads outside the folder".into()));
                        continue;
                    }
                }
            } else {
                meta
            };
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            if !meta.is_file() {
                skipped.push((rel, "not a regular file".into()));
                continue;
            }
            if classify(&path).is_none() {
                skipped.push((rel, "not an image, audio or video file".into()));
                continue;
            }
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            files.push((rel, path, meta.len(), modified));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((files, skipped))
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    r_frame_rate: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u16>,
}

#[derive(Deserialize)]
struct ProbeFormat {
    duration: Option<String>,
}

fn ffprobe(path: &Path, media: &mut MediaInfo) -> Result<(), String> {
    let program = std::env::var("PREVIZ_FFPROBE").unwrap_or_else(|_| "ffprobe".into());
    let out = Command::new(&program)
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .map_err(|e| format!("{program} could not run ({e}): size and duration unknown"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!(
            "{program} could not read it ({}): size and duration unknown",
            last.trim()
        ));
    }
    let probe: Probe =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{program}: {e}"))?;
    for s in &probe.streams {
        match s.codec_type.as_deref() {
            Some("video") if media.width.is_none() => {
                media.width = s.width;
                media.height = s.height;
                media.frame_rate = s.r_frame_rate.as_deref().and_then(|r| {
                    let (n, d) = r.split_once('/')?;
                    Rate::new(n.parse().ok()?, d.parse().ok()?).ok()
                });
            }
            Some("audio") if media.sample_rate_hz.is_none() => {
                media.sample_rate_hz = s.sample_rate.as_deref().and_then(|r| r.parse().ok());
                media.channels = s.channels;
            }
            _ => {}
        }
    }
    let seconds: Option<f64> = probe
        .format
        .and_then(|f| f.duration)
        .and_then(|d| d.parse().ok());
    if let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) {
        let rate = media.frame_rate.unwrap_or(Rate::FPS_24);
        #[allow(clippy::cast_possible_truncation)]
        let frames = (seconds * rate.as_f64()).round() as i64;
        media.duration = Some(RationalTime::new(frames, rate));
    }
    Ok(())
}

/// Size, duration and rate of a file; a note when they could not be known.
fn probe(path: &Path, kind: AssetKind, media: &mut MediaInfo) -> Option<String> {
    match kind {
        AssetKind::Image => match image::image_dimensions(path) {
            Ok((w, h)) => {
                media.width = Some(w);
                media.height = Some(h);
                None
            }
            Err(_) => ffprobe(path, media).err(),
        },
        AssetKind::Audio if media.mime == "audio/wav" => match hound::WavReader::open(path) {
            Ok(reader) => {
                let spec = reader.spec();
                media.sample_rate_hz = Some(spec.sample_rate);
                media.channels = Some(spec.channels);
                media.duration = Rate::new(spec.sample_rate, 1)
                    .ok()
                    .map(|r| RationalTime::new(i64::from(reader.duration()), r));
                None
            }
            Err(e) => Some(format!("not a WAV file we can read: {e}")),
        },
        _ => ffprobe(path, media).err(),
    }
}

/// Ingests the media under `root` into `store` on `threads` threads (0: every core, at least
/// four).
/// `progress(bytes_done, bytes_total)` is called from the workers.
pub fn ingest(
    root: &Path,
    store: &AssetStore,
    known: &Known,
    threads: usize,
    progress: &(dyn Fn(u64, u64) + Sync),
    cancel: &CancelToken,
) -> std::io::Result<IngestReport> {
    let (files, mut skipped) = walk(root)?;
    let total: u64 = files.iter().map(|f| f.2).sum();
    let done = AtomicU64::new(0);
    let read = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Result<IngestedFile, (String, String)>>> = Mutex::new(Vec::new());
    // Copied and hashed, not yet synced or named: committed together at the end (one
    // filesystem sync for all the bytes, then the names), not one fsync per file and folder.
    let staged: Mutex<Vec<previz_storage::Staged>> = Mutex::new(Vec::new());
    let threads = if threads == 0 {
        // At least four: an ingest waits on fsyncs and on the share as much as it hashes, and
        // more files in flight hide that latency (measured: tests/benches/ingest.rs).
        std::thread::available_parallelism().map_or(4, |n| usize::from(n).max(4))
    } else {
        threads
    };
    std::thread::scope(|scope| {
        for _ in 0..threads.min(files.len().max(1)) {
            scope.spawn(|| {
                loop {
                    if cancel.is_cancelled() {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((rel, path, size, modified)) = files.get(i) else {
                        break;
                    };
                    let Some((kind, mime)) = classify(path) else {
                        continue;
                    };
                    let cached = known
                        .get(&(rel.clone(), *size, *modified))
                        .filter(|h| store.contains(h))
                        .copied();
                    let outcome = match cached {
                        Some(hash) => Ok((hash, false)),
                        None => store.stage_file(path).map(|s| {
                            let hash = s.hash();
                            if s.is_new() {
                                staged
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .push(s);
                            }
                            (hash, true)
                        }),
                    };
                    let item = match outcome {
                        Ok((hash, was_read)) => {
                            if was_read {
                                read.fetch_add(*size, Ordering::Relaxed);
                            }
                            let mut media = MediaInfo {
                                mime,
                                bytes: *size,
                                ..MediaInfo::default()
                            };
                            let note = probe(path, kind, &mut media);
                            if let Some(note) = note {
                                results
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .push(Err((rel.clone(), format!("ingested, but {note}"))));
                            }
                            Ok(IngestedFile {
                                source: rel.clone(),
                                size: *size,
                                modified: *modified,
                                hash,
                                kind,
                                media,
                                read: was_read,
                            })
                        }
                        Err(e) => Err((rel.clone(), e.to_string())),
                    };
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(item);
                    let d = done.fetch_add(*size, Ordering::Relaxed) + size;
                    progress(d, total);
                }
            });
        }
    });
    // Bytes, then names, durable before anyone registers them.
    let mut staged = staged
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    store
        .commit(&mut staged)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut report = IngestReport {
        folder: root.to_path_buf(),
        bytes_read: read.load(Ordering::Relaxed),
        cancelled: cancel.is_cancelled(),
        ..IngestReport::default()
    };
    for r in results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        match r {
            Ok(f) => report.files.push(f),
            Err(s) => skipped.push(s),
        }
    }
    report.files.sort_by(|a, b| a.source.cmp(&b.source));
    skipped.sort();
    report.skipped = skipped;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingests_probes_skips_and_remembers() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("rushes");
        fs::create_dir_all(src.join("day1")).unwrap();
        let png = image::RgbImage::from_pixel(64, 27, image::Rgb([10, 20, 30]));
        png.save(src.join("day1/frame.png")).unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(src.join("day1/line.wav"), spec).unwrap();
        for _ in 0..48_000 {
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
        fs::write(src.join("notes.txt"), b"call sheet").unwrap();
        fs::write(src.join(".nfs000123"), b"x").unwrap();
        let outside = tmp.path().join("outside.png");
        png.save(&outside).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, src.join("escape.png")).unwrap();

        let store = AssetStore::new(tmp.path().join("assets"));
        let cancel = CancelToken::new();
        let report = ingest(&src, &store, &Known::new(), 2, &|_, _| {}, &cancel).unwrap();
        let names: Vec<&str> = report.files.iter().map(|f| f.source.as_str()).collect();
        assert_eq!(names, ["day1/frame.png", "day1/line.wav"]);
        let frame = &report.files[0];
        assert_eq!(
            (frame.media.width, frame.media.height),
            (Some(64), Some(27))
        );
        assert!(store.contains(&frame.hash));
        let line = &report.files[1];
        assert_eq!(line.media.sample_rate_hz, Some(48_000));
        assert_eq!(line.media.duration.map(|d| d.value), Some(48_000));
        let reasons: Vec<&str> = report.skipped.iter().map(|(_, r)| r.as_str()).collect();
        assert!(
            reasons.iter().any(|r| r.contains("NFS placeholder")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("not an image")),
            "{reasons:?}"
        );
        #[cfg(unix)]
        assert!(
            reasons.iter().any(|r| r.contains("outside the folder")),
            "{reasons:?}"
        );

        // A second ingest with the first one's manifest reads nothing again.
        let known: Known = report
            .files
            .iter()
            .map(|f| ((f.source.clone(), f.size, f.modified), f.hash))
            .collect();
        let again = ingest(&src, &store, &known, 2, &|_, _| {}, &cancel).unwrap();
        assert_eq!(again.bytes_read, 0);
        assert!(again.files.iter().all(|f| !f.read));
    }
}
