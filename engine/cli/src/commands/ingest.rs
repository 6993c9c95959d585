//! `previz ingest FOLDER --into PROJECT`: rushes into the project's store, registered as assets,
//! with a manifest per ingest (see previz-render's ingest module).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use previz_core::edit::EditCommand;
use previz_core::shot::Asset;
use previz_jobs::CancelToken;
use previz_render::ingest::{IngestReport, IngestedFile, Known, ingest};
use previz_storage::OpenMode;
use serde::Serialize;

use super::batch::cancel_on_signals;
use super::{close, open, project_dir, storage_error};
use crate::args::IngestArgs;
use crate::output::{CliError, ErrorKind, print_json, print_text};

#[derive(Serialize)]
struct Summary<'a> {
    #[serde(flatten)]
    report: &'a IngestReport,
    registered: usize,
    seconds: f64,
    manifest: String,
}

/// What earlier ingests of the same folder learnt (path, size, time → hash).
fn known(project: &Path, folder: &Path) -> Known {
    known_files(project, folder)
        .into_iter()
        .map(|(k, f)| (k, f.hash))
        .collect()
}

/// `modified` for an S3 object in manifests: its ETag folded to a number (S3 keeps no
/// modification time a re-upload would not also change).
fn etag_stamp(etag: &str) -> u64 {
    let h = blake3::hash(etag.as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or_default())
}

/// What earlier ingests of the same source (a folder, or an S3 prefix) brought in, by
/// (relative path, size, modification time or ETag stamp).
fn known_files(project: &Path, source: &Path) -> HashMap<(String, u64, u64), IngestedFile> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(project.join("ingest")) else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(bytes) = std::fs::read(e.path()) else {
            continue;
        };
        let Ok(report) = serde_json::from_slice::<IngestReport>(&bytes) else {
            continue;
        };
        if report.folder != source {
            continue;
        }
        for f in report.files {
            out.insert((f.source.clone(), f.size, f.modified), f);
        }
    }
    out
}

fn progress_bar(json: bool) -> ProgressBar {
    let bar = ProgressBar::new(0);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Rushes under an S3 prefix: listed, fetched (streamed) into a staging folder in the project,
/// except what earlier ingests already brought in (same key, size and ETag), then ingested
/// like a folder; the report names the S3 keys.
fn from_s3(
    url: &str,
    dir: &Path,
    store: &previz_storage::AssetStore,
    args: &IngestArgs,
    json: bool,
    cancel: &CancelToken,
) -> Result<IngestReport, CliError> {
    let backend = previz_storage::backend::open(url)
        .map_err(|e| CliError::bad_input(format!("{url}: {e}")))?;
    let objects = backend
        .list("")
        .map_err(|e| CliError::failure(format!("listing {url}: {e}")))?;
    let known = known_files(dir, Path::new(url));
    let mut report = IngestReport {
        folder: url.into(),
        ..IngestReport::default()
    };
    let mut fetch = Vec::new();
    for o in &objects {
        if o.key.split('/').any(|part| part.starts_with('.')) {
            report.skipped.push((o.key.clone(), "hidden".into()));
            continue;
        }
        if !previz_render::ingest::is_media(Path::new(&o.key)) {
            report
                .skipped
                .push((o.key.clone(), "not an image, audio or video file".into()));
            continue;
        }
        let stamp = etag_stamp(&o.version.0);
        match known.get(&(o.key.clone(), o.size, stamp)) {
            Some(f) if store.contains(&f.hash) => {
                let mut f = f.clone();
                f.read = false;
                report.files.push(f);
            }
            _ => fetch.push((o.key.clone(), o.size, stamp)),
        }
    }
    let staging = dir
        .join("ingest")
        .join(format!(".staging-{}", previz_storage::host::random_hex(8)));
    let total: u64 = fetch.iter().map(|f| f.1).sum();
    let bar = progress_bar(json);
    bar.set_message("fetching");
    bar.set_length(total);
    let mut done = 0u64;
    let result = (|| {
        for (key, size, _) in &fetch {
            if cancel.is_cancelled() {
                break;
            }
            let dest = staging.join(key);
            backend
                .download(key, &dest, &|d| bar.set_position(done + d))
                .map_err(|e| {
                    CliError::failure(format!("fetching {}: {e}", backend.location(key)))
                })?;
            done += size;
        }
        if cancel.is_cancelled() || fetch.is_empty() {
            return Ok(IngestReport::default());
        }
        bar.set_message("hashing");
        bar.set_position(0);
        ingest(
            &staging,
            store,
            &Known::new(),
            args.threads,
            &|d, t| {
                bar.set_length(t);
                bar.set_position(d);
            },
            cancel,
        )
        .map_err(|e| CliError::failure(format!("reading {}: {e}", staging.display())))
    })();
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&staging);
    let fetched = result?;
    let stamps: HashMap<&str, u64> = fetch.iter().map(|f| (f.0.as_str(), f.2)).collect();
    for mut f in fetched.files {
        f.modified = stamps.get(f.source.as_str()).copied().unwrap_or_default();
        report.files.push(f);
    }
    report.skipped.extend(fetched.skipped);
    report.bytes_read = fetched.bytes_read;
    report.cancelled = cancel.is_cancelled();
    report.files.sort_by(|a, b| a.source.cmp(&b.source));
    report.skipped.sort();
    Ok(report)
}

/// Whether the project's lock was left by a process of this machine that is gone.
fn left_by_dead_process(dir: &Path) -> bool {
    let lock = previz_storage::ProjectPaths::new(dir).lock();
    matches!(
        previz_storage::lock::read_lock(&lock),
        Ok(previz_storage::lock::LockRead::Held(info))
            if info.host == previz_storage::host::host_name()
                && previz_storage::host::pid_alive(info.pid) == Some(false)
    )
}

pub fn run(args: &IngestArgs, json: bool) -> Result<(), CliError> {
    let source = args.folder.to_string_lossy().into_owned();
    let dir = project_dir(Some(&args.into))?;
    // Copying needs no lock (the store is content-addressed and safe for many writers): the
    // project is only held while the new assets are registered, so editors are not locked out
    // for the length of a copy, and a killed ingest leaves no lock behind.
    let (reader, _) = open(&dir, OpenMode::ReadOnly, json)?;
    let store = reader.assets();
    close(reader);
    let cancel = CancelToken::new();
    cancel_on_signals(&cancel);
    let started = Instant::now();
    let (report, folder) = if source.starts_with("s3://") {
        let url = source.trim_end_matches('/').to_owned();
        (
            from_s3(&url, &dir, &store, args, json, &cancel)?,
            PathBuf::from(url),
        )
    } else {
        let folder = std::fs::canonicalize(&args.folder).map_err(|e| {
            CliError::bad_input(format!(
                "{}: {e}; give a folder of rushes or an s3://bucket/prefix",
                args.folder.display()
            ))
        })?;
        if !folder.is_dir() {
            return Err(CliError::bad_input(format!(
                "{}: not a folder; give the folder the rushes are in",
                folder.display()
            )));
        }
        let bar = progress_bar(json);
        let result = ingest(
            &folder,
            &store,
            &known(&dir, &folder),
            args.threads,
            &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            },
            &cancel,
        );
        bar.finish_and_clear();
        let report =
            result.map_err(|e| CliError::failure(format!("reading {}: {e}", folder.display())))?;
        (report, folder)
    };
    // A lock left by an ingest killed on this machine while registering (its process is gone)
    // is taken over, as a rerun of a killed batch does; any other holder is respected.
    let mode = if args.take_over || left_by_dead_process(&dir) {
        OpenMode::TakeOver
    } else {
        OpenMode::ReadWrite
    };
    let (mut session, _) = open(&dir, mode, json)?;
    let seconds = started.elapsed().as_secs_f64();
    // Register what the project does not know yet, as one undo step.
    let mut commands = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in &report.files {
        if !session.project().assets.contains_key(&f.hash) && seen.insert(f.hash) {
            commands.push(EditCommand::RegisterAsset {
                asset: Box::new(Asset {
                    hash: f.hash,
                    kind: f.kind,
                    media: f.media.clone(),
                    extra: previz_core::Extra::new(),
                }),
            });
        }
    }
    let registered = commands.len();
    if !commands.is_empty() {
        let batch = EditCommand::Batch {
            label: format!("Ingest {registered} files from {}", folder.display()),
            commands,
        };
        if let Err(e) = session.apply(&batch).and_then(|_| session.save()) {
            close(session);
            return Err(storage_error(&e));
        }
    }
    close(session);
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%S%.3fZ")
        .to_string();
    let manifest = dir.join("ingest").join(format!("{stamp}.json"));
    let bytes = serde_json::to_vec_pretty(&report).map_err(|e| CliError::failure(e.to_string()))?;
    let written = std::fs::create_dir_all(dir.join("ingest"))
        .and_then(|()| previz_storage::atomic::write_atomic(&manifest, &bytes));
    if let Err(e) = written {
        return Err(CliError::failure(format!(
            "writing {}: {e}",
            manifest.display()
        )));
    }
    let summary = Summary {
        report: &report,
        registered,
        seconds,
        manifest: manifest.display().to_string(),
    };
    if json {
        print_json(&summary)?;
    } else {
        let read = report.files.iter().filter(|f| f.read).count();
        let mut text = format!(
            "Ingested {} files from {} into {}: {} read ({:.1} MB at {:.0} MB/s), {} known from earlier ingests, {} new assets registered; manifest {}",
            report.files.len(),
            folder.display(),
            dir.display(),
            read,
            report.bytes_read as f64 / 1e6,
            report.bytes_read as f64 / 1e6 / seconds.max(1e-9),
            report.files.len() - read,
            registered,
            manifest.display()
        );
        for (file, why) in &report.skipped {
            text.push_str(&format!("\n  {file}: {why}"));
        }
        print_text(&text)?;
    }
    if report.cancelled {
        return Err(CliError::of_kind(
            ErrorKind::Cancelled,
            "cancelled; what was copied is kept: run the same command again to go on",
        ));
    }
    Ok(())
}
