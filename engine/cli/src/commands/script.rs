//! `previz script list` and `previz script run PLUGIN PROJECT`.

use std::fmt::Write as _;
use std::time::Duration;

use previz_script::{ErrorKind, Hook, Host, Limits, PluginDirs, PluginError};
use previz_storage::OpenMode;

use crate::args::{ScriptArgs, ScriptCommand, ScriptListArgs, ScriptRunArgs};
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
    let project = args.project.as_deref().map(std::path::Path::to_path_buf);
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
    close(session);
    if json {
        print_json(&serde_json::json!({
            "plugin": plugin.name,
            "hook": hook.function().0,
            "edits": outcome.edits.len(),
            "exports": written,
            "jobs": outcome.jobs,
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
        for job in &outcome.jobs {
            let _ = writeln!(
                text,
                "queued by the plugin: {} (run it with the matching previz command)",
                serde_json::to_string(job).unwrap_or_default()
            );
        }
        print_text(&text)?;
    }
    Ok(())
}
