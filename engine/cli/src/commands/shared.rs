//! `previz shared PROJECT`: the leases and conflict records of a project many editors share.

use std::fmt::Write as _;

use previz_storage::Session;
use previz_storage::backend;
use previz_storage::shared::{resolve_conflicts, status};

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
    if args.enable {
        return enable(args, json);
    }
    let store = backend::open(&args.project)
        .map_err(|e| CliError::bad_input(format!("{}: {e}", args.project)))?;
    if args.resolve_all || !args.resolve.is_empty() {
        let keys = if args.resolve_all {
            status(store.as_ref(), "")
                .map_err(|e| CliError::bad_input(format!("{}: {e}", args.project)))?
                .conflicts
                .into_iter()
                .map(|(key, _)| key)
                .collect()
        } else {
            args.resolve.clone()
        };
        let moved = resolve_conflicts(store.as_ref(), "", &keys)
            .map_err(|e| CliError::bad_input(format!("{}: {e}", args.project)))?;
        let message = format!(
            "{}: {moved} conflict record(s) marked as dealt with (kept in conflicts-resolved/)",
            args.project
        );
        if json {
            print_json(&serde_json::json!({ "resolved": moved }))?;
        } else {
            print_text(&message)?;
        }
    }
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

/// `previz shared FOLDER --enable`.
fn enable(args: &SharedArgs, json: bool) -> Result<(), CliError> {
    if args.project.starts_with("s3://") {
        return Err(CliError::bad_input(format!(
            "{}: a project on S3 is shared from the start; --enable is for project folders",
            args.project
        )));
    }
    Session::share(&args.project).map_err(|e| crate::commands::storage_error(&e))?;
    if json {
        print_json(&serde_json::json!({ "shared": args.project }))
    } else {
        print_text(&format!(
            "{}: shared; editors now lease the scenes they work on and their saves merge",
            args.project
        ))
    }
}
