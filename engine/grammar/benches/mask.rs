//! `cargo bench -p previz-grammar --bench mask`: µs per `fill_allowed` over a synthetic
//! 49,152-token byte-level vocabulary, at the states a shot-list generation goes through.
//!
//! With `PREVIZ_GGUF=path/to/model.gguf` it also runs over that model's real vocabulary
//! (e.g. SmolLM2's, from the file `models/fetch.py` downloads), read from the GGUF metadata.
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use previz_grammar::{Grammar, Matcher, TokenSet, Vocab};

const VOCAB_SIZE: usize = 49_152;

/// A deterministic stand-in for SmolLM2's vocabulary: specials first (like `<|im_start|>`),
/// every single byte, then digits, punctuation runs, JSON-ish glue, partial and whole UTF-8,
/// whitespace runs and English-ish subwords with and without a leading space.
fn synthetic_vocab() -> Vocab {
    let mut tokens: Vec<Vec<u8>> = vec![
        b"<|endoftext|>".to_vec(),
        b"<|im_start|>".to_vec(),
        b"<|im_end|>".to_vec(),
    ];
    let mut seen = std::collections::HashSet::new();
    let mut add = |tokens: &mut Vec<Vec<u8>>, t: Vec<u8>| {
        if tokens.len() < VOCAB_SIZE && seen.insert(t.clone()) {
            tokens.push(t);
        }
    };
    for b in 0..=255u8 {
        add(&mut tokens, vec![b]);
    }
    for n in 0..1000 {
        add(&mut tokens, n.to_string().into_bytes());
        add(&mut tokens, format!(" {n}").into_bytes());
    }
    for glue in [
        "\":\"", "\",\"", "\"},{\"", "\"}", "\"}]", "\"]", "\":", "\",", "{\"", "[{\"", "\":[",
        "\"},", "],", "]}", "}]}", ".\"", ",\"", "\"\n", "\\n", "\\\"", "\n", "\n\n", "  ", "    ",
        "\t", "...", "--", "!\"", "?\"", "'s", "n't", "('", "\")",
    ] {
        add(&mut tokens, glue.as_bytes().to_vec());
    }
    for c in [
        '€', 'é', 'è', 'à', 'ü', 'ñ', '—', '’', '“', '”', '…', '中', '日', '😀',
    ] {
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes().to_vec();
        for cut in 1..bytes.len() {
            add(&mut tokens, bytes[..cut].to_vec());
            add(&mut tokens, bytes[cut..].to_vec());
        }
        add(&mut tokens, bytes.clone());
        let mut spaced = b" ".to_vec();
        spaced.extend_from_slice(&bytes);
        add(&mut tokens, spaced);
    }
    let onsets = [
        "", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
        "y", "z", "br", "cr", "dr", "fl", "gr", "pl", "pr", "sh", "st", "th", "tr", "wh", "ch",
        "sp", "sl",
    ];
    let vowels = ["a", "e", "i", "o", "u", "ea", "ou", "ai", "ee", "oo", "y"];
    let codas = [
        "", "n", "t", "s", "r", "l", "d", "ng", "st", "nd", "ck", "m", "ll", "rt", "ght", "ss",
    ];
    let mut syllables = Vec::new();
    for o in onsets {
        for v in vowels {
            for c in codas {
                syllables.push(format!("{o}{v}{c}"));
            }
        }
    }
    // Deterministic pseudo-random combinations of one to three syllables.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    while tokens.len() < VOCAB_SIZE {
        let n = 1 + (next() % 3) as usize;
        let mut word = String::new();
        for _ in 0..n {
            word.push_str(&syllables[(next() % syllables.len() as u64) as usize]);
        }
        let r = next() % 8;
        let t = match r {
            0..=3 => format!(" {word}"),
            4 => {
                let mut cs = word.chars();
                let first = cs.next().map(|c| c.to_ascii_uppercase()).unwrap_or('A');
                format!(" {first}{}", cs.as_str())
            }
            5 => format!("{word}_"),
            _ => word,
        };
        add(&mut tokens, t.into_bytes());
    }
    Vocab::new(tokens, [0, 1], 2)
}

const SHOT_SCHEMA: &str = r#"{"type":"object","required":["shots"],"properties":{"shots":{"type":"array","minItems":1,"maxItems":12,"items":{"type":"object","required":["size","angle","movement","lens_mm","subject","action","lines","duration_s","prompt"],"properties":{"size":{"enum":["extreme_wide","wide","full","medium_wide","medium","medium_close_up","close_up","extreme_close_up","insert"]},"angle":{"enum":["eye_level","high","low","overhead","worms_eye","dutch","over_the_shoulder","pov"]},"movement":{"enum":["static","pan","tilt","zoom","dolly_in","dolly_out","tracking","truck","pedestal","crane","handheld","steadicam","drone"]},"lens_mm":{"type":"integer","minimum":12,"maximum":200},"subject":{"type":"string","maxLength":60},"action":{"type":"string","maxLength":160},"lines":{"type":"array","maxItems":20,"items":{"type":"integer","minimum":1,"maximum":99}},"duration_s":{"type":"number","minimum":0.5,"maximum":60,"multipleOf":0.1},"prompt":{"type":"string","maxLength":240}},"additionalProperties":false}}},"additionalProperties":false}"#;

/// Reads `tokenizer.ggml.tokens` (GPT-2 byte-to-unicode strings) and `token_type` from a GGUF
/// file; tokens not of type 1 (normal) are special. Only as much as a benchmark needs.
fn gguf_vocab(path: &str) -> std::io::Result<Vocab> {
    use std::io::{Error, Read};
    fn take<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        r.read_exact(&mut b)?;
        Ok(b)
    }
    fn u32_(r: &mut impl Read) -> std::io::Result<u32> {
        Ok(u32::from_le_bytes(take::<4>(r)?))
    }
    fn u64_(r: &mut impl Read) -> std::io::Result<u64> {
        Ok(u64::from_le_bytes(take::<8>(r)?))
    }
    fn string(r: &mut impl Read) -> std::io::Result<String> {
        let n = u64_(r)? as usize;
        let mut b = vec![0u8; n];
        r.read_exact(&mut b)?;
        String::from_utf8(b).map_err(Error::other)
    }
    /// Reads one value of type `t`: strings and integers are kept, the rest skipped.
    fn value(
        r: &mut impl Read,
        t: u32,
        out: &mut Vec<String>,
        ints: &mut Vec<i64>,
    ) -> std::io::Result<()> {
        match t {
            0 | 1 | 7 => ints.push(i64::from(take::<1>(r)?[0])),
            2 | 3 => ints.push(i64::from(u16::from_le_bytes(take::<2>(r)?))),
            4 | 5 => ints.push(i64::from(i32::from_le_bytes(take::<4>(r)?))),
            6 => drop(take::<4>(r)?),
            8 => out.push(string(r)?),
            9 => {
                let inner = u32_(r)?;
                for _ in 0..u64_(r)? {
                    value(r, inner, out, ints)?;
                }
            }
            10..=12 => ints.push(i64::from_le_bytes(take::<8>(r)?)),
            _ => return Err(Error::other(format!("GGUF value type {t}"))),
        }
        Ok(())
    }
    let mut r = std::io::BufReader::new(std::fs::File::open(path)?);
    if &take::<4>(&mut r)? != b"GGUF" {
        return Err(Error::other("not a GGUF file"));
    }
    let _version = u32_(&mut r)?;
    let _tensors = u64_(&mut r)?;
    let (mut tokens, mut types) = (Vec::new(), Vec::new());
    for _ in 0..u64_(&mut r)? {
        let key = string(&mut r)?;
        let t = u32_(&mut r)?;
        let (mut strs, mut ints) = (Vec::new(), Vec::new());
        value(&mut r, t, &mut strs, &mut ints)?;
        match key.as_str() {
            "tokenizer.ggml.tokens" => tokens = strs,
            "tokenizer.ggml.token_type" => types = ints,
            _ => {}
        }
        if !tokens.is_empty() && !types.is_empty() {
            break;
        }
    }
    let bytes: Vec<Vec<u8>> = tokens
        .iter()
        .map(|t| previz_grammar::byte_level_token_bytes(t).unwrap_or_default())
        .collect();
    let special = types
        .iter()
        .enumerate()
        .filter(|&(_, &t)| t != 1)
        .map(|(id, _)| id as u32);
    Ok(Vocab::new(bytes, special, 2))
}

fn main() {
    let t0 = Instant::now();
    let vocab = Arc::new(synthetic_vocab());
    let build = t0.elapsed();
    bench(&vocab, build, "synthetic");
    if let Ok(path) = std::env::var("PREVIZ_GGUF") {
        let t0 = Instant::now();
        let vocab = Arc::new(gguf_vocab(&path).expect("GGUF vocabulary"));
        bench(&vocab, t0.elapsed(), &path);
    }
}

fn bench(vocab: &Arc<Vocab>, build: std::time::Duration, what: &str) {
    let schema: serde_json::Value = serde_json::from_str(SHOT_SCHEMA).expect("schema parses");
    let grammar = Arc::new(Grammar::from_json_schema(&schema).expect("schema compiles"));
    println!(
        "{what}: {} tokens, read and trie built in {:.1} ms; grammar max_len_bytes = {}",
        vocab.len(),
        build.as_secs_f64() * 1e3,
        grammar.max_len_bytes()
    );
    let states: [(&str, &[u8]); 8] = [
        ("document start", b""),
        ("enum value (size)", br#"{"shots":[{"size":""#),
        ("after enum (forced key)", br#"{"shots":[{"size":"wide""#),
        ("integer (lens_mm)", br#"{"shots":[{"size":"wide","angle":"low","movement":"pan","lens_mm":"#),
        (
            "string content (subject)",
            br#"{"shots":[{"size":"wide","angle":"low","movement":"pan","lens_mm":35,"subject":"Ann"#,
        ),
        (
            "string, mid UTF-8 char",
            b"{\"shots\":[{\"size\":\"wide\",\"angle\":\"low\",\"movement\":\"pan\",\"lens_mm\":35,\"subject\":\"Caf\xc3",
        ),
        (
            "number (duration_s)",
            br#"{"shots":[{"size":"wide","angle":"low","movement":"pan","lens_mm":35,"subject":"Ann","action":"runs","lines":[1,2],"duration_s":4"#,
        ),
        (
            "after a shot",
            br#"{"shots":[{"size":"wide","angle":"low","movement":"pan","lens_mm":35,"subject":"Ann","action":"runs","lines":[],"duration_s":4.5,"prompt":"a street at night"}"#,
        ),
    ];
    let mut set = TokenSet::new(vocab.len());
    for (name, prefix) in states {
        let mut m = Matcher::new(Arc::clone(&grammar), Arc::clone(vocab));
        m.accept_bytes(prefix).expect("prefix is valid");
        m.fill_allowed(&mut set);
        let iters = 200;
        let t = Instant::now();
        for _ in 0..iters {
            m.fill_allowed(black_box(&mut set));
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(iters);
        println!("{name:<28} {per:>9.1} µs/fill   {:>6} allowed", set.len());
    }
    let mut m = Matcher::new(Arc::clone(&grammar), Arc::clone(vocab));
    m.accept_bytes(br#"{"shots":[{"size":"wide""#)
        .expect("prefix is valid");
    let t = Instant::now();
    let forced = m.forced_bytes();
    for _ in 0..99 {
        black_box(m.forced_bytes());
    }
    println!(
        "forced_bytes {:?}: {:.1} µs",
        String::from_utf8_lossy(&forced),
        t.elapsed().as_secs_f64() * 1e6 / 100.0
    );
    // A whole generation: walk the schema greedily (first allowed token) to completion.
    let mut m = Matcher::new(Arc::clone(&grammar), Arc::clone(vocab));
    let t = Instant::now();
    let mut steps = 0u32;
    while !m.is_complete() {
        m.fill_allowed(&mut set);
        let id = set
            .iter()
            .find(|&id| id != vocab.eos())
            .expect("never a dead end");
        m.accept_token(id).expect("allowed token");
        steps += 1;
    }
    println!(
        "greedy walk to completion: {steps} tokens, {:.1} µs/token",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(steps)
    );
}
