//! `previz conform`: a cut edited in editorial applied back to the project.

use previz_render::interchange::conform::{ConformReport, conform};
use previz_render::interchange::{CutFormat, ImportError, read_cut};
use previz_storage::OpenMode;
use serde::Serialize;

use super::{close, open, storage_error};
use crate::args::{ConformArgs, ConformFormat};
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct Report<'a> {
    applied: bool,
    #[serde(flatten)]
    report: &'a ConformReport,
}

fn import_error(e: &ImportError, path: &std::path::Path) -> CliError {
    CliError::bad_input(e.message.clone()).at(path, e.line, None)
}

pub fn run(args: &ConformArgs, json: bool) -> Result<(), CliError> {
    let format = match args.format {
        Some(ConformFormat::Otio) => CutFormat::Otio,
        Some(ConformFormat::Edl) => CutFormat::Edl,
        Some(ConformFormat::Fcpxml) => CutFormat::Fcpxml,
        None => CutFormat::from_path(&args.cut).ok_or_else(|| {
            CliError::bad_input(
                "cannot tell the cut's format from its name; pass --format otio|edl|fcpxml",
            )
            .at(&args.cut, None, None)
        })?,
    };
    let bytes = std::fs::read(&args.cut).map_err(|e| {
        CliError::bad_input(format!("cannot read the cut: {e}")).at(&args.cut, None, None)
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        CliError::bad_input("the cut is not UTF-8 text; export it again as OTIO, EDL or FCPXML")
            .at(&args.cut, None, None)
    })?;
    let name = args
        .cut
        .file_name()
        .map_or_else(|| "cut".to_owned(), |n| n.to_string_lossy().into_owned());
    let mode = if args.dry_run {
        OpenMode::ReadOnly
    } else if args.take_over {
        OpenMode::TakeOver
    } else {
        OpenMode::ReadWrite
    };
    let (mut session, _) = open(&args.project, mode, json)?;
    let project = session.project();
    let cut = read_cut(&text, format, &name, project, args.track.as_deref())
        .map_err(|e| import_error(&e, &args.cut))?;
    let (command, report) = conform(project, &cut)
        .map_err(|e| CliError::bad_input(e.to_string()).at(&args.cut, None, None))?;
    let apply = !args.dry_run && !report.is_unchanged();
    if apply {
        session
            .apply(&command)
            .and_then(|_| session.save())
            .map_err(|e| storage_error(&e))?;
    }
    close(session);
    if json {
        return print_json(&Report {
            applied: apply,
            report: &report,
        });
    }
    let mut lines = Vec::new();
    let section = |lines: &mut Vec<String>, title: &str, items: &[String]| {
        if !items.is_empty() {
            lines.push(format!("{title} ({}):", items.len()));
            lines.extend(items.iter().map(|i| format!("  {i}")));
        }
    };
    section(&mut lines, "Removed", &report.removed);
    section(&mut lines, "Moved", &report.moved);
    section(&mut lines, "Trimmed", &report.trimmed);
    section(&mut lines, "Renamed", &report.renamed);
    if report.shifted > 0 {
        lines.push(format!("Placed after gaps: {} clips", report.shifted));
    }
    section(&mut lines, "Not applied", &report.not_applied);
    if !report.untouched_tracks.is_empty() {
        lines.push(format!(
            "Tracks not in the cut, left as they were: {}",
            report.untouched_tracks.join(", ")
        ));
    }
    lines.push(if report.is_unchanged() {
        format!(
            "The project already matches {name} ({} clips).",
            report.matched
        )
    } else if args.dry_run {
        format!(
            "Dry run: nothing changed ({} clips matched).",
            report.matched
        )
    } else {
        format!(
            "Conformed to {name} as one undo step ({} clips matched).",
            report.matched
        )
    });
    print_text(&lines.join("\n"))
}
