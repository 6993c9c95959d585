//! `previz export`: the animatic (MP4, image sequence with stems), the edit for editorial (OTIO,
//! EDL, FCP 7 XML, FCPXML, with the media they point at linked into a folder of readable
//! names), the storyboard PDF, the AD department's CSV shot list, and the script as Fountain.
//! Long exports show a progress bar on a terminal.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use previz_jobs::CancelToken;
use previz_render::animatic::BurnIns;
use previz_render::export::{ExportFormat as Format, ExportRequest, export};
use previz_render::storyboard::Paper;
use previz_screenplay::convert::to_screenplay;
use previz_screenplay::write_fountain;
use previz_storage::{AssetStore, OpenMode};

use super::{close, open, project_dir};
use crate::args::{BurnIn, ExportArgs, ExportFormat, Omitted, PaperArg};
use crate::output::{CliError, print_json, print_text};

fn engine_format(format: ExportFormat) -> Option<Format> {
    Some(match format {
        ExportFormat::Mp4 => Format::Mp4,
        ExportFormat::Otio => Format::Otio,
        ExportFormat::Edl => Format::Edl,
        ExportFormat::Xmeml => Format::Xmeml,
        ExportFormat::Fcpxml => Format::Fcpxml,
        ExportFormat::Pdf => Format::Pdf,
        ExportFormat::Csv => Format::Csv,
        ExportFormat::Frames => Format::Frames,
        ExportFormat::Fountain => return None,
    })
}

/// The format a file's extension names: the engine's formats, and Fountain.
fn from_extension(path: &Path) -> Option<ExportFormat> {
    let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
    if matches!(ext.as_str(), "fountain" | "spmd") {
        return Some(ExportFormat::Fountain);
    }
    Some(match Format::from_path(path)? {
        Format::Mp4 => ExportFormat::Mp4,
        Format::Otio => ExportFormat::Otio,
        Format::Edl => ExportFormat::Edl,
        Format::Xmeml => ExportFormat::Xmeml,
        Format::Fcpxml => ExportFormat::Fcpxml,
        Format::Pdf => ExportFormat::Pdf,
        Format::Csv => ExportFormat::Csv,
        Format::Frames => ExportFormat::Frames,
    })
}

fn burn_ins(list: &[BurnIn]) -> BurnIns {
    let mut b = BurnIns::default();
    for item in list {
        match item {
            BurnIn::Shot => b.shot_number = true,
            BurnIn::Scene => b.scene_number = true,
            BurnIn::Timecode => b.timecode = true,
            BurnIn::Subtitles => b.subtitles = true,
            BurnIn::All => b = BurnIns::all(),
        }
    }
    b
}

const FORMATS: &str = "mp4|otio|edl|xmeml|fcpxml|pdf|csv|frames|fountain";

pub fn run(args: &ExportArgs, json: bool) -> Result<(), CliError> {
    let format = match (args.format, args.output.as_deref()) {
        (Some(f), _) => f,
        (None, Some(out)) => from_extension(out).ok_or_else(|| {
            CliError::bad_input(format!(
                "cannot tell the format from '{}'; pass --format {FORMATS}",
                out.display()
            ))
        })?,
        (None, None) => {
            return Err(CliError::bad_input(format!(
                "say what to export: --format {FORMATS} (and -o FILE)"
            )));
        }
    };
    let dir = project_dir(args.project.as_deref())?;
    let (session, _) = open(&dir, OpenMode::ReadOnly, json)?;
    let project = session.project().clone();
    close(session);

    let Some(engine) = engine_format(format) else {
        // Fountain: the script, to a file or standard output.
        let include = args.omitted == Omitted::Include;
        let text = write_fountain(&to_screenplay(&project.script, include));
        let Some(output) = &args.output else {
            let mut stdout = std::io::stdout().lock();
            std::io::Write::write_all(&mut stdout, text.as_bytes())?;
            return Ok(());
        };
        previz_storage::atomic::write_atomic(output, text.as_bytes()).map_err(|e| {
            CliError::failure(format!("could not write the Fountain file: {e}"))
                .at(output, None, None)
        })?;
        let scenes = project
            .script
            .scenes
            .iter()
            .filter(|s| include || !s.omitted)
            .count();
        return if json {
            print_json(&serde_json::json!({
                "format": "fountain", "output": output, "bytes": text.len(), "count": scenes, "unit": "scenes"
            }))
        } else {
            print_text(&format!(
                "Wrote {} ({scenes} scenes, {} bytes)",
                output.display(),
                text.len()
            ))
        };
    };
    let store = AssetStore::for_project(&dir).map_err(|e| {
        CliError::failure(format!(
            "{}: {e}; fix or remove {} to export from the project's own assets",
            dir.display(),
            dir.join(previz_storage::store::STORE_CONFIG).display()
        ))
    })?;
    let Some(output) = args.output.clone() else {
        if engine == Format::Csv {
            let bytes = previz_render::interchange::shotlist::write_csv(&project)
                .map_err(|e| CliError::failure(format!("could not write the shot list: {e}")))?;
            let mut stdout = std::io::stdout().lock();
            std::io::Write::write_all(&mut stdout, &bytes)?;
            return Ok(());
        }
        return Err(CliError::bad_input(format!(
            "{} export needs -o {}",
            engine.name(),
            if engine == Format::Frames {
                "FOLDER"
            } else {
                "FILE"
            }
        )));
    };
    let mut request = ExportRequest::new(engine, output);
    request.media.clone_from(&args.media);
    request.edl_track.clone_from(&args.track);
    request.drop_frame = args.drop_frame;
    request.burn_ins = burn_ins(&args.burn_in);
    request.max_height = args.max_height;
    request.changes_only = args.changes_only;
    request.storyboard.panels_per_page = args.panels;
    request.storyboard.contact_sheet = args.contact_sheet;
    request.storyboard.paper = match args.paper {
        PaperArg::A4 => Paper::A4,
        PaperArg::Letter => Paper::Letter,
        PaperArg::Tabloid => Paper::Tabloid,
    };
    if !(1..=48).contains(&args.panels) {
        return Err(CliError::bad_input(format!(
            "--panels {}: a page holds 1 to 48 panels",
            args.panels
        )));
    }

    let bar = ProgressBar::new(1000);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:10} [{bar:40}] {percent:>3}% {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let result = export(
        &project,
        &store,
        &request,
        &mut |fraction, what| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            bar.set_position((fraction.clamp(0.0, 1.0) * 1000.0) as u64);
            bar.set_message(what.to_owned());
        },
        &CancelToken::new(),
    );
    bar.finish_and_clear();
    let summary = result.map_err(|e| {
        let error = if e.is_invalid_request() {
            CliError::bad_input(e.to_string())
        } else {
            CliError::failure(e.to_string())
        };
        error.at(&request.output, None, None)
    })?;
    if json {
        return print_json(&summary);
    }
    for w in &summary.warnings {
        eprintln!("previz: warning: {w}");
    }
    print_text(&summary.describe())
}
