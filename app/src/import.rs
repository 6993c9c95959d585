//! Screenplays into projects, run inside jobs.

use std::path::Path;

use previz_core::{Project, Script, ScriptSource};
use previz_jobs::{JobContext, JobError};

/// Reads and converts a screenplay file (Fountain or FDX, chosen by extension and content),
/// then passes it through the `on_import` hooks of the plugins found for a project at `dest`.
pub fn script_from_file(path: &Path, dest: &Path, ctx: &JobContext) -> Result<Script, JobError> {
    let bytes = std::fs::read(path)
        .map_err(|e| JobError::failed(format!("could not read {}: {e}", path.display())))?;
    ctx.check()?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let format = previz_screenplay::Format::detect(name.as_deref(), &bytes);
    let parsed = format
        .parse(&bytes)
        .map_err(|e| JobError::failed(e.with_path(path).to_string()))?;
    for w in &parsed.warnings {
        ctx.log(format!("{}:{w}", path.display()));
    }
    ctx.progress(0.4, "building the script");
    let mut script = previz_screenplay::convert::to_script(&parsed.screenplay);
    script.source = Some(ScriptSource {
        file_name: name.unwrap_or_default(),
        format: format.name().to_owned(),
        content_hash: previz_storage::hash_bytes(&bytes).to_string(),
        imported_at: jiff::Timestamp::now(),
        extra: previz_core::Extra::new(),
    });
    let host = previz_script::Host::default();
    let (plugins, _) =
        previz_script::discover(&host, &previz_script::PluginDirs::standard(Some(dest)));
    previz_script::import_hooks(&host, &plugins, &Project::new("import"), script)
        .map_err(|e| JobError::failed(e.to_string()))
}

/// A new project from a screenplay, with a rough cut so there is something to play at once.
pub fn project_from_screenplay(
    path: &Path,
    dest: &Path,
    ctx: &JobContext,
) -> Result<Project, JobError> {
    let script = script_from_file(path, dest, ctx)?;
    let title = script.title_line().unwrap_or_else(|| {
        path.file_stem().map_or_else(
            || "Untitled".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        )
    });
    let mut project = Project::new(title);
    project.script = script;
    ctx.progress(0.6, "rough cut");
    let cut = previz_core::roughcut::rough_cut(&project);
    project
        .apply(&cut)
        .map_err(|e| JobError::failed(format!("the rough cut could not be built: {e}")))?;
    Ok(project)
}
