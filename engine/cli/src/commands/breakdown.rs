//! `previz breakdown`: the script into shots, scene by scene, each scene one undo step.
//!
//! Each finished scene's batch is applied and the project saved before the next scene starts,
//! so an interrupted run (ctrl-c, a crash) loses at most the scene in flight; running the
//! command again skips the scenes already done (see previz-breakdown's `run` module).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use previz_breakdown::llm::LlmEngine;
use previz_breakdown::run::timeline_command;
use previz_breakdown::{
    BreakdownError, BreakdownOptions, RuleEngine, RunSummary, SceneEngine, SceneSelection,
    SceneStatus, run_breakdown,
};
use previz_jobs::{CancelToken, JobContext, JobKind};
use previz_models::device::DeviceChoice;
use previz_models::llm::LlmError;
use previz_models::llm::generate::LoadOptions;
use previz_models::registry::Registry;
use previz_storage::OpenMode;
use serde::Serialize;

use super::{close, open, project_dir, storage_error};
use crate::args::BreakdownArgs;
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct SceneLine {
    scene: usize,
    heading: String,
    status: String,
    shots: usize,
    issues: Vec<String>,
}

#[derive(Serialize)]
struct Report {
    engine: String,
    #[serde(flatten)]
    summary: RunSummary,
    scenes_done: Vec<SceneLine>,
}

/// The engine `--model` names: the rules, or an installed LLM loaded on `device`.
pub(crate) fn engine_for(
    model: Option<&str>,
    device: &str,
    seed: u64,
) -> Result<Box<dyn SceneEngine>, CliError> {
    let id = match model {
        None | Some("rules") => return Ok(Box::new(RuleEngine)),
        Some(id) => id,
    };
    let registry = Registry::discover_default();
    let entry = registry.resolve(id).map_err(|e| {
        CliError::bad_input(format!(
            "{}; {e}",
            BreakdownError::ModelNotInstalled {
                model: id.to_owned()
            }
        ))
    })?;
    let Some(path) = entry.path.clone() else {
        return Err(CliError::bad_input(
            BreakdownError::ModelNotInstalled {
                model: id.to_owned(),
            }
            .to_string(),
        ));
    };
    let device: DeviceChoice = device
        .parse()
        .map_err(|e: previz_models::device::DeviceError| CliError::bad_input(e.to_string()))?;
    let options = LoadOptions { device, threads: 0 };
    let engine = LlmEngine::load(&entry.id, &path, &options, seed).map_err(|e| match e {
        LlmError::Io { .. } => CliError::failure(e.to_string()),
        other => CliError::bad_input(other.to_string()).at(&path, None, None),
    })?;
    Ok(Box::new(engine))
}

pub fn run(args: &BreakdownArgs, json: bool) -> Result<(), CliError> {
    let scenes: SceneSelection = match &args.scenes {
        Some(text) => text
            .parse()
            .map_err(|e: BreakdownError| CliError::bad_input(e.to_string()))?,
        None => SceneSelection::All,
    };
    let mut engine = engine_for(args.model.as_deref(), &args.device, args.seed)?;
    let dir = project_dir(args.project.as_deref())?;
    let mode = if args.take_over {
        OpenMode::TakeOver
    } else {
        OpenMode::ReadWrite
    };
    let (mut session, _) = open(&dir, mode, json)?;
    // The character bible first (fills only empty fields; one undo step of its own).
    if let Some(bible) = previz_breakdown::bible::fill_command(session.project())
        && let Err(e) = session.apply(&bible).and_then(|_| session.save())
    {
        close(session);
        return Err(storage_error(&e));
    }
    let project = session.project().clone();
    let options = BreakdownOptions {
        scenes,
        seed: args.seed,
        force: args.force,
    };
    let selected = (1..=project.script.scenes.len())
        .filter(|&n| scenes.contains(n))
        .count();

    let bar = ProgressBar::new(selected as u64);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let host = previz_script::Host::default();
    let (plugins, _) =
        previz_script::discover(&host, &previz_script::PluginDirs::standard(Some(&dir)));
    let ctx = JobContext::detached(JobKind::Breakdown, "breakdown", CancelToken::new());
    let mut lines: Vec<SceneLine> = Vec::new();
    let mut failure: Option<CliError> = None;
    let summary = run_breakdown(&project, engine.as_mut(), &options, &ctx, |outcome| {
        if failure.is_some() {
            return;
        }
        // The plugins' on_breakdown hooks adjust what the scene's breakdown proposes.
        let command = match outcome
            .command
            .clone()
            .map(|c| previz_script::breakdown_hooks(&host, &plugins, session.project(), c))
        {
            Some(Err(e)) => {
                failure = Some(super::script::plugin_error(&e));
                ctx.cancel_token().cancel();
                return;
            }
            Some(Ok(c)) => Some(c),
            None => None,
        };
        if let Some(command) = &command
            && let Err(e) = session.apply(command).and_then(|_| session.save())
        {
            failure = Some(storage_error(&e));
            ctx.cancel_token().cancel();
            return;
        }
        let line = SceneLine {
            scene: outcome.number,
            heading: outcome.heading.clone(),
            status: outcome.status.to_string(),
            shots: outcome.shots,
            issues: outcome.issues.iter().map(ToString::to_string).collect(),
        };
        bar.inc(1);
        bar.set_message(format!("scene {}: {}", line.scene, line.heading));
        if !json {
            let shots =
                if outcome.status == SceneStatus::Skipped || outcome.status == SceneStatus::Kept {
                    String::new()
                } else {
                    format!(", {} shots", line.shots)
                };
            bar.suspend(|| {
                eprintln!(
                    "scene {}/{}: {}: {}{shots}",
                    line.scene,
                    project.script.scenes.len(),
                    line.heading,
                    line.status
                );
            });
        }
        lines.push(line);
    });
    bar.finish_and_clear();
    if let Some(e) = failure {
        close(session);
        return Err(e);
    }
    if summary.shots > 0 {
        let timeline = timeline_command(session.project());
        if let Err(e) = session.apply(&timeline).and_then(|_| session.save()) {
            close(session);
            return Err(storage_error(&e));
        }
    }
    close(session);
    let report = Report {
        engine: engine.name(),
        summary,
        scenes_done: lines,
    };
    if json {
        return print_json(&report);
    }
    let s = &report.summary;
    print_text(&format!(
        "Broke down {} of {} scenes of {} with {}: {} planned, {} repaired, {} fell back to rules, {} skipped (up to date), {} kept (hand-made shots); {} shots made{}",
        s.planned + s.repaired + s.fell_back,
        s.scenes,
        dir.display(),
        report.engine,
        s.planned,
        s.repaired,
        s.fell_back,
        s.skipped,
        s.kept,
        s.shots,
        if s.cancelled {
            "; cancelled, run again to go on"
        } else {
            ""
        }
    ))
}
