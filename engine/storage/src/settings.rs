//! The workstation's settings, one TOML file shared by the studio and the CLI:
//! `$XDG_CONFIG_HOME/previz-studio/settings.toml` (or `~/.config/…`).
//!
//! What they hold: where inference runs, the default models, extra models folders, the show's
//! share (and its S3 bucket), the cache folder and its size, and the studio's theme and recent
//! projects. Every field has a default, so a missing file or a missing key is fine; a file
//! that does not parse is an error naming its line (the CLI says so and uses defaults; the
//! studio keeps the damaged copy aside and starts on defaults).
//!
//! An older studio kept the same settings as `settings.json` beside it; when only that exists
//! it is read, and the next save writes the TOML.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The settings file's name inside the config folder.
pub const FILE_NAME: &str = "settings.toml";

/// Where inference runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    #[default]
    Cpu,
    /// The first CUDA GPU (needs a build with the `cuda` feature).
    Cuda,
    /// CUDA when this build has it and a GPU answers, else the CPU.
    Auto,
}

impl Device {
    /// As the CLI's `--device` spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Auto => "auto",
        }
    }
}

/// Light or dark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

/// Every setting. Unknown keys are ignored (a newer version's settings still load).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where models run: `cpu`, `cuda` or `auto`.
    pub device: Device,
    /// The script breakdown's language model (a registry id or a path); none: the built-in rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm_model: Option<String>,
    /// The storyboard's diffusion model; none: the built-in sketch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diffusion_model: Option<String>,
    /// The dialogue's voice model; none: the built-in voice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_model: Option<String>,
    /// The IP-Adapter (`.safetensors`, its `image_encoder/` folder beside it) that shows
    /// characters' reference pictures to the diffusion model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_adapter: Option<PathBuf>,
    /// More folders searched for models, before the standard ones.
    pub model_dirs: Vec<PathBuf>,
    /// The show's folder on the NAS (projects, and a `models/` folder every workstation uses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_root: Option<PathBuf>,
    /// The show's S3 location (`s3://bucket/prefix`), when rushes live in object storage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_url: Option<String>,
    /// Where caches go (default `$XDG_CACHE_HOME/previz`, or `~/.cache/previz`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// How large the cache may grow, GiB: the show store's read cache evicts to it, and
    /// `previz doctor` warns when the whole cache folder is above it.
    pub cache_max_gib: f64,
    pub theme: Theme,
    /// Recently opened projects, most recent first.
    pub recent: Vec<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            llm_model: None,
            diffusion_model: None,
            voice_model: None,
            ip_adapter: None,
            model_dirs: Vec::new(),
            share_root: None,
            s3_url: None,
            cache_dir: None,
            cache_max_gib: 50.0,
            theme: Theme::Dark,
            recent: Vec::new(),
        }
    }
}

/// A settings file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{}{}: {message}; fix it (or delete the file to start from defaults)", path.display(), at(*line, *column))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

fn at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

const HEADER: &str = "\
# Previz Studio settings (the studio's Settings window writes this file; `previz doctor`
# checks what it points at). Every key may be left out.
#   device          cpu | cuda | auto
#   llm_model, diffusion_model, voice_model   registry ids (`previz models list`) or paths
#   ip_adapter      an IP-Adapter .safetensors (image_encoder/ beside it): characters' reference pictures
#   model_dirs      more folders searched for models
#   share_root      the show's folder on the NAS; <share_root>/models is searched for models
#   s3_url          s3://bucket/prefix of the show's object storage
#   cache_dir       default $XDG_CACHE_HOME/previz; cache_max_gib its size limit (GiB, default 50)
";

impl Settings {
    /// The user's config folder for Previz Studio (`$XDG_CONFIG_HOME/previz-studio`).
    #[must_use]
    pub fn config_dir() -> Option<PathBuf> {
        std::env::var_os("XDG_CONFIG_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|dir| dir.join("previz-studio"))
    }

    /// The settings file (`PREVIZ_SETTINGS` overrides it).
    #[must_use]
    pub fn default_path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("PREVIZ_SETTINGS").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        Self::config_dir().map(|d| d.join(FILE_NAME))
    }

    /// Reads the settings at `path`: defaults when there is no file (or only the older
    /// `settings.json` beside it, which is read instead).
    pub fn read(path: &Path) -> Result<Self, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Self::read_legacy(&path.with_extension("json"));
            }
            Err(e) => {
                return Err(SettingsError::Read {
                    path: path.to_owned(),
                    source: e,
                });
            }
        };
        Self::parse(path, &text)
    }

    /// Parses settings text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, SettingsError> {
        let settings: Settings = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((None, None), |span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                (Some(line), Some(column))
            });
            SettingsError::Invalid {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        settings.check().map_err(|(key, message)| {
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with(key))
                .map(|i| i + 1);
            SettingsError::Invalid {
                path: path.to_owned(),
                line,
                column: line.map(|_| 1),
                message,
            }
        })?;
        Ok(settings)
    }

    fn read_legacy(json: &Path) -> Result<Self, SettingsError> {
        match std::fs::read(json) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SettingsError::Invalid {
                path: json.to_owned(),
                line: Some(e.line()),
                column: Some(e.column()),
                message: e.to_string(),
            }),
            Err(_) => Ok(Self::default()),
        }
    }

    /// Values TOML accepts but that make no sense: (key, why).
    fn check(&self) -> Result<(), (&'static str, String)> {
        if !(self.cache_max_gib.is_finite() && self.cache_max_gib > 0.0) {
            return Err((
                "cache_max_gib",
                format!(
                    "cache_max_gib is {}; expected a size in GiB above 0, such as 20",
                    self.cache_max_gib
                ),
            ));
        }
        if let Some(url) = &self.s3_url
            && !url.starts_with("s3://")
        {
            return Err((
                "s3_url",
                format!("s3_url is {url:?}; expected s3://bucket or s3://bucket/prefix"),
            ));
        }
        Ok(())
    }

    /// The settings of this user, or defaults with the reason when the file cannot be used.
    #[must_use]
    pub fn load_default() -> (Self, Option<SettingsError>) {
        match Self::default_path() {
            Some(path) => match Self::read(&path) {
                Ok(s) => (s, None),
                Err(e) => (Self::default(), Some(e)),
            },
            None => (Self::default(), None),
        }
    }

    /// This user's settings as the process first read them (once), for defaults deep in the
    /// engine and the CLI (the read cache's folder and size, `--device`): a change made while
    /// the process runs applies to the next one. A file that cannot be used counts as absent
    /// here; `previz doctor` names its line.
    #[must_use]
    pub fn user() -> &'static Self {
        static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();
        SETTINGS.get_or_init(|| Self::load_default().0)
    }

    /// Reads the settings; a file that cannot be used is renamed to `*.damaged` (kept, never
    /// deleted) and defaults are returned with a message saying so. For the studio, which must
    /// start whatever the file holds.
    #[must_use]
    pub fn load_or_set_aside(path: &Path) -> (Self, Option<String>) {
        match Self::read(path) {
            Ok(s) => (s, None),
            Err(e @ SettingsError::Invalid { .. }) => {
                let damaged = match &e {
                    SettingsError::Invalid { path, .. } => path.clone(),
                    _ => path.to_owned(),
                };
                let mut aside = damaged.clone().into_os_string();
                aside.push(".damaged");
                let aside = PathBuf::from(aside);
                let kept = std::fs::rename(&damaged, &aside).is_ok();
                (
                    Self::default(),
                    Some(if kept {
                        format!(
                            "{e}. It was kept as {} and defaults are used",
                            aside.display()
                        )
                    } else {
                        format!("{e}. Defaults are used")
                    }),
                )
            }
            Err(e) => (Self::default(), Some(format!("{e}; defaults are used"))),
        }
    }

    /// Writes the settings atomically (with a header saying what each key means).
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let fail = |message: String| SettingsError::Write {
            path: path.to_owned(),
            message,
        };
        let body = toml::to_string_pretty(self).map_err(|e| fail(e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        crate::atomic::write_atomic(path, format!("{HEADER}\n{body}").as_bytes())
            .map_err(|e| fail(e.to_string()))
    }

    /// Puts a project at the top of the recent list (ten kept).
    pub fn remember_recent(&mut self, dir: &Path) {
        let dir = dir.to_path_buf();
        self.recent.retain(|p| *p != dir);
        self.recent.insert(0, dir);
        self.recent.truncate(10);
    }

    /// The cache folder: `cache_dir`, else `$XDG_CACHE_HOME/previz`, else `~/.cache/previz`.
    #[must_use]
    pub fn cache_root(&self) -> Option<PathBuf> {
        self.cache_dir.clone().or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|d| d.join("previz"))
        })
    }

    /// The show-wide models folder on the share (`<share_root>/models`).
    #[must_use]
    pub fn show_models_dir(&self) -> Option<PathBuf> {
        self.share_root.as_ref().map(|r| r.join("models"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_defaults_legacy_and_errors_with_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("previz-studio/settings.toml");
        assert_eq!(Settings::read(&path).unwrap(), Settings::default());

        let mut s = Settings {
            device: Device::Auto,
            llm_model: Some("smollm2-135m-instruct".into()),
            share_root: Some("/mnt/show".into()),
            s3_url: Some("s3://show/rushes".into()),
            cache_max_gib: 4.5,
            theme: Theme::Light,
            model_dirs: vec!["/opt/models".into()],
            ..Settings::default()
        };
        for i in 0..12 {
            s.remember_recent(Path::new(&format!("/show/p{i}.previz")));
        }
        s.remember_recent(Path::new("/show/p3.previz"));
        assert_eq!(s.recent.len(), 10);
        assert_eq!(s.recent[0], Path::new("/show/p3.previz"));
        s.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("device = \"auto\""), "{text}");
        assert_eq!(Settings::read(&path).unwrap(), s);
        assert_eq!(s.show_models_dir().unwrap(), Path::new("/mnt/show/models"));

        // Partial files fill in defaults; unknown keys are ignored.
        std::fs::write(&path, "theme = \"light\"\nfuture_key = 3\n").unwrap();
        let partial = Settings::read(&path).unwrap();
        assert_eq!(partial.theme, Theme::Light);
        assert!((partial.cache_max_gib - 50.0).abs() < f64::EPSILON);

        // A type error names the line and column.
        std::fs::write(&path, "theme = \"light\"\ndevice = \"tpu\"\n").unwrap();
        let e = Settings::read(&path).unwrap_err().to_string();
        assert!(e.contains("settings.toml:2:"), "{e}");
        assert!(e.contains("tpu") || e.contains("variant"), "{e}");
        std::fs::write(&path, "cache_max_gib = -1\n").unwrap();
        let e = Settings::read(&path).unwrap_err().to_string();
        assert!(e.contains(":1:") && e.contains("above 0"), "{e}");

        // The studio sets a damaged file aside.
        let (loaded, note) = Settings::load_or_set_aside(&path);
        assert_eq!(loaded, Settings::default());
        assert!(note.unwrap().contains("damaged"));
        assert!(
            tmp.path()
                .join("previz-studio/settings.toml.damaged")
                .is_file()
        );
        assert!(!path.exists());

        // An older studio's JSON is read when there is no TOML.
        std::fs::write(
            path.with_extension("json"),
            r#"{"device":"cuda","recent":["/a.previz"]}"#,
        )
        .unwrap();
        let legacy = Settings::read(&path).unwrap();
        assert_eq!(legacy.device, Device::Cuda);
        assert_eq!(legacy.recent, vec![PathBuf::from("/a.previz")]);
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_errs(text in "\\PC{0,200}") {
            let _ = Settings::parse(Path::new("s.toml"), &text);
        }
    }
}
