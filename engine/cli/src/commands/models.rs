//! `previz models`: which models exist here, which are installed, and whether they load.

use std::path::PathBuf;

use previz_models::llm::gguf::GgufFile;
use previz_models::registry::{ModelKind, Registry};
use serde::Serialize;

use crate::args::ModelsArgs;
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct Listing {
    roots: Vec<PathBuf>,
    models: Vec<Model>,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct Model {
    id: String,
    kind: ModelKind,
    name: String,
    installed: bool,
    path: Option<PathBuf>,
    licence: Option<String>,
    /// With --check: what the file's header says, or why it does not load.
    #[serde(skip_serializing_if = "Option::is_none")]
    check: Option<String>,
}

pub fn run(args: &ModelsArgs, json: bool) -> Result<(), CliError> {
    let registry = Registry::discover_default();
    let models = registry
        .entries
        .iter()
        .map(|e| Model {
            id: e.id.clone(),
            kind: e.kind,
            name: e.name.clone(),
            installed: e.path.is_some(),
            path: e.path.clone(),
            licence: e.manifest.as_ref().map(|m| m.licence.clone()),
            check: match (&e.path, args.check, e.kind) {
                (Some(path), true, ModelKind::Llm) => Some(match GgufFile::open(path) {
                    Ok(g) => format!(
                        "ok: {} ({}), context {}",
                        g.display_name(),
                        g.architecture().unwrap_or("unknown architecture"),
                        g.context_length().unwrap_or(0)
                    ),
                    Err(e) => format!("does not load: {e}"),
                }),
                _ => None,
            },
        })
        .collect();
    let listing = Listing {
        roots: registry.roots.clone(),
        models,
        problems: registry.problems.iter().map(ToString::to_string).collect(),
    };
    if json {
        return print_json(&listing);
    }
    let mut out = String::new();
    for m in &listing.models {
        let state = match &m.path {
            Some(p) => format!("installed  {}", p.display()),
            None => format!("missing    python3 models/fetch.py {}", m.id),
        };
        out.push_str(&format!(
            "{:<28} {:<5} {state}\n",
            m.id,
            format!("{:?}", m.kind).to_lowercase()
        ));
        if let Some(check) = &m.check {
            out.push_str(&format!("{:<34} {check}\n", ""));
        }
    }
    for p in &listing.problems {
        out.push_str(&format!("warning: {p}\n"));
    }
    out.push_str(&format!(
        "models folders: {}\n",
        listing
            .roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    print_text(&out)
}
