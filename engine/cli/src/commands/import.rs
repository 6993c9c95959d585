//! `previz import`: a screenplay to JSON, to a new project, or into an existing one as a
//! revised draft.

use std::path::{Path, PathBuf};

use previz_core::revision::{RevisionReport, revise};
use previz_core::{Script, ScriptSource};
use previz_screenplay::convert::to_script;
use previz_storage::{OpenMode, Session};
use serde::Serialize;

use super::new::{title_from_path, with_extension};
use super::{close, open, project_dir, storage_error};
use crate::args::ImportArgs;
use crate::output::{CliError, print_json, print_text, print_warnings};
use crate::screenplay_file::{self, ScriptFile};

pub fn run(args: &ImportArgs, json: bool) -> Result<(), CliError> {
    let file = screenplay_file::load(&args.script)?;
    print_warnings(
        &args.script,
        &file
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    );
    let wants_project = args.into.is_some() || args.output.is_some();
    if args.print || (json && !wants_project) {
        return print_json(&file.screenplay);
    }
    let script = document_script(&file);
    let dest = args
        .into
        .clone()
        .or_else(|| args.output.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    let script = import_hooks(script, &dest)?;
    match &args.into {
        Some(project) => revise_into(args, project, script, json),
        None => create(args, &file, script, json),
    }
}

/// Runs the `on_import` hooks of the plugins found for a project at `dest` (shipped, the
/// user's, the show's) over a freshly parsed script.
pub(crate) fn import_hooks(script: Script, dest: &Path) -> Result<Script, CliError> {
    let host = previz_script::Host::default();
    let (plugins, _) =
        previz_script::discover(&host, &previz_script::PluginDirs::standard(Some(dest)));
    previz_script::import_hooks(
        &host,
        &plugins,
        &previz_core::Project::new("import"),
        script,
    )
    .map_err(|e| super::script::plugin_error(&e))
}

/// The document's script for a parsed file, with where it came from.
fn document_script(file: &ScriptFile) -> Script {
    let mut script = to_script(&file.screenplay);
    script.source = Some(ScriptSource {
        file_name: file.file_name.clone(),
        format: file.format.name().to_owned(),
        content_hash: format!("blake3:{}", file.content_hash),
        imported_at: jiff::Timestamp::now(),
        extra: previz_core::Extra::new(),
    });
    script
}

#[derive(Serialize)]
struct CreatedFromScript<'a> {
    project: &'a Path,
    title: &'a str,
    scenes: usize,
    speeches: usize,
    characters: usize,
    locations: usize,
}

fn create(
    args: &ImportArgs,
    file: &ScriptFile,
    script: Script,
    json: bool,
) -> Result<(), CliError> {
    let dir = match &args.output {
        Some(dir) => with_extension(dir),
        None => PathBuf::from(format!(
            "{}.previz",
            args.script
                .file_stem()
                .map_or_else(|| "script".into(), |s| s.to_string_lossy())
        )),
    };
    let output = create_project(&args.script, file, script, &dir, json)?;
    print_text(&output)
}

/// Reads the screenplay at `path` into a new project at `dir` (what `previz batch SCRIPT`
/// does first); returns what happened, in words.
pub(crate) fn import_new(path: &Path, dir: &Path) -> Result<String, CliError> {
    let file = screenplay_file::load(path)?;
    print_warnings(
        path,
        &file
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    );
    let script = import_hooks(document_script(&file), dir)?;
    create_project(path, &file, script, dir, false)
}

/// Brings the screenplay at `path` into the project at `dir` as a revised draft when its
/// bytes differ from the draft the project was made from; `None` when they are the same.
pub(crate) fn import_revision(
    path: &Path,
    dir: &Path,
    take_over: bool,
) -> Result<Option<String>, CliError> {
    let file = screenplay_file::load(path)?;
    let mode = if take_over {
        OpenMode::TakeOver
    } else {
        OpenMode::ReadWrite
    };
    let (mut session, _) = open(dir, mode, true)?;
    let same = session
        .project()
        .script
        .source
        .as_ref()
        .is_some_and(|s| s.content_hash == format!("blake3:{}", file.content_hash));
    if same {
        close(session);
        return Ok(None);
    }
    let script = match import_hooks(document_script(&file), dir) {
        Ok(script) => script,
        Err(e) => {
            close(session);
            return Err(e);
        }
    };
    let (command, report) = revise(session.project(), script);
    let result = session.apply(&command).and_then(|_| session.save());
    close(session);
    result.map_err(|e| storage_error(&e))?;
    Ok(Some(describe(&report, dir, true)))
}

fn create_project(
    script_path: &Path,
    file: &ScriptFile,
    script: Script,
    dir: &Path,
    json: bool,
) -> Result<String, CliError> {
    let dir = dir.to_path_buf();
    let title = script
        .title()
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| title_from_path(script_path));
    let mut project = previz_core::Project::new(title);
    project.script = script;
    let summary = CreatedFromScript {
        project: &dir,
        title: &project.settings.title,
        scenes: project.script.scenes.len(),
        speeches: project
            .script
            .scenes
            .iter()
            .map(|s| s.dialogue().count())
            .sum(),
        characters: project.script.characters.len(),
        locations: project.script.locations.len(),
    };
    let output = if json {
        serde_json::to_string_pretty(&summary).map_err(|e| CliError::failure(e.to_string()))?
    } else {
        format!(
            "Created project '{}' at {} from {} ({}): {} scenes, {} speeches, {} characters, {} locations",
            summary.title,
            dir.display(),
            script_path.display(),
            file.format.name(),
            summary.scenes,
            summary.speeches,
            summary.characters,
            summary.locations
        )
    };
    let session = Session::create(&dir, project).map_err(|e| storage_error(&e))?;
    close(session);
    Ok(output)
}

#[derive(Serialize)]
struct Revised<'a> {
    project: &'a Path,
    applied: bool,
    #[serde(flatten)]
    report: &'a RevisionReport,
}

fn revise_into(
    args: &ImportArgs,
    project: &Path,
    script: Script,
    json: bool,
) -> Result<(), CliError> {
    let dir = project_dir(Some(project))?;
    let mode = if args.dry_run {
        OpenMode::ReadOnly
    } else if args.take_over {
        OpenMode::TakeOver
    } else {
        OpenMode::ReadWrite
    };
    let (mut session, _) = open(&dir, mode, json)?;
    let (command, report) = revise(session.project(), script);
    let applied = !args.dry_run;
    if applied {
        let result = session.apply(&command).and_then(|_| session.save());
        if let Err(e) = result {
            close(session);
            return Err(storage_error(&e));
        }
    }
    close(session);
    if json {
        return print_json(&Revised {
            project: &dir,
            applied,
            report: &report,
        });
    }
    print_text(&describe(&report, &dir, applied))
}

fn describe(report: &RevisionReport, dir: &Path, applied: bool) -> String {
    let mut out = String::new();
    let verb = if applied {
        "Revised"
    } else {
        "Would revise (dry run)"
    };
    out.push_str(&format!(
        "{verb} {}: {} scenes unchanged, {} changed, {} added, {} removed, {} moved\n",
        dir.display(),
        report.scenes_unchanged,
        report.scenes_changed.len(),
        report.scenes_added.len(),
        report.scenes_removed.len(),
        report.scenes_moved.len()
    ));
    for s in &report.scenes_changed {
        out.push_str(&format!(
            "  changed  {}{}: {} lines added, {} removed, {} changed\n",
            s.heading,
            if s.heading_changed {
                " (new heading)"
            } else {
                ""
            },
            s.lines_added,
            s.lines_removed,
            s.lines_changed
        ));
    }
    for s in &report.scenes_added {
        out.push_str(&format!("  added    {}\n", s.heading));
    }
    for s in &report.scenes_removed {
        let kept = if s.kept_as_omitted {
            format!(" (kept as OMITTED with its {} shot(s))", s.shots)
        } else {
            String::new()
        };
        out.push_str(&format!("  removed  {}{kept}\n", s.heading));
    }
    for s in &report.scenes_moved {
        out.push_str(&format!("  moved    {}\n", s.heading));
    }
    if !report.shots_lost_dialogue.is_empty() {
        out.push_str(&format!(
            "  {} shot(s) covered lines that are gone; review their dialogue\n",
            report.shots_lost_dialogue.len()
        ));
    }
    if !report.clips_lifted.is_empty() {
        out.push_str(&format!(
            "  {} dialogue clip(s) lifted from the timeline (their lines are gone)\n",
            report.clips_lifted.len()
        ));
    }
    out
}
