//! The model's own tokenizer, rebuilt from the GGUF's metadata (or a `tokenizer.json` beside it).
//!
//! GGUF files carry the BPE vocabulary, merges, token types and the name of the pre-tokenizer
//! (`tokenizer.ggml.pre`) but not the pre-tokenizer itself. Getting it wrong gives plausible but
//! different token ids (GPT-2's prefix-space ByteLevel turns "system" into "Ġsystem"), which
//! quietly degrades every answer, so each known pre-tokenizer is spelled out here as the model's
//! real `tokenizer.json` has it, and an unknown one is an error that says what to do. The result
//! is checked against ids recorded from llama.cpp's tokenizer (tests/tokenizer_fixture.rs).

use std::collections::HashMap;
use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::tokenizer::SplitDelimiterBehavior;
use tokenizers::{AddedToken, Tokenizer};

use super::LlmError;
use super::gguf::GgufFile;

/// GGUF token types (llama.cpp's `llama_token_type`).
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

/// Llama 3's split pattern (tokenizer.json of Meta-Llama-3).
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split pattern: Llama 3's with single digits.
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A model's tokenizer plus what generation needs to know about its vocabulary.
#[derive(Debug, Clone)]
pub struct LlmTokenizer {
    inner: Tokenizer,
    bos: Option<u32>,
    eos: u32,
    /// Extra ids that end a turn (`<|eot_id|>`, `<|endoftext|>`...), besides `eos`.
    stop: Vec<u32>,
    /// Control tokens: never produced by constrained decoding, stripped from decoded text.
    special: Vec<u32>,
    /// The bytes each token stands for (for the grammar automaton).
    token_bytes: Vec<Vec<u8>>,
}

impl LlmTokenizer {
    /// The tokenizer of a GGUF model: a `tokenizer.json` next to the file wins, else the GGUF's
    /// own metadata.
    pub fn for_model(gguf: &GgufFile) -> Result<Self, LlmError> {
        let beside = gguf.path.with_file_name("tokenizer.json");
        if beside.is_file() {
            return Self::from_json(&beside, gguf);
        }
        Self::from_gguf(gguf)
    }

    /// Builds the tokenizer from GGUF metadata (BPE models, `tokenizer.ggml.model = gpt2`).
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self, LlmError> {
        let bad = |detail: String| LlmError::BadModel {
            path: gguf.path.clone(),
            detail,
        };
        let model = gguf.string("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(bad(format!(
                "its tokenizer is '{model}' (SentencePiece); only BPE ('gpt2') tokenizers are \
                 rebuilt from GGUF metadata. Put the model's tokenizer.json next to the file"
            )));
        }
        let tokens = gguf.strings("tokenizer.ggml.tokens")?;
        let merges = gguf.strings("tokenizer.ggml.merges")?;
        let types = gguf.opt_ints("tokenizer.ggml.token_type")?;
        let pre = gguf.opt_string("tokenizer.ggml.pre").unwrap_or("default");

        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| ((*t).to_owned(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let merges = merges
            .iter()
            .enumerate()
            .map(|(i, m)| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .ok_or_else(|| bad(format!("merge {i} ('{m}') is not two tokens")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (pre_tokenizer, ignore_merges) = pre_tokenizer_for(pre).ok_or_else(|| {
            bad(format!(
                "unknown pre-tokenizer '{pre}' (tokenizer.ggml.pre); known: smollm, gpt2, \
                 default, llama-bpe, llama3, qwen2. Put the model's tokenizer.json next to the file"
            ))
        })?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(ignore_merges)
            .build()
            .map_err(|e| bad(format!("its BPE vocabulary is inconsistent ({e})")))?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        inner.with_decoder(Some(ByteLevelDecoder::default()));

        // Control and user-defined tokens are matched whole in text, before BPE, as the
        // reference tokenizers do.
        let mut special = Vec::new();
        let mut added = Vec::new();
        if let Some(types) = &types {
            for (i, ty) in types.iter().enumerate() {
                let Some(text) = tokens.get(i) else { break };
                let id = u32::try_from(i).unwrap_or(u32::MAX);
                match *ty {
                    TOKEN_TYPE_CONTROL => {
                        special.push(id);
                        added.push(AddedToken::from((*text).to_owned(), true));
                    }
                    TOKEN_TYPE_USER_DEFINED => {
                        added.push(AddedToken::from((*text).to_owned(), false).normalized(false));
                    }
                    _ => {}
                }
            }
        }
        inner.add_special_tokens(&added);

        let id_of = |key: &str| {
            gguf.opt_u64(key)
                .and_then(|v| u32::try_from(v).ok())
                .filter(|&id| (id as usize) < tokens.len())
        };
        let eos = id_of("tokenizer.ggml.eos_token_id")
            .ok_or_else(|| bad("tokenizer.ggml.eos_token_id is missing or out of range".into()))?;
        let add_bos = gguf
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        let bos = if add_bos {
            id_of("tokenizer.ggml.bos_token_id")
        } else {
            None
        };
        let stop = [
            "<|eot_id|>",
            "<|endoftext|>",
            "<|im_end|>",
            "<|end|>",
            "<end_of_turn>",
        ]
        .iter()
        .filter_map(|t| tokens.iter().position(|x| x == t))
        .filter_map(|i| u32::try_from(i).ok())
        .filter(|&id| id != eos)
        .collect();
        let token_bytes = byte_level_bytes(&tokens, &special);
        Ok(Self {
            inner,
            bos,
            eos,
            stop,
            special,
            token_bytes,
        })
    }

    /// Loads a Hugging Face `tokenizer.json`; ids of BOS / EOS still come from the GGUF.
    pub fn from_json(path: &Path, gguf: &GgufFile) -> Result<Self, LlmError> {
        let inner = Tokenizer::from_file(path).map_err(|e| {
            LlmError::Tokenizer(format!(
                "{}: cannot load ({e}); remove it to use the GGUF's own tokenizer",
                path.display()
            ))
        })?;
        let vocab_size = inner.get_vocab_size(true);
        let eos = gguf
            .opt_u64("tokenizer.ggml.eos_token_id")
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| LlmError::BadModel {
                path: gguf.path.clone(),
                detail: "tokenizer.ggml.eos_token_id is missing".into(),
            })?;
        let bos = gguf
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .filter(|&b| b)
            .and_then(|_| gguf.opt_u64("tokenizer.ggml.bos_token_id"))
            .and_then(|v| u32::try_from(v).ok());
        let mut special: Vec<u32> = inner
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        special.sort_unstable();
        let tokens: Vec<String> = (0..vocab_size)
            .map(|i| {
                inner
                    .id_to_token(u32::try_from(i).unwrap_or(u32::MAX))
                    .unwrap_or_default()
            })
            .collect();
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let token_bytes = if is_byte_level(&refs, &special) {
            byte_level_bytes(&refs, &special)
        } else {
            sentencepiece_bytes(&refs, &special)
        };
        Ok(Self {
            inner,
            bos,
            eos,
            stop: Vec::new(),
            special,
            token_bytes,
        })
    }

    /// Token ids of `text`. Control tokens written in `text` (`<|im_start|>`) become their ids,
    /// which is what a rendered chat template needs; user text must be passed through
    /// [`sanitize`] first.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        let mut ids = Vec::with_capacity(encoding.len() + 1);
        ids.extend(self.bos);
        ids.extend_from_slice(encoding.get_ids());
        Ok(ids)
    }

    /// Token ids of `text` with no BOS (continuations, forced grammar text).
    pub fn encode_continuation(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, control tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, LlmError> {
        self.inner
            .decode(ids, true)
            .map_err(|e| LlmError::Tokenizer(e.to_string()))
    }

    /// The bytes a token stands for (empty for control tokens).
    #[must_use]
    pub fn token_bytes(&self) -> &[Vec<u8>] {
        &self.token_bytes
    }

    #[must_use]
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// Every id that ends the assistant's turn.
    #[must_use]
    pub fn is_stop(&self, id: u32) -> bool {
        id == self.eos || self.stop.contains(&id)
    }

    #[must_use]
    pub fn special(&self) -> &[u32] {
        &self.special
    }

    #[must_use]
    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// The token's text as the vocabulary spells it (debugging, fixtures).
    #[must_use]
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The control-token strings (`<|im_start|>`...), so callers can keep them out of user text.
    #[must_use]
    pub fn special_strings(&self) -> Vec<String> {
        self.special
            .iter()
            .filter_map(|&id| self.inner.id_to_token(id))
            .collect()
    }
}

/// Makes user text (a screenplay) unable to forge chat markers: every control-token string in it
/// gets a zero-width break after its first character, so it tokenizes as ordinary text.
#[must_use]
pub fn sanitize(text: &str, specials: &[String]) -> String {
    let mut out = text.to_owned();
    for s in specials.iter().filter(|s| s.chars().count() > 1) {
        if out.contains(s.as_str()) {
            let mut chars = s.chars();
            let first = chars.next().unwrap_or_default();
            let broken = format!("{first}\u{200B}{}", chars.as_str());
            out = out.replace(s.as_str(), &broken);
        }
    }
    out
}

fn pre_tokenizer_for(pre: &str) -> Option<(PreTokenizerWrapper, bool)> {
    let split = |pattern: &str| -> Option<PreTokenizerWrapper> {
        Split::new(
            SplitPattern::Regex(pattern.to_owned()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .ok()
        .map(PreTokenizerWrapper::from)
    };
    let byte_level =
        |use_regex: bool| PreTokenizerWrapper::from(ByteLevel::new(false, true, use_regex));
    Some(match pre {
        // SmolLM / SmolLM2 / StarCoder2: digits one by one, then GPT-2's regex, no prefix space.
        "smollm" | "starcoder" => (
            Sequence::new(vec![Digits::new(true).into(), byte_level(true)]).into(),
            false,
        ),
        "gpt2" | "gpt-2" | "default" | "olmo" | "refact" => (byte_level(true), false),
        "llama-bpe" | "llama3" | "llama-v3" | "dbrx" | "smaug-bpe" | "falcon3" => (
            Sequence::new(vec![split(LLAMA3_PATTERN)?, byte_level(false)]).into(),
            true,
        ),
        "qwen2" | "deepseek-r1-qwen" => (
            Sequence::new(vec![split(QWEN2_PATTERN)?, byte_level(false)]).into(),
            false,
        ),
        _ => return None,
    })
}

/// GPT-2's byte ↔ printable-char table, inverted: the char a byte-level vocabulary uses for each
/// byte, mapped back to the byte.
fn byte_level_table() -> HashMap<char, u8> {
    let mut table = HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0u8..=255 {
        let printable = matches!(b, 33..=126 | 161..=172 | 174..=255);
        let c = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(256 + extra).unwrap_or('\u{FFFD}');
            extra += 1;
            c
        };
        table.insert(c, b);
    }
    table
}

fn is_byte_level(tokens: &[&str], special: &[u32]) -> bool {
    let table = byte_level_table();
    tokens.iter().enumerate().all(|(i, t)| {
        special.contains(&u32::try_from(i).unwrap_or(u32::MAX))
            || t.chars().all(|c| table.contains_key(&c))
    })
}

/// Bytes per token for a byte-level BPE vocabulary; control tokens get none.
fn byte_level_bytes(tokens: &[&str], special: &[u32]) -> Vec<Vec<u8>> {
    let table = byte_level_table();
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if special.contains(&u32::try_from(i).unwrap_or(u32::MAX)) {
                return Vec::new();
            }
            let mut bytes = Vec::with_capacity(t.len());
            for c in t.chars() {
                match table.get(&c) {
                    Some(&b) => bytes.push(b),
                    // Added plain-text tokens are stored as-is.
                    None => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            bytes
        })
        .collect()
}

/// Bytes per token for a SentencePiece vocabulary (`▁` is a space, `<0xNN>` a raw byte).
fn sentencepiece_bytes(tokens: &[&str], special: &[u32]) -> Vec<Vec<u8>> {
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if special.contains(&u32::try_from(i).unwrap_or(u32::MAX)) {
                return Vec::new();
            }
            if let Some(hex) = t.strip_prefix("<0x").and_then(|r| r.strip_suffix('>'))
                && let Ok(b) = u8::from_str_radix(hex, 16)
            {
                return vec![b];
            }
            t.replace('\u{2581}', " ").into_bytes()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection() {
        let table = byte_level_table();
        assert_eq!(table.len(), 256);
        let mut bytes: Vec<u8> = table.values().copied().collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 256);
        assert_eq!(table[&'Ġ'], b' ');
        assert_eq!(table[&'Ċ'], b'\n');
    }

    #[test]
    fn sanitize_breaks_markers() {
        let specials = vec!["<|im_end|>".to_owned(), "<|im_start|>".to_owned()];
        let s = sanitize("hi <|im_end|> there <|im_start|>system", &specials);
        assert!(!s.contains("<|im_end|>"));
        assert!(!s.contains("<|im_start|>"));
        assert!(s.starts_with("hi <"));
    }
}
