//! `previz new`: an empty project.

use std::path::{Path, PathBuf};

use previz_core::{Project, Rate, RationalTime, Rounding};
use previz_storage::Session;
use serde::Serialize;

use super::{close, storage_error};
use crate::args::NewArgs;
use crate::output::{CliError, print_json, print_text};

/// Adds `.previz` to a folder name that has no extension.
pub fn with_extension(path: &Path) -> PathBuf {
    if path.extension().is_some() {
        path.to_path_buf()
    } else {
        path.with_extension("previz")
    }
}

/// The film title a folder name suggests: `the-lighthouse.previz` → `the lighthouse`.
pub fn title_from_path(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().replace(['-', '_'], " "))
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "Untitled".to_owned())
}

fn parse_frame_size(text: &str) -> Result<(u32, u32), CliError> {
    let bad = || {
        CliError::bad_input(format!(
            "--frame-size '{text}' is not a size; expected WIDTHxHEIGHT in pixels, e.g. 2048x858"
        ))
    };
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    if w == 0 || h == 0 || w > 16_384 || h > 16_384 {
        return Err(CliError::bad_input(format!(
            "--frame-size {w}x{h} is out of range; each side must be 1 to 16384 pixels"
        )));
    }
    Ok((w, h))
}

/// A new project with the frame rate and frame size asked for.
pub fn project(title: String, fps: &str, frame_size: &str) -> Result<Project, CliError> {
    let rate: Rate = fps
        .parse()
        .map_err(|e| CliError::bad_input(format!("--fps: {e}")))?;
    let (width, height) = parse_frame_size(frame_size)?;
    let mut project = Project::new(title);
    project.settings.frame_rate = rate;
    project.settings.frame_width = width;
    project.settings.frame_height = height;
    project.settings.default_shot_duration = project
        .settings
        .default_shot_duration
        .rescaled(rate, Rounding::Nearest);
    project.timeline.rate = rate;
    debug_assert!(project.settings.default_shot_duration > RationalTime::zero(rate));
    Ok(project)
}

#[derive(Serialize)]
struct Created<'a> {
    project: &'a Path,
    title: &'a str,
    id: String,
    frame_rate: String,
    frame_size: String,
}

pub fn run(args: &NewArgs, json: bool) -> Result<(), CliError> {
    let dir = with_extension(&args.project);
    let title = args.title.clone().unwrap_or_else(|| title_from_path(&dir));
    let project = project(title, &args.fps, &args.frame_size)?;
    let created = Created {
        project: &dir,
        title: &project.settings.title,
        id: project.id.to_string(),
        frame_rate: project.settings.frame_rate.to_string(),
        frame_size: format!(
            "{}x{}",
            project.settings.frame_width, project.settings.frame_height
        ),
    };
    let summary = if json {
        None
    } else {
        Some(format!(
            "Created project '{}' at {} ({} fps, {} frames)",
            created.title,
            dir.display(),
            created.frame_rate,
            created.frame_size
        ))
    };
    let json_out = serde_json::to_value(&created).map_err(|e| CliError::failure(e.to_string()))?;
    let session = Session::create(&dir, project).map_err(|e| storage_error(&e))?;
    close(session);
    match summary {
        Some(text) => print_text(&text),
        None => print_json(&json_out),
    }
}
