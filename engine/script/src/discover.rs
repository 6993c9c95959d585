//! Where plugins are found: the ones shipped in `assets/plugins`, the user's
//! (`$XDG_CONFIG_HOME/previz-studio/plugins`, or `~/.config/...`), and the show's on the share
//! (`plugins/` next to the show's projects). A plugin of the same name in a later place replaces
//! an earlier one: the show's house rules win over the user's, which win over the shipped ones.

use std::path::{Path, PathBuf};

use crate::{Host, Plugin, PluginError};

/// The folders searched, in order of precedence (last wins).
#[derive(Clone, Debug, Default)]
pub struct PluginDirs {
    pub dirs: Vec<PathBuf>,
}

impl PluginDirs {
    /// The standard places for a project: shipped, user, show (the project folder's parent's
    /// `plugins/`, where the show's projects live side by side on the share).
    #[must_use]
    pub fn standard(project: Option<&Path>) -> Self {
        let mut dirs = Vec::new();
        if let Some(shipped) = shipped_dir() {
            dirs.push(shipped);
        }
        if let Some(user) = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        {
            dirs.push(user.join("previz-studio").join("plugins"));
        }
        if let Some(show) = project.and_then(Path::parent) {
            dirs.push(show.join("plugins"));
        }
        Self { dirs }
    }
}

/// `assets/plugins`: next to the executable when installed (`../share/previz/plugins`), else
/// `PREVIZ_ASSETS` (the repository's `assets`), else the source tree this was built from.
fn shipped_dir() -> Option<PathBuf> {
    if let Some(assets) = std::env::var_os("PREVIZ_ASSETS") {
        return Some(PathBuf::from(assets).join("plugins"));
    }
    let installed = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .map(|bin| bin.join("../share/previz/plugins"));
    if let Some(dir) = installed.filter(|d| d.is_dir()) {
        return Some(dir);
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/plugins");
    source.is_dir().then_some(source)
}

/// Compiles every `*.rhai` in `dirs`; a plugin that does not compile is reported, not fatal.
/// Returns the plugins by name and the errors.
#[must_use]
pub fn discover(host: &Host, dirs: &PluginDirs) -> (Vec<Plugin>, Vec<PluginError>) {
    let mut found: Vec<Plugin> = Vec::new();
    let mut errors = Vec::new();
    for dir in &dirs.dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rhai") && p.is_file())
            .collect();
        files.sort();
        for file in files {
            match host.load(&file) {
                Ok(plugin) => {
                    found.retain(|p| p.name != plugin.name);
                    found.push(plugin);
                }
                Err(e) => errors.push(e),
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    (found, errors)
}

/// A plugin by name among `dirs`, or by path.
pub fn find(host: &Host, dirs: &PluginDirs, name_or_path: &str) -> Result<Plugin, PluginError> {
    let path = Path::new(name_or_path);
    if path.extension().is_some_and(|x| x == "rhai") || path.components().count() > 1 {
        return host.load(path);
    }
    let (plugins, errors) = discover(host, dirs);
    if let Some(p) = plugins.into_iter().find(|p| p.name == name_or_path) {
        return Ok(p);
    }
    if let Some(e) = errors
        .into_iter()
        .find(|e| e.file.file_stem().is_some_and(|s| s == name_or_path))
    {
        return Err(e);
    }
    Err(PluginError {
        file: PathBuf::from(format!("{name_or_path}.rhai")),
        line: None,
        column: None,
        kind: crate::ErrorKind::Syntax,
        message: format!(
            "no plugin named {name_or_path:?} in {}; `previz script list` shows the ones found",
            dirs.dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}
