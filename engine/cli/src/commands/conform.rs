//! `previz conform`: a cut edited in editorial applied back to the project.

use previz_core::timeline::TrackKind;
use previz_render::interchange::conform::{ConformReport, conform};
use previz_render::interchange::{Cut, ImportError, edl, fcpxml, otio};
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
        Some(f) => f,
        None => match args
            .cut
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref()
        {
            Some("otio") => ConformFormat::Otio,
            Some("edl") => ConformFormat::Edl,
            Some("fcpxml") => ConformFormat::Fcpxml,
            _ => {
                return Err(CliError::bad_input(
                    "cannot tell the cut's format from its name; pass --format otio|edl|fcpxml",
                )
                .at(&args.cut, None, None));
            }
        },
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
    let mut cut: Cut = match format {
        ConformFormat::Otio => otio::read(&text, &name),
        ConformFormat::Fcpxml => fcpxml::read(&text, &name),
        ConformFormat::Edl => edl::read(
            &text,
            project.timeline.rate,
            Some(project.timeline.start_frame),
            &name,
        ),
    }
    .map_err(|e| import_error(&e, &args.cut))?;
    // An EDL's picture events are one of our video tracks (named, or the first).
    if format == ConformFormat::Edl
        && let Some(track) = cut.tracks.first_mut()
    {
        let ours = project
            .timeline
            .tracks
            .iter()
            .filter(|t| t.kind == TrackKind::Video)
            .find(|t| args.track.as_ref().is_none_or(|name| &t.name == name))
            .ok_or_else(|| {
                CliError::bad_input(format!(
                    "the project has no video track{}",
                    args.track
                        .as_ref()
                        .map(|n| format!(" named '{n}'"))
                        .unwrap_or_default()
                ))
            })?;
        track.id = Some(ours.id);
        track.name.clone_from(&ours.name);
    }
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
