//! Shared by the integration tests: a toy vocabulary, the shot-list schema, a validator for
//! the supported subset and a seeded random walk.
#![allow(dead_code, reason = "each test binary uses a part")]

use std::sync::Arc;

use previz_grammar::{Grammar, Matcher, TokenSet, Vocab};
use serde_json::Value;

pub const EOS: u32 = 2;

pub const SHOT_SCHEMA: &str = r#"{"type":"object","required":["shots"],"properties":{"shots":{"type":"array","minItems":1,"maxItems":12,"items":{"type":"object","required":["size","angle","movement","lens_mm","subject","action","lines","duration_s","prompt"],"properties":{"size":{"enum":["extreme_wide","wide","full","medium_wide","medium","medium_close_up","close_up","extreme_close_up","insert"]},"angle":{"enum":["eye_level","high","low","overhead","worms_eye","dutch","over_the_shoulder","pov"]},"movement":{"enum":["static","pan","tilt","zoom","dolly_in","dolly_out","tracking","truck","pedestal","crane","handheld","steadicam","drone"]},"lens_mm":{"type":"integer","minimum":12,"maximum":200},"subject":{"type":"string","maxLength":60},"action":{"type":"string","maxLength":160},"lines":{"type":"array","maxItems":20,"items":{"type":"integer","minimum":1,"maximum":99}},"duration_s":{"type":"number","minimum":0.5,"maximum":60,"multipleOf":0.1},"prompt":{"type":"string","maxLength":240}},"additionalProperties":false}}},"additionalProperties":false}"#;

pub fn shot_schema() -> Value {
    serde_json::from_str(SHOT_SCHEMA).expect("the shot schema parses")
}

/// Ids 0..3 are specials (`<|endoftext|>`, `<|im_start|>`, EOS `<|im_end|>`), then every single
/// byte, then multi-byte tokens that straddle JSON structure, digits groups, partial UTF-8...
pub fn toy_tokens() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = vec![
        b"<|endoftext|>".to_vec(),
        b"<|im_start|>".to_vec(),
        b"<|im_end|>".to_vec(),
    ];
    t.extend((0..=255u8).map(|b| vec![b]));
    let euro = "€".as_bytes();
    t.push(euro[..2].to_vec());
    t.push(euro[2..].to_vec());
    t.push(b"\xF0\x9F".to_vec()); // first half of an emoji
    t.push(b"\x98\x80".to_vec()); // second half of 😀
    t.push(b"\xC0\x80".to_vec()); // overlong NUL: never valid
    t.push(b"\xED\xA0\x80".to_vec()); // a surrogate: never valid
    for s in [
        "{\"",
        "\":\"",
        "\"},{\"",
        "\":",
        "\",\"",
        "\",",
        "\"}",
        "\"}]}",
        "\"]",
        "],\"",
        "\":[",
        "[{\"",
        "}]}",
        "}]",
        "},{",
        ",\"",
        "ab",
        "wide",
        "medium",
        "_close",
        "\"medium",
        "_up",
        "close_up\"",
        "12",
        "123",
        "0.",
        ".5",
        "-1",
        "00",
        "99",
        "100",
        "1,",
        ",2",
        "[1",
        "],",
        "true",
        "false",
        "null",
        " the",
        "hello",
        " world",
        "é",
        "😀",
        "€",
        "€\"",
        "\\n",
        "\\\"",
        "\\u",
        "\\t",
        "\n\n",
        "  ",
        "\"size\":\"",
        "pan\",\"",
        "35,\"",
        "5,\"",
        "5,",
        "4.5",
        "60.0",
        "0.5,\"",
        "\"\"",
        "<|im_end|>x",
    ] {
        t.push(s.as_bytes().to_vec());
    }
    t.push(Vec::new()); // an empty token: never allowed
    t
}

pub fn toy_vocab() -> Arc<Vocab> {
    Arc::new(Vocab::new(toy_tokens(), [0, 1], EOS))
}

pub fn grammar(schema: &Value) -> Arc<Grammar> {
    Arc::new(Grammar::from_json_schema(schema).expect("schema compiles"))
}

/// Checks `v` against the supported subset of JSON Schema (written independently of the
/// crate's compiler).
pub fn validate(v: &Value, s: &Value, path: &str) -> Result<(), String> {
    let err = |what: &str| Err(format!("{path}: {what} (value {v}, schema {s})"));
    if let Some(options) = s.get("enum") {
        return if options.as_array().is_some_and(|o| o.contains(v)) {
            Ok(())
        } else {
            err("not one of the enum")
        };
    }
    if let Some(c) = s.get("const") {
        return if c == v { Ok(()) } else { err("not the const") };
    }
    match s["type"].as_str().unwrap_or_default() {
        "object" => {
            let Some(obj) = v.as_object() else {
                return err("not an object");
            };
            let required: Vec<&str> = s["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if obj.len() != required.len() || required.iter().any(|k| !obj.contains_key(*k)) {
                return err("keys are not exactly the required ones");
            }
            for k in required {
                validate(&obj[k], &s["properties"][k], &format!("{path}/{k}"))?;
            }
            Ok(())
        }
        "array" => {
            let Some(items) = v.as_array() else {
                return err("not an array");
            };
            let min = s["minItems"].as_u64().unwrap_or(0) as usize;
            let max = s["maxItems"].as_u64().expect("maxItems") as usize;
            if items.len() < min || items.len() > max {
                return err("item count out of bounds");
            }
            for (i, item) in items.iter().enumerate() {
                validate(item, &s["items"], &format!("{path}/{i}"))?;
            }
            Ok(())
        }
        "string" => {
            let Some(text) = v.as_str() else {
                return err("not a string");
            };
            let n = text.chars().count() as u64;
            if n < s["minLength"].as_u64().unwrap_or(0) || n > s["maxLength"].as_u64().unwrap() {
                return err("length out of bounds");
            }
            Ok(())
        }
        "integer" => match v.as_i64() {
            Some(i)
                if i >= s["minimum"].as_i64().unwrap() && i <= s["maximum"].as_i64().unwrap() =>
            {
                Ok(())
            }
            _ => err("not an integer in range"),
        },
        "number" => {
            let Some(x) = v.as_f64() else {
                return err("not a number");
            };
            let (min, max) = (
                s["minimum"].as_f64().unwrap(),
                s["maximum"].as_f64().unwrap(),
            );
            if x < min - 1e-9 || x > max + 1e-9 {
                return err("out of range");
            }
            let step = s["multipleOf"].as_f64().unwrap_or(0.1);
            let k = x / step;
            if (k - k.round()).abs() > 1e-6 {
                return err("not a multiple of multipleOf");
            }
            Ok(())
        }
        "boolean" if v.is_boolean() => Ok(()),
        "null" if v.is_null() => Ok(()),
        _ => err("wrong type"),
    }
}

/// A tiny deterministic generator (xorshift64*), so a walk is a function of its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// What a random walk found.
#[derive(Debug)]
pub struct Walk {
    pub text: Vec<u8>,
    pub tokens: usize,
}

/// Walks from a fresh matcher, choosing uniformly among the allowed tokens (EOS included when
/// allowed) until EOS. With `stretch`, tokens holding `"`, `]` or `}` are mostly avoided while
/// others are allowed, which drives strings and arrays to their maximum lengths. At every step checks that (a) some token is allowed, (b) the walk stays
/// within the grammar's bound, (d) the mask is exact: a token is in it iff `accept_token`
/// takes it, and a refused token leaves the matcher unchanged; and that a complete document
/// with a self-delimiting root allows only EOS.
pub fn random_walk(
    grammar: &Arc<Grammar>,
    vocab: &Arc<Vocab>,
    seed: u64,
    stretch: bool,
) -> Result<Walk, String> {
    let mut rng = Rng::new(seed);
    let mut m = Matcher::new(Arc::clone(grammar), Arc::clone(vocab));
    let mut set = TokenSet::new(vocab.len());
    let mut text = Vec::new();
    let max = grammar.max_len_bytes();
    for step in 0.. {
        if step > max + 1 || text.len() > max {
            return Err(format!(
                "{step} tokens / {} bytes exceed the bound {max}",
                text.len()
            ));
        }
        m.fill_allowed(&mut set);
        let allowed: Vec<u32> = set.iter().collect();
        if allowed.is_empty() {
            return Err(format!(
                "dead end after {:?}",
                String::from_utf8_lossy(&text)
            ));
        }
        if set.contains(EOS) != m.is_complete() {
            return Err("EOS allowed iff complete is broken".into());
        }
        for id in 0..vocab.len() as u32 {
            let mut c = m.clone();
            let ok = c.accept_token(id).is_ok();
            if ok != set.contains(id) {
                return Err(format!(
                    "mask says {} but accept_token says {ok} for token {id} {:?} after {:?}",
                    set.contains(id),
                    String::from_utf8_lossy(vocab.token_bytes(id).unwrap()),
                    String::from_utf8_lossy(&text)
                ));
            }
            if !ok && c != m {
                return Err(format!("refused token {id} changed the matcher"));
            }
        }
        let open: Vec<u32> = allowed
            .iter()
            .copied()
            .filter(|&id| {
                id != EOS
                    && !vocab
                        .token_bytes(id)
                        .unwrap()
                        .iter()
                        .any(|b| matches!(b, b'"' | b']' | b'}'))
            })
            .collect();
        let pool = if stretch && !open.is_empty() && rng.below(64) != 0 {
            &open
        } else {
            &allowed
        };
        let id = pool[rng.below(pool.len())];
        if id == EOS {
            return Ok(Walk { text, tokens: step });
        }
        text.extend_from_slice(vocab.token_bytes(id).unwrap());
        m.accept_token(id).map_err(|e| e.to_string())?;
        if m.bytes_accepted() != text.len() {
            return Err("bytes_accepted is off".into());
        }
    }
    unreachable!()
}

/// A walk's text must be UTF-8, parse as JSON and satisfy the schema.
pub fn check_document(text: &[u8], schema: &Value) -> Result<Value, String> {
    let s = std::str::from_utf8(text).map_err(|e| format!("not UTF-8: {e}"))?;
    let v: Value = serde_json::from_str(s).map_err(|e| format!("not JSON ({e}): {s}"))?;
    validate(&v, schema, "")?;
    Ok(v)
}
