//! `previz script list` and `previz script run PLUGIN PROJECT`.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use clap::Parser as _;
use previz_core::{Project, ShotId};
use previz_script::JobRequest;

use previz_script::{ErrorKind, Hook, Host, Limits, PluginDirs, PluginError};
use previz_storage::OpenMode;

use crate::args::{Cli, ScriptArgs, ScriptCommand, ScriptListArgs, ScriptRunArgs};
use crate::commands::{close, open, project_dir, storage_error};
use crate::output::{CliError, print_json, print_text};

pub fn run(args: &ScriptArgs, json: bool) -> Result<(), CliError> {
    match &args.command {
        ScriptCommand::List(a) => list(a, json),
        ScriptCommand::Run(a) => run_plugin(a, json),
    }
}

/// A plugin error as the CLI reports it: the plugin file and line, exit 2 for a plugin that
/// does not compile or asked for what it may not have, 1 otherwise.
pub(crate) fn plugin_error(e: &PluginError) -> CliError {
    let error = match e.kind {
        ErrorKind::Syntax | ErrorKind::Refused => CliError::bad_input(e.message.clone()),
        ErrorKind::Limit | ErrorKind::Edit | ErrorKind::Runtime => {
            CliError::failure(e.message.clone())
        }
    };
    error.at(&e.file, e.line, e.column)
}

fn list(args: &ScriptListArgs, json: bool) -> Result<(), CliError> {
    let project = args.project.as_deref().map(Path::to_path_buf);
    let dirs = PluginDirs::standard(project.as_deref());
    let (plugins, errors) = previz_script::discover(&Host::default(), &dirs);
    if json {
        let found: Vec<serde_json::Value> = plugins
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name,
                    "file": p.file,
                    "description": p.description,
                    "hooks": p.hooks,
                })
            })
            .collect();
        let broken: Vec<String> = errors.iter().map(ToString::to_string).collect();
        print_json(&serde_json::json!({
            "searched": dirs.dirs,
            "plugins": found,
            "errors": broken,
        }))?;
    } else {
        let mut text = String::new();
        for p in &plugins {
            let hooks: Vec<&str> = p.hooks.iter().map(|h| h.function().0).collect();
            let _ = writeln!(
                text,
                "{:<20} {:<28} {}\n{:<20} {}",
                p.name,
                hooks.join(", "),
                p.file.display(),
                "",
                p.description
            );
        }
        if plugins.is_empty() {
            let _ = writeln!(
                text,
                "no plugins in {}",
                dirs.dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for e in &errors {
            let _ = writeln!(text, "BROKEN {e}");
        }
        print_text(&text)?;
    }
    Ok(())
}

fn run_plugin(args: &ScriptRunArgs, json: bool) -> Result<(), CliError> {
    let dir = project_dir(args.project.as_deref())?;
    let host = Host::new(Limits {
        timeout: Duration::from_secs(args.timeout.max(1)),
        ..Limits::default()
    });
    let dirs = PluginDirs::standard(Some(&dir));
    let plugin =
        previz_script::discover::find(&host, &dirs, &args.plugin).map_err(|e| plugin_error(&e))?;
    let hook = if args.preset.is_some() {
        Hook::StylePresets
    } else if plugin.hooks.contains(&Hook::Run) {
        Hook::Run
    } else if plugin.hooks.contains(&Hook::Export) {
        Hook::Export
    } else if plugin.hooks.contains(&Hook::Prompt) {
        Hook::Prompt
    } else {
        return Err(CliError::bad_input(format!(
            "{} has no `fn run()`, `fn export_files()` or `fn prompt(shot, scene, prompt)`, so there is nothing to run from here (its hooks serve imports or breakdowns, which run by themselves)",
            plugin.file.display()
        )));
    };
    let (mut session, _) = open(&dir, OpenMode::ReadWrite, json)?;
    let ran = match (hook, &args.preset) {
        (Hook::StylePresets, Some(name)) => {
            host.preset_edit(&plugin, session.project(), name)
                .map(|edit| previz_script::Outcome {
                    edits: vec![edit],
                    ..previz_script::Outcome::default()
                })
        }
        (Hook::Export, _) => host.export(&plugin, session.project(), Some(&dir)),
        (Hook::Prompt, _) => host.apply_prompts(&plugin, session.project()),
        _ => host.run(&plugin, session.project(), Some(&dir)),
    };
    let outcome = match ran {
        Ok(outcome) => outcome,
        Err(e) => {
            close(session);
            return Err(plugin_error(&e));
        }
    };
    let landed = previz_script::land(&mut session, &plugin, &outcome);
    let written = match landed {
        Ok(written) => written,
        Err(e) => {
            close(session);
            return Err(CliError::failure(format!("{}: {e}", plugin.file.display())));
        }
    };
    if !outcome.edits.is_empty()
        && let Err(e) = session.save()
    {
        close(session);
        return Err(storage_error(&e));
    }
    // The queued jobs as the previz commands that do them, named against the project as the
    // plugin left it (a bad request fails here, before anything runs).
    let commands: Result<Vec<Vec<OsString>>, CliError> = outcome
        .jobs
        .iter()
        .map(|job| job_command(&dir, session.project(), job))
        .collect();
    close(session);
    let commands = commands
        .map_err(|e| CliError::bad_input(format!("{}: {}", plugin.file.display(), e.message)))?;
    if json {
        print_json(&serde_json::json!({
            "plugin": plugin.name,
            "hook": hook.function().0,
            "edits": outcome.edits.len(),
            "exports": written,
            "jobs": outcome.jobs,
            "commands": commands.iter().map(|c| shell_words(c)).collect::<Vec<_>>(),
            "jobs_run": !args.no_jobs,
            "log": outcome.log,
        }))?;
    } else {
        let mut text = String::new();
        for line in &outcome.log {
            let _ = writeln!(text, "{}: {line}", plugin.name);
        }
        let _ = writeln!(
            text,
            "{}: {} edit(s) landed as one undo step",
            plugin.name,
            outcome.edits.len()
        );
        for path in &written {
            let _ = writeln!(text, "wrote {}", path.display());
        }
        for command in &commands {
            let _ = writeln!(
                text,
                "{} by the plugin: {}",
                if args.no_jobs {
                    "queued"
                } else {
                    "running, as queued"
                },
                shell_words(command)
            );
        }
        print_text(&text)?;
    }
    if args.no_jobs {
        return Ok(());
    }
    for (i, command) in commands.iter().enumerate() {
        let mut argv: Vec<OsString> = vec!["previz".into()];
        if json {
            argv.push("--json".into());
        }
        argv.extend(command.iter().cloned());
        let cli = Cli::try_parse_from(&argv).map_err(|e| {
            CliError::failure(format!(
                "{}: job {} of {} ({}) is not a command this previz understands: {e}",
                plugin.file.display(),
                i + 1,
                commands.len(),
                shell_words(command)
            ))
        })?;
        crate::commands::run(cli).map_err(|mut e| {
            e.message = format!(
                "job {} of {} queued by {} ({}): {}; the plugin's edits are saved, run the remaining jobs by hand",
                i + 1,
                commands.len(),
                plugin.name,
                shell_words(command),
                e.message
            );
            e
        })?;
    }
    Ok(())
}

/// The `previz` command line (without the program name) that does what a plugin queued.
fn job_command(dir: &Path, project: &Project, job: &JobRequest) -> Result<Vec<OsString>, CliError> {
    let mut argv: Vec<OsString> = Vec::new();
    let scene_count = project.script.scenes.len();
    let scene_arg = |argv: &mut Vec<OsString>, scene: Option<usize>| -> Result<(), CliError> {
        if let Some(n) = scene {
            if n == 0 || n > scene_count {
                return Err(CliError::bad_input(format!(
                    "queue_job: scene {n} is not in the script (it has {scene_count} scene(s), numbered from 1)"
                )));
            }
            argv.push("--scenes".into());
            argv.push(n.to_string().into());
        }
        Ok(())
    };
    match job {
        JobRequest::Breakdown { scene } => {
            argv.extend(["breakdown".into(), dir.as_os_str().to_owned()]);
            scene_arg(&mut argv, *scene)?;
        }
        JobRequest::Voices { scene } => {
            argv.extend(["voices".into(), dir.as_os_str().to_owned()]);
            scene_arg(&mut argv, *scene)?;
        }
        JobRequest::Frames { shots } => {
            argv.extend(["frames".into(), dir.as_os_str().to_owned()]);
            if !shots.is_empty() {
                argv.push("--shots".into());
                argv.push(shots_spec(project, shots)?.into());
            }
        }
        JobRequest::Export { format } => {
            let (name, extension) = export_format(format).ok_or_else(|| {
                CliError::bad_input(format!(
                    "queue_job: no export format '{format}'; use one of {}",
                    previz_script::EXPORT_FORMATS.join(", ")
                ))
            })?;
            argv.extend([
                "export".into(),
                dir.as_os_str().to_owned(),
                "--format".into(),
                name.into(),
                "--output".into(),
                previz_script::queued_export_path(dir, extension).into_os_string(),
            ]);
        }
    }
    Ok(argv)
}

/// A plugin's export format as `previz export --format` names it, and its file extension
/// (empty for a folder).
fn export_format(format: &str) -> Option<(&'static str, &'static str)> {
    Some(match format.trim().to_ascii_lowercase().as_str() {
        "otio" => ("otio", "otio"),
        "edl" => ("edl", "edl"),
        "xml" => ("xmeml", "xml"),
        "fcpxml" => ("fcpxml", "fcpxml"),
        "pdf" => ("pdf", "pdf"),
        "csv" => ("csv", "csv"),
        "mp4" => ("mp4", "mp4"),
        "fountain" => ("fountain", "fountain"),
        "frames" => ("frames", ""),
        _ => return None,
    })
}

/// A `--shots` spec that `previz frames` resolves to exactly these shots: their labels (or
/// numbers) when those name them unambiguously, else their positions.
fn shots_spec(project: &Project, shots: &[ShotId]) -> Result<String, CliError> {
    let mut wanted = shots.to_vec();
    wanted.dedup();
    if let Some(missing) = wanted
        .iter()
        .find(|id| !project.shots.iter().any(|s| s.id == **id))
    {
        return Err(CliError::bad_input(format!(
            "queue_job: frames for shot {missing}, which is not in the project (removed by the plugin?)"
        )));
    }
    let numbers = project.shot_numbers();
    let by_label = wanted
        .iter()
        .filter_map(|id| {
            let shot = project.shots.iter().find(|s| s.id == *id)?;
            shot.label.clone().or_else(|| numbers.get(id).cloned())
        })
        .collect::<Vec<_>>()
        .join(",");
    let by_position = wanted
        .iter()
        .filter_map(|id| project.shots.iter().position(|s| s.id == *id))
        .map(|i| (i + 1).to_string())
        .collect::<Vec<_>>()
        .join(",");
    [by_label, by_position]
        .into_iter()
        .find(|spec| previz_batch::select_shots(project, spec).is_ok_and(|ids| ids == wanted))
        .ok_or_else(|| {
            CliError::bad_input(
                "queue_job: these shots have labels that repeat or look like positions, so `previz frames --shots` cannot name them; give them distinct labels".to_string(),
            )
        })
}

/// A command line as one line of text, quoting what the shell would split.
fn shell_words(argv: &[OsString]) -> String {
    let mut out = String::from("previz");
    for a in argv {
        let a = a.to_string_lossy();
        if !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:,=+@".contains(c))
        {
            let _ = write!(out, " {a}");
        } else {
            let _ = write!(out, " '{}'", a.replace('\'', r"'\''"));
        }
    }
    out
}
