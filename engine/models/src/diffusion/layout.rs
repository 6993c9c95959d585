//! Finding a model's files in the layouts users already have, and checking them before candle
//! maps them: a diffusers folder (`model_index.json`, `unet/`, `vae/`, `text_encoder/`,
//! `tokenizer/`, `scheduler/`), the Hugging Face cache (`models--org--name/snapshots/<rev>/`),
//! sharded weights (`*.safetensors.index.json`), fp16 variants. safetensors only: pickled
//! weights (`.bin`, `.ckpt`, `.pt`) can run code when loaded and are refused with a way out.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::DiffusionError;

/// The root of a diffusers folder for `path`: the folder itself, a Hugging Face cache entry
/// (the snapshot `refs/main` points at, else the only one), or an error that says what to do.
pub fn resolve_root(path: &Path) -> Result<PathBuf, DiffusionError> {
    if path.is_file() {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        return Err(match ext.as_str() {
            "ckpt" | "pt" | "pth" | "bin" => DiffusionError::Pickle {
                file: path.to_path_buf(),
            },
            "safetensors" => DiffusionError::Unsupported {
                file: path.to_path_buf(),
                what: "a single-file checkpoint where a diffusers folder is expected; DiffusionModel::load takes the file itself (it is converted in memory)".into(),
            },
            _ => DiffusionError::Missing {
                file: path.to_path_buf(),
                what: "a diffusers model folder (with model_index.json)".into(),
            },
        });
    }
    if path.join("model_index.json").is_file() {
        return Ok(path.to_path_buf());
    }
    let snapshots = path.join("snapshots");
    if snapshots.is_dir() {
        if let Ok(rev) = std::fs::read_to_string(path.join("refs").join("main")) {
            let candidate = snapshots.join(rev.trim());
            if candidate.join("model_index.json").is_file() {
                return Ok(candidate);
            }
        }
        let found: Vec<PathBuf> = std::fs::read_dir(&snapshots)
            .map_err(|e| DiffusionError::io(&snapshots, &e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("model_index.json").is_file())
            .collect();
        if found.len() == 1 {
            return Ok(found[0].clone());
        }
        return Err(DiffusionError::Missing {
            file: snapshots,
            what: format!(
                "one snapshot with model_index.json (found {}); point at the snapshot folder you want",
                found.len()
            ),
        });
    }
    Err(DiffusionError::Missing {
        file: path.join("model_index.json"),
        what: "a diffusers model folder (model_index.json beside unet/, vae/, text_encoder/, tokenizer/, scheduler/)".into(),
    })
}

/// The safetensors files of a component folder (`unet/`, `vae/`, `text_encoder/`), full
/// precision preferred over `.fp16` variants, shards through their index.
pub fn weight_files(dir: &Path, stem: &str) -> Result<Vec<PathBuf>, DiffusionError> {
    for variant in ["", ".fp16"] {
        let single = dir.join(format!("{stem}{variant}.safetensors"));
        if single.is_file() {
            return Ok(vec![single]);
        }
        let index = dir.join(format!("{stem}{variant}.safetensors.index.json"));
        if index.is_file() {
            return shards(&index, dir);
        }
    }
    for pickle in ["bin", "ckpt", "pt"] {
        let p = dir.join(format!("{stem}.{pickle}"));
        if p.is_file() {
            return Err(DiffusionError::Pickle { file: p });
        }
    }
    Err(DiffusionError::Missing {
        file: dir.join(format!("{stem}.safetensors")),
        what: format!("the weights of {}", dir.display()),
    })
}

fn shards(index: &Path, dir: &Path) -> Result<Vec<PathBuf>, DiffusionError> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    let text = std::fs::read_to_string(index).map_err(|e| DiffusionError::io(index, &e))?;
    let parsed: Index = super::config::parse_json(&text, index)?;
    let names: BTreeSet<String> = parsed.weight_map.into_values().collect();
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        if name.contains("..") || name.contains('/') || name.contains('\\') {
            return Err(DiffusionError::Config {
                file: index.to_path_buf(),
                line: 0,
                message: format!("shard '{name}' is not a file name in this folder"),
            });
        }
        let p = dir.join(&name);
        if !p.is_file() {
            return Err(DiffusionError::Missing {
                file: p,
                what: format!("a shard listed in {}", index.display()),
            });
        }
        files.push(p);
    }
    Ok(files)
}

fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
        _ => return None,
    })
}

/// The number of weights in a safetensors file (from its header; the data is not read).
pub fn parameter_count(path: &Path) -> Result<u64, DiffusionError> {
    let mut f = std::fs::File::open(path).map_err(|e| DiffusionError::io(path, &e))?;
    let corrupt = |message: &str| DiffusionError::Corrupt {
        file: path.to_path_buf(),
        message: message.to_owned(),
    };
    let mut head = [0u8; 8];
    f.read_exact(&mut head)
        .map_err(|_| corrupt("too short for a safetensors header"))?;
    let n = u64::from_le_bytes(head);
    if n > 100 << 20 {
        return Err(corrupt(
            "the header is implausibly large; the file is not safetensors",
        ));
    }
    #[allow(clippy::cast_possible_truncation)]
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|_| corrupt("the header is cut off; fetch the file again"))?;
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| corrupt(&format!("the header is not JSON ({e})")))?;
    Ok(json
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .filter_map(|(_, info)| info.get("shape")?.as_array().cloned())
        .map(|shape| {
            shape
                .iter()
                .filter_map(serde_json::Value::as_u64)
                .product::<u64>()
        })
        .sum())
}

/// The number of convolution weights (4-D tensors) in a safetensors file: the CPU path keeps a
/// packed f32 copy of each beside candle's (see `diffusion::conv`).
pub fn conv_weight_count(path: &Path) -> Result<u64, DiffusionError> {
    Ok(safetensors_entries(path)?
        .iter()
        .filter(|e| e.shape.len() == 4)
        .map(|e| e.shape.iter().map(|&d| d as u64).product::<u64>())
        .sum())
}

/// One tensor in a safetensors header: its offsets are absolute positions in the file.
#[derive(Clone, Debug)]
pub(crate) struct TensorEntry {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub start: u64,
    pub end: u64,
}

/// Checks a safetensors file's header against its length before it is memory-mapped, so a
/// truncated download names the first tensor it cut off instead of crashing the loader.
/// Returns the tensor names.
pub fn check_safetensors(path: &Path) -> Result<Vec<String>, DiffusionError> {
    Ok(safetensors_entries(path)?
        .into_iter()
        .map(|e| e.name)
        .collect())
}

/// The checked header of a safetensors file (see [`check_safetensors`]).
pub(crate) fn safetensors_entries(path: &Path) -> Result<Vec<TensorEntry>, DiffusionError> {
    let corrupt = |message: String| DiffusionError::Corrupt {
        file: path.to_path_buf(),
        message,
    };
    let mut f = std::fs::File::open(path).map_err(|e| DiffusionError::io(path, &e))?;
    let len = f
        .metadata()
        .map_err(|e| DiffusionError::io(path, &e))?
        .len();
    let mut head = [0u8; 8];
    f.read_exact(&mut head).map_err(|_| {
        corrupt(format!(
            "only {len} bytes, too short for a safetensors header; the download was cut off, fetch the file again"
        ))
    })?;
    let n = u64::from_le_bytes(head);
    if n > 100 << 20 || n + 8 > len {
        return Err(corrupt(format!(
            "the header claims {n} bytes but the file holds {len}; it is truncated or not safetensors (fetch it again)"
        )));
    }
    #[allow(clippy::cast_possible_truncation)]
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|e| DiffusionError::io(path, &e))?;
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| corrupt(format!("the header is not JSON ({e}); the file is damaged")))?;
    let data_len = len - 8 - n;
    let mut entries = Vec::with_capacity(json.len());
    for (name, info) in &json {
        if name == "__metadata__" {
            continue;
        }
        let dtype = info.get("dtype").and_then(|d| d.as_str()).unwrap_or("");
        let shape: Option<Vec<u64>> = info
            .get("shape")
            .and_then(|s| s.as_array())
            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect());
        let offsets: Option<Vec<u64>> = info
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect());
        let (Some(shape), Some(offsets), Some(size)) = (shape, offsets, dtype_size(dtype)) else {
            return Err(corrupt(format!(
                "tensor '{name}' has no valid dtype, shape and data_offsets in the header"
            )));
        };
        if offsets.len() != 2 || offsets[0] > offsets[1] {
            return Err(corrupt(format!(
                "tensor '{name}' has bad data_offsets {offsets:?}"
            )));
        }
        if offsets[1] > data_len {
            return Err(corrupt(format!(
                "tensor '{name}' ends at byte {} of the data but the file holds only {data_len}; the file is truncated, fetch it again",
                offsets[1]
            )));
        }
        let expected = shape
            .iter()
            .try_fold(size, |acc, d| acc.checked_mul(*d))
            .unwrap_or(u64::MAX);
        if expected != offsets[1] - offsets[0] {
            return Err(corrupt(format!(
                "tensor '{name}' ({dtype} {shape:?}) should take {expected} bytes but its offsets span {}",
                offsets[1] - offsets[0]
            )));
        }
        let header_end = 8 + n;
        entries.push(TensorEntry {
            name: name.clone(),
            dtype: dtype.to_owned(),
            #[allow(clippy::cast_possible_truncation)]
            shape: shape.iter().map(|&d| d as usize).collect(),
            start: header_end + offsets[0],
            end: header_end + offsets[1],
        });
    }
    Ok(entries)
}
