//! The studio's own settings (not the project's): models, device, share and cache paths,
//! theme, recent projects. Stored as JSON in the user's config folder; a damaged file is set
//! aside and defaults are used, with a notice.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where inference runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    #[default]
    Cpu,
    Cuda,
}

/// Light or dark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

/// Everything the settings window edits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StudioSettings {
    pub llm_model: Option<String>,
    pub diffusion_model: Option<String>,
    pub voice_model: Option<String>,
    pub device: Device,
    /// The show's folder on the NAS (projects, shared models).
    pub share_root: Option<PathBuf>,
    /// Where thumbnails and decoded audio are cached.
    pub cache_dir: Option<PathBuf>,
    pub theme: Theme,
    /// Most recent first.
    pub recent: Vec<PathBuf>,
}

impl StudioSettings {
    /// The default settings file: `$XDG_CONFIG_HOME/previz-studio/settings.json` (or
    /// `~/.config/...`).
    #[must_use]
    pub fn default_path() -> Option<PathBuf> {
        std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|dir| dir.join("previz-studio").join("settings.json"))
    }

    /// Reads the settings; a missing file gives defaults, a damaged one gives defaults and a
    /// message saying where the damaged copy was kept.
    #[must_use]
    pub fn load(path: &Path) -> (Self, Option<String>) {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::default(), None),
            Err(e) => {
                return (
                    Self::default(),
                    Some(format!(
                        "could not read {}: {e}; using defaults",
                        path.display()
                    )),
                );
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(settings) => (settings, None),
            Err(e) => {
                let aside = path.with_extension("json.damaged");
                let _ = std::fs::rename(path, &aside);
                (
                    Self::default(),
                    Some(format!(
                        "{} is damaged ({e}); it was kept as {} and defaults are used",
                        path.display(),
                        aside.display()
                    )),
                )
            }
        }
    }

    /// Writes the settings atomically.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        previz_storage::atomic::write_atomic(path, &bytes)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Puts a project at the top of the recent list (ten kept).
    pub fn remember_recent(&mut self, dir: &Path) {
        let dir = dir.to_path_buf();
        self.recent.retain(|p| *p != dir);
        self.recent.insert(0, dir);
        self.recent.truncate(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_save_and_damaged_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("previz-studio/settings.json");
        let (defaults, note) = StudioSettings::load(&path);
        assert_eq!(defaults, StudioSettings::default());
        assert!(note.is_none());
        let mut s = StudioSettings {
            theme: Theme::Light,
            ..StudioSettings::default()
        };
        for i in 0..12 {
            s.remember_recent(Path::new(&format!("/show/p{i}.previz")));
        }
        s.remember_recent(Path::new("/show/p3.previz"));
        assert_eq!(s.recent.len(), 10);
        assert_eq!(s.recent[0], Path::new("/show/p3.previz"));
        s.save(&path).unwrap();
        assert_eq!(StudioSettings::load(&path).0, s);
        std::fs::write(&path, b"{ not json").unwrap();
        let (loaded, note) = StudioSettings::load(&path);
        assert_eq!(loaded, StudioSettings::default());
        assert!(note.unwrap().contains("damaged"));
        assert!(path.with_extension("json.damaged").is_file());
    }
}
