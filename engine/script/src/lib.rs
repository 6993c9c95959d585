//! Plugin scripts for pipeline TDs, in [Rhai](https://rhai.rs).
//!
//! A plugin is one `.rhai` file. It reads the project through `project()` (the document as a
//! map, as `project.json` holds it) and helper functions (`shots()`, `scenes()`), and changes it only by
//! asking for [`EditCommand`]s (`edit(#{ ... })`, `set_shot(...)`): nothing touches the document
//! while the plugin runs. Each edit is checked against a scratch copy as it is asked for (a bad
//! one fails at its line); when the plugin finishes without error the host lands all of them as
//! one undo step ([`land`]); if it fails anywhere, nothing lands, and the project and its undo
//! history are exactly as before. Files a plugin exports are kept in memory until then too, and
//! written only into the project's `exports/<plugin>/` folder.
//!
//! # Hooks
//!
//! A plugin defines the functions it serves (see [`Hook`]): `run()` (a macro, from
//! `previz script run` and the studio's Scripts menu), `on_import(script)`,
//! `on_breakdown(shots)`, `prompt(shot, scene, prompt)`, `style_presets()`, `export()`.
//!
//! # Sandbox
//!
//! [`Limits`]: an operation budget, a wall-clock timeout, string / array / map size limits (a
//! huge allocation fails at its line), call depth. No `import`, no `eval`; the only ways out are
//! the functions registered here, and the one that reads files (`read_text`) stays inside the
//! project folder (relative paths only, no `..`, no symlink out). Errors name the plugin file,
//! the line and column, and what to do ([`PluginError`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use previz_core::{EditCommand, Project, Shot, ShotField, ShotId};
use rhai::{AST, Dynamic, Engine, EvalAltResult, Map, Position, Scope};

mod api;
pub mod discover;

pub use discover::{PluginDirs, discover};

/// What a plugin may spend.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Rhai operations (roughly: expressions evaluated).
    pub max_operations: u64,
    /// Wall-clock time of one call.
    pub timeout: Duration,
    /// Bytes of one string.
    pub max_string: usize,
    /// Items of one array (or bytes of one blob).
    pub max_array: usize,
    /// Entries of one map.
    pub max_map: usize,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Edits one run may ask for.
    pub max_edits: usize,
    /// Bytes of all files one run may export.
    pub max_export_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_operations: 50_000_000,
            timeout: Duration::from_secs(30),
            max_string: 16 << 20,
            max_array: 1_000_000,
            max_map: 100_000,
            max_call_levels: 64,
            max_edits: 200_000,
            max_export_bytes: 256 << 20,
        }
    }
}

/// A function a plugin can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// `fn run()`: a batch macro.
    Run,
    /// `fn on_import(script)`: returns the parsed screenplay, rewritten.
    OnImport,
    /// `fn on_breakdown(shots)`: returns the shots a breakdown proposes, adjusted or added to.
    OnBreakdown,
    /// `fn prompt(shot, scene, prompt)`: returns a shot's image prompt (a template).
    Prompt,
    /// `fn style_presets()`: returns `[#{ name, prompt, negative }]`.
    StylePresets,
    /// `fn export_files()`: writes files with `write_export(name, text)`.
    Export,
}

impl Hook {
    /// The script function that serves it, and how many parameters it takes.
    #[must_use]
    pub fn function(self) -> (&'static str, usize) {
        match self {
            Hook::Run => ("run", 0),
            Hook::OnImport => ("on_import", 1),
            Hook::OnBreakdown => ("on_breakdown", 1),
            Hook::Prompt => ("prompt", 3),
            Hook::StylePresets => ("style_presets", 0),
            Hook::Export => ("export_files", 0),
        }
    }

    pub const ALL: [Hook; 6] = [
        Hook::Run,
        Hook::OnImport,
        Hook::OnBreakdown,
        Hook::Prompt,
        Hook::StylePresets,
        Hook::Export,
    ];
}

/// Why a plugin failed. Displays as `FILE:LINE:COLUMN: what happened; what to do`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), at(*line, *column))]
pub struct PluginError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub kind: ErrorKind,
    pub message: String,
}

fn at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// What kind of failure, for callers that react differently (the studio's wording, tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The file could not be read, or is not valid Rhai.
    Syntax,
    /// A limit of the sandbox was reached (operations, time, sizes, depth).
    Limit,
    /// The plugin asked for something it may not have (a path outside the project).
    Refused,
    /// An edit it asked for does not apply to the document.
    Edit,
    /// Anything else the script did wrong (a `throw`, a type error, a missing function).
    Runtime,
}

/// A plugin, compiled.
#[derive(Clone, Debug)]
pub struct Plugin {
    /// The plugin's name: its file name without `.rhai`.
    pub name: String,
    pub file: PathBuf,
    /// The first comment lines of the file.
    pub description: String,
    pub hooks: Vec<Hook>,
    ast: AST,
}

/// What a run asked for. Nothing of it has happened yet: [`land`] applies the edits as one undo
/// step and writes the exports.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The edits, in order, each already checked against the document as the ones before it
    /// left it.
    pub edits: Vec<EditCommand>,
    /// Files to write under `exports/<plugin>/`: (file name, bytes).
    pub exports: Vec<(String, Vec<u8>)>,
    /// Jobs the plugin queued, for the caller to run.
    pub jobs: Vec<JobRequest>,
    /// What the plugin printed.
    pub log: Vec<String>,
}

/// The export formats `queue_job("export", #{format})` takes (`xml` is Final Cut Pro 7 XML).
pub const EXPORT_FORMATS: [&str; 9] = [
    "otio", "edl", "xml", "fcpxml", "pdf", "csv", "mp4", "fountain", "frames",
];

/// Where a queued export of a project goes: `exports/<project name>.<extension>` inside the
/// project folder (`exports/<project name>_frames/` for a folder, `extension` empty).
#[must_use]
pub fn queued_export_path(project_dir: &Path, extension: &str) -> PathBuf {
    let stem = project_dir
        .file_stem()
        .map_or_else(|| "project".into(), |s| s.to_string_lossy().into_owned());
    project_dir.join("exports").join(if extension.is_empty() {
        format!("{stem}_frames")
    } else {
        format!("{stem}.{extension}")
    })
}

/// A job a plugin asked for.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum JobRequest {
    /// Break a scene (1-based) or the whole script down into shots.
    Breakdown { scene: Option<usize> },
    /// Storyboard frames for these shots (all when empty).
    Frames { shots: Vec<ShotId> },
    /// Voices for a scene's dialogue (1-based) or all of it.
    Voices { scene: Option<usize> },
    /// An export (`otio`, `edl`, `fcpxml`, `xml`, `csv`, `mp4`, `pdf`).
    Export { format: String },
}

/// Runs plugins under one set of limits.
#[derive(Clone, Debug, Default)]
pub struct Host {
    pub limits: Limits,
}

impl Host {
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self { limits }
    }

    /// Reads and compiles a plugin file.
    pub fn load(&self, file: &Path) -> Result<Plugin, PluginError> {
        let source = std::fs::read_to_string(file).map_err(|e| PluginError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            kind: ErrorKind::Syntax,
            message: format!(
                "cannot read the plugin ({e}); check the file exists and is UTF-8 text"
            ),
        })?;
        self.compile(file, &source)
    }

    /// Compiles a plugin from its text (`file` names it in errors).
    pub fn compile(&self, file: &Path, source: &str) -> Result<Plugin, PluginError> {
        let engine = self.engine(None, None);
        let ast = engine.compile(source).map_err(|e| {
            let (line, column) = position(e.position());
            PluginError {
                file: file.to_path_buf(),
                line,
                column,
                kind: ErrorKind::Syntax,
                message: format!("{}; fix the script and run it again", e.err_type()),
            }
        })?;
        let hooks = Hook::ALL
            .into_iter()
            .filter(|hook| {
                let (name, params) = hook.function();
                ast.iter_functions()
                    .any(|f| f.name == name && f.params.len() == params)
            })
            .collect();
        let name = file
            .file_stem()
            .map_or_else(|| "plugin".to_owned(), |s| s.to_string_lossy().into_owned());
        Ok(Plugin {
            name,
            file: file.to_path_buf(),
            description: description(source),
            hooks,
            ast,
        })
    }

    /// The engine with the sandbox and the API; `run` carries the state of one run, `at` gets
    /// the position of every node evaluated (line << 32 | column), so an error Rhai reports
    /// without a position (a limit reached) is placed at the line being run.
    fn engine(
        &self,
        run: Option<&Arc<Mutex<api::RunState>>>,
        at: Option<&Arc<AtomicU64>>,
    ) -> Engine {
        let mut engine = Engine::new_raw();
        engine.register_global_module(
            <rhai::packages::StandardPackage as rhai::packages::Package>::as_shared_module(
                &rhai::packages::StandardPackage::new(),
            ),
        );
        let l = &self.limits;
        engine.set_max_operations(l.max_operations);
        engine.set_max_string_size(l.max_string);
        engine.set_max_array_size(l.max_array);
        engine.set_max_map_size(l.max_map);
        engine.set_max_call_levels(l.max_call_levels);
        engine.set_max_expr_depths(128, 64);
        engine.disable_symbol("eval");
        engine.disable_symbol("import");
        let deadline = Instant::now() + l.timeout;
        engine.on_progress(move |ops| {
            if ops.is_multiple_of(4096) && Instant::now() > deadline {
                Some(Dynamic::from("timeout"))
            } else {
                None
            }
        });
        if let Some(run) = run {
            api::register(&mut engine, run);
        }
        if let Some(at) = at {
            let at = Arc::clone(at);
            let (max_map, max_array) = (l.max_map, l.max_array);
            let steps = AtomicU64::new(0);
            #[expect(
                deprecated,
                reason = "Rhai marks the debugger API volatile, not deprecated; it is the only way to a position for limit errors"
            )]
            engine.register_debugger(
                |_, debugger| debugger,
                move |context, event, _, _, pos| {
                    if matches!(event, rhai::debugger::DebuggerEvent::Step)
                        && let (Some(line), column) = (pos.line(), pos.position())
                    {
                        let packed = ((line as u64) << 32) | column.unwrap_or(0) as u64;
                        at.store(packed, Ordering::Relaxed);
                    }
                    // Rhai checks the size of strings and arrays as they grow, but not of a
                    // map growing by `m[key] = value`: look at the variables now and then.
                    if steps.fetch_add(1, Ordering::Relaxed).is_multiple_of(1024) {
                        for (_, _, value) in context.scope().iter_raw() {
                            let too_big = match (value.as_map_ref(), value.as_array_ref()) {
                                (Ok(map), _) => map.len() > max_map,
                                (_, Ok(array)) => array.len() > max_array,
                                _ => false,
                            };
                            if too_big {
                                return Err(Box::new(EvalAltResult::ErrorDataTooLarge(
                                    "Size of object map".into(),
                                    pos,
                                )));
                            }
                        }
                    }
                    Ok(rhai::debugger::DebuggerCommand::StepInto)
                },
            );
        }
        engine
    }

    /// Calls `hook` of `plugin` with `args`, the project as it is, and `root` the project
    /// folder (for `read_text`). Returns the hook's value and what the run asked for.
    fn call(
        &self,
        plugin: &Plugin,
        hook: Hook,
        project: &Project,
        root: Option<&Path>,
        args: Vec<Dynamic>,
    ) -> Result<(Dynamic, Outcome), PluginError> {
        let (name, _) = hook.function();
        if !plugin.hooks.contains(&hook) {
            return Err(PluginError {
                file: plugin.file.clone(),
                line: None,
                column: None,
                kind: ErrorKind::Runtime,
                message: format!(
                    "the plugin has no `fn {name}` with the right parameters, so it cannot serve this"
                ),
            });
        }
        let doc = rhai::serde::to_dynamic(project).map_err(|e| PluginError {
            file: plugin.file.clone(),
            line: None,
            column: None,
            kind: ErrorKind::Limit,
            message: format!("the project is too large to hand to a plugin under its limits ({e})"),
        })?;
        let state = Arc::new(Mutex::new(api::RunState::new(
            doc,
            project.clone(),
            root.map(Path::to_path_buf),
            self.limits.clone(),
        )));
        let at = Arc::new(AtomicU64::new(0));
        let engine = self.engine(Some(&state), Some(&at));
        let mut scope = Scope::new();
        let result = engine.call_fn_with_options::<Dynamic>(
            rhai::CallFnOptions::new().eval_ast(true),
            &mut scope,
            &plugin.ast,
            name,
            args,
        );
        let value = result.map_err(|e| {
            let mut error = runtime_error(&plugin.file, &e);
            let packed = at.load(Ordering::Relaxed);
            if error.line.is_none() && packed != 0 {
                error.line = usize::try_from(packed >> 32).ok();
                error.column = usize::try_from(packed & 0xffff_ffff)
                    .ok()
                    .filter(|c| *c > 0);
            }
            error
        })?;
        let outcome = state
            .lock()
            .map_err(|_| PluginError {
                file: plugin.file.clone(),
                line: None,
                column: None,
                kind: ErrorKind::Runtime,
                message: "the plugin's run state was poisoned".into(),
            })?
            .take_outcome();
        Ok((value, outcome))
    }

    /// Runs a macro (`fn run()`).
    pub fn run(
        &self,
        plugin: &Plugin,
        project: &Project,
        root: Option<&Path>,
    ) -> Result<Outcome, PluginError> {
        self.call(plugin, Hook::Run, project, root, Vec::new())
            .map(|(_, outcome)| outcome)
    }

    /// Runs an exporter (`fn export_files()`).
    pub fn export(
        &self,
        plugin: &Plugin,
        project: &Project,
        root: Option<&Path>,
    ) -> Result<Outcome, PluginError> {
        self.call(plugin, Hook::Export, project, root, Vec::new())
            .map(|(_, outcome)| outcome)
    }

    /// Passes a freshly parsed screenplay through `fn on_import(script)`; returns the script the
    /// plugin gave back.
    pub fn on_import(
        &self,
        plugin: &Plugin,
        project: &Project,
        script: &previz_core::Script,
    ) -> Result<previz_core::Script, PluginError> {
        let arg = to_dynamic(&plugin.file, script)?;
        let (value, _) = self.call(plugin, Hook::OnImport, project, None, vec![arg])?;
        from_dynamic(
            &plugin.file,
            &value,
            "on_import",
            "the script it was given, changed",
        )
    }

    /// Passes the shots a breakdown proposes through `fn on_breakdown(shots)`.
    pub fn on_breakdown(
        &self,
        plugin: &Plugin,
        project: &Project,
        shots: &[Shot],
    ) -> Result<Vec<Shot>, PluginError> {
        let arg = to_dynamic(&plugin.file, &shots)?;
        let (value, _) = self.call(plugin, Hook::OnBreakdown, project, None, vec![arg])?;
        from_dynamic(&plugin.file, &value, "on_breakdown", "an array of shots")
    }

    /// A shot's image prompt through `fn prompt(shot, scene, prompt)`.
    pub fn prompt(
        &self,
        plugin: &Plugin,
        project: &Project,
        shot: ShotId,
        prompt: &str,
    ) -> Result<String, PluginError> {
        let not_found = || PluginError {
            file: plugin.file.clone(),
            line: None,
            column: None,
            kind: ErrorKind::Runtime,
            message: format!("shot {shot} is not in the project"),
        };
        let s = project.shot(shot).ok_or_else(not_found)?;
        let scene = project.script.scene(s.scene).ok_or_else(not_found)?;
        let args = vec![
            to_dynamic(&plugin.file, s)?,
            to_dynamic(&plugin.file, scene)?,
            Dynamic::from(prompt.to_owned()),
        ];
        let (value, _) = self.call(plugin, Hook::Prompt, project, None, args)?;
        value.into_string().map_err(|got| PluginError {
            file: plugin.file.clone(),
            line: None,
            column: None,
            kind: ErrorKind::Runtime,
            message: format!("`fn prompt` must return a string, not {got}"),
        })
    }

    /// The prompt template applied to every shot: an `edit_shot` of the prompt for each shot
    /// whose prompt the template changes (one undo step when landed).
    pub fn apply_prompts(
        &self,
        plugin: &Plugin,
        project: &Project,
    ) -> Result<Outcome, PluginError> {
        let mut outcome = Outcome::default();
        for shot in &project.shots {
            let prompt = self.prompt(plugin, project, shot.id, &shot.prompt)?;
            if prompt != shot.prompt {
                outcome.edits.push(EditCommand::EditShot {
                    shot: shot.id,
                    field: ShotField::Prompt(prompt),
                });
            }
        }
        Ok(outcome)
    }

    /// The edit that makes a preset the project's storyboard style.
    pub fn preset_edit(
        &self,
        plugin: &Plugin,
        project: &Project,
        name: &str,
    ) -> Result<EditCommand, PluginError> {
        let presets = self.style_presets(plugin, project)?;
        let names: Vec<&str> = presets.iter().map(|p| p.name.as_str()).collect();
        let preset = presets
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| PluginError {
                file: plugin.file.clone(),
                line: None,
                column: None,
                kind: ErrorKind::Runtime,
                message: format!(
                    "no style preset named {name:?}; it has: {}",
                    names.join(", ")
                ),
            })?;
        Ok(EditCommand::SetStyle {
            style: previz_core::Style::Custom(preset.prompt.clone()),
        })
    }

    /// The style presets of `fn style_presets()`.
    pub fn style_presets(
        &self,
        plugin: &Plugin,
        project: &Project,
    ) -> Result<Vec<StylePreset>, PluginError> {
        let (value, _) = self.call(plugin, Hook::StylePresets, project, None, Vec::new())?;
        from_dynamic(
            &plugin.file,
            &value,
            "style_presets",
            "an array of #{ name, prompt, negative }",
        )
    }
}

/// Passes a freshly parsed script through the `on_import` hook of every plugin that has one, in
/// name order (each gets what the one before returned).
pub fn import_hooks(
    host: &Host,
    plugins: &[Plugin],
    project: &Project,
    mut script: previz_core::Script,
) -> Result<previz_core::Script, PluginError> {
    for plugin in plugins.iter().filter(|p| p.hooks.contains(&Hook::OnImport)) {
        script = host.on_import(plugin, project, &script)?;
    }
    Ok(script)
}

/// Passes the shots a scene's breakdown proposes (the `add_shot`s of its batch) through the
/// `on_breakdown` hook of every plugin that has one, in name order, and rebuilds the batch with
/// what they return (the removals of the scene's old shots stay as they were).
pub fn breakdown_hooks(
    host: &Host,
    plugins: &[Plugin],
    project: &Project,
    command: EditCommand,
) -> Result<EditCommand, PluginError> {
    let hooked: Vec<&Plugin> = plugins
        .iter()
        .filter(|p| p.hooks.contains(&Hook::OnBreakdown))
        .collect();
    let EditCommand::Batch { label, commands } = command else {
        return Ok(command);
    };
    if hooked.is_empty() {
        return Ok(EditCommand::Batch { label, commands });
    }
    let (adds, mut kept): (Vec<EditCommand>, Vec<EditCommand>) = commands
        .into_iter()
        .partition(|c| matches!(c, EditCommand::AddShot { after: None, .. }));
    let mut shots: Vec<Shot> = adds
        .into_iter()
        .filter_map(|c| match c {
            EditCommand::AddShot { shot, .. } => Some(*shot),
            _ => None,
        })
        .collect();
    for plugin in hooked {
        shots = host.on_breakdown(plugin, project, &shots)?;
    }
    kept.extend(shots.into_iter().map(|shot| EditCommand::AddShot {
        shot: Box::new(shot),
        after: None,
    }));
    Ok(EditCommand::Batch {
        label,
        commands: kept,
    })
}

/// A named look for storyboard prompts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StylePreset {
    pub name: String,
    /// Added to every shot's prompt.
    pub prompt: String,
    #[serde(default)]
    pub negative: String,
}

fn to_dynamic<T: serde::Serialize>(file: &Path, value: &T) -> Result<Dynamic, PluginError> {
    rhai::serde::to_dynamic(value).map_err(|e| PluginError {
        file: file.to_path_buf(),
        line: None,
        column: None,
        kind: ErrorKind::Limit,
        message: format!("could not hand the value to the plugin ({e})"),
    })
}

fn from_dynamic<T: serde::de::DeserializeOwned>(
    file: &Path,
    value: &Dynamic,
    hook: &str,
    expected: &str,
) -> Result<T, PluginError> {
    decode(value).map_err(|e| PluginError {
        file: file.to_path_buf(),
        line: None,
        column: None,
        kind: ErrorKind::Runtime,
        message: format!("`fn {hook}` must return {expected}; what it returned does not fit ({e})"),
    })
}

/// A script value as a Rust type, through JSON: Rhai's own deserializer refuses its floats for
/// `f32` fields (a lens length) and its integers for unsigned ones.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(value: &Dynamic) -> Result<T, String> {
    let json: serde_json::Value = rhai::serde::from_dynamic(value).map_err(|e| e.to_string())?;
    serde_json::from_value(json).map_err(|e| e.to_string())
}

fn position(p: Position) -> (Option<usize>, Option<usize>) {
    (p.line(), p.position())
}

/// The leading `//` comment lines of a plugin, as its description.
fn description(source: &str) -> String {
    source
        .lines()
        .map(str::trim)
        .take_while(|l| l.starts_with("//"))
        .map(|l| l.trim_start_matches('/').trim())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

/// A Rhai error as a [`PluginError`]: the innermost position (inside the function where it
/// happened), the kind, and a message that says what to do.
fn runtime_error(file: &Path, error: &EvalAltResult) -> PluginError {
    use EvalAltResult as E;
    let mut inner = error;
    while let E::ErrorInFunctionCall(_, _, e, _) | E::ErrorInModule(_, e, _) = inner {
        inner = e;
    }
    let (line, column) = position(inner.position());
    let (line, column) = if line.is_none() {
        position(error.position())
    } else {
        (line, column)
    };
    let (kind, message) = match inner {
        E::ErrorTooManyOperations(_) => (
            ErrorKind::Limit,
            "stopped: the plugin used up its operation budget (an endless loop?); fix the loop, or raise the limit if the work is really that big".to_owned(),
        ),
        E::ErrorTerminated(..) => (
            ErrorKind::Limit,
            "stopped: the plugin ran past its time limit (an endless loop, or too much work for one run)".to_owned(),
        ),
        E::ErrorDataTooLarge(what, _) => (
            ErrorKind::Limit,
            format!("refused: {what} grew past the plugin's size limit; work on smaller pieces"),
        ),
        E::ErrorStackOverflow(_) => (
            ErrorKind::Limit,
            "stopped: calls nested too deep (endless recursion?)".to_owned(),
        ),
        E::ErrorRuntime(value, _) => match value.clone().try_cast::<api::Refusal>() {
            Some(refusal) => (refusal.kind, refusal.message),
            None => (ErrorKind::Runtime, format!("the plugin stopped: {value}")),
        },
        other => (ErrorKind::Runtime, other.to_string()),
    };
    PluginError {
        file: file.to_path_buf(),
        line,
        column,
        kind,
        message: format!("{message}; nothing was changed"),
    }
}

/// Lands a run: the edits as one undo step (all or nothing) and the exports under
/// `exports/<plugin>/`. Returns the files written.
pub fn land(
    session: &mut previz_storage::Session,
    plugin: &Plugin,
    outcome: &Outcome,
) -> Result<Vec<PathBuf>, LandError> {
    if !outcome.edits.is_empty() {
        session.begin_group(format!("Plugin {}", plugin.name));
        for edit in &outcome.edits {
            if let Err(e) = session.apply(edit) {
                let _ = session.cancel_group();
                return Err(LandError::Edit(Box::new(e)));
            }
        }
        session.end_group();
    }
    let mut written = Vec::new();
    if !outcome.exports.is_empty() {
        let dir = session.dir().join("exports").join(&plugin.name);
        std::fs::create_dir_all(&dir).map_err(|e| LandError::Export {
            path: dir.clone(),
            error: e.to_string(),
        })?;
        for (name, bytes) in &outcome.exports {
            let path = dir.join(name);
            previz_storage::atomic::write_atomic(&path, bytes).map_err(|e| LandError::Export {
                path: path.clone(),
                error: e.to_string(),
            })?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Why a finished run could not land.
#[derive(Debug, thiserror::Error)]
pub enum LandError {
    #[error("the plugin's edits could not be applied ({0}); none of them were")]
    Edit(Box<previz_storage::StorageError>),
    #[error("could not write {}: {error}", path.display())]
    Export { path: PathBuf, error: String },
}

/// The edit a `set_shot(shot, field, value)` call means.
pub(crate) fn shot_field(field: &str, value: Dynamic) -> Result<ShotField, String> {
    let mut map = Map::new();
    map.insert("field".into(), field.into());
    map.insert("value".into(), value);
    decode::<ShotField>(&map.into()).map_err(|e| {
        format!(
            "`{field}` is not a shot field that takes this value ({e}); fields: label, size, angle, movement, lens_mm, subject, action, duration, prompt, negative_prompt, notes"
        )
    })
}
