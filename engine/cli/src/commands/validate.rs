//! `previz validate`: a project's cross-references, or a screenplay's parse.

use std::path::Path;

use previz_storage::OpenMode;
use serde::Serialize;

use super::{close, open, project_dir};
use crate::args::ValidateArgs;
use crate::output::{CliError, print_json, print_text};
use crate::screenplay_file;

#[derive(Serialize)]
struct Validation<'a> {
    path: &'a Path,
    kind: &'static str,
    ok: bool,
    problems: Vec<String>,
    warnings: Vec<String>,
}

fn is_project(path: &Path) -> bool {
    path.is_dir() || path.file_name().is_some_and(|n| n == "project.json")
}

pub fn run(args: &ValidateArgs, json: bool) -> Result<(), CliError> {
    let result = if is_project(&args.path) {
        let dir = project_dir(Some(&args.path))?;
        let (session, report) = open(&dir, OpenMode::ReadOnly, true)?;
        let problems = session
            .project()
            .validate()
            .into_iter()
            .map(|p| p.message)
            .collect::<Vec<_>>();
        close(session);
        Validation {
            path: &args.path,
            kind: "project",
            ok: problems.is_empty(),
            problems,
            warnings: report.messages(),
        }
    } else {
        let file = screenplay_file::load(&args.path)?;
        Validation {
            path: &args.path,
            kind: "screenplay",
            ok: true,
            problems: Vec::new(),
            warnings: file.warnings.iter().map(ToString::to_string).collect(),
        }
    };
    if json {
        print_json(&result)?;
    } else {
        let mut out = String::new();
        for w in &result.warnings {
            out.push_str(&format!("{}: warning: {w}\n", args.path.display()));
        }
        for p in &result.problems {
            out.push_str(&format!("{}: problem: {p}\n", args.path.display()));
        }
        out.push_str(&if result.ok {
            format!("{}: ok ({})", args.path.display(), result.kind)
        } else {
            format!(
                "{}: {} problem(s)",
                args.path.display(),
                result.problems.len()
            )
        });
        print_text(&out)?;
    }
    if result.ok {
        Ok(())
    } else {
        Err(CliError::bad_input(format!(
            "the {} has {} problem(s)",
            result.kind,
            result.problems.len()
        ))
        .at(&args.path, None, None))
    }
}
