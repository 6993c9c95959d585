//! `previz shared PROJECT`: the leases and conflict records of a project many editors share.

use std::fmt::Write as _;

use previz_storage::backend;
use previz_storage::shared::status;

use crate::args::SharedArgs;
use crate::output::{CliError, print_json, print_text};

/// A value as one short line.
fn brief(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::Null => "(nothing)".to_owned(),
        serde_json::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(59).collect();
        format!("{cut}…")
    } else {
        text
    }
}

pub fn run(args: &SharedArgs, json: bool) -> Result<(), CliError> {
    let store = backend::open(&args.project)
        .map_err(|e| CliError::bad_input(format!("{}: {e}", args.project)))?;
    let found = status(store.as_ref(), "")
        .map_err(|e| CliError::bad_input(format!("{}: {e}", args.project)))?;
    if json {
        print_json(&found)?;
    } else {
        let mut text = format!(
            "{}: {} lease{}, {} conflict record{}",
            args.project,
            found.leases.len(),
            if found.leases.len() == 1 { "" } else { "s" },
            found.conflicts.len(),
            if found.conflicts.len() == 1 { "" } else { "s" }
        );
        for (lease, stale) in &found.leases {
            let _ = write!(
                text,
                "\nLEASE scene {}: {} until {}{}",
                lease.scene,
                lease.holder,
                lease.expires,
                if *stale {
                    " (stale: anyone may take it over)"
                } else {
                    ""
                }
            );
        }
        for (key, record) in &found.conflicts {
            for c in &record.conflicts {
                let _ = write!(
                    text,
                    "\nCONFLICT {} {}@{}: {} ({}); wanted {}, the project kept {}  [{key}]",
                    record.at,
                    record.editor.user,
                    record.editor.host,
                    c.region,
                    c.reason,
                    brief(&c.mine),
                    brief(&c.theirs)
                );
            }
        }
        for (key, why) in &found.unreadable {
            let _ = write!(text, "\nUNREADABLE {key}: {why}");
        }
        print_text(&text)?;
    }
    if found.conflicts.is_empty() {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "{}: {} conflict record(s) to look at",
            args.project,
            found.conflicts.len()
        )))
    }
}
