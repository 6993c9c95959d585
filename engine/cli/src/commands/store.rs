//! `previz store PROJECT LOCATION`: share a project's media through the show's store.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use previz_storage::{AssetStore, OpenMode, ShowStore, StoreConfig};
use serde::Serialize;

use super::{close, open, project_dir};
use crate::args::StoreArgs;
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct Summary {
    project: String,
    store: String,
    assets: usize,
    sent: usize,
    already_there: usize,
    missing_here: Vec<String>,
}

pub fn run(args: &StoreArgs, json: bool) -> Result<(), CliError> {
    let dir = project_dir(Some(&args.project))?;
    let show = ShowStore::open(&args.location)
        .map_err(|e| CliError::bad_input(format!("{}: {e}", args.location)))?;
    let (session, _) = open(&dir, OpenMode::ReadOnly, json)?;
    let hashes: Vec<_> = session.project().assets.keys().copied().collect();
    close(session);
    let local = AssetStore::new(dir.join(previz_storage::layout::ASSET_DIR));
    let bar = ProgressBar::new(hashes.len() as u64);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} assets {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut summary = Summary {
        project: dir.display().to_string(),
        store: args.location.clone(),
        assets: hashes.len(),
        sent: 0,
        already_there: 0,
        missing_here: Vec::new(),
    };
    for hash in &hashes {
        let path = local.path_of(hash);
        if !path.is_file() {
            summary.missing_here.push(hash.to_hex());
        } else {
            let sent = show
                .adopt(hash, &path)
                .map_err(|e| CliError::failure(format!("{}: {e}", path.display())))?;
            if sent {
                summary.sent += 1;
            } else {
                summary.already_there += 1;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Written last: the project only names the store once its media are there.
    StoreConfig::new(&args.location).write(&dir).map_err(|e| {
        CliError::failure(format!(
            "writing {}: {e}",
            dir.join(previz_storage::store::STORE_CONFIG).display()
        ))
    })?;
    if json {
        print_json(&summary)?;
    } else {
        let mut text = format!(
            "{} now shares its media through {}: {} assets, {} sent, {} already there",
            summary.project, summary.store, summary.assets, summary.sent, summary.already_there
        );
        if !summary.missing_here.is_empty() {
            text.push_str(&format!(
                "\n{} assets are missing from the project folder and were not sent: run `previz fsck {}`",
                summary.missing_here.len(),
                summary.project
            ));
        }
        print_text(&text)?;
    }
    Ok(())
}
