//! Reading a GGUF file's header: metadata and tensor directory, with errors that name the file.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};

use super::LlmError;

/// A GGUF file's header, read once; tensors are loaded from it later by the runtime.
#[derive(Debug)]
pub struct GgufFile {
    pub path: PathBuf,
    pub content: Content,
}

impl GgufFile {
    /// Reads the header of `path`. Fails with the file name and what is wrong.
    pub fn open(path: &Path) -> Result<Self, LlmError> {
        let file = File::open(path).map_err(|source| LlmError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(|e| LlmError::BadModel {
            path: path.to_owned(),
            detail: format!("the GGUF header does not parse ({e})"),
        })?;
        let file_len = std::fs::metadata(path)
            .map_err(|source| LlmError::Io {
                path: path.to_owned(),
                source,
            })?
            .len();
        // A truncated download parses its header fine and fails (or worse) on first use: check
        // that every tensor lies inside the file now.
        for (name, info) in &content.tensor_infos {
            let elems: usize = info.shape.elem_count();
            let block = info.ggml_dtype.block_size();
            let bytes = elems / block * info.ggml_dtype.type_size();
            let end = content.tensor_data_offset + info.offset + bytes as u64;
            if end > file_len {
                return Err(LlmError::BadModel {
                    path: path.to_owned(),
                    detail: format!(
                        "tensor '{name}' ends at byte {end} but the file has {file_len} bytes \
                         (truncated download?)"
                    ),
                });
            }
        }
        Ok(Self {
            path: path.to_owned(),
            content,
        })
    }

    fn bad(&self, detail: String) -> LlmError {
        LlmError::BadModel {
            path: self.path.clone(),
            detail,
        }
    }

    /// The raw metadata value of `key`, if present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// A string metadata value, or an error naming the key.
    pub fn string(&self, key: &str) -> Result<&str, LlmError> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(self.bad(format!(
                "metadata '{key}' should be a string, found {:?}",
                other.value_type()
            ))),
            None => Err(self.bad(format!("metadata '{key}' is missing"))),
        }
    }

    /// An optional string metadata value.
    #[must_use]
    pub fn opt_string(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// An unsigned integer metadata value of any width.
    pub fn u64(&self, key: &str) -> Result<u64, LlmError> {
        let v = self
            .get(key)
            .ok_or_else(|| self.bad(format!("metadata '{key}' is missing")))?;
        value_u64(v).ok_or_else(|| {
            self.bad(format!(
                "metadata '{key}' should be a non-negative integer, found {:?}",
                v.value_type()
            ))
        })
    }

    /// An optional unsigned integer metadata value.
    #[must_use]
    pub fn opt_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(value_u64)
    }

    /// An array of strings (token lists, merges).
    pub fn strings(&self, key: &str) -> Result<Vec<&str>, LlmError> {
        let Some(Value::Array(items)) = self.get(key) else {
            return Err(self.bad(format!("metadata '{key}' is missing or not an array")));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(self.bad(format!("metadata '{key}'[{i}] is not a string"))),
            })
            .collect()
    }

    /// An optional array of integers (token types).
    pub fn opt_ints(&self, key: &str) -> Result<Option<Vec<i64>>, LlmError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(self.bad(format!("metadata '{key}' is not an array")));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                value_i64(v)
                    .ok_or_else(|| self.bad(format!("metadata '{key}'[{i}] is not an integer")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// `general.architecture` (`llama`, `qwen2`, ...).
    pub fn architecture(&self) -> Result<&str, LlmError> {
        self.string("general.architecture")
    }

    /// `general.name`, or the file stem.
    #[must_use]
    pub fn display_name(&self) -> String {
        self.opt_string("general.name").map_or_else(
            || {
                self.path
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
            },
            str::to_owned,
        )
    }

    /// The model's context length (`<arch>.context_length`), if given.
    #[must_use]
    pub fn context_length(&self) -> Option<usize> {
        let arch = self.opt_string("general.architecture")?;
        self.opt_u64(&format!("{arch}.context_length"))
            .and_then(|v| usize::try_from(v).ok())
    }
}

impl GgufFile {
    /// Bytes the KV cache takes per cached position: keys and values of every layer, for the
    /// KV heads (`<arch>.attention.head_count_kv`, else `head_count`) of `key_length` /
    /// `value_length` (else `embedding_length / head_count`) each, in f32 as our runtimes keep
    /// them. `None` when the header lacks the sizes.
    #[must_use]
    pub fn kv_bytes_per_position(&self) -> Option<u64> {
        let arch = self.opt_string("general.architecture")?;
        let key = |k: &str| self.opt_u64(&format!("{arch}.{k}"));
        let layers = key("block_count")?;
        let heads = key("attention.head_count")?;
        let kv_heads = key("attention.head_count_kv").unwrap_or(heads);
        let per_head = key("embedding_length")
            .zip(Some(heads))
            .and_then(|(e, h)| e.checked_div(h));
        let k_len = key("attention.key_length").or(per_head)?;
        let v_len = key("attention.value_length").or(per_head)?;
        Some(layers * kv_heads * (k_len + v_len) * 4)
    }
}

fn value_u64(v: &Value) -> Option<u64> {
    match *v {
        Value::U8(x) => Some(u64::from(x)),
        Value::U16(x) => Some(u64::from(x)),
        Value::U32(x) => Some(u64::from(x)),
        Value::U64(x) => Some(x),
        Value::I8(x) => u64::try_from(x).ok(),
        Value::I16(x) => u64::try_from(x).ok(),
        Value::I32(x) => u64::try_from(x).ok(),
        Value::I64(x) => u64::try_from(x).ok(),
        _ => None,
    }
}

fn value_i64(v: &Value) -> Option<i64> {
    match *v {
        Value::U8(x) => Some(i64::from(x)),
        Value::U16(x) => Some(i64::from(x)),
        Value::U32(x) => Some(i64::from(x)),
        Value::U64(x) => i64::try_from(x).ok(),
        Value::I8(x) => Some(i64::from(x)),
        Value::I16(x) => Some(i64::from(x)),
        Value::I32(x) => Some(i64::from(x)),
        Value::I64(x) => Some(x),
        _ => None,
    }
}
