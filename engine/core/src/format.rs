//! The project file format: versioned JSON with migrations over raw JSON.
//!
//! ```json
//! {"schema": "previz.project", "version": 1, "id": "…", "settings": {…}, "script": {…}, …}
//! ```
//!
//! Loading reads the header first. A file at the current version deserializes directly (the
//! fast path, used for every ordinary open); an older file goes through the migration functions
//! one version at a time over `serde_json::Value`, as OpenTimelineIO's schema upgrades do. Fields
//! this version does not know are kept in each object's `extra` and written back unchanged.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::project::Project;

/// The `schema` every project file carries.
pub const SCHEMA: &str = "previz.project";
/// The version this build writes.
pub const CURRENT_VERSION: u32 = 1;

/// Upgrades a raw document from version `n` to `n + 1`.
pub type Migration = fn(&mut Value) -> Result<(), String>;

/// Migrations of this build: entry `i` upgrades version `i + 1` to `i + 2` (there are none yet:
/// version 1 is the first published format).
pub const MIGRATIONS: &[Migration] = &[];

/// Why a project file could not be read. Messages leave out the position; callers print it in
/// front as `file:line:column:` (see [`FormatError::position`]).
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "this is not valid JSON ({message}); the file may be damaged: open a backup from the project's backups/ folder"
    )]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "this is not a Previz project: expected \"schema\": \"{SCHEMA}\" at the top, found {found}"
    )]
    WrongSchema { found: String },
    #[error(
        "this project was written by a newer Previz (format version {found}; this build reads up to {CURRENT_VERSION}): update Previz to open it"
    )]
    TooNew { found: u32 },
    #[error("format version {found} is not known (versions start at 1)")]
    UnknownVersion { found: u32 },
    #[error("upgrading from format version {from} to {} failed: {message}", from + 1)]
    Migration { from: u32, message: String },
    #[error("{message}")]
    Content {
        line: usize,
        column: usize,
        message: String,
    },
}

impl FormatError {
    /// Line and column of the problem, when the file has one.
    #[must_use]
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            FormatError::Syntax { line, column, .. }
            | FormatError::Content { line, column, .. } => Some((*line, *column)),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    version: Option<u32>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    schema: &'static str,
    version: u32,
    #[serde(flatten)]
    project: &'a Project,
}

/// Reads the project straight from the top-level object. (An envelope struct flattening the
/// project would make serde buffer the whole document before reading it, doubling the time to
/// open a feature-length project.) The header fields land in `extra` and are taken out.
fn read_project(bytes: &[u8]) -> Result<Project, FormatError> {
    let mut project: Project = serde_json::from_slice(bytes).map_err(|e| syntax_or_content(&e))?;
    project.extra.remove("schema");
    project.extra.remove("version");
    Ok(project)
}

/// Serializes a project at the current version.
///
/// The layout is one line per scene, shot, asset and clip (see [`LineFormatter`]): a diff of
/// two saves shows which objects changed, and the file is a third smaller than fully indented
/// JSON, which matters at 10,000 shots.
#[must_use]
pub fn to_json(project: &Project) -> Vec<u8> {
    let envelope = Envelope {
        schema: SCHEMA,
        version: CURRENT_VERSION,
        project,
    };
    let mut out = Vec::with_capacity(1 << 16);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, LineFormatter::default());
    // Serializing plain data into a Vec cannot fail: every map key is a string.
    if envelope.serialize(&mut serializer).is_err() {
        return Vec::new();
    }
    out.push(b'\n');
    out
}

/// A JSON layout between pretty and compact: the top-level object and its direct objects
/// (`settings`, `script`, `timeline`, `assets`) are indented, arrays inside indented containers
/// put each element on its own line, and tracks are indented so each clip gets a line.
/// Everything deeper is compact.
#[derive(Debug, Default)]
pub struct LineFormatter {
    /// Open containers, innermost last.
    stack: Vec<Frame>,
    /// The key of the value being written, captured only inside indented objects (deeper keys
    /// cannot change the layout, and capturing them would cost an allocation per field).
    key: String,
    key_valid: bool,
    capturing_key: bool,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    expanded: bool,
    /// An array that is the value of a `tracks` key: its objects are indented too.
    tracks: bool,
}

impl LineFormatter {
    fn open(&mut self, is_object: bool) {
        let named_tracks = std::mem::take(&mut self.key_valid) && self.key == "tracks";
        let expanded = match self.stack.last() {
            None => true,
            Some(parent) if is_object => self.stack.len() == 1 || parent.tracks,
            Some(parent) => parent.expanded,
        };
        self.stack.push(Frame {
            expanded,
            tracks: !is_object && named_tracks,
        });
    }

    fn expanded(&self) -> bool {
        self.stack.last().is_some_and(|f| f.expanded)
    }

    fn newline<W: ?Sized + std::io::Write>(
        &self,
        writer: &mut W,
        depth: usize,
    ) -> std::io::Result<()> {
        writer.write_all(b"\n")?;
        for _ in 0..depth {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for LineFormatter {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(false);
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        let expanded = self.expanded();
        self.stack.pop();
        if expanded {
            self.newline(writer, self.stack.len())?;
        }
        writer.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        if self.expanded() {
            self.newline(writer, self.stack.len())?;
        }
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.open(true);
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        let expanded = self.expanded();
        self.stack.pop();
        if expanded {
            self.newline(writer, self.stack.len())?;
        }
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        if self.expanded() {
            self.newline(writer, self.stack.len())?;
        }
        self.capturing_key = self.expanded();
        self.key_valid = self.capturing_key;
        self.key.clear();
        Ok(())
    }

    fn end_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        _writer: &mut W,
    ) -> std::io::Result<()> {
        self.capturing_key = false;
        Ok(())
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(if self.expanded() { b": " } else { b":" })
    }

    fn end_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        _writer: &mut W,
    ) -> std::io::Result<()> {
        self.key_valid = false;
        Ok(())
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if self.capturing_key {
            self.key.push_str(fragment);
        }
        writer.write_all(fragment.as_bytes())
    }
}

/// Reads a project file's bytes, upgrading old versions.
pub fn from_json(bytes: &[u8]) -> Result<Project, FormatError> {
    from_json_with(bytes, MIGRATIONS)
}

/// [`from_json`] with an explicit migration table (tests exercise the upgrade path with it).
pub fn from_json_with(bytes: &[u8], migrations: &[Migration]) -> Result<Project, FormatError> {
    let header: Header = serde_json::from_slice(bytes).map_err(|e| syntax_or_content(&e))?;
    match header.schema.as_deref() {
        Some(SCHEMA) => {}
        Some(other) => {
            return Err(FormatError::WrongSchema {
                found: format!("\"{other}\""),
            });
        }
        None => {
            return Err(FormatError::WrongSchema {
                found: "no schema".to_owned(),
            });
        }
    }
    let latest = u32::try_from(migrations.len())
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let version = header.version.unwrap_or(0);
    if version == 0 {
        return Err(FormatError::UnknownVersion { found: version });
    }
    if version > latest {
        return Err(FormatError::TooNew { found: version });
    }
    if version == latest {
        return read_project(bytes);
    }
    let mut value: Value = serde_json::from_slice(bytes).map_err(|e| syntax_or_content(&e))?;
    for from in version..latest {
        let index = usize::try_from(from - 1).unwrap_or(usize::MAX);
        let migrate = migrations
            .get(index)
            .ok_or(FormatError::UnknownVersion { found: from })?;
        migrate(&mut value).map_err(|message| FormatError::Migration { from, message })?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("version".to_owned(), Value::from(from + 1));
        }
    }
    // Positions refer to the upgraded document here; re-serialize so errors still carry some.
    let upgraded = serde_json::to_vec_pretty(&value).unwrap_or_default();
    read_project(&upgraded)
}

fn syntax_or_content(e: &serde_json::Error) -> FormatError {
    use serde_json::error::Category;
    let (line, column) = (e.line(), e.column());
    let message = strip_position(&e.to_string());
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => FormatError::Syntax {
            line,
            column,
            message,
        },
        Category::Data => FormatError::Content {
            line,
            column,
            message,
        },
    }
}

/// serde_json appends " at line L column C"; we print the position ourselves.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_everything_including_unknown_fields() {
        let project = Project::new("The Lighthouse");
        let bytes = to_json(&project);
        let mut value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["schema"], SCHEMA);
        assert_eq!(value["version"], CURRENT_VERSION);
        // A newer tool added fields at several depths.
        value["color_pipeline"] = json!({"ocio": "aces_1.3"});
        value["settings"]["hdr"] = json!(true);
        value["timeline"]["tracks"][0]["height_px"] = json!(64);
        let edited = serde_json::to_vec(&value).unwrap();
        let loaded = from_json(&edited).unwrap();
        assert_eq!(loaded.extra["color_pipeline"], json!({"ocio": "aces_1.3"}));
        let again: Value = serde_json::from_slice(&to_json(&loaded)).unwrap();
        assert_eq!(again, value);
    }

    #[test]
    fn layout_puts_each_shot_and_clip_on_its_own_line() {
        let project = crate::synth::project(5, 6);
        let text = String::from_utf8(to_json(&project)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "{");
        assert!(
            lines[1].starts_with("  \"schema\": \"previz.project\""),
            "{}",
            lines[1]
        );
        let shot_lines = lines
            .iter()
            .filter(|l| l.starts_with("    {\"id\"") && l.contains("\"takes\""))
            .count();
        assert_eq!(shot_lines, 5, "{text}");
        let clip_lines = lines
            .iter()
            .filter(|l| l.trim_start().starts_with("{\"type\":\"clip\""))
            .count();
        assert_eq!(clip_lines, 6, "{text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::to_value(
                serde_json::from_slice::<Value>(&serde_json::to_vec(&value).unwrap()).unwrap()
            )
            .unwrap()
        );
    }

    #[test]
    fn current_version_matches_the_migration_table() {
        assert_eq!(MIGRATIONS.len() + 1, CURRENT_VERSION as usize);
    }

    #[test]
    fn errors_name_position_and_remedy() {
        let err = from_json(b"{\n  \"schema\": \"previz.project\",\n  \"version\": 1,\n  oops\n}")
            .unwrap_err();
        assert_eq!(err.position(), Some((4, 3)));
        assert!(err.to_string().contains("backup"), "{err}");

        let err = from_json(br#"{"schema": "otio.timeline", "version": 1}"#).unwrap_err();
        assert!(matches!(err, FormatError::WrongSchema { .. }), "{err}");

        let err = from_json(br#"{"schema": "previz.project", "version": 99}"#).unwrap_err();
        assert!(err.to_string().contains("newer Previz"), "{err}");

        let mut value: Value = serde_json::from_slice(&to_json(&Project::new("x"))).unwrap();
        value["settings"]["frame_rate"] = json!("fast");
        let err = from_json(&serde_json::to_vec_pretty(&value).unwrap()).unwrap_err();
        assert!(matches!(err, FormatError::Content { .. }), "{err}");
        assert!(err.to_string().contains("fast"), "{err}");
    }

    #[test]
    fn migrations_run_in_order_from_old_versions() {
        // A pretend history: v1 called the title "name"; v2 renamed it.
        fn v1_to_v2(doc: &mut Value) -> Result<(), String> {
            let settings = doc
                .get_mut("settings")
                .and_then(Value::as_object_mut)
                .ok_or("no settings object")?;
            let name = settings.remove("name").ok_or("no settings.name")?;
            settings.insert("title".into(), name);
            Ok(())
        }
        let mut value: Value = serde_json::from_slice(&to_json(&Project::new("Old"))).unwrap();
        let title = value["settings"]
            .as_object_mut()
            .unwrap()
            .remove("title")
            .unwrap();
        value["settings"]["name"] = title;
        let bytes = serde_json::to_vec(&value).unwrap();
        let project = from_json_with(&bytes, &[v1_to_v2]).unwrap();
        assert_eq!(project.settings.title, "Old");

        value["settings"].as_object_mut().unwrap().remove("name");
        let err = from_json_with(&serde_json::to_vec(&value).unwrap(), &[v1_to_v2]).unwrap_err();
        assert!(
            matches!(err, FormatError::Migration { from: 1, .. }),
            "{err}"
        );
    }
}
