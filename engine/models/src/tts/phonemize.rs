//! Text → Piper phonemes, the way Piper's own pipeline makes them.
//!
//! Piper calls libespeak-ng clause by clause, appends each clause's terminator (`, . ! ? ; :`,
//! with a space after the non-final ones), drops language-switch flags such as `(fr)`,
//! decomposes the IPA to NFD and splits it into Unicode scalars, and starts a new sentence after
//! `. ! ?`. We do the same through the `espeak-ng` *program* (`-q --ipa`), which keeps the
//! studio's licence free of espeak-ng's GPL-3: the text is split into clauses here, all clauses
//! go to one espeak-ng run (one clause per output line), and when espeak-ng splits differently
//! than we did (an abbreviation, a very long clause) each clause is run on its own.

use std::io::Write;
use std::process::{Command, Stdio};

use unicode_normalization::UnicodeNormalization;

use super::TtsError;
use super::voice::VoiceConfig;

/// A clause of text and how it ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    pub text: String,
    /// The punctuation that ended it, if any.
    pub terminator: Option<char>,
    /// Whether a sentence ends here.
    pub end_of_sentence: bool,
}

/// How phonemes are made for a voice.
#[derive(Clone, Debug)]
pub enum Phonemizer {
    /// espeak-ng with this voice (`en-us`).
    Espeak { voice: String, program: String },
    /// The text's own codepoints (voices with `phoneme_type: text`).
    Text,
}

const TERMINATORS: [char; 6] = ['.', '!', '?', ',', ';', ':'];
const CLOSERS: [char; 8] = ['"', '\'', ')', ']', '}', '”', '’', '»'];

/// Splits text into clauses at `. ! ? , ; :` followed by white space or the end (closing quotes
/// and brackets may come between), as espeak-ng does.
#[must_use]
pub fn clauses(text: &str) -> Vec<Clause> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' || c == '\r' || c == '\t' {
            current.push(' ');
            i += 1;
            continue;
        }
        current.push(c);
        if TERMINATORS.contains(&c) {
            // A run of punctuation ("?!", "...") and closing marks, then space or the end.
            let mut j = i + 1;
            while j < chars.len()
                && (TERMINATORS.contains(&chars[j]) || CLOSERS.contains(&chars[j]))
            {
                current.push(chars[j]);
                j += 1;
            }
            if j >= chars.len() || chars[j].is_whitespace() {
                push_clause(&mut out, &mut current, Some(c));
                i = j;
                continue;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    push_clause(&mut out, &mut current, None);
    out
}

fn push_clause(out: &mut Vec<Clause>, current: &mut String, terminator: Option<char>) {
    let text = current.trim().to_string();
    current.clear();
    if !text.chars().any(char::is_alphanumeric) {
        // Only punctuation: it still ends the previous clause's sentence.
        if let (Some(prev), Some(t)) = (out.last_mut(), terminator)
            && matches!(t, '.' | '!' | '?')
        {
            prev.end_of_sentence = true;
        }
        return;
    }
    out.push(Clause {
        text,
        terminator,
        end_of_sentence: matches!(terminator, Some('.' | '!' | '?')),
    });
}

/// Drops espeak-ng's language-switch flags: `(fr)bɔ̃ʒuːɹ(en)` → `bɔ̃ʒuːɹ`.
fn strip_language_flags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Joins clause phonemes into sentences of Piper phoneme symbols.
#[must_use]
pub fn assemble(clauses: &[Clause], ipa: &[String]) -> Vec<Vec<String>> {
    let mut sentences = Vec::new();
    let mut sentence: Vec<String> = Vec::new();
    for (clause, phonemes) in clauses.iter().zip(ipa) {
        let mut s = strip_language_flags(phonemes.trim());
        if let Some(t) = clause.terminator {
            s.push(t);
            if matches!(t, ',' | ':' | ';') {
                s.push(' ');
            }
        }
        sentence.extend(s.nfd().map(String::from));
        if clause.end_of_sentence {
            sentences.push(std::mem::take(&mut sentence));
        }
    }
    if !sentence.is_empty() {
        sentences.push(sentence);
    }
    sentences
}

impl Phonemizer {
    /// The phonemizer a voice asks for.
    #[must_use]
    pub fn for_config(config: &VoiceConfig) -> Self {
        if config.phoneme_type == "text" {
            Phonemizer::Text
        } else {
            Phonemizer::Espeak {
                voice: config.espeak_voice().to_string(),
                program: std::env::var("PREVIZ_ESPEAK").unwrap_or_else(|_| "espeak-ng".into()),
            }
        }
    }

    /// Whether espeak-ng can be run (always true for text voices).
    #[must_use]
    pub fn available(&self) -> bool {
        match self {
            Phonemizer::Text => true,
            Phonemizer::Espeak { program, .. } => espeak_available(program),
        }
    }

    /// Text to phonemes, sentence by sentence.
    pub fn phonemize(&self, text: &str) -> Result<Vec<Vec<String>>, TtsError> {
        match self {
            Phonemizer::Text => {
                let t = text.trim();
                Ok(if t.is_empty() {
                    Vec::new()
                } else {
                    vec![t.nfd().map(String::from).collect()]
                })
            }
            Phonemizer::Espeak { voice, program } => {
                let clauses = clauses(text);
                if clauses.is_empty() {
                    return Ok(Vec::new());
                }
                let ipa = espeak_clauses(program, voice, &clauses)?;
                Ok(assemble(&clauses, &ipa))
            }
        }
    }
}

/// Whether `program` runs.
#[must_use]
pub fn espeak_available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// IPA for each clause: one espeak-ng run for all, or one per clause if the lines don't match.
fn espeak_clauses(program: &str, voice: &str, clauses: &[Clause]) -> Result<Vec<String>, TtsError> {
    let joined: Vec<&str> = clauses.iter().map(|c| c.text.as_str()).collect();
    let lines = run_espeak(program, voice, &joined.join("\n"))?;
    if lines.len() == clauses.len() {
        return Ok(lines);
    }
    clauses
        .iter()
        .map(|c| run_espeak(program, voice, &c.text).map(|l| l.join(" ")))
        .collect()
}

/// Runs `espeak-ng -q -v VOICE --ipa` on `text`, returning its non-empty output lines.
fn run_espeak(program: &str, voice: &str, text: &str) -> Result<Vec<String>, TtsError> {
    let mut child = Command::new(program)
        .args(["-q", "-v", voice, "--ipa", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                TtsError::EspeakMissing
            } else {
                TtsError::Espeak(format!("{program}: {e}"))
            }
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A line per clause; espeak-ng reads until end of input.
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .map_err(|e| TtsError::Espeak(format!("writing to {program}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| TtsError::Espeak(format!("{program}: {e}")))?;
    if !out.status.success() {
        return Err(TtsError::Espeak(format!(
            "{program} -v {voice} exited with {}: {}; check that the voice '{voice}' exists (espeak-ng --voices)",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts(cs: &[Clause]) -> Vec<(&str, Option<char>, bool)> {
        cs.iter()
            .map(|c| (c.text.as_str(), c.terminator, c.end_of_sentence))
            .collect()
    }

    #[test]
    fn clauses_end_at_punctuation_followed_by_space() {
        let cs = clauses("Hello, world. It costs 3.50 dollars; right?! \"Yes.\" Then:\nwait");
        assert_eq!(
            texts(&cs),
            vec![
                ("Hello,", Some(','), false),
                ("world.", Some('.'), true),
                ("It costs 3.50 dollars;", Some(';'), false),
                ("right?!", Some('?'), true),
                ("\"Yes.\"", Some('.'), true),
                ("Then:", Some(':'), false),
                ("wait", None, false),
            ]
        );
    }

    #[test]
    fn assembly_follows_piper() {
        let cs = clauses("Hi, you. Go");
        let ipa = vec!["hˈaɪ".to_string(), "(en)juː(fr)".into(), "ɡˈoʊ".into()];
        let s = assemble(&cs, &ipa);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].concat(), "hˈaɪ, juː.");
        assert_eq!(s[1].concat(), "ɡˈoʊ");
        // NFD: one symbol per scalar.
        let s = assemble(&clauses("é"), &["é".to_string()]);
        assert_eq!(s[0], vec!["e".to_string(), "\u{301}".to_string()]);
    }

    proptest! {
        #[test]
        fn clause_splitting_never_panics_and_keeps_the_words(text in "\\PC{0,200}") {
            let cs = clauses(&text);
            let words: String = text.chars().filter(|c| c.is_alphanumeric()).collect();
            let kept: String = cs.iter().flat_map(|c| c.text.chars()).filter(|c| c.is_alphanumeric()).collect();
            prop_assert_eq!(words, kept);
            for c in &cs {
                prop_assert!(c.text.chars().any(char::is_alphanumeric));
            }
        }
    }
}
