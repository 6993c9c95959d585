//! The functions a plugin can call. Every one of them works on the run's state (a scratch copy
//! of the document and what the run asked for); none touches the project until the run lands.
//!
//! | function | what it does |
//! |---|---|
//! | `project()` | the document when the run began, as a map (`project.json`'s shape) |
//! | `shots()` | the shots as they are now in the run, each with `number` (12A…) and `scene_number` |
//! | `scenes()` | the scenes, each with `number` and `heading` |
//! | `edit(command)` | asks for an `EditCommand` (a map: `#{ op: "edit_shot", … }`), checked now |
//! | `set_shot(id, field, value)` | `edit_shot` for one field |
//! | `write_export(name, text)` | a file for `exports/<plugin>/name` (a plain file name) |
//! | `read_text(path)` | a text file inside the project folder (relative; no `..`) |
//! | `new_id()` | a fresh id, for a shot an `on_breakdown` hook adds |
//! | `queue_job(kind, options)` | asks the caller to run a job: `breakdown`, `frames`, `voices`, `export` |
//! | `print(x)`, `debug(x)` | the run's log |

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use previz_core::{EditCommand, Project};
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map, Position};

use crate::{ErrorKind, JobRequest, Limits, Outcome};

/// A refusal thrown out of an API function, so the error keeps its kind.
#[derive(Clone, Debug)]
pub(crate) struct Refusal {
    pub kind: ErrorKind,
    pub message: String,
}

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn refuse<T>(kind: ErrorKind, message: impl Into<String>) -> Fallible<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(Refusal {
            kind,
            message: message.into(),
        }),
        Position::NONE,
    )))
}

/// One run's state.
#[derive(Debug)]
pub(crate) struct RunState {
    /// The document when the run began, as the plugin sees it (`project()`).
    document: Dynamic,
    /// The document with the edits asked for so far.
    scratch: Project,
    root: Option<PathBuf>,
    limits: Limits,
    outcome: Outcome,
    export_bytes: usize,
}

impl RunState {
    pub fn new(document: Dynamic, project: Project, root: Option<PathBuf>, limits: Limits) -> Self {
        Self {
            document,
            scratch: project,
            root,
            limits,
            outcome: Outcome::default(),
            export_bytes: 0,
        }
    }

    pub fn take_outcome(&mut self) -> Outcome {
        std::mem::take(&mut self.outcome)
    }

    fn edit(&mut self, command: EditCommand) -> Fallible<()> {
        if self.outcome.edits.len() >= self.limits.max_edits {
            return refuse(
                ErrorKind::Limit,
                format!(
                    "refused: more than {} edits in one run; split the work",
                    self.limits.max_edits
                ),
            );
        }
        match self.scratch.apply(&command) {
            Ok(_) => {
                self.outcome.edits.push(command);
                Ok(())
            }
            Err(e) => refuse(ErrorKind::Edit, format!("the edit does not apply: {e}")),
        }
    }
}

type Shared = Arc<Mutex<RunState>>;

fn with<T>(state: &Shared, f: impl FnOnce(&mut RunState) -> Fallible<T>) -> Fallible<T> {
    let mut guard = match state.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    f(&mut guard)
}

fn to_dynamic<T: serde::Serialize>(value: &T) -> Fallible<Dynamic> {
    rhai::serde::to_dynamic(value)
}

/// Registers the API on `engine` for the run `state`.
pub(crate) fn register(engine: &mut Engine, state: &Shared) {
    let s = Arc::clone(state);
    engine.on_print(move |text| {
        if let Ok(mut g) = s.lock() {
            g.outcome.log.push(text.to_owned());
        }
    });
    let s = Arc::clone(state);
    engine.on_debug(move |text, _, pos| {
        if let Ok(mut g) = s.lock() {
            g.outcome.log.push(match pos.line() {
                Some(line) => format!("line {line}: {text}"),
                None => text.to_owned(),
            });
        }
    });

    let s = Arc::clone(state);
    engine.register_fn("project", move || -> Fallible<Dynamic> {
        with(&s, |g| Ok(g.document.clone()))
    });

    let s = Arc::clone(state);
    engine.register_fn("shots", move || -> Fallible<Array> {
        with(&s, |g| {
            let numbers = g.scratch.shot_numbers();
            let scene_numbers = g.scratch.script.display_numbers();
            let mut out = Array::new();
            for shot in &g.scratch.shots {
                let mut map: Map = to_dynamic(shot)?.try_cast().unwrap_or_default();
                let number = numbers.get(&shot.id).cloned().unwrap_or_default();
                map.insert("number".into(), number.into());
                let scene_number = g
                    .scratch
                    .script
                    .scenes
                    .iter()
                    .position(|sc| sc.id == shot.scene)
                    .and_then(|i| scene_numbers.get(i).cloned().flatten())
                    .unwrap_or_default();
                map.insert("scene_number".into(), scene_number.into());
                map.insert("seconds".into(), shot.duration.seconds_f64().into());
                out.push(map.into());
            }
            Ok(out)
        })
    });

    engine.register_fn("new_id", || previz_core::ShotId::new().to_string());

    let s = Arc::clone(state);
    engine.register_fn("scenes", move || -> Fallible<Array> {
        with(&s, |g| {
            let numbers = g.scratch.script.display_numbers();
            let mut out = Array::new();
            for (scene, number) in g.scratch.script.scenes.iter().zip(numbers) {
                let mut map = Map::new();
                map.insert("id".into(), scene.id.to_string().into());
                map.insert("number".into(), number.unwrap_or_default().into());
                map.insert("heading".into(), scene.heading.text.clone().into());
                map.insert("omitted".into(), scene.omitted.into());
                out.push(map.into());
            }
            Ok(out)
        })
    });

    let s = Arc::clone(state);
    engine.register_fn("edit", move |command: Map| -> Fallible<()> {
        let command: EditCommand = match crate::decode(&command.into()) {
            Ok(c) => c,
            Err(e) => {
                return refuse(
                    ErrorKind::Edit,
                    format!(
                        "not an edit command ({e}); see docs/plugins.md for the commands and their fields"
                    ),
                );
            }
        };
        with(&s, |g| g.edit(command))
    });

    let s = Arc::clone(state);
    engine.register_fn(
        "set_shot",
        move |shot: &str, field: &str, value: Dynamic| -> Fallible<()> {
            let Ok(id) = shot.parse() else {
                return refuse(ErrorKind::Edit, format!("{shot:?} is not a shot id"));
            };
            let field = match crate::shot_field(field, value) {
                Ok(f) => f,
                Err(message) => return refuse(ErrorKind::Edit, message),
            };
            with(&s, |g| g.edit(EditCommand::EditShot { shot: id, field }))
        },
    );

    let s = Arc::clone(state);
    engine.register_fn(
        "write_export",
        move |name: &str, text: &str| -> Fallible<()> {
            if !plain_file_name(name) {
                return refuse(
                    ErrorKind::Refused,
                    format!(
                        "refused: {name:?} is not a plain file name; exports go into the project's exports/<plugin>/ folder, name only the file"
                    ),
                );
            }
            with(&s, |g| {
                g.export_bytes += text.len();
                if g.export_bytes > g.limits.max_export_bytes {
                    return refuse(
                        ErrorKind::Limit,
                        format!(
                            "refused: the exports of one run passed {} bytes",
                            g.limits.max_export_bytes
                        ),
                    );
                }
                g.outcome.exports.retain(|(n, _)| n != name);
                g.outcome
                    .exports
                    .push((name.to_owned(), text.as_bytes().to_vec()));
                Ok(())
            })
        },
    );

    let s = Arc::clone(state);
    engine.register_fn("read_text", move |path: &str| -> Fallible<String> {
        with(&s, |g| {
            let Some(root) = g.root.clone() else {
                return refuse(
                    ErrorKind::Refused,
                    "refused: this hook runs without a project folder to read from",
                );
            };
            if previz_storage::backend::check_key(path).is_err() {
                return refuse(
                    ErrorKind::Refused,
                    format!(
                        "refused: {path:?} is not a relative path inside the project (no absolute paths, no `..`)"
                    ),
                );
            }
            let full = match previz_storage::backend::posix::resolve_inside(&root, path.as_ref())
            {
                Ok(full) => full,
                Err(why) => {
                    return refuse(ErrorKind::Refused, format!("refused: {path:?}: {why}"));
                }
            };
            let meta = match std::fs::metadata(&full) {
                Ok(m) => m,
                Err(e) => return refuse(ErrorKind::Runtime, format!("cannot read {path:?}: {e}")),
            };
            if usize::try_from(meta.len()).unwrap_or(usize::MAX) > g.limits.max_string {
                return refuse(
                    ErrorKind::Limit,
                    format!("refused: {path:?} is larger than the plugin's string limit"),
                );
            }
            std::fs::read_to_string(&full).or_else(|e| {
                refuse(ErrorKind::Runtime, format!("cannot read {path:?} as text: {e}"))
            })
        })
    });

    let s = Arc::clone(state);
    engine.register_fn(
        "queue_job",
        move |kind: &str, options: Map| -> Fallible<()> {
            let mut map = options;
            map.insert("job".into(), kind.into());
            let job: JobRequest = match crate::decode(&map.into()) {
                Ok(j) => j,
                Err(e) => {
                    return refuse(
                        ErrorKind::Runtime,
                        format!(
                            "not a job ({e}); kinds: breakdown #{{scene}}, frames #{{shots}}, voices #{{scene}}, export #{{format}}"
                        ),
                    );
                }
            };
            if let JobRequest::Export { format } = &job
                && !crate::EXPORT_FORMATS.contains(&format.trim().to_ascii_lowercase().as_str())
            {
                return refuse(
                    ErrorKind::Runtime,
                    format!(
                        "no export format {format:?}; use one of {}",
                        crate::EXPORT_FORMATS.join(", ")
                    ),
                );
            }
            with(&s, |g| {
                g.outcome.jobs.push(job);
                Ok(())
            })
        },
    );
}

/// A file name with no folder part and nothing hidden or special.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && !name.contains(['/', '\\', ':', '\0'])
}
