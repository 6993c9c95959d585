//! "Break down" in the studio: the script (or one scene) into shots as a background job.
//!
//! The job works on a snapshot of the document: the bible first, then scene by scene with the
//! engine the settings choose (the rules when no language model is chosen; the LLM streams what
//! it writes into the job's progress line), then the timeline rebuilt from the new shots. What
//! it made lands as one undo step when it ends; cancelled, it lands the scenes already done
//! (running it again carries on from there, as the breakdown resumes).

use previz_breakdown::llm::LlmEngine;
use previz_breakdown::run::timeline_command;
use previz_breakdown::{
    BreakdownOptions, RuleEngine, SceneEngine, SceneSelection, bible, run_breakdown,
};
use previz_core::{EditCommand, Project};
use previz_jobs::{JobContext, JobError, JobOutput};
use previz_models::llm::generate::LoadOptions;
use previz_models::registry::Registry;

use crate::settings::Device;

/// The engine for the studio's model choice: `None` (or `rules`) is the built-in rules.
fn engine(model: Option<&str>, device: Device) -> Result<Box<dyn SceneEngine>, JobError> {
    let Some(id) = model.filter(|m| *m != "rules") else {
        return Ok(Box::new(RuleEngine));
    };
    let entry = Registry::discover_default()
        .resolve(id)
        .map_err(|e| JobError::failed(e.to_string()))?;
    let path = entry
        .path
        .ok_or_else(|| JobError::failed(format!("model '{id}' is not installed")))?;
    let options = LoadOptions {
        device: crate::settings::device_choice(device),
        threads: 0,
    };
    let engine = LlmEngine::load(&entry.id, &path, &options, 0)
        .map_err(|e| JobError::failed(format!("{}: {e}", path.display())))?;
    Ok(Box::new(engine))
}

/// The job's work: returns the commands to land (bible, scenes, timeline) and a summary.
pub fn run(
    project: Project,
    scene: Option<usize>,
    model: Option<&str>,
    device: Device,
    dir: Option<&std::path::Path>,
    ctx: &JobContext,
) -> Result<JobOutput, JobError> {
    let host = previz_script::Host::default();
    let (plugins, _) = previz_script::discover(&host, &previz_script::PluginDirs::standard(dir));
    ctx.progress(0.0, "loading the engine");
    let mut engine = engine(model, device)?;
    let mut working = project;
    let mut commands: Vec<EditCommand> = Vec::new();
    let land = |working: &mut Project, commands: &mut Vec<EditCommand>, c: EditCommand| {
        working
            .apply(&c)
            .map_err(|e| JobError::failed(format!("the breakdown did not apply: {e}")))?;
        commands.push(c);
        Ok::<(), JobError>(())
    };
    if let Some(b) = bible::fill_command(&working) {
        land(&mut working, &mut commands, b)?;
    }
    let options = BreakdownOptions {
        scenes: scene.map_or(SceneSelection::All, |i| SceneSelection::Range {
            first: i + 1,
            last: Some(i + 1),
        }),
        seed: 0,
        force: false,
    };
    let snapshot = working.clone();
    let mut scene_commands = Vec::new();
    let summary = run_breakdown(&snapshot, engine.as_mut(), &options, ctx, |outcome| {
        ctx.log(format!(
            "scene {} {}: {} ({} shots)",
            outcome.number, outcome.heading, outcome.status, outcome.shots
        ));
        for issue in &outcome.issues {
            ctx.log(format!("  {issue}"));
        }
        if let Some(c) = outcome.command {
            scene_commands.push(c);
        }
    });
    for c in scene_commands {
        // The plugins' on_breakdown hooks adjust what each scene's breakdown proposes.
        let c = previz_script::breakdown_hooks(&host, &plugins, &working, c)
            .map_err(|e| JobError::failed(e.to_string()))?;
        land(&mut working, &mut commands, c)?;
    }
    if summary.shots > 0 {
        let timeline = timeline_command(&working);
        land(&mut working, &mut commands, timeline)?;
    }
    let text = format!(
        "{} scenes: {} planned, {} repaired, {} fell back to rules, {} up to date, {} kept; {} shots{}",
        summary.scenes,
        summary.planned,
        summary.repaired,
        summary.fell_back,
        summary.skipped,
        summary.kept,
        summary.shots,
        if summary.cancelled {
            " (cancelled: the scenes done are kept)"
        } else {
            ""
        }
    );
    Ok(JobOutput::new(text).with_commands(commands))
}
