//! Differential check: our reading of the sample screenplays against independent Fountain
//! parsers, fountain-js (npm) and screenplain (PyPI), installed under `tests/differential/`.
//!
//! Ignored unless `PREVIZ_DIFFERENTIAL=1` is set at build time; then a missing tool is a
//! failure, not a skip. Setup (see the crate README):
//!
//! ```text
//! npm ci --prefix tests/differential
//! python3 -m venv tests/differential/.venv
//! tests/differential/.venv/bin/pip install -r tests/differential/requirements.txt
//! PREVIZ_DIFFERENTIAL=1 cargo test -p previz-screenplay --test differential
//! ```
//!
//! Compared: the element type sequence, scene-heading text and number, character name,
//! extension and dual side, and the title-page keys. Where the spec and an independent parser
//! disagree we follow the spec; each such case is listed in `KNOWN` and in README.md.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{parse_sample, samples_dir};
use previz_screenplay::{ElementKind, Screenplay, parse_fountain, write_fountain};
use serde_json::Value;

fn differential_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/differential")
}

/// What we compare of one element.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    kind: String,
    detail: String,
}

/// A documented disagreement: at an element where we say `ours` and the tool says `theirs`.
struct Known {
    tool: &'static str,
    ours: &'static str,
    theirs: &'static str,
    /// Text our element starts with, to pin the case down.
    text_prefix: &'static str,
    why: &'static str,
}

const KNOWN: &[Known] = &[Known {
    tool: "fountain-js",
    ours: "note",
    theirs: "action",
    text_prefix: "A longer note",
    why: "fountain-js reads a standalone [[note]] only when it fits on one line; the spec lets \
          notes span lines",
}];

struct Tool {
    name: &'static str,
    /// Element types this tool does not produce at all; dropped from our side.
    unsupported: &'static [&'static str],
    /// Scene headings compared case-insensitively (the tool upper-cases them).
    fold_case: bool,
}

const FOUNTAIN_JS: Tool = Tool {
    name: "fountain-js",
    unsupported: &[],
    fold_case: false,
};

const SCREENPLAIN: Tool = Tool {
    name: "screenplain",
    unsupported: &["note"],
    fold_case: true,
};

fn run_tool(tool: &Tool, file: &Path) -> Value {
    let dir = differential_dir();
    let mut command = match tool.name {
        "fountain-js" => {
            let module = dir.join("node_modules/fountain-js");
            assert!(
                module.is_dir(),
                "fountain-js is not installed: run `npm ci --prefix tests/differential`"
            );
            let mut command = Command::new("node");
            command.arg(dir.join("fountain_js.js"));
            command
        }
        _ => {
            let venv = dir.join(".venv/bin/python");
            let python = if venv.is_file() {
                venv
            } else {
                PathBuf::from("python3")
            };
            let mut command = Command::new(python);
            command.arg(dir.join("screenplain_dump.py"));
            command
        }
    };
    let output = command.arg(file).output().unwrap_or_else(|error| {
        panic!(
            "cannot run {} ({error}); install the differential tools (see tests/differential.rs)",
            tool.name
        )
    });
    assert!(
        output.status.success(),
        "{} failed on {}: {}\n(install: see tests/differential.rs)",
        tool.name,
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{} printed no JSON: {error}", tool.name))
}

fn fold(text: &str, fold_case: bool) -> String {
    if fold_case {
        text.to_uppercase()
    } else {
        text.to_owned()
    }
}

fn our_keys(sp: &Screenplay, tool: &Tool) -> Vec<(Key, String)> {
    sp.elements
        .iter()
        .filter(|e| !tool.unsupported.contains(&e.kind.type_name()))
        .map(|e| {
            let detail = match &e.kind {
                ElementKind::SceneHeading {
                    text, scene_number, ..
                } => format!(
                    "{} #{}",
                    fold(text, tool.fold_case),
                    fold(scene_number.as_deref().unwrap_or(""), tool.fold_case)
                ),
                ElementKind::Character {
                    name,
                    extension,
                    dual_side,
                    ..
                } => format!(
                    "{name} ({}) {}",
                    extension.as_deref().unwrap_or(""),
                    dual_side.map_or("", |s| match s {
                        previz_screenplay::DualSide::Left => "left",
                        previz_screenplay::DualSide::Right => "right",
                    })
                ),
                _ => String::new(),
            };
            let key = Key {
                kind: e.kind.type_name().to_owned(),
                detail,
            };
            (key, e.kind.text().unwrap_or_default().to_owned())
        })
        .collect()
}

fn their_keys(value: &Value, tool: &Tool) -> Vec<Key> {
    let empty = Vec::new();
    let elements = value["elements"].as_array().unwrap_or(&empty);
    elements
        .iter()
        .map(|e| {
            let kind = e["type"].as_str().unwrap_or_default().to_owned();
            let detail = match kind.as_str() {
                "scene_heading" => format!(
                    "{} #{}",
                    fold(e["text"].as_str().unwrap_or_default(), tool.fold_case),
                    fold(
                        e["scene_number"].as_str().unwrap_or_default(),
                        tool.fold_case
                    )
                ),
                "character" => format!(
                    "{} ({}) {}",
                    e["name"].as_str().unwrap_or_default(),
                    e["extension"].as_str().unwrap_or_default(),
                    e["dual_side"].as_str().unwrap_or_default()
                ),
                _ => String::new(),
            };
            Key { kind, detail }
        })
        .collect()
}

fn title_keys(sp: &Screenplay) -> Vec<String> {
    sp.title_page
        .iter()
        .map(|e| e.key.to_lowercase().replace(' ', "_"))
        .collect()
}

fn their_title_keys(value: &Value) -> Vec<String> {
    value["title_page"]
        .as_object()
        .map(|o| {
            o.keys()
                .map(|k| k.to_lowercase().replace(' ', "_"))
                .collect()
        })
        .unwrap_or_default()
}

/// Compares one file; returns a description of every unexplained difference.
fn compare(tool: &Tool, label: &str, file: &Path, ours: &Screenplay) -> Vec<String> {
    let theirs = run_tool(tool, file);
    let mut problems = Vec::new();
    let mut ours_title = title_keys(ours);
    let mut theirs_title = their_title_keys(&theirs);
    ours_title.sort();
    theirs_title.sort();
    if ours_title != theirs_title {
        problems.push(format!(
            "{label}: title-page keys differ: ours {ours_title:?}, {} {theirs_title:?}",
            tool.name
        ));
    }
    let ours = our_keys(ours, tool);
    let theirs = their_keys(&theirs, tool);
    if ours.len() != theirs.len() {
        let listing = |keys: &mut dyn Iterator<Item = &Key>| -> String {
            keys.map(|k| format!("  {} {}\n", k.kind, k.detail))
                .collect()
        };
        problems.push(format!(
            "{label}: {} elements here, {} from {}\nours:\n{}theirs:\n{}",
            ours.len(),
            theirs.len(),
            tool.name,
            listing(&mut ours.iter().map(|(k, _)| k)),
            listing(&mut theirs.iter())
        ));
        return problems;
    }
    for (index, ((our, text), their)) in ours.iter().zip(&theirs).enumerate() {
        if our == their {
            continue;
        }
        let known = KNOWN.iter().find(|k| {
            k.tool == tool.name
                && k.ours == our.kind
                && k.theirs == their.kind
                && text.starts_with(k.text_prefix)
        });
        match known {
            Some(known) => eprintln!("{label} #{index}: known difference: {}", known.why),
            None => problems.push(format!(
                "{label} #{index}: ours {} {:?}, {} says {} {:?}",
                our.kind, our.detail, tool.name, their.kind, their.detail
            )),
        }
    }
    problems
}

/// Every Fountain sample as written, and every sample (FDX included) as our writer writes it:
/// other parsers must read our output the way we do.
fn cases() -> Vec<(String, PathBuf, Screenplay)> {
    let out_dir = std::env::temp_dir().join(format!("previz-differential-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap_or_else(|e| panic!("{}: {e}", out_dir.display()));
    let mut cases = Vec::new();
    for name in common::GOOD_SAMPLES {
        let parsed = parse_sample(name).screenplay;
        if name.ends_with(".fountain") {
            cases.push((name.to_owned(), samples_dir().join(name), parsed.clone()));
        }
        let written = write_fountain(&parsed);
        let path = out_dir.join(format!("{name}.written.fountain"));
        std::fs::write(&path, &written).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let reread = parse_fountain(&written)
            .unwrap_or_else(|e| panic!("{e}"))
            .screenplay;
        cases.push((format!("{name} (as written by us)"), path, reread));
    }
    cases
}

fn check(tool: &Tool) {
    let problems: Vec<String> = cases()
        .iter()
        .flat_map(|(label, path, ours)| compare(tool, label, path, ours))
        .collect();
    assert!(
        problems.is_empty(),
        "{} disagrees with us (fix us if we break the spec, else document the difference in \
         README.md and KNOWN):\n{}",
        tool.name,
        problems.join("\n")
    );
}

#[test]
#[cfg_attr(
    not(previz_differential),
    ignore = "set PREVIZ_DIFFERENTIAL=1 and install tests/differential (npm ci)"
)]
fn fountain_js_reads_the_samples_like_we_do() {
    check(&FOUNTAIN_JS);
}

#[test]
#[cfg_attr(
    not(previz_differential),
    ignore = "set PREVIZ_DIFFERENTIAL=1 and install tests/differential (pip -r requirements.txt)"
)]
fn screenplain_reads_the_samples_like_we_do() {
    check(&SCREENPLAIN);
}
