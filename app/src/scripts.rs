//! The Scripts menu: plugins found for the open project (shipped, the user's, the show's), run
//! as jobs on a snapshot of the document. A plugin's edits land as one undo step when it ends
//! (none if it fails); the files it exports are written into `exports/<plugin>/`.

use std::path::{Path, PathBuf};

use previz_core::Project;
use previz_jobs::{JobContext, JobError, JobOutput};
use previz_script::{Hook, Host, Plugin, PluginDirs};

/// Jobs a plugin queued, started by the studio once its edits landed.
#[derive(Debug)]
pub struct Queued(pub Vec<previz_script::JobRequest>);

/// What the plugin search job hands back.
#[derive(Debug)]
pub struct PluginsFound {
    pub plugins: Vec<Plugin>,
    /// Plugins that do not compile (or whose presets fail), as `file:line:column: message`.
    pub broken: Vec<String>,
    /// The style presets the plugins offer: (plugin, preset).
    pub presets: Vec<(String, previz_script::StylePreset)>,
}

/// The search, for a job.
#[must_use]
pub fn find(project_dir: &Path) -> PluginsFound {
    let host = Host::default();
    let (plugins, errors) =
        previz_script::discover(&host, &PluginDirs::standard(Some(project_dir)));
    let mut broken: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let mut presets = Vec::new();
    let empty = Project::new("presets");
    for plugin in plugins
        .iter()
        .filter(|p| p.hooks.contains(&Hook::StylePresets))
    {
        match host.style_presets(plugin, &empty) {
            Ok(found) => presets.extend(found.into_iter().map(|s| (plugin.name.clone(), s))),
            Err(e) => broken.push(e.to_string()),
        }
    }
    PluginsFound {
        plugins,
        broken,
        presets,
    }
}

/// Whether the Scripts menu can run it (a macro, an exporter, or a prompt template).
#[must_use]
pub fn runnable(plugin: &Plugin) -> bool {
    [Hook::Run, Hook::Export, Hook::Prompt]
        .iter()
        .any(|h| plugin.hooks.contains(h))
}

/// The job: runs the plugin, writes its exports, hands its edits back to land.
pub fn run(
    plugin: &Plugin,
    project: &Project,
    dir: &Path,
    ctx: &JobContext,
) -> Result<JobOutput, JobError> {
    let host = Host::default();
    ctx.progress(0.1, format!("running {}", plugin.file.display()));
    let outcome = if plugin.hooks.contains(&Hook::Run) {
        host.run(plugin, project, Some(dir))
    } else if plugin.hooks.contains(&Hook::Export) {
        host.export(plugin, project, Some(dir))
    } else {
        host.apply_prompts(plugin, project)
    }
    .map_err(|e| JobError::failed(e.to_string()))?;
    for line in &outcome.log {
        ctx.log(line.clone());
    }
    let mut written: Vec<PathBuf> = Vec::new();
    if !outcome.exports.is_empty() {
        let folder = dir.join("exports").join(&plugin.name);
        std::fs::create_dir_all(&folder)
            .map_err(|e| JobError::failed(format!("could not create {}: {e}", folder.display())))?;
        for (name, bytes) in &outcome.exports {
            let path = folder.join(name);
            previz_storage::atomic::write_atomic(&path, bytes).map_err(|e| {
                JobError::failed(format!("could not write {}: {e}", path.display()))
            })?;
            written.push(path);
        }
    }
    let mut summary = format!("{} edit(s)", outcome.edits.len());
    for path in &written {
        summary.push_str(&format!(", wrote {}", path.display()));
    }
    if !outcome.jobs.is_empty() {
        summary.push_str(&format!(", {} job(s) queued", outcome.jobs.len()));
    }
    let output = JobOutput::new(summary).with_commands(outcome.edits);
    Ok(if outcome.jobs.is_empty() {
        output
    } else {
        output.with_data(Queued(outcome.jobs))
    })
}
