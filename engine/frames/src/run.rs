//! Shots to frames: each selected shot gets new takes (a diffusion model's, or the built-in
//! sketch when none is installed), stored content-addressed as PNG with full provenance, and
//! landed as one undoable batch that makes the first new take active.

use std::path::PathBuf;

use image::ImageEncoder;
use previz_core::Extra;
use previz_core::edit::EditCommand;
use previz_core::ids::{ShotId, TakeId};
use previz_core::project::Project;
use previz_core::shot::{Asset, AssetKind, MediaInfo, Provenance, Shot, Take};
use previz_jobs::JobContext;
use previz_models::diffusion::ip_adapter::IpAdapter;
use previz_models::diffusion::{
    DiffusionError, DiffusionModel, InitImage, LoadOptions, Reference, Request, RgbImage,
    SchedulerKind,
};
use previz_models::pool::{ModelPool, PoolError, PoolKey};
use previz_storage::AssetStore;

use crate::prompt::shot_prompt;
use crate::sketch::{SketchInput, draw_sketch};

/// What can go wrong making frames, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum FramesError {
    #[error("diffusion model: {0}")]
    Model(#[from] DiffusionError),
    #[error("asset store: {0}")]
    Store(String),
    #[error("image: {0}")]
    Image(String),
    #[error("the edit refused the frames: {0}")]
    Edit(String),
    #[error("model memory: {0}")]
    Memory(String),
    #[error("character look: {0}")]
    Look(String),
}

/// Who draws the frames.
#[derive(Debug)]
pub enum FrameEngine {
    /// The built-in storyboard sketch: always there, never fails.
    Sketch,
    Diffusion(Box<DiffusionEngine>),
}

/// A loaded diffusion model and how it samples.
#[derive(Debug)]
pub struct DiffusionEngine {
    pub id: String,
    /// Shared through the process's model pool: the next job reuses it without a reload.
    pub model: std::sync::Arc<DiffusionModel>,
    /// Where it was loaded from and how, for the variants with character LoRAs merged.
    pub path: PathBuf,
    pub options: LoadOptions,
    /// blake3 of its weights (and LoRAs).
    pub hash: String,
    pub steps: usize,
    pub guidance: f32,
    pub scheduler: SchedulerKind,
    /// The IP-Adapter that shows characters' reference pictures to the model (their looks'
    /// `reference`); `None`: a shot with one is refused, saying how to set one.
    pub ip_adapter: Option<std::sync::Arc<IpAdapter>>,
}

impl DiffusionEngine {
    /// Loads the model at `path` with its LoRAs, hashing its weights for provenance, through
    /// the process's [`ModelPool`]: held models are reused, and unused ones are evicted (least
    /// recently used first) when this one needs the room.
    pub fn load(
        id: &str,
        path: &std::path::Path,
        options: &LoadOptions,
    ) -> Result<Self, FramesError> {
        Self::load_in(ModelPool::global(), id, path, options)
    }

    /// [`load`](Self::load) through a given pool.
    pub fn load_in(
        pool: &ModelPool,
        id: &str,
        path: &std::path::Path,
        options: &LoadOptions,
    ) -> Result<Self, FramesError> {
        let key = PoolKey {
            kind: "diffusion",
            path: path.to_path_buf(),
            // Device, LoRAs and scales, TAESD and tiling: whatever changes what is loaded.
            variant: format!("{options:?}"),
        };
        let loaded = pool
            .get_or_load(
                key,
                || DiffusionModel::estimate_bytes(path, options.device),
                || DiffusionModel::load(path, options),
            )
            .map_err(|e| match e {
                PoolError::Load(e) => FramesError::Model(e),
                other => FramesError::Memory(other.to_string()),
            })?;
        // Hashed once per loaded model (the pool keeps the answer with it).
        let hash = loaded.content_hash()?;
        let model = loaded;
        // Turbo models are distilled for one to four steps without guidance.
        let turbo = id.contains("turbo");
        Ok(Self {
            id: id.to_owned(),
            model,
            path: path.to_path_buf(),
            options: options.clone(),
            hash,
            steps: if turbo { 4 } else { 25 },
            guidance: if turbo { 0.0 } else { 7.5 },
            scheduler: SchedulerKind::default(),
            ip_adapter: None,
        })
    }

    /// Loads the IP-Adapter at `file` (its image encoder beside it, see
    /// [`IpAdapter::encoder_candidates`]) through the model pool, on the model's device, and
    /// checks that it was made for this model.
    pub fn set_ip_adapter(&mut self, file: &std::path::Path) -> Result<(), FramesError> {
        let device = self.options.device;
        let key = PoolKey {
            kind: "ip-adapter",
            path: file.to_path_buf(),
            variant: format!("{device:?}"),
        };
        let adapter = ModelPool::global()
            .get_or_load(
                key,
                || IpAdapter::estimate_bytes(file, device),
                || IpAdapter::load(file, None, device),
            )
            .map_err(|e| match e {
                PoolError::Load(e) => FramesError::Model(e),
                other => FramesError::Memory(other.to_string()),
            })?;
        self.model.check_ip_adapter(&adapter)?;
        self.ip_adapter = Some(adapter);
        Ok(())
    }
}

impl DiffusionEngine {
    /// The model with `extra` LoRAs merged on top of the engine's own (a shot's characters'
    /// looks), and its hash: the engine's model when there are none, else a variant loaded
    /// through the model pool (kept while the budget allows, so a character's shots reuse it).
    pub fn variant(
        &self,
        extra: &[(PathBuf, f32)],
    ) -> Result<(std::sync::Arc<DiffusionModel>, String), FramesError> {
        if extra.is_empty() {
            return Ok((self.model.clone(), self.hash.clone()));
        }
        let mut options = self.options.clone();
        options.loras.extend(extra.iter().cloned());
        let v = Self::load(&self.id, &self.path, &options)?;
        Ok((v.model, v.hash))
    }
}

/// The LoRA files of a shot's characters, resolved against the project folder; a missing file
/// names the character's look and what to do.
fn look_loras(
    looks: &[previz_core::script::CharacterLook],
    project_dir: Option<&std::path::Path>,
) -> Result<Vec<(PathBuf, f32)>, FramesError> {
    let mut out = Vec::new();
    for look in looks.iter().filter(|l| !l.lora.trim().is_empty()) {
        let path = look_file(
            &look.lora,
            "character LoRA",
            "looks/mara.safetensors",
            project_dir,
        )?;
        #[allow(clippy::cast_precision_loss)]
        let scale = look.scale_percent as f32 / 100.0;
        if !out.iter().any(|(p, _)| p == &path) {
            out.push((path, scale));
        }
    }
    Ok(out)
}

/// A file a character's look names, resolved inside the project folder; a missing or unsafe
/// one names itself and says what to do.
fn look_file(
    given: &str,
    what: &str,
    example: &str,
    project_dir: Option<&std::path::Path>,
) -> Result<PathBuf, FramesError> {
    let given = given.trim();
    // Paths in a project stay inside it: relative, no '..', no symlink leading out.
    let Some(dir) = project_dir else {
        return Err(FramesError::Look(format!(
            "{given}: a {what} is named relative to the project folder, and this run has none; run it on a saved project"
        )));
    };
    let path = previz_storage::backend::posix::resolve_inside(dir, std::path::Path::new(given))
        .map_err(|why| {
            FramesError::Look(format!(
                "{given}: not a safe path for a {what} ({why}); put the file inside the project folder (e.g. {example}) and name it relative to it"
            ))
        })?;
    if !path.is_file() {
        return Err(FramesError::Look(format!(
            "{}: the {what} is missing; put the file there or change the character's look",
            path.display()
        )));
    }
    Ok(path)
}

/// The reference pictures of a shot's characters: (file, blake3 of its bytes, strength in
/// percent), each file once.
fn look_references(
    looks: &[previz_core::script::CharacterLook],
    project_dir: Option<&std::path::Path>,
) -> Result<Vec<(PathBuf, String, u32)>, FramesError> {
    let mut out: Vec<(PathBuf, String, u32)> = Vec::new();
    for look in looks.iter().filter(|l| !l.reference.trim().is_empty()) {
        let path = look_file(
            &look.reference,
            "reference picture",
            "looks/mara.png",
            project_dir,
        )?;
        if out.iter().any(|(p, _, _)| p == &path) {
            continue;
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| FramesError::Look(format!("{}: {e}", path.display())))?;
        out.push((
            path,
            blake3::hash(&bytes).to_hex().to_string(),
            look.reference_percent,
        ));
    }
    Ok(out)
}

/// The strength of a shot's reference pictures: their looks' mean (one IP-Adapter scale
/// steers them all).
fn reference_scale(refs: &[(PathBuf, String, u32)]) -> f32 {
    #[allow(clippy::cast_precision_loss)]
    let mean = refs.iter().map(|(_, _, p)| *p as f32).sum::<f32>() / refs.len().max(1) as f32;
    (mean / 100.0).clamp(0.0, 2.0)
}

/// What the provenance keeps of a shot's reference pictures (and what the up-to-date check
/// compares): the adapter, each picture's name and hash, the scale.
fn references_json(
    engine: &FrameEngine,
    refs: &[(PathBuf, String, u32)],
) -> Result<Option<serde_json::Value>, FramesError> {
    let FrameEngine::Diffusion(d) = engine else {
        return Ok(None);
    };
    if refs.is_empty() {
        return Ok(None);
    }
    let Some(adapter) = &d.ip_adapter else {
        return Err(FramesError::Look(format!(
            "{}: a character's look has a reference picture, and no IP-Adapter is set to show it to the model; set ip_adapter in settings.toml (or pass --ip-adapter FILE) to an IP-Adapter .safetensors with its image_encoder/ folder beside it, or clear the look's reference",
            lora_name(&refs[0].0)
        )));
    };
    let hash = adapter.content_hash()?;
    let scale = (f64::from(reference_scale(refs)) * 1000.0).round() / 1000.0;
    Ok(Some(serde_json::json!({
        "adapter": lora_name(&adapter.file),
        "adapter_hash": &hash[..16.min(hash.len())],
        "pictures": refs
            .iter()
            .map(|(p, h, _)| serde_json::json!({"file": lora_name(p), "hash": &h[..16.min(h.len())]}))
            .collect::<Vec<_>>(),
        "scale": scale,
    })))
}

/// The pictures themselves, for the request.
fn reference_for(
    engine: &DiffusionEngine,
    refs: &[(PathBuf, String, u32)],
) -> Result<Option<Reference>, FramesError> {
    let Some(adapter) = &engine.ip_adapter else {
        return Ok(None);
    };
    if refs.is_empty() {
        return Ok(None);
    }
    let mut images = Vec::with_capacity(refs.len());
    for (path, _, _) in refs {
        let img = image::open(path)
            .map_err(|e| {
                FramesError::Look(format!(
                    "{}: not a picture the studio can read ({e}); save it as PNG or JPEG",
                    path.display()
                ))
            })?
            .to_rgb8();
        images.push(RgbImage {
            width: img.width(),
            height: img.height(),
            pixels: img.into_raw(),
        });
    }
    Ok(Some(Reference {
        adapter: adapter.clone(),
        images,
        scale: reference_scale(refs),
    }))
}

fn loras_json(loras: &[(PathBuf, f32)]) -> Option<serde_json::Value> {
    (!loras.is_empty()).then(|| {
        serde_json::Value::Array(
            loras
                .iter()
                // The scale as written (0.8, not f32's 0.800000011920929).
                .map(|(f, s)| {
                    let scale = (f64::from(*s) * 1000.0).round() / 1000.0;
                    serde_json::json!({"file": lora_name(f), "scale": scale})
                })
                .collect(),
        )
    })
}

/// Which shots, how many takes, from where.
#[derive(Clone, Debug, Default)]
pub struct FramesOptions {
    /// `None`: every shot of the project (in script order).
    pub shots: Option<Vec<ShotId>>,
    /// New takes per shot (at least one).
    pub takes: usize,
    pub seed: u64,
    /// Make takes even for shots whose active take was drawn from the same prompt and model.
    pub force: bool,
    /// img2img from each shot's active take at this strength (variations, "redraw from this").
    pub from_active: Option<f32>,
    /// Where character LoRAs named relative to the project are found; `None`: the folder
    /// holding the asset store (the project folder).
    pub project_dir: Option<PathBuf>,
}

/// What happened to one shot.
#[derive(Clone, Debug)]
pub struct ShotOutcome {
    pub shot: ShotId,
    pub label: String,
    /// New takes made (0 when kept).
    pub takes: usize,
    pub prompt: String,
}

/// Progress inside a shot (diffusion steps), for progress bars and the job panel.
#[derive(Clone, Copy, Debug)]
pub struct StepProgress {
    pub shot_index: usize,
    pub shots: usize,
    pub take: usize,
    pub step: usize,
    pub steps: usize,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FramesSummary {
    pub shots_drawn: usize,
    pub takes: usize,
    pub kept: usize,
    pub cancelled: bool,
}

/// The size frames are generated at: the project's aspect ratio at about the model's native
/// area (512² for SD 1.5), multiples of `step`; the sketch draws at the project's frame size
/// (long side at most 2048).
#[must_use]
pub fn generation_size(project: &Project, native: Option<u32>, step: u32) -> (u32, u32) {
    let (fw, fh) = (
        project.settings.frame_width.max(1),
        project.settings.frame_height.max(1),
    );
    let aspect = f64::from(fw) / f64::from(fh);
    let step = step.max(1);
    let round = |v: f64| -> u32 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let r = ((v / f64::from(step)).round().max(1.0) as u32) * step;
        r.clamp(step, 2048 / step * step)
    };
    match native {
        Some(n) => {
            let area = f64::from(n) * f64::from(n);
            let h = (area / aspect).sqrt();
            (round(h * aspect), round(h))
        }
        None => {
            let scale = (2048.0 / f64::from(fw.max(fh))).min(1.0);
            (round(f64::from(fw) * scale), round(f64::from(fh) * scale))
        }
    }
}

fn png_bytes(image: &RgbImage) -> Result<Vec<u8>, FramesError> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            &image.pixels,
            image.width,
            image.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| FramesError::Image(e.to_string()))?;
    Ok(out)
}

/// The active take's picture at `width`×`height`, for img2img.
fn active_picture(
    shot: &Shot,
    store: &AssetStore,
    width: u32,
    height: u32,
) -> Result<Option<RgbImage>, FramesError> {
    let Some(take) = shot.active() else {
        return Ok(None);
    };
    let bytes = store
        .read(&take.asset)
        .map_err(|e| FramesError::Store(e.to_string()))?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| FramesError::Image(format!("take {}: {e}", take.asset)))?
        .resize_exact(width, height, image::imageops::FilterType::Lanczos3)
        .to_rgb8();
    Ok(Some(RgbImage {
        width,
        height,
        pixels: img.into_raw(),
    }))
}

fn sketch_for(
    project: &Project,
    shot: &Shot,
    label: &str,
    subjects: Vec<String>,
    (w, h): (u32, u32),
    seed: u64,
) -> RgbImage {
    let heading = project
        .script
        .scene(shot.scene)
        .map(|s| s.heading.text.clone())
        .unwrap_or_default();
    let input = SketchInput {
        size: shot.size,
        angle: shot.angle,
        movement: shot.movement,
        lens_mm: shot.lens_mm,
        subjects,
        action: &shot.action,
        label,
        heading: &heading,
        seed,
    };
    let img = draw_sketch(&input, w, h);
    RgbImage {
        width: w,
        height: h,
        pixels: img.into_raw(),
    }
}

/// The key provenance keeps to tell whether a shot's active take is up to date.
fn engine_key(engine: &FrameEngine) -> String {
    match engine {
        FrameEngine::Sketch => "sketch".into(),
        FrameEngine::Diffusion(d) => format!("{}:{}", d.id, &d.hash[..16.min(d.hash.len())]),
    }
}

/// A stable number from a shot id, so the sketch's layout does not change between runs.
fn shot_seed(shot: ShotId, base: u64) -> u64 {
    let h = blake3::hash(shot.to_string().as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b) ^ base
}

/// Makes frames for the selected shots of `project` and returns the batch that lands them.
/// Pictures are written to `store` as they are made, so a cancelled run keeps its files and
/// the shots done so far.
pub fn run_frames(
    project: &Project,
    engine: &FrameEngine,
    store: &AssetStore,
    options: &FramesOptions,
    ctx: &JobContext,
    mut on_shot: impl FnMut(&ShotOutcome),
    mut on_step: impl FnMut(&StepProgress, Option<&RgbImage>),
) -> Result<(Option<EditCommand>, FramesSummary), FramesError> {
    let mut working = project.clone();
    let mut commands: Vec<EditCommand> = Vec::new();
    let mut summary = FramesSummary::default();
    let mut shots: Vec<ShotId> = match &options.shots {
        Some(ids) => ids.clone(),
        None => project.shots.iter().map(|s| s.id).collect(),
    };
    // Shots that share a set of character looks are drawn together, so each model variant is
    // loaded once even when the budget holds only one (a stable sort: script order otherwise).
    if matches!(engine, FrameEngine::Diffusion(_)) {
        shots.sort_by_cached_key(|id| {
            working.shot(*id).map_or_else(Vec::new, |shot| {
                shot_prompt(&working, shot)
                    .looks
                    .iter()
                    .map(|l| format!("{}:{}:{}", l.lora, l.scale_percent, l.reference))
                    .collect::<Vec<_>>()
            })
        });
    }
    let (width, height) = match engine {
        FrameEngine::Sketch => generation_size(project, None, 8),
        FrameEngine::Diffusion(d) => generation_size(
            project,
            Some(d.model.native_size().unwrap_or(512)),
            d.model.size_step(),
        ),
    };
    let key = engine_key(engine);
    let numbers = project.shot_numbers();
    let takes = options.takes.max(1);
    let token = ctx.cancel_token();
    for (index, id) in shots.iter().enumerate() {
        if ctx.is_cancelled() {
            summary.cancelled = true;
            break;
        }
        let Some(shot) = working.shot(*id).cloned() else {
            continue;
        };
        let prompt = shot_prompt(&working, &shot);
        // The model this shot is drawn with: the engine's, or a variant with its characters'
        // LoRAs merged.
        let model = match engine {
            FrameEngine::Diffusion(d) => {
                Some(d.variant(&look_loras(&prompt.looks, looks_dir(options, store))?)?)
            }
            FrameEngine::Sketch => None,
        };
        let loras = model.as_ref().and_then(|(m, _)| loras_json(&m.loras));
        let refs = match engine {
            FrameEngine::Diffusion(_) => look_references(&prompt.looks, looks_dir(options, store))?,
            FrameEngine::Sketch => Vec::new(),
        };
        let references = references_json(engine, &refs)?;
        // The shot's number in the script (`12A`, `3.2`): the same whichever shots are drawn
        // in this run, so a frame is a function of its shot alone.
        let label = numbers
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("{}", index + 1));
        ctx.progress(
            index as f32 / shots.len().max(1) as f32,
            format!("shot {label}: {}", preview_text(&prompt.prompt)),
        );
        let up_to_date = shot.active().is_some_and(|t| {
            t.provenance.prompt == prompt.prompt
                && t.provenance.extra.get("engine").and_then(|v| v.as_str()) == Some(key.as_str())
                && t.provenance.extra.get("loras") == loras.as_ref()
                && t.provenance.extra.get("reference") == references.as_ref()
        });
        if up_to_date && !options.force && options.from_active.is_none() {
            summary.kept += 1;
            on_shot(&ShotOutcome {
                shot: *id,
                label,
                takes: 0,
                prompt: prompt.prompt,
            });
            continue;
        }
        let init = match (options.from_active, engine) {
            (Some(strength), FrameEngine::Diffusion(_)) => {
                active_picture(&shot, store, width, height)?.map(|image| InitImage {
                    image,
                    strength,
                    mask: None,
                })
            }
            _ => None,
        };
        // Read once per shot; the adapter encodes them once per take.
        let reference = match engine {
            FrameEngine::Diffusion(d) => reference_for(d, &refs)?,
            FrameEngine::Sketch => None,
        };
        let mut made = 0;
        for take_index in 0..takes {
            if ctx.is_cancelled() {
                summary.cancelled = true;
                break;
            }
            let seed = options
                .seed
                .wrapping_add(shot_seed(*id, 0) % 1_000_000)
                .wrapping_add(take_index as u64 * 7919);
            let (image, provenance) = match engine {
                FrameEngine::Sketch => {
                    // A sketch is a function of the shot: extra takes vary the layout seed.
                    let img = sketch_for(
                        &working,
                        &shot,
                        &label,
                        prompt.subjects.clone(),
                        (width, height),
                        shot_seed(*id, take_index as u64),
                    );
                    let p = Provenance {
                        generator: "sketch".into(),
                        prompt: prompt.prompt.clone(),
                        seed: Some(take_index as u64),
                        ..Provenance::default()
                    };
                    (img, p)
                }
                FrameEngine::Diffusion(d) => {
                    let Some((model, model_hash)) = &model else {
                        continue;
                    };
                    let request = Request {
                        prompt: prompt.prompt.clone(),
                        negative_prompt: prompt.negative.clone(),
                        width,
                        height,
                        steps: d.steps,
                        guidance: d.guidance,
                        scheduler: d.scheduler,
                        seed,
                        init: init.clone(),
                        previews: true,
                        reference: reference.clone(),
                    };
                    let result = model.generate(&request, Some(&token), &mut |s| {
                        on_step(
                            &StepProgress {
                                shot_index: index,
                                shots: shots.len(),
                                take: take_index,
                                step: s.step,
                                steps: s.total,
                            },
                            s.preview,
                        );
                    });
                    let img = match result {
                        Ok(img) => img,
                        Err(DiffusionError::Cancelled) => {
                            summary.cancelled = true;
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let mut extra = Extra::new();
                    if let Some(l) = &loras {
                        extra.insert("loras".into(), l.clone());
                    }
                    if let Some(r) = &references {
                        extra.insert("reference".into(), r.clone());
                    }
                    if let Some(i) = &init {
                        extra.insert("img2img_strength".into(), serde_json::json!(i.strength));
                        if let Some(t) = shot.active() {
                            extra.insert(
                                "img2img_from".into(),
                                serde_json::json!(t.asset.to_string()),
                            );
                        }
                    }
                    let p = Provenance {
                        generator: "diffusion".into(),
                        model_id: Some(d.id.clone()),
                        model_hash: Some(model_hash.clone()),
                        prompt: prompt.prompt.clone(),
                        negative_prompt: prompt.negative.clone(),
                        seed: Some(seed),
                        steps: Some(u32::try_from(d.steps).unwrap_or(u32::MAX)),
                        scheduler: Some(d.scheduler.to_string()),
                        guidance: Some(d.guidance),
                        extra,
                        ..Provenance::default()
                    };
                    (img, p)
                }
            };
            let mut provenance = provenance;
            provenance
                .extra
                .insert("engine".into(), serde_json::Value::String(key.clone()));
            provenance.extra.insert(
                "size".into(),
                serde_json::json!([image.width, image.height]),
            );
            let bytes = png_bytes(&image)?;
            let hash = store
                .put(&bytes)
                .map_err(|e| FramesError::Store(e.to_string()))?;
            let asset = Asset {
                hash,
                kind: AssetKind::Image,
                media: MediaInfo {
                    mime: "image/png".into(),
                    bytes: bytes.len() as u64,
                    width: Some(image.width),
                    height: Some(image.height),
                    ..MediaInfo::default()
                },
                extra: Extra::new(),
            };
            let take = Take {
                id: TakeId::new(),
                asset: hash,
                provenance,
                created: jiff::Timestamp::now(),
                note: String::new(),
                extra: Extra::new(),
            };
            let registered = working.assets.contains_key(&hash);
            let command = EditCommand::AttachTake {
                shot: *id,
                take: Box::new(take),
                asset: (!registered).then(|| Box::new(asset)),
                make_active: made == 0,
            };
            working
                .apply(&command)
                .map_err(|e| FramesError::Edit(e.to_string()))?;
            commands.push(command);
            made += 1;
        }
        if made > 0 {
            summary.shots_drawn += 1;
            summary.takes += made;
        }
        on_shot(&ShotOutcome {
            shot: *id,
            label,
            takes: made,
            prompt: prompt.prompt,
        });
        if summary.cancelled {
            break;
        }
    }
    ctx.progress(1.0, "done");
    let batch = (!commands.is_empty()).then(|| EditCommand::Batch {
        label: format!(
            "Draw frames ({} take{} for {} shot{})",
            summary.takes,
            if summary.takes == 1 { "" } else { "s" },
            summary.shots_drawn,
            if summary.shots_drawn == 1 { "" } else { "s" }
        ),
        commands,
    });
    Ok((batch, summary))
}

/// Everything that decides the pictures [`run_frames`] draws for one shot with `options`
/// (engine and weights hash, prompt, LoRAs, size, seeds, sampling, the sketch's inputs, the
/// picture an img2img starts from), as JSON: a render farm hashes it to key the shot's frames,
/// so a rerun with the same inputs finds them done. `None` for a shot the project lacks.
pub fn frame_inputs(
    project: &Project,
    engine: &FrameEngine,
    shot: ShotId,
    options: &FramesOptions,
    store: &AssetStore,
) -> Result<Option<serde_json::Value>, FramesError> {
    let Some(s) = project.shot(shot) else {
        return Ok(None);
    };
    let prompt = shot_prompt(project, s);
    let planned = planned_lora_files(engine, &prompt, options, store)?;
    let loras = loras_json(&planned);
    let references = planned_references(engine, &prompt, options, store)?;
    let (width, height) = match engine {
        FrameEngine::Sketch => generation_size(project, None, 8),
        FrameEngine::Diffusion(d) => generation_size(
            project,
            Some(d.model.native_size().unwrap_or(512)),
            d.model.size_step(),
        ),
    };
    let sampling = match engine {
        FrameEngine::Sketch => serde_json::Value::Null,
        FrameEngine::Diffusion(d) => serde_json::json!({
            "steps": d.steps,
            "guidance": d.guidance,
            "scheduler": d.scheduler.to_string(),
        }),
    };
    let heading = project
        .script
        .scene(s.scene)
        .map(|sc| sc.heading.text.clone())
        .unwrap_or_default();
    let from = options
        .from_active
        .and_then(|strength| s.active().map(|t| (strength, t.asset.to_string())));
    // A LoRA replaced under the same name is another model: its size and time say so without
    // hashing hundreds of megabytes per shot (the loaded variant's full hash goes in the take).
    let lora_files: Vec<(String, u64, u64)> = planned
        .iter()
        .map(|(path, _)| {
            let meta = std::fs::metadata(path).ok();
            let modified = meta
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            (lora_name(path), meta.map_or(0, |m| m.len()), modified)
        })
        .collect();
    Ok(Some(serde_json::json!({
        "lora_files": lora_files,
        "engine": engine_key(engine),
        "prompt": prompt.prompt,
        "negative": prompt.negative,
        "subjects": prompt.subjects,
        "loras": loras,
        "reference": references,
        "size": [width, height],
        "sampling": sampling,
        "seed": options.seed.wrapping_add(shot_seed(shot, 0) % 1_000_000),
        "layout_seed": shot_seed(shot, 0),
        "takes": options.takes.max(1),
        "label": project.shot_numbers().get(&shot),
        "heading": heading,
        "camera": [s.size, s.angle, s.movement, s.lens_mm],
        "action": s.action,
        "from_active": from,
    })))
}

/// Whether `shot`'s active take was drawn from its current prompt by this engine with these
/// LoRAs: what [`run_frames`] keeps unless forced.
pub fn frame_up_to_date(
    project: &Project,
    engine: &FrameEngine,
    shot: ShotId,
    options: &FramesOptions,
    store: &AssetStore,
) -> Result<bool, FramesError> {
    let Some(s) = project.shot(shot) else {
        return Ok(true);
    };
    let prompt = shot_prompt(project, s);
    let loras = loras_json(&planned_lora_files(engine, &prompt, options, store)?);
    let references = planned_references(engine, &prompt, options, store)?;
    let key = engine_key(engine);
    Ok(s.active().is_some_and(|t| {
        t.provenance.prompt == prompt.prompt
            && t.provenance.extra.get("engine").and_then(|v| v.as_str()) == Some(key.as_str())
            && t.provenance.extra.get("loras") == loras.as_ref()
            && t.provenance.extra.get("reference") == references.as_ref()
    }))
}

/// The reference pictures a shot is drawn with, as its provenance will record them.
fn planned_references(
    engine: &FrameEngine,
    prompt: &crate::prompt::ShotPrompt,
    options: &FramesOptions,
    store: &AssetStore,
) -> Result<Option<serde_json::Value>, FramesError> {
    if matches!(engine, FrameEngine::Sketch) {
        return Ok(None);
    }
    references_json(
        engine,
        &look_references(&prompt.looks, looks_dir(options, store))?,
    )
}

/// The LoRAs a shot is drawn with (the engine's, then its characters' looks), without loading
/// anything.
fn planned_lora_files(
    engine: &FrameEngine,
    prompt: &crate::prompt::ShotPrompt,
    options: &FramesOptions,
    store: &AssetStore,
) -> Result<Vec<(PathBuf, f32)>, FramesError> {
    let FrameEngine::Diffusion(d) = engine else {
        return Ok(Vec::new());
    };
    let mut all = d.options.loras.clone();
    all.extend(look_loras(&prompt.looks, looks_dir(options, store))?);
    Ok(all)
}

/// Where character LoRAs named relative to the project are found.
fn looks_dir<'a>(options: &'a FramesOptions, store: &'a AssetStore) -> Option<&'a std::path::Path> {
    options
        .project_dir
        .as_deref()
        .or_else(|| store.root().parent())
}

fn lora_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn preview_text(text: &str) -> String {
    let mut s: String = text.chars().take(48).collect();
    if text.chars().count() > 48 {
        s.push('…');
    }
    s
}

/// A LoRA given on the command line or in settings: `file` or `file:scale`.
pub fn parse_lora(spec: &str) -> Result<(PathBuf, f32), String> {
    let (file, scale) = match spec.rsplit_once(':') {
        Some((f, s)) if s.parse::<f32>().is_ok() && !f.is_empty() => {
            (f, s.parse::<f32>().unwrap_or(1.0))
        }
        _ => (spec, 1.0),
    };
    if !scale.is_finite() || !(-4.0..=4.0).contains(&scale) {
        return Err(format!(
            "LoRA '{spec}': scale {scale} must be between -4 and 4"
        ));
    }
    Ok((PathBuf::from(file), scale))
}
