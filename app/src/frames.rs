//! "Storyboard frames" in the studio: takes for shots drawn as a background job.
//!
//! The diffusion model chosen in Settings (else the first installed one) draws each shot; with
//! none installed the built-in storyboard sketch does, so the command always works. Progress
//! names the shot and the denoising step; cancelling keeps the shots drawn so far. The takes
//! land as one undo step when the job ends; the first new take of each shot becomes active.

use previz_core::Project;
use previz_core::ids::ShotId;
use previz_frames::{DiffusionEngine, FrameEngine, FramesOptions, run_frames};
use previz_jobs::{JobContext, JobError, JobOutput};
use previz_models::diffusion::LoadOptions;
use previz_models::registry::{ModelKind, Registry};
use previz_storage::AssetStore;

use crate::settings::Device;

/// What the job draws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FramesMode {
    /// Shots whose active take is out of date (or missing).
    Draw,
    /// New takes even when up to date.
    Regenerate,
    /// New takes redrawn from each shot's active take (img2img) at this strength.
    Variations(f32),
}

/// Which models draw the frames, as the settings say.
#[derive(Clone, Debug)]
pub struct FrameModels {
    /// A registry id or a path; `None`: the first installed; `sketch`: the sketch.
    pub diffusion: Option<String>,
    pub device: Device,
    /// The IP-Adapter that shows characters' reference pictures to the model.
    pub ip_adapter: Option<std::path::PathBuf>,
}

fn engine(models: &FrameModels, ctx: &JobContext) -> Result<FrameEngine, JobError> {
    let registry = Registry::discover_default();
    let entry = match models.diffusion.as_deref() {
        Some("sketch") => None,
        Some(id) => Some(
            registry
                .resolve(id)
                .map_err(|e| JobError::failed(e.to_string()))?,
        ),
        None => registry.installed(ModelKind::Diffusion).next().cloned(),
    };
    let Some(entry) = entry.filter(|e| e.kind == ModelKind::Diffusion) else {
        ctx.log("no diffusion model installed: drawing storyboard sketches from the shots' fields");
        return Ok(FrameEngine::Sketch);
    };
    let Some(path) = entry.path else {
        return Err(JobError::failed(format!(
            "model {} is not installed",
            entry.id
        )));
    };
    ctx.progress(0.0, format!("loading {}", entry.id));
    let device = crate::settings::device_choice(models.device);
    let engine = DiffusionEngine::load(
        &entry.id,
        &path,
        &LoadOptions {
            device,
            loras: Vec::new(),
            ..LoadOptions::default()
        },
    )
    .map_err(|e| JobError::failed(e.to_string()))?;
    let mut engine = engine;
    if let Some(file) = models.ip_adapter.as_deref() {
        ctx.progress(0.0, format!("loading the IP-Adapter {}", file.display()));
        engine
            .set_ip_adapter(file)
            .map_err(|e| JobError::failed(format!("ip_adapter in the settings: {e}")))?;
    }
    Ok(FrameEngine::Diffusion(Box::new(engine)))
}

/// The job's work: the batch to land and a summary.
pub fn run(
    project: &Project,
    store: &AssetStore,
    shots: Option<Vec<ShotId>>,
    models: &FrameModels,
    mode: FramesMode,
    ctx: &JobContext,
) -> Result<JobOutput, JobError> {
    let engine = engine(models, ctx)?;
    if matches!(mode, FramesMode::Variations(_)) && matches!(engine, FrameEngine::Sketch) {
        return Err(JobError::failed(
            "variations need a diffusion model: the sketch is drawn from the shot's fields alone; install one (see File › Settings › Models)",
        ));
    }
    let options = FramesOptions {
        shots,
        takes: 1,
        seed: u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0) % 1_000_000,
        force: mode != FramesMode::Draw,
        from_active: match mode {
            FramesMode::Variations(s) => Some(s),
            _ => None,
        },
        project_dir: None,
    };
    let count = options
        .shots
        .as_ref()
        .map_or(project.shots.len(), Vec::len)
        .max(1);
    let (command, summary) = run_frames(
        project,
        &engine,
        store,
        &options,
        ctx,
        |o| {
            if o.takes > 0 {
                ctx.log(format!("shot {}: {}", o.label, o.prompt));
            }
        },
        |s, preview| {
            if let Some(p) = preview {
                ctx.preview(p.width, p.height, p.pixels.clone());
            }
            let done = s.shot_index as f32 + s.step as f32 / s.steps.max(1) as f32;
            ctx.progress(
                done / count as f32,
                format!(
                    "shot {}/{}: step {}/{}",
                    s.shot_index + 1,
                    s.shots,
                    s.step,
                    s.steps
                ),
            );
        },
    )
    .map_err(|e| JobError::failed(e.to_string()))?;
    let text = format!(
        "{} take{} for {} shot{}, {} up to date{}",
        summary.takes,
        if summary.takes == 1 { "" } else { "s" },
        summary.shots_drawn,
        if summary.shots_drawn == 1 { "" } else { "s" },
        summary.kept,
        if summary.cancelled {
            " (cancelled: the shots drawn are kept)"
        } else {
            ""
        }
    );
    Ok(JobOutput::new(text).with_commands(command.into_iter().collect()))
}
