//! `previz export`: the project for editorial (OTIO, EDL, FCP 7 XML, FCPXML, with the media
//! they point at linked into a folder of readable names), the AD department (CSV shot list)
//! and the writers' room (Fountain).

use std::path::{Path, PathBuf};

use previz_core::project::Project;
use previz_core::timeline::TrackKind;
use previz_render::interchange::{Cut, MediaFolder, edl, fcpxml, otio, shotlist, xmeml};
use previz_screenplay::convert::to_screenplay;
use previz_screenplay::write_fountain;
use previz_storage::{AssetStore, OpenMode, ProjectPaths};
use serde::Serialize;

use super::{close, open, project_dir};
use crate::args::{ExportArgs, ExportFormat, Omitted};
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct Exported {
    format: &'static str,
    output: Option<PathBuf>,
    bytes: usize,
    /// Clips written (edits) or rows (CSV) or scenes (Fountain).
    count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    media: Option<PathBuf>,
    media_files: usize,
    warnings: Vec<String>,
}

fn format_name(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Otio => "otio",
        ExportFormat::Edl => "edl",
        ExportFormat::Xmeml => "xmeml",
        ExportFormat::Fcpxml => "fcpxml",
        ExportFormat::Csv => "csv",
        ExportFormat::Fountain => "fountain",
    }
}

/// The format an output file's extension names.
fn from_extension(path: &Path) -> Option<ExportFormat> {
    let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
    Some(match ext.as_str() {
        "otio" => ExportFormat::Otio,
        "edl" => ExportFormat::Edl,
        "xml" => ExportFormat::Xmeml,
        "fcpxml" => ExportFormat::Fcpxml,
        "csv" => ExportFormat::Csv,
        "fountain" | "spmd" => ExportFormat::Fountain,
        _ => return None,
    })
}

/// The EDL's track: by name, or 1-based among video tracks.
fn edl_track(cut: &Cut, spec: Option<&str>) -> Result<usize, CliError> {
    let video: Vec<usize> = cut
        .tracks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind == TrackKind::Video)
        .map(|(i, _)| i)
        .collect();
    let names = || {
        video
            .iter()
            .map(|i| cut.tracks[*i].name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(spec) = spec else {
        return video.first().copied().ok_or_else(|| {
            CliError::bad_input("the timeline has no video track; an EDL lists picture events")
        });
    };
    if let Some(i) = video.iter().find(|i| cut.tracks[**i].name == spec) {
        return Ok(*i);
    }
    spec.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|n| video.get(n).copied())
        .ok_or_else(|| {
            CliError::bad_input(format!(
                "--track '{spec}' is neither the name nor the number of a video track; the video tracks are: {}",
                names()
            ))
        })
}

fn write_output(path: &Path, bytes: &[u8], what: &str) -> Result<(), CliError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            CliError::failure(format!("could not create the folder for the {what}: {e}"))
                .at(dir, None, None)
        })?;
    }
    previz_storage::atomic::write_atomic(path, bytes).map_err(|e| {
        CliError::failure(format!("could not write the {what}: {e}")).at(path, None, None)
    })
}

/// The default media folder: `NAME_media` next to the output.
fn media_dir(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map_or_else(|| "export".to_owned(), |s| s.to_string_lossy().into_owned());
    output.with_file_name(format!("{stem}_media"))
}

fn edit_text(
    format: ExportFormat,
    project: &Project,
    cut: &Cut,
    args: &ExportArgs,
) -> Result<String, CliError> {
    Ok(match format {
        ExportFormat::Otio => otio::write(cut),
        ExportFormat::Edl => {
            edl::write(cut, edl_track(cut, args.track.as_deref())?, args.drop_frame)
        }
        ExportFormat::Xmeml => xmeml::write(cut),
        ExportFormat::Fcpxml => fcpxml::write(cut),
        ExportFormat::Csv | ExportFormat::Fountain => {
            let _ = project;
            String::new()
        }
    })
}

pub fn run(args: &ExportArgs, json: bool) -> Result<(), CliError> {
    let format = match (args.format, args.output.as_deref()) {
        (Some(f), _) => f,
        (None, Some(out)) => from_extension(out).ok_or_else(|| {
            CliError::bad_input(format!(
                "cannot tell the format from '{}'; pass --format otio|edl|xmeml|fcpxml|csv|fountain",
                out.display()
            ))
        })?,
        (None, None) => {
            return Err(CliError::bad_input(
                "say what to export: --format otio|edl|xmeml|fcpxml|csv|fountain (and -o FILE)",
            ));
        }
    };
    let dir = project_dir(args.project.as_deref())?;
    let (session, _) = open(&dir, OpenMode::ReadOnly, json)?;
    let project = session.project().clone();
    close(session);

    let mut warnings = Vec::new();
    let mut media_info = None;
    let (bytes, count) = match format {
        ExportFormat::Fountain => {
            let include = args.omitted == Omitted::Include;
            let text = write_fountain(&to_screenplay(&project.script, include));
            let scenes = project
                .script
                .scenes
                .iter()
                .filter(|s| include || !s.omitted)
                .count();
            (text.into_bytes(), scenes)
        }
        ExportFormat::Csv => {
            let bytes = shotlist::write_csv(&project)
                .map_err(|e| CliError::failure(format!("could not write the shot list: {e}")))?;
            (bytes, project.shots.len())
        }
        ExportFormat::Otio | ExportFormat::Edl | ExportFormat::Xmeml | ExportFormat::Fcpxml => {
            let Some(output) = &args.output else {
                return Err(CliError::bad_input(format!(
                    "{} export needs -o FILE: the media it points at is placed next to it",
                    format_name(format)
                )));
            };
            let media = args.media.clone().unwrap_or_else(|| media_dir(output));
            let store = AssetStore::new(ProjectPaths::new(&dir).assets());
            let mut folder = MediaFolder::new(&media, store);
            let cut = Cut::from_project(&project, &mut |request| folder.resolve(request));
            warnings.append(&mut folder.problems);
            let text = edit_text(format, &project, &cut, args)?;
            let clips = cut.tracks.iter().map(|t| t.clips().count()).sum();
            media_info = Some((media, folder.len()));
            (text.into_bytes(), clips)
        }
    };
    let Some(output) = &args.output else {
        let mut stdout = std::io::stdout().lock();
        std::io::Write::write_all(&mut stdout, &bytes)?;
        return Ok(());
    };
    write_output(output, &bytes, &format!("{} file", format_name(format)))?;
    if !json {
        for w in &warnings {
            eprintln!("previz: warning: {w}");
        }
    }
    let report = Exported {
        format: format_name(format),
        output: Some(output.clone()),
        bytes: bytes.len(),
        count,
        media: media_info.as_ref().map(|(m, _)| m.clone()),
        media_files: media_info.as_ref().map_or(0, |(_, n)| *n),
        warnings,
    };
    if json {
        return print_json(&report);
    }
    let unit = match format {
        ExportFormat::Csv => "shots",
        ExportFormat::Fountain => "scenes",
        _ => "clips",
    };
    let media = media_info
        .map(|(m, n)| format!("; {n} media files in {}", m.display()))
        .unwrap_or_default();
    print_text(&format!(
        "Wrote {} ({count} {unit}, {} bytes{media})",
        output.display(),
        bytes.len()
    ))
}
