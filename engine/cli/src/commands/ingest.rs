//! `previz ingest FOLDER --into PROJECT`: rushes into the project's store, registered as assets,
//! with a manifest per ingest (see previz-render's ingest module).

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use previz_core::edit::EditCommand;
use previz_core::shot::Asset;
use previz_jobs::CancelToken;
use previz_render::ingest::{IngestReport, Known, ingest};
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
    let mut out = Known::new();
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
        if report.folder != folder {
            continue;
        }
        for f in report.files {
            out.insert((f.source, f.size, f.modified), f.hash);
        }
    }
    out
}

pub fn run(args: &IngestArgs, json: bool) -> Result<(), CliError> {
    let source = args.folder.to_string_lossy();
    if source.starts_with("s3://") {
        return Err(CliError::bad_input(format!(
            "{source}: S3 sources need the S3 storage backend, not built yet; sync the prefix to a folder (aws s3 sync) and ingest that"
        )));
    }
    let folder = std::fs::canonicalize(&args.folder).map_err(|e| {
        CliError::bad_input(format!(
            "{}: {e}; give a folder of rushes",
            args.folder.display()
        ))
    })?;
    if !folder.is_dir() {
        return Err(CliError::bad_input(format!(
            "{}: not a folder; give the folder the rushes are in",
            folder.display()
        )));
    }
    let dir = project_dir(Some(&args.into))?;
    // Copying needs no lock (the store is content-addressed and safe for many writers): the
    // project is only held while the new assets are registered, so editors are not locked out
    // for the length of a copy, and a killed ingest leaves no lock behind.
    let (reader, _) = open(&dir, OpenMode::ReadOnly, json)?;
    let store = reader.assets();
    close(reader);
    let bar = ProgressBar::new(0);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let cancel = CancelToken::new();
    cancel_on_signals(&cancel);
    let started = Instant::now();
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
    let mode = if args.take_over {
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
