//! The studio's state: the open project (through a storage session, so every edit is
//! journaled), the selection, the transport, the job queue and the notifications. Panels read
//! it and change the document only through [`Studio::apply`] and friends, which take
//! `EditCommand`s; nothing here draws.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use previz_core::{EditCommand, ItemId, Project, SceneId, ShotId};
use previz_jobs::{
    Finished, JobError, JobId, JobKind, JobOutput, JobQueue, JobSpec, JobState, Priority,
};
use previz_storage::{OpenMode, OpenReport, SaveWritten, Session, StorageError};

use crate::media::Media;
use crate::playback::Transport;
use crate::settings::StudioSettings;
use crate::toasts::Toasts;

/// What is selected, across panels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub scene: Option<SceneId>,
    pub shots: BTreeSet<ShotId>,
    pub clips: BTreeSet<ItemId>,
}

/// Where autosave stands, for the status bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutosaveState {
    /// Nothing to save.
    Saved { at: Option<jiff::Timestamp> },
    /// Edits not yet in the journal.
    Pending,
    /// Edits safe in the journal, not yet saved to project.json.
    Journaled,
    /// The last autosave failed; the edits are in memory only.
    Failed(String),
}

/// A project open in the studio.
#[derive(Debug)]
pub struct OpenProject {
    pub session: Session,
    /// What opening found (recovered edits, a taken-over lock...), shown once.
    pub open_messages: Vec<String>,
    pub autosave: AutosaveState,
}

/// Something a job delivers that is not an edit: a session it opened or created.
#[derive(Debug)]
pub struct OpenedSession {
    pub session: Session,
    pub report: OpenReport,
    /// The plugins found for it (searched in the same job, off the UI thread).
    pub plugins: Option<crate::scripts::PluginsFound>,
}

/// A project someone else has open for writing: the studio asks whether to open it read-only
/// or take it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedProject {
    pub dir: PathBuf,
    pub holder: String,
    /// Whether the holder looks gone (dead process, old heartbeat).
    pub stale: bool,
    pub why: String,
}

/// How a shot stands in frame generation (for the shot list's status column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShotStatus {
    NoFrame,
    Queued,
    Generating,
    Done,
    Failed,
}

impl ShotStatus {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            ShotStatus::NoFrame => "no frame",
            ShotStatus::Queued => "queued",
            ShotStatus::Generating => "generating",
            ShotStatus::Done => "done",
            ShotStatus::Failed => "failed",
        }
    }
}

/// The whole state of the window.
pub struct Studio {
    pub project: Option<OpenProject>,
    pub selection: Selection,
    pub transport: Transport,
    pub jobs: JobQueue,
    pub media: Media,
    pub toasts: Toasts,
    pub settings: StudioSettings,
    /// Bumped on every change to the document, so caches (timeline layout, thumbnails of the
    /// storyboard) know when to rebuild.
    pub revision: u64,
    /// Jobs generating something for a shot, so the shot list can show their state.
    pub shot_jobs: HashMap<ShotId, JobId>,
    /// Opening or creating a project is a job; this is the one in flight.
    pub opening: Option<JobId>,
    /// A project that could not be opened because it is locked, waiting for the user's choice.
    pub locked: Option<LockedProject>,
    /// The save job in flight.
    pub saving: Option<JobId>,
    /// The Cast panel: voices on this machine, previews.
    pub cast: crate::cast::CastState,
    /// Edits of this editor that did not merge with another's save (shared projects), until
    /// the editor chooses for each: see [`crate::panels::shared`].
    pub conflicts: Vec<OpenConflict>,
    /// Whether the Conflicts window is shown.
    pub show_conflicts: bool,
    /// Plugins found for the open project (the Scripts menu), and the ones that do not compile.
    pub plugins: Vec<previz_script::Plugin>,
    pub broken_plugins: Vec<String>,
    /// Style presets the plugins offer: (plugin, preset).
    pub style_presets: Vec<(String, previz_script::StylePreset)>,
    /// The models installed on this machine, as the last search found them (the Settings
    /// window's choices); `None` until a search ran.
    pub installed_models: Option<Vec<InstalledModel>>,
    models_job: Option<JobId>,
    /// Depth of the open gesture (a drag): job results wait until it ends, so Escape never
    /// undoes a job's work along with the drag.
    gesture_depth: usize,
    deferred: Vec<Finished>,
    /// Leases of others already told about (scene, holder's session), so a scene being
    /// edited does not raise the same notice at every edit.
    told_leases: BTreeSet<(SceneId, String)>,
}

/// A conflict waiting for the editor's choice, with the record on the share it came from.
#[derive(Clone, Debug)]
pub struct OpenConflict {
    pub conflict: previz_core::merge::Conflict,
    /// Where the conflict record was written (`conflicts/…` in the project folder).
    pub record: Option<String>,
}

/// An installed model, as the Settings window offers it.
#[derive(Clone, Debug, PartialEq)]
pub struct InstalledModel {
    pub id: String,
    pub kind: previz_models::registry::ModelKind,
    pub path: PathBuf,
    /// What the checksum ledger knows (no file is read for it).
    pub verified: previz_models::verify::Known,
}

/// What the model search job hands back.
struct ModelsFound(Vec<InstalledModel>);

/// What a save job hands back to the session that started it.
struct SaveDone(Result<SaveWritten, StorageError>);

impl std::fmt::Debug for Studio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Studio")
            .field(
                "project",
                &self.project.as_ref().map(|p| p.session.dir().to_path_buf()),
            )
            .field("selection", &self.selection)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

impl Studio {
    #[must_use]
    pub fn new(jobs: JobQueue, settings: StudioSettings) -> Self {
        let media = Media::with_jobs(jobs.clone());
        Self {
            project: None,
            selection: Selection::default(),
            transport: Transport::default(),
            jobs,
            media,
            toasts: Toasts::default(),
            settings,
            revision: 0,
            shot_jobs: HashMap::new(),
            opening: None,
            locked: None,
            saving: None,
            cast: crate::cast::CastState::default(),
            conflicts: Vec::new(),
            show_conflicts: false,
            plugins: Vec::new(),
            broken_plugins: Vec::new(),
            style_presets: Vec::new(),
            installed_models: None,
            models_job: None,
            gesture_depth: 0,
            deferred: Vec::new(),
            told_leases: BTreeSet::new(),
        }
    }

    /// The document, when a project is open.
    #[must_use]
    pub fn doc(&self) -> Option<&Project> {
        self.project.as_ref().map(|p| p.session.project())
    }

    #[must_use]
    pub fn read_only(&self) -> bool {
        self.project.as_ref().is_none_or(|p| p.session.read_only())
    }

    fn after_edit(&mut self, result: Result<Vec<previz_core::Change>, StorageError>) -> bool {
        match result {
            Ok(changes) => {
                if !changes.is_empty() {
                    self.revision += 1;
                    if let Some(p) = &mut self.project {
                        p.autosave = AutosaveState::Pending;
                    }
                    self.prune_selection();
                }
                true
            }
            Err(e) => {
                self.toasts.error("The edit was not made", e.to_string());
                false
            }
        }
    }

    /// Applies an edit as its own undo step. Errors become a toast; returns whether it applied.
    pub fn apply(&mut self, command: &EditCommand) -> bool {
        let Some(p) = &mut self.project else {
            return false;
        };
        let result = p.session.apply(command);
        self.after_edit(result)
    }

    /// Applies an edit that merges with the previous one of the same gesture (`key`).
    pub fn apply_coalescing(&mut self, command: &EditCommand, key: &str) -> bool {
        let Some(p) = &mut self.project else {
            return false;
        };
        let result = p.session.apply_coalescing(command, key);
        self.after_edit(result)
    }

    /// Ends the current typing or dragging gesture.
    pub fn seal(&mut self) {
        if let Some(p) = &mut self.project {
            p.session.seal();
        }
    }

    /// Starts a gesture whose edits make one undo step (a drag).
    pub fn begin_gesture(&mut self, label: &str) {
        if let Some(p) = &mut self.project {
            p.session.begin_group(label);
            self.gesture_depth += 1;
        }
    }

    pub fn end_gesture(&mut self) {
        if let Some(p) = &mut self.project {
            p.session.end_group();
        }
        self.gesture_depth = self.gesture_depth.saturating_sub(1);
    }

    /// Abandons the gesture in progress, putting everything back (Escape during a drag).
    pub fn cancel_gesture(&mut self) {
        self.gesture_depth = 0;
        let Some(p) = &mut self.project else {
            return;
        };
        let result = p.session.cancel_group();
        self.after_edit(result);
    }

    pub fn undo(&mut self) {
        let Some(p) = &mut self.project else {
            return;
        };
        let result = p.session.undo();
        self.after_edit(result);
    }

    pub fn redo(&mut self) {
        let Some(p) = &mut self.project else {
            return;
        };
        let result = p.session.redo();
        self.after_edit(result);
    }

    #[must_use]
    pub fn undo_label(&self) -> Option<String> {
        self.project
            .as_ref()
            .and_then(|p| p.session.history().undo_label().map(str::to_owned))
    }

    #[must_use]
    pub fn redo_label(&self) -> Option<String> {
        self.project
            .as_ref()
            .and_then(|p| p.session.history().redo_label().map(str::to_owned))
    }

    /// Drops selected things that no longer exist (after an undo, a revision...).
    fn prune_selection(&mut self) {
        let Some(doc) = self.project.as_ref().map(|p| p.session.project()) else {
            self.selection = Selection::default();
            return;
        };
        if let Some(scene) = self.selection.scene
            && doc.script.scene(scene).is_none()
        {
            self.selection.scene = None;
        }
        self.selection.shots.retain(|s| doc.shot(*s).is_some());
        self.selection
            .clips
            .retain(|c| doc.timeline.find_item(*c).is_some());
    }

    /// Selects a scene and its shots.
    pub fn select_scene(&mut self, scene: SceneId) {
        self.selection.scene = Some(scene);
        self.selection.shots = self
            .doc()
            .map(|d| d.shots_in_scene(scene).map(|s| s.id).collect())
            .unwrap_or_default();
    }

    /// Selects a shot (and its scene).
    pub fn select_shot(&mut self, shot: ShotId) {
        let scene = self.doc().and_then(|d| d.shot(shot)).map(|s| s.scene);
        if scene.is_some() {
            self.selection.scene = scene;
        }
        self.selection.shots = BTreeSet::from([shot]);
    }

    /// The frame-generation state of a shot.
    #[must_use]
    pub fn shot_status(&self, shot: ShotId) -> ShotStatus {
        if let Some(job) = self.shot_jobs.get(&shot).and_then(|id| self.jobs.job(*id)) {
            match job.state {
                JobState::Queued => return ShotStatus::Queued,
                JobState::Running => return ShotStatus::Generating,
                JobState::Failed { .. } => return ShotStatus::Failed,
                JobState::Succeeded | JobState::Cancelled => {}
            }
        }
        match self.doc().and_then(|d| d.shot(shot)) {
            Some(s) if s.active().is_some() => ShotStatus::Done,
            _ => ShotStatus::NoFrame,
        }
    }

    /// Opens a project in the background (reading a large project from a share takes time).
    pub fn open_project(&mut self, dir: PathBuf, mode: OpenMode) {
        let name = format!("Open {}", dir.display());
        let spec = JobSpec::new(JobKind::Import, name).with_priority(Priority::Interactive);
        self.opening = Some(self.jobs.submit(spec, move |ctx| {
            ctx.progress(0.1, "reading the project");
            let (session, report) = match Session::open(&dir, mode) {
                Ok(opened) => opened,
                // Someone holds it: not a failure, a question for the user.
                Err(StorageError::Locked {
                    holder, staleness, ..
                }) => {
                    return Ok(
                        JobOutput::new("the project is locked").with_data(LockedProject {
                            dir,
                            holder: holder.map_or_else(
                                || "someone (unreadable lock file)".to_owned(),
                                |h| h.to_string(),
                            ),
                            stale: staleness.stale,
                            why: staleness.reason,
                        }),
                    );
                }
                Err(e) => return Err(JobError::from_error(&e)),
            };
            // Opens the show store here, off the UI thread (panels ask for it every frame).
            let _ = session.assets();
            ctx.progress(1.0, "opened");
            Ok(
                JobOutput::new(format!("opened {}", dir.display())).with_data(OpenedSession {
                    plugins: Some(crate::scripts::find(&dir)),
                    session,
                    report,
                }),
            )
        }));
    }

    /// Creates a project from a screenplay in the background: parse, build, rough cut, save.
    pub fn new_project_from_screenplay(&mut self, script: PathBuf, dir: PathBuf) {
        let name = format!("Import {}", script.display());
        let spec = JobSpec::new(JobKind::Import, name).with_priority(Priority::Interactive);
        self.opening = Some(self.jobs.submit(spec, move |ctx| {
            ctx.progress(0.05, "reading the screenplay");
            let project = crate::import::project_from_screenplay(&script, &dir, ctx)?;
            ctx.check()?;
            ctx.progress(0.8, "saving the project");
            let session = Session::create(&dir, project).map_err(|e| JobError::from_error(&e))?;
            ctx.progress(1.0, "done");
            Ok(
                JobOutput::new(format!("created {}", dir.display())).with_data(OpenedSession {
                    plugins: Some(crate::scripts::find(&dir)),
                    session,
                    report: OpenReport::default(),
                }),
            )
        }));
    }

    /// Creates an empty project in the background.
    pub fn new_empty_project(&mut self, dir: PathBuf, title: String) {
        let spec = JobSpec::new(JobKind::Import, format!("Create {}", dir.display()))
            .with_priority(Priority::Interactive);
        self.opening = Some(self.jobs.submit(spec, move |_ctx| {
            let session =
                Session::create(&dir, Project::new(title)).map_err(|e| JobError::from_error(&e))?;
            Ok(
                JobOutput::new(format!("created {}", dir.display())).with_data(OpenedSession {
                    plugins: Some(crate::scripts::find(&dir)),
                    session,
                    report: OpenReport::default(),
                }),
            )
        }));
    }

    /// Breaks the script (or the scene at `scene`, 0-based) down into shots in the background
    /// with the engine the settings choose; lands as one undo step.
    pub fn break_down(&mut self, scene: Option<usize>) {
        let Some(doc) = self.doc() else {
            return;
        };
        let project = doc.clone();
        let model = self.settings.llm_model.clone();
        let device = self.settings.device;
        let what = scene.map_or_else(|| "the script".to_owned(), |i| format!("scene {}", i + 1));
        let engine = model.clone().unwrap_or_else(|| "rules".to_owned());
        let spec = JobSpec::new(JobKind::Breakdown, format!("Break down {what} ({engine})"));
        let dir = self.project_dir().map(Path::to_path_buf);
        self.jobs.submit(spec, move |ctx| {
            crate::breakdown::run(
                project,
                scene,
                model.as_deref(),
                device,
                dir.as_deref(),
                ctx,
            )
        });
    }

    /// Speaks the dialogue of the script (or of one scene) as a background job; the takes and
    /// the re-timed edit land as one undo step.
    pub fn voice_dialogue(&mut self, scene: Option<usize>) {
        let Some(doc) = self.doc() else {
            return;
        };
        let project = doc.clone();
        let Some(store) = self.project.as_ref().map(|p| p.session.assets()) else {
            return;
        };
        let voice = self.settings.voice_model.clone();
        let device = self.settings.device;
        let what = scene.map_or_else(|| "the dialogue".to_owned(), |i| format!("scene {}", i + 1));
        let spec = JobSpec::new(JobKind::Voices, format!("Voice {what}"));
        self.jobs.submit(spec, move |ctx| {
            crate::voices::run(&project, &store, scene, voice, device, ctx)
        });
    }

    /// Storyboard frames for `shots` (all when `None`) as a background job: the chosen
    /// diffusion model, else the first installed, else the built-in sketch.
    pub fn draw_frames(&mut self, shots: Option<Vec<ShotId>>, mode: crate::frames::FramesMode) {
        let Some(doc) = self.doc() else {
            return;
        };
        let project = doc.clone();
        let Some(store) = self.project.as_ref().map(|p| p.session.assets()) else {
            return;
        };
        let models = crate::frames::FrameModels {
            diffusion: self.settings.diffusion_model.clone(),
            device: self.settings.device,
            ip_adapter: self.settings.ip_adapter.clone(),
        };
        let what = match &shots {
            None => "every shot".to_owned(),
            Some(v) if v.len() == 1 => "1 shot".to_owned(),
            Some(v) => format!("{} shots", v.len()),
        };
        let verb = match mode {
            crate::frames::FramesMode::Draw => "Frames for",
            crate::frames::FramesMode::Regenerate => "New takes for",
            crate::frames::FramesMode::Variations(_) => "Variations of",
        };
        let spec = JobSpec::new(JobKind::Frames, format!("{verb} {what}"));
        self.jobs.submit(spec, move |ctx| {
            crate::frames::run(&project, &store, shots, &models, mode, ctx)
        });
    }

    /// Brings a revised screenplay into the open project (parsed in the background; the
    /// revision lands as one undo step).
    pub fn import_revision(&mut self, script: PathBuf) {
        let Some(doc) = self.doc() else {
            return;
        };
        let current = doc.clone();
        let Some(dest) = self.project_dir().map(Path::to_path_buf) else {
            return;
        };
        let spec = JobSpec::new(JobKind::Import, format!("Revise from {}", script.display()));
        self.jobs.submit(spec, move |ctx| {
            let draft = crate::import::script_from_file(&script, &dest, ctx)?;
            ctx.check()?;
            let (command, report) = previz_core::revision::revise(&current, draft);
            let summary = format!(
                "{} scenes changed, {} added, {} removed",
                report.scenes_changed.len(),
                report.scenes_added.len(),
                report.scenes_removed.len()
            );
            Ok(JobOutput::new(summary).with_commands(vec![command]))
        });
    }

    /// Searches the models folders (with the current settings) in a job; the Settings window
    /// lists what it finds.
    pub fn refresh_models(&mut self) {
        if self.models_job.is_some() {
            return;
        }
        let settings = self.settings.clone();
        let spec = JobSpec::new(JobKind::Other, "Find installed models");
        self.models_job = Some(self.jobs.submit(spec, move |_ctx| {
            use previz_models::registry::Registry;
            let registry = Registry::discover(&Registry::roots_for(&settings));
            let ledger = previz_models::verify::Ledger::open(settings.cache_root().as_deref());
            let found: Vec<InstalledModel> = registry
                .entries
                .iter()
                .filter_map(|e| {
                    Some(InstalledModel {
                        id: e.id.clone(),
                        kind: e.kind,
                        path: e.path.clone()?,
                        verified: previz_models::verify::known(e, &ledger),
                    })
                })
                .collect();
            Ok(JobOutput::new(format!("{} models installed", found.len()))
                .with_data(ModelsFound(found)))
        }));
    }

    /// Writes the settings in a job (the window never waits on the disk).
    pub fn save_settings_in_background(&mut self, path: PathBuf) {
        let settings = self.settings.clone();
        let spec = JobSpec::new(JobKind::Other, "Save settings");
        self.jobs.submit(spec, move |_ctx| {
            settings
                .save(&path)
                .map_err(|e| JobError::failed(e.to_string()))?;
            Ok(JobOutput::new(format!("saved {}", path.display())))
        });
    }

    /// Starts the jobs a plugin queued (scene numbers are 1-based, as plugins see them).
    fn start_queued(&mut self, jobs: Vec<previz_script::JobRequest>) {
        use previz_script::JobRequest as R;
        for job in jobs {
            match job {
                R::Breakdown { scene } => self.break_down(scene.map(|n| n.saturating_sub(1))),
                R::Voices { scene } => self.voice_dialogue(scene.map(|n| n.saturating_sub(1))),
                R::Frames { shots } => self.draw_frames(
                    (!shots.is_empty()).then_some(shots),
                    crate::frames::FramesMode::Draw,
                ),
                R::Export { format } => {
                    let wanted = format.trim().to_ascii_lowercase();
                    let found = previz_render::export::ExportFormat::ALL
                        .into_iter()
                        .find(|f| f.name() == wanted || f.extension() == Some(wanted.as_str()));
                    match (found, self.project_dir().map(Path::to_path_buf)) {
                        (Some(f), Some(dir)) => {
                            let output =
                                previz_script::queued_export_path(&dir, f.extension().unwrap_or(""));
                            self.export(previz_render::export::ExportRequest::new(f, output));
                        }
                        _ => self.toasts.info(format!(
                            "A plugin asked for a {format} export: the studio writes that from File → Export"
                        )),
                    }
                }
            }
        }
    }

    /// Runs a plugin's macro (`fn run()`) or exporter (`fn export_files()`) as a job on a snapshot of
    /// the project: its edits land as one undo step when it finishes (none if it fails), its
    /// files are written into `exports/<plugin>/`.
    pub fn run_plugin(&mut self, plugin: previz_script::Plugin) {
        let (Some(doc), Some(dir)) = (self.doc(), self.project_dir()) else {
            return;
        };
        let project = doc.clone();
        let dir = dir.to_path_buf();
        let spec = JobSpec::new(JobKind::Other, format!("Plugin {}", plugin.name));
        self.jobs.submit(spec, move |ctx| {
            crate::scripts::run(&plugin, &project, &dir, ctx)
        });
    }

    /// Writes an export (the animatic, an edit for editorial, the storyboard PDF...) as a
    /// background job with progress; cancelling it leaves nothing partial at the output.
    pub fn export(&mut self, request: previz_render::export::ExportRequest) {
        let Some(doc) = self.doc() else {
            return;
        };
        let project = doc.clone();
        let Some(store) = self.project.as_ref().map(|p| p.session.assets()) else {
            return;
        };
        let name = format!(
            "Export {} to {}",
            request.format.name(),
            request.output.file_name().map_or_else(
                || request.output.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        );
        let spec = JobSpec::new(JobKind::Export, name);
        self.jobs.submit(spec, move |ctx| {
            let cancel = ctx.cancel_token();
            let summary = previz_render::export::export(
                &project,
                &store,
                &request,
                &mut |fraction, what| ctx.progress(fraction, what),
                &cancel,
            )
            .map_err(|e| {
                if e.is_cancelled() {
                    JobError::Cancelled
                } else {
                    JobError::failed(e.to_string())
                }
            })?;
            for warning in &summary.warnings {
                ctx.log(warning.clone());
            }
            Ok(JobOutput::new(summary.describe()))
        });
    }

    /// Applies a cut edited in editorial (OTIO, EDL or FCPXML) to the open project: read in the
    /// background, it lands as one undo step, and the job's log lists what changed.
    pub fn conform_cut(&mut self, cut: PathBuf) {
        let Some(doc) = self.doc() else {
            return;
        };
        let current = doc.clone();
        let spec = JobSpec::new(JobKind::Import, format!("Conform to {}", cut.display()));
        self.jobs.submit(spec, move |ctx| {
            use previz_render::interchange::{CutFormat, conform::conform, read_cut};
            ctx.progress(0.0, "reading the cut");
            let name = cut
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let format = CutFormat::from_path(&cut).ok_or_else(|| {
                JobError::failed(format!(
                    "{name}: not an editorial cut; conform reads .otio, .edl and .fcpxml"
                ))
            })?;
            let text = std::fs::read_to_string(&cut)
                .map_err(|e| JobError::failed(format!("cannot read {}: {e}", cut.display())))?;
            let parsed = read_cut(&text, format, &name, &current, None)
                .map_err(|e| JobError::failed(e.to_string()))?;
            ctx.check()?;
            let (command, report) =
                conform(&current, &parsed).map_err(|e| JobError::failed(e.to_string()))?;
            for line in report
                .removed
                .iter()
                .map(|l| format!("removed {l}"))
                .chain(report.moved.iter().map(|l| format!("moved {l}")))
                .chain(report.trimmed.iter().map(|l| format!("trimmed {l}")))
                .chain(
                    report
                        .not_applied
                        .iter()
                        .map(|l| format!("not applied: {l}")),
                )
            {
                ctx.log(line);
            }
            let summary = format!(
                "{} removed, {} moved, {} trimmed, {} not applied",
                report.removed.len(),
                report.moved.len(),
                report.trimmed.len(),
                report.not_applied.len()
            );
            let commands = if report.is_unchanged() {
                Vec::new()
            } else {
                vec![command]
            };
            Ok(JobOutput::new(summary).with_commands(commands))
        });
    }

    fn install(&mut self, opened: OpenedSession) {
        self.gesture_depth = 0;
        if let Some(found) = opened.plugins {
            for broken in &found.broken {
                self.toasts
                    .error("A plugin does not compile", broken.clone());
            }
            self.plugins = found.plugins;
            self.broken_plugins = found.broken;
            self.style_presets = found.presets;
        }
        let dir = opened.session.dir().to_path_buf();
        self.settings.remember_recent(&dir);
        let messages = opened.report.messages();
        for m in &messages {
            self.toasts.info(m.clone());
        }
        if let Some(problem) = opened.session.store_problem() {
            self.toasts.error("The show store cannot be used", problem);
        }
        if opened.session.read_only() {
            self.toasts.info(format!(
                "{} is open read-only: {}",
                dir.display(),
                opened.session.read_only_reason().unwrap_or("")
            ));
        }
        let autosave = if opened.session.is_dirty() {
            AutosaveState::Journaled
        } else {
            AutosaveState::Saved { at: None }
        };
        self.project = Some(OpenProject {
            session: opened.session,
            open_messages: messages,
            autosave,
        });
        self.selection = Selection::default();
        self.transport = Transport::default();
        self.revision += 1;
        if let Some(first) = self
            .doc()
            .and_then(|d| d.script.scenes.first())
            .map(|s| s.id)
        {
            self.select_scene(first);
        }
    }

    /// Saves the open project: the document is serialized now, the disk work runs as a job
    /// (a share can be slow), and editing goes on meanwhile; edits made during the save stay
    /// journaled and unsaved.
    pub fn save(&mut self) {
        let Some(p) = &mut self.project else {
            return;
        };
        if p.session.save_in_progress() {
            self.toasts.info("A save is already running");
            return;
        }
        match p.session.begin_save() {
            Ok(job) => {
                let spec = JobSpec::new(JobKind::Other, "Save project")
                    .with_priority(Priority::Interactive);
                self.saving = Some(self.jobs.submit(spec, move |ctx| {
                    ctx.progress(0.1, "writing the project");
                    Ok(JobOutput::new("saved").with_data(SaveDone(job.run())))
                }));
            }
            Err(e) => self
                .toasts
                .error("The project was not saved", e.to_string()),
        }
    }

    fn finish_save(&mut self, result: Result<SaveWritten, StorageError>) {
        let Some(p) = &mut self.project else {
            return;
        };
        match p.session.finish_save(result) {
            Ok(report) => {
                p.autosave = if p.session.is_dirty() {
                    AutosaveState::Journaled
                } else {
                    AutosaveState::Saved {
                        at: Some(jiff::Timestamp::now()),
                    }
                };
                for w in report.warnings {
                    self.toasts.info(w);
                }
                if let Some(shared) = report.shared {
                    self.after_shared_save(shared);
                }
            }
            Err(e) => self
                .toasts
                .error("The project was not saved", e.to_string()),
        }
    }

    /// Others' work merged in: views rebuild; edits that did not merge wait for a choice.
    fn after_shared_save(&mut self, saved: previz_storage::Saved) {
        if saved.merges > 0 || !saved.conflicts.is_empty() {
            self.revision += 1;
            self.prune_selection();
        }
        if saved.merges > 0 && saved.conflicts.is_empty() {
            self.toasts
                .info("Others saved meanwhile: their work and yours were merged");
        }
        if !saved.conflicts.is_empty() {
            self.toasts.error(
                "Some edits did not merge",
                format!(
                    "{} edit(s) of yours touched what another editor changed and saved first; the project kept theirs. Choose in the Conflicts window.",
                    saved.conflicts.len()
                ),
            );
            self.conflicts
                .extend(saved.conflicts.into_iter().map(|conflict| OpenConflict {
                    conflict,
                    record: saved.conflict_record.clone(),
                }));
            self.show_conflicts = true;
        }
    }

    /// Waits (bounded) for a save in flight: before closing, so the session that started it
    /// is the one that finishes it.
    fn wait_for_save(&mut self) {
        let Some(id) = self.saving else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.saving == Some(id) && Instant::now() < deadline {
            self.jobs.wait_idle(Duration::from_millis(50));
            for finished in self.jobs.drain_finished() {
                self.deliver(finished);
            }
        }
        if self.saving.take().is_some()
            && let Some(p) = &mut self.project
        {
            p.session.abandon_save();
            self.toasts.error(
                "The save did not finish",
                "the disk did not answer in 30 seconds; the edits are still in the journal",
            );
        }
    }

    /// Closes the project; unsaved edits stay in its journal and come back on the next open.
    pub fn close_project(&mut self) {
        self.wait_for_save();
        self.gesture_depth = 0;
        if let Some(p) = self.project.take()
            && let Err(e) = p.session.close()
        {
            self.toasts
                .error("Closing the project had a problem", e.to_string());
        }
        self.selection = Selection::default();
        self.transport = Transport::default();
        self.media.stop_audio();
        self.conflicts.clear();
        self.show_conflicts = false;
        self.plugins.clear();
        self.broken_plugins.clear();
        self.style_presets.clear();
        self.told_leases.clear();
        self.revision += 1;
    }

    /// Once per frame: autosave when due, take finished jobs' results.
    pub fn tick(&mut self, now: jiff::Timestamp) {
        if let Some(p) = &mut self.project {
            match p.session.tick(now) {
                Ok(report) => {
                    if report.journal_flushed > 0 {
                        p.autosave = AutosaveState::Journaled;
                    }
                    if let Some(holder) = report.lost_lock {
                        self.toasts.error(
                            "Someone took this project over",
                            format!("{holder} now edits it; this window is read-only. Use Save As to keep your edits."),
                        );
                    }
                    for w in report.warnings {
                        self.toasts.info(w);
                    }
                    for lease in report.leases.map(|l| l.held_by_others).unwrap_or_default() {
                        if self
                            .told_leases
                            .insert((lease.scene, lease.holder.token.clone()))
                        {
                            self.toasts.info(format!(
                                "{} is working on scene {} (until {}); your edits there merge when you save, or show as conflicts",
                                lease.holder,
                                lease.scene,
                                lease.expires.strftime("%H:%M:%S")
                            ));
                        }
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    if p.autosave != AutosaveState::Failed(message.clone()) {
                        self.toasts.error("Autosave failed", message.clone());
                    }
                    p.autosave = AutosaveState::Failed(message);
                }
            }
        }
        self.deferred.extend(self.jobs.drain_finished());
        if self.gesture_depth == 0 {
            for finished in std::mem::take(&mut self.deferred) {
                self.deliver(finished);
            }
        }
    }

    fn deliver(&mut self, mut finished: Finished) {
        if self.media.deliver(&mut finished) || self.deliver_cast(&mut finished) {
            return;
        }
        let is_opening = self.opening == Some(finished.id);
        if is_opening {
            self.opening = None;
        }
        if self.saving == Some(finished.id) {
            self.saving = None;
            match &mut finished.result {
                Ok(output) => {
                    if let Some(SaveDone(result)) = output.take_data::<SaveDone>() {
                        self.finish_save(result);
                    }
                }
                Err(e) => {
                    if let Some(p) = &mut self.project {
                        p.session.abandon_save();
                    }
                    self.toasts
                        .error("The project was not saved", e.to_string());
                }
            }
            return;
        }
        if self.models_job == Some(finished.id) {
            self.models_job = None;
            if let Ok(output) = &mut finished.result
                && let Some(ModelsFound(found)) = output.take_data::<ModelsFound>()
            {
                self.installed_models = Some(found);
            }
            return;
        }
        let edit = finished.take_edit();
        match &mut finished.result {
            Ok(output) => {
                if let Some(locked) = output.take_data::<LockedProject>() {
                    self.locked = Some(locked);
                }
                if let Some(opened) = output.take_data::<OpenedSession>() {
                    if self.project.is_some() {
                        self.close_project();
                    }
                    self.install(opened);
                }
                let queued = output.take_data::<crate::scripts::Queued>();
                if let Some(edit) = edit {
                    if self.apply(&edit) {
                        self.toasts
                            .info(format!("{}: {}", finished.name, output.summary));
                        if let Some(crate::scripts::Queued(jobs)) = queued {
                            self.start_queued(jobs);
                        }
                    }
                } else if let Some(crate::scripts::Queued(jobs)) = queued {
                    self.toasts
                        .info(format!("{}: {}", finished.name, output.summary));
                    self.start_queued(jobs);
                } else if finished.kind == JobKind::Export
                    || finished.name.starts_with("Conform")
                    || finished.name.starts_with("Plugin ")
                {
                    // Work that changes no document (an export, a cut already matching)
                    // still says what it did.
                    self.toasts
                        .info(format!("{}: {}", finished.name, output.summary));
                }
            }
            Err(JobError::Cancelled) => {
                self.toasts.info(format!("{} was cancelled", finished.name));
            }
            Err(JobError::Failed { message, detail }) => {
                self.toasts.error(
                    format!("{} failed", finished.name),
                    match detail {
                        Some(d) => format!("{message}\n\n{d}"),
                        None => message.clone(),
                    },
                );
            }
        }
    }

    /// Waits (up to `timeout`) for running jobs and delivers their results: for tests and for
    /// headless use, never called from a UI frame.
    pub fn settle(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let idle = self.jobs.wait_idle(Duration::from_millis(20));
            self.tick(jiff::Timestamp::now());
            if idle && self.jobs.stats().running == 0 && self.jobs.stats().queued == 0 {
                break;
            }
        }
    }

    /// The project folder, when one is open.
    #[must_use]
    pub fn project_dir(&self) -> Option<&Path> {
        self.project.as_ref().map(|p| p.session.dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use previz_jobs::QueueConfig;

    fn studio() -> Studio {
        Studio::new(
            JobQueue::new(QueueConfig::default()),
            StudioSettings::default(),
        )
    }

    #[test]
    fn a_locked_project_asks_then_opens_read_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("film.previz");
        let holder = Session::create(&dir, Project::new("Film")).unwrap();
        let mut s = studio();
        s.open_project(dir.clone(), OpenMode::ReadWrite);
        s.settle(Duration::from_secs(10));
        assert!(s.project.is_none());
        let locked = s.locked.clone().expect("the studio asks what to do");
        assert_eq!(locked.dir, dir);
        assert!(!locked.stale, "the holder is this live process");
        s.locked = None;
        s.open_project(dir, OpenMode::ReadOnly);
        s.settle(Duration::from_secs(10));
        assert!(s.read_only());
        let before = s.doc().unwrap().clone();
        assert!(!s.apply(&EditCommand::RenameTimeline {
            name: "Cut 2".into()
        }));
        assert!(s.toasts.last_error().is_some(), "a refused edit says why");
        assert_eq!(*s.doc().unwrap(), before);
        drop(holder);
    }

    #[test]
    fn a_job_result_is_one_undo_step() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("film.previz");
        let mut s = studio();
        s.new_empty_project(dir, "Film".into());
        s.settle(Duration::from_secs(10));
        let v1 = s.doc().unwrap().timeline.tracks[0].id;
        let spec = JobSpec::new(JobKind::Other, "Add two slugs");
        s.jobs.submit(spec, move |_| {
            let slug = |name: &str| {
                previz_core::Clip::new(
                    name,
                    previz_core::ClipSource::Slug { text: name.into() },
                    24,
                )
            };
            Ok(JobOutput::new("two slugs").with_commands(vec![
                EditCommand::InsertClip {
                    track: v1,
                    frame: 0,
                    clip: slug("A"),
                },
                EditCommand::InsertClip {
                    track: v1,
                    frame: 24,
                    clip: slug("B"),
                },
            ]))
        });
        s.settle(Duration::from_secs(10));
        assert_eq!(s.doc().unwrap().timeline.tracks[0].items.len(), 2);
        assert_eq!(s.undo_label().as_deref(), Some("Add two slugs"));
        s.undo();
        assert!(s.doc().unwrap().timeline.tracks[0].items.is_empty());
    }

    #[test]
    fn saving_runs_in_the_background_and_edits_go_on() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("film.previz");
        let mut s = studio();
        s.new_empty_project(dir.clone(), "Film".into());
        s.settle(Duration::from_secs(10));
        assert!(s.apply(&EditCommand::RenameTimeline {
            name: "Cut 1".into()
        }));
        s.save();
        assert!(s.saving.is_some());
        // Editing during the save is allowed; that edit stays unsaved (journaled).
        assert!(s.apply(&EditCommand::RenameTimeline {
            name: "Cut 2".into()
        }));
        s.settle(Duration::from_secs(10));
        assert!(s.saving.is_none());
        let on_disk =
            previz_core::format::from_json(&std::fs::read(dir.join("project.json")).unwrap())
                .unwrap();
        assert_eq!(on_disk.timeline.name, "Cut 1");
        assert!(s.project.as_ref().unwrap().session.is_dirty());
        s.close_project();
        s.open_project(dir, OpenMode::ReadWrite);
        s.settle(Duration::from_secs(10));
        assert_eq!(
            s.doc().unwrap().timeline.name,
            "Cut 2",
            "the edit made during the save came back"
        );
    }

    #[test]
    fn a_job_finishing_during_a_drag_lands_after_it() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = studio();
        s.new_empty_project(tmp.path().join("film.previz"), "Film".into());
        s.settle(Duration::from_secs(10));
        s.begin_gesture("Drag");
        assert!(s.apply(&EditCommand::RenameTimeline {
            name: "dragging".into()
        }));
        s.jobs.submit(JobSpec::new(JobKind::Other, "Rename"), |_| {
            Ok(
                JobOutput::new("renamed").with_commands(vec![EditCommand::RenameTimeline {
                    name: "from the job".into(),
                }]),
            )
        });
        s.jobs.wait_idle(Duration::from_secs(10));
        s.tick(jiff::Timestamp::now());
        assert_eq!(
            s.doc().unwrap().timeline.name,
            "dragging",
            "held back during the gesture"
        );
        s.cancel_gesture();
        s.tick(jiff::Timestamp::now());
        assert_eq!(
            s.doc().unwrap().timeline.name,
            "from the job",
            "Escape did not undo the job"
        );
        assert_eq!(s.undo_label().as_deref(), Some("Rename"));
    }
}
