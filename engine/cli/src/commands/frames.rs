//! `previz frames`: storyboard frames for shots, scene by scene, with a progress bar over
//! shots and denoising steps.
//!
//! With a diffusion model (the first installed one, or `--model`) each shot gets new takes
//! with full provenance; with none, the built-in storyboard sketch, never an error. Each
//! scene's takes land as one undo step and the project is saved before the next scene, so an
//! interrupted run keeps what was drawn; running again keeps shots whose active take is up
//! to date.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use previz_breakdown::{BreakdownError, SceneSelection};
use previz_core::EditCommand;
use previz_core::ids::ShotId;
use previz_core::project::Project;
use previz_core::script::{CharacterField, CharacterLook};
use previz_frames::{
    DiffusionEngine, FrameEngine, FramesOptions, FramesSummary, parse_lora, run_frames,
};
use previz_jobs::{CancelToken, JobContext, JobKind};
use previz_models::device::DeviceChoice;
use previz_models::diffusion::{LoadOptions, SchedulerKind};
use previz_models::registry::{ModelKind, Registry};
use previz_storage::OpenMode;
use serde::Serialize;

use super::{close, open, project_dir, storage_error};
use crate::args::FramesArgs;
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct Report {
    engine: String,
    shots_drawn: usize,
    takes: usize,
    kept: usize,
    cancelled: bool,
}

/// Shots named by label or by 1-based position: `3,5A,7-9`.
fn select_shots(project: &Project, spec: &str) -> Result<Vec<ShotId>, CliError> {
    previz_batch::select_shots(project, spec).map_err(CliError::bad_input)
}

/// The character `name` answers to, or which names the script has.
fn find_character<'a>(
    project: &'a Project,
    name: &str,
) -> Result<&'a previz_core::script::Character, String> {
    project
        .script
        .characters
        .iter()
        .find(|c| c.answers_to(name.trim()))
        .ok_or_else(|| {
            let names: Vec<&str> = project
                .script
                .characters
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            format!(
                "no character is called '{}'; the script has: {}",
                name.trim(),
                names.join(", ")
            )
        })
}

/// `NAME=FILE[:SCALE][@TRIGGER WORDS]` as the edit that sets that character's look (`NAME=`
/// clears it).
fn look_command(project: &Project, spec: &str) -> Result<EditCommand, CliError> {
    let bad = |why: String| CliError::bad_input(format!("--look '{spec}': {why}"));
    let (name, rest) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=FILE[:SCALE][@TRIGGER WORDS]".into()))?;
    let character = find_character(project, name).map_err(bad)?;
    // The LoRA part of the look; a reference picture it has stays.
    let mut look = character
        .look
        .clone()
        .unwrap_or_else(|| CharacterLook::new(""));
    if rest.trim().is_empty() {
        look.lora.clear();
        look.trigger.clear();
        look.scale_percent = 100;
    } else {
        let (file_scale, trigger) = rest.split_once('@').unwrap_or((rest, ""));
        let (file, scale) = parse_lora(file_scale.trim()).map_err(bad)?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let scale_percent = (scale * 100.0).round().max(0.0) as u32;
        look.lora = file.display().to_string();
        look.scale_percent = scale_percent;
        look.trigger = trigger.trim().to_owned();
    }
    Ok(EditCommand::EditCharacter {
        character: character.id,
        field: CharacterField::Look((!look.is_empty()).then_some(look)),
    })
}

/// `NAME=PICTURE[:PERCENT]` as the edit that sets that character's reference picture (`NAME=`
/// clears it; a LoRA the look has stays).
fn reference_command(project: &Project, spec: &str) -> Result<EditCommand, CliError> {
    let bad = |why: String| CliError::bad_input(format!("--reference '{spec}': {why}"));
    let (name, rest) = spec
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=PICTURE[:PERCENT]".into()))?;
    let character = find_character(project, name).map_err(bad)?;
    let mut look = character
        .look
        .clone()
        .unwrap_or_else(|| CharacterLook::new(""));
    let rest = rest.trim();
    if rest.is_empty() {
        look.reference.clear();
        look.reference_percent = 60;
    } else {
        let (file, percent) = match rest.rsplit_once(':') {
            Some((f, p)) if !f.is_empty() && p.trim().parse::<u32>().is_ok() => {
                (f, p.trim().parse::<u32>().unwrap_or(60))
            }
            _ => (rest, 60),
        };
        if percent > 200 {
            return Err(bad(format!(
                "strength {percent}%: use 0 to 200 (60 leaves room for the prompt)"
            )));
        }
        look.reference = file.to_owned();
        look.reference_percent = percent;
    }
    Ok(EditCommand::EditCharacter {
        character: character.id,
        field: CharacterField::Look((!look.is_empty()).then_some(look)),
    })
}

fn engine_for(args: &FramesArgs) -> Result<FrameEngine, CliError> {
    frame_engine(&FrameEngineSpec {
        model: args.model.as_deref(),
        loras: &args.loras,
        ip_adapter: args.ip_adapter.as_deref(),
        device: &args.device,
        steps: args.steps,
        guidance: args.guidance,
        scheduler: &args.scheduler,
    })
}

/// What picks and sets up the frame engine (`previz frames` and `previz batch` flags).
pub(crate) struct FrameEngineSpec<'a> {
    pub model: Option<&'a str>,
    pub loras: &'a [String],
    /// Characters' reference pictures are shown to the model through it.
    pub ip_adapter: Option<&'a Path>,
    pub device: &'a str,
    pub steps: Option<usize>,
    pub guidance: Option<f32>,
    pub scheduler: &'a str,
}

/// The diffusion model `model` names (default: the first installed), or the sketch.
pub(crate) fn frame_engine(args: &FrameEngineSpec<'_>) -> Result<FrameEngine, CliError> {
    let registry = Registry::discover_default();
    let entry = match args.model {
        Some("sketch") => return Ok(FrameEngine::Sketch),
        Some(id) => Some(
            registry
                .resolve(id)
                .map_err(|e| CliError::bad_input(e.to_string()))?,
        ),
        None => registry.installed(ModelKind::Diffusion).next().cloned(),
    };
    let Some(entry) = entry else {
        return Ok(FrameEngine::Sketch);
    };
    if entry.kind != ModelKind::Diffusion {
        return Err(CliError::bad_input(format!(
            "--model {}: that is not a diffusion model; `previz models` lists them",
            entry.id
        )));
    }
    let Some(path) = entry.path else {
        return Err(CliError::bad_input(format!(
            "model {} is not installed",
            entry.id
        )));
    };
    let device: DeviceChoice = args
        .device
        .parse()
        .map_err(|e: previz_models::device::DeviceError| CliError::bad_input(e.to_string()))?;
    let loras = args
        .loras
        .iter()
        .map(|l| parse_lora(l))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CliError::bad_input)?;
    let mut engine = DiffusionEngine::load(
        &entry.id,
        &path,
        &LoadOptions {
            device,
            loras,
            ..LoadOptions::default()
        },
    )
    .map_err(|e| CliError::bad_input(e.to_string()))?;
    if let Some(steps) = args.steps {
        engine.steps = steps;
    }
    if let Some(g) = args.guidance {
        engine.guidance = g;
    }
    engine.scheduler = args
        .scheduler
        .parse::<SchedulerKind>()
        .map_err(CliError::bad_input)?;
    if let Some(file) = args.ip_adapter {
        engine
            .set_ip_adapter(file)
            .map_err(|e| CliError::bad_input(format!("--ip-adapter {}: {e}", file.display())))?;
    }
    Ok(FrameEngine::Diffusion(Box::new(engine)))
}

pub fn run(args: &FramesArgs, json: bool) -> Result<(), CliError> {
    let scenes: SceneSelection = match &args.scenes {
        Some(text) => text
            .parse()
            .map_err(|e: BreakdownError| CliError::bad_input(e.to_string()))?,
        None => SceneSelection::All,
    };
    if let Some(s) = args.from_active
        && !(s > 0.0 && s <= 1.0)
    {
        return Err(CliError::bad_input(format!(
            "--from-active {s}: the strength must be more than 0 and at most 1"
        )));
    }
    let engine = engine_for(args)?;
    let engine_name = match &engine {
        FrameEngine::Sketch => "sketch".to_owned(),
        FrameEngine::Diffusion(d) => d.id.clone(),
    };
    let dir = project_dir(args.project.as_deref())?;
    let mode = if args.take_over {
        OpenMode::TakeOver
    } else {
        OpenMode::ReadWrite
    };
    let (mut session, _) = open(&dir, mode, json)?;
    // Looks given on the command line go into the character bible first (one undo step each).
    let looks = args.looks.iter().map(|s| (s, false));
    let references = args.references.iter().map(|s| (s, true));
    for (spec, is_reference) in looks.chain(references) {
        let command = if is_reference {
            reference_command(session.project(), spec)
        } else {
            look_command(session.project(), spec)
        };
        let applied = command.and_then(|command| {
            session
                .apply(&command)
                .and_then(|_| session.save())
                .map_err(|e| storage_error(&e))
        });
        if let Err(e) = applied {
            close(session);
            return Err(e);
        }
    }
    let store = session.assets();
    let project = session.project().clone();
    let chosen: Option<Vec<ShotId>> = match &args.shots {
        Some(spec) => match select_shots(&project, spec) {
            Ok(v) => Some(v),
            Err(e) => {
                close(session);
                return Err(e);
            }
        },
        None => None,
    };
    // Scene by scene, in script order.
    let mut per_scene: Vec<(usize, Vec<ShotId>)> = Vec::new();
    for (i, scene) in project.script.scenes.iter().enumerate() {
        if !scenes.contains(i + 1) {
            continue;
        }
        let ids: Vec<ShotId> = project
            .shots
            .iter()
            .filter(|s| s.scene == scene.id)
            .filter(|s| chosen.as_ref().is_none_or(|c| c.contains(&s.id)))
            .map(|s| s.id)
            .collect();
        if !ids.is_empty() {
            per_scene.push((i + 1, ids));
        }
    }
    let total: usize = per_scene.iter().map(|(_, v)| v.len()).sum::<usize>() * args.takes.max(1);
    let bar = ProgressBar::new(total as u64);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} takes {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let ctx = JobContext::detached(JobKind::Frames, "frames", CancelToken::new());
    let mut sum = FramesSummary::default();
    for (scene, ids) in per_scene {
        let options = FramesOptions {
            shots: Some(ids),
            takes: args.takes.max(1),
            seed: args.seed,
            force: args.force,
            from_active: args.from_active,
            project_dir: Some(dir.clone()),
        };
        let project = session.project().clone();
        let result = run_frames(
            &project,
            &engine,
            &store,
            &options,
            &ctx,
            |o| {
                bar.inc(if o.takes == 0 { options.takes } else { o.takes } as u64);
                if !json {
                    let what = if o.takes == 0 {
                        "up to date".to_owned()
                    } else {
                        format!("{} take{}", o.takes, if o.takes == 1 { "" } else { "s" })
                    };
                    bar.suspend(|| eprintln!("scene {scene}, shot {}: {what}", o.label));
                }
            },
            |s, _| {
                bar.set_message(format!(
                    "shot {}/{} step {}/{}",
                    s.shot_index + 1,
                    s.shots,
                    s.step,
                    s.steps
                ));
            },
        );
        let (command, summary) = match result {
            Ok(r) => r,
            Err(e) => {
                bar.finish_and_clear();
                close(session);
                // A look naming a missing or unsafe file, or a picture with no adapter set, is
                // the project's input to correct (exit 2); the rest is a failure (exit 1).
                return Err(match e {
                    previz_frames::FramesError::Look(_) => CliError::bad_input(e.to_string()),
                    _ => CliError::failure(e.to_string()),
                });
            }
        };
        if let Some(command) = command
            && let Err(e) = session.apply(&command).and_then(|_| session.save())
        {
            bar.finish_and_clear();
            close(session);
            return Err(storage_error(&e));
        }
        sum.shots_drawn += summary.shots_drawn;
        sum.takes += summary.takes;
        sum.kept += summary.kept;
        if summary.cancelled {
            sum.cancelled = true;
            break;
        }
    }
    bar.finish_and_clear();
    close(session);
    let report = Report {
        engine: engine_name,
        shots_drawn: sum.shots_drawn,
        takes: sum.takes,
        kept: sum.kept,
        cancelled: sum.cancelled,
    };
    if json {
        return print_json(&report);
    }
    print_text(&format!(
        "Drew {} take{} for {} shot{} in {} with {}; {} kept (up to date){}",
        report.takes,
        if report.takes == 1 { "" } else { "s" },
        report.shots_drawn,
        if report.shots_drawn == 1 { "" } else { "s" },
        dir.display(),
        report.engine,
        report.kept,
        if report.cancelled {
            "; cancelled, run again to go on"
        } else {
            ""
        }
    ))
}
