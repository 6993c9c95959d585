#![allow(dead_code)] // each test file uses part of this

use std::path::PathBuf;

use previz_core::Project;
use previz_jobs::{CancelToken, JobContext, JobKind};

pub fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/screenplays")
        .join(name)
}

/// A project from a sample screenplay with its rough cut, as `previz import` makes it.
pub fn project(name: &str) -> Project {
    let path = sample(name);
    let bytes = std::fs::read(&path).unwrap();
    let format = previz_screenplay::Format::detect(Some(name), &bytes);
    let parsed = format.parse(&bytes).unwrap();
    let mut project = Project::new(name);
    project.script = previz_screenplay::convert::to_script(&parsed.screenplay);
    let cut = previz_core::roughcut::rough_cut(&project);
    project.apply(&cut).unwrap();
    project
}

pub fn ctx() -> JobContext {
    JobContext::detached(JobKind::Breakdown, "test", CancelToken::new())
}

pub const SAMPLES: &[&str] = &[
    "dialogue-heavy.fountain",
    "every-feature.fountain",
    "short-action.fountain",
    "short-action.fdx",
];

pub fn smollm2() -> Option<PathBuf> {
    previz_models::registry::model_for_tests(
        "smollm2-135m-instruct",
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/cache"),
    )
}
