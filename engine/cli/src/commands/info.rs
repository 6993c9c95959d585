//! `previz info`: what a project holds and what state it is in.

use std::path::PathBuf;
use std::time::Duration;

use previz_core::Project;
use previz_storage::lock::{LockRead, read_lock};
use previz_storage::{OpenMode, list_backups};
use serde::Serialize;

use super::{close, open, project_dir};
use crate::args::InfoArgs;
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct Info {
    project: PathBuf,
    id: String,
    title: String,
    format_version: u32,
    frame_rate: String,
    frame_size: String,
    aspect_ratio: String,
    script: ScriptInfo,
    shots: usize,
    shots_with_frames: usize,
    takes: usize,
    assets: usize,
    timeline: TimelineInfo,
    lock: LockState,
    /// Autosaved edits that are not in project.json yet (recovered on open).
    unsaved_edits: usize,
    backups: Vec<BackupInfo>,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct ScriptInfo {
    source: Option<String>,
    imported_at: Option<String>,
    scenes: usize,
    omitted_scenes: usize,
    speeches: usize,
    characters: Vec<String>,
    locations: usize,
}

#[derive(Serialize)]
struct TimelineInfo {
    name: String,
    tracks: usize,
    clips: usize,
    markers: usize,
    duration_frames: i64,
    duration_timecode: String,
}

#[derive(Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum LockState {
    Free,
    Held {
        user: String,
        host: String,
        pid: u32,
        since: String,
        app: String,
        stale: bool,
        why: String,
    },
    Unreadable {
        detail: String,
    },
}

#[derive(Serialize)]
struct BackupInfo {
    name: String,
    saved_at: String,
    bytes: u64,
}

fn script_info(project: &Project) -> ScriptInfo {
    let script = &project.script;
    ScriptInfo {
        source: script
            .source
            .as_ref()
            .map(|s| format!("{} ({})", s.file_name, s.format)),
        imported_at: script.source.as_ref().map(|s| s.imported_at.to_string()),
        scenes: script.scenes.iter().filter(|s| !s.omitted).count(),
        omitted_scenes: script.scenes.iter().filter(|s| s.omitted).count(),
        speeches: script.scenes.iter().map(|s| s.dialogue().count()).sum(),
        characters: script.characters.iter().map(|c| c.name.clone()).collect(),
        locations: script.locations.len(),
    }
}

pub fn run(args: &InfoArgs, json: bool) -> Result<(), CliError> {
    let dir = project_dir(args.project.as_deref())?;
    let (session, report) = open(&dir, OpenMode::ReadOnly, json)?;
    let project = session.project();
    let lock_path = session.paths().lock();
    let lock = match read_lock(&lock_path) {
        Ok(LockRead::Missing) => LockState::Free,
        Ok(read @ LockRead::Held(_)) => {
            let staleness = read.staleness(jiff::Timestamp::now(), Duration::from_secs(600));
            let info = read.holder().cloned();
            match info {
                Some(info) => LockState::Held {
                    user: info.user,
                    host: info.host,
                    pid: info.pid,
                    since: info.started.to_string(),
                    app: info.app,
                    stale: staleness.stale,
                    why: staleness.reason,
                },
                None => LockState::Free,
            }
        }
        Ok(LockRead::Unreadable { detail, .. }) => LockState::Unreadable { detail },
        Err(e) => LockState::Unreadable {
            detail: e.to_string(),
        },
    };
    let backups = list_backups(&dir)
        .unwrap_or_default()
        .into_iter()
        .map(|b| BackupInfo {
            name: b.name,
            saved_at: b.saved_at.to_string(),
            bytes: b.size_bytes,
        })
        .collect();
    let timeline = &project.timeline;
    let info = Info {
        project: dir.clone(),
        id: project.id.to_string(),
        title: project.settings.title.clone(),
        format_version: previz_core::format::CURRENT_VERSION,
        frame_rate: project.settings.frame_rate.to_string(),
        frame_size: format!(
            "{}x{}",
            project.settings.frame_width, project.settings.frame_height
        ),
        aspect_ratio: format!("{:.2}:1", project.settings.aspect_ratio()),
        script: script_info(project),
        shots: project.shots.len(),
        shots_with_frames: project
            .shots
            .iter()
            .filter(|s| s.active().is_some())
            .count(),
        takes: project.shots.iter().map(|s| s.takes.len()).sum(),
        assets: project.assets.len(),
        timeline: TimelineInfo {
            name: timeline.name.clone(),
            tracks: timeline.tracks.len(),
            clips: timeline.clips().count(),
            markers: timeline.markers.len(),
            duration_frames: timeline.duration_frames(),
            duration_timecode: timeline
                .time(timeline.duration_frames())
                .to_timecode(timeline.rate.is_ntsc_drop_candidate()),
        },
        lock,
        unsaved_edits: report.recovered.as_ref().map_or(0, |r| r.edits),
        backups,
        problems: project.validate().into_iter().map(|p| p.message).collect(),
    };
    close(session);
    if json {
        return print_json(&info);
    }
    print_text(&describe(&info))
}

fn describe(info: &Info) -> String {
    let mut out = String::new();
    let line = |out: &mut String, key: &str, value: String| {
        out.push_str(&format!("{key:<14}{value}\n"));
    };
    line(
        &mut out,
        "Project",
        format!("{} ({})", info.title, info.project.display()),
    );
    line(
        &mut out,
        "Format",
        format!(
            "{} fps, {} frames ({}), file version {}",
            info.frame_rate, info.frame_size, info.aspect_ratio, info.format_version
        ),
    );
    let s = &info.script;
    line(
        &mut out,
        "Script",
        format!(
            "{}: {} scenes{}, {} speeches, {} characters, {} locations",
            s.source.as_deref().unwrap_or("none imported"),
            s.scenes,
            if s.omitted_scenes > 0 {
                format!(" (+{} omitted)", s.omitted_scenes)
            } else {
                String::new()
            },
            s.speeches,
            s.characters.len(),
            s.locations
        ),
    );
    if !s.characters.is_empty() {
        line(&mut out, "Cast", s.characters.join(", "));
    }
    line(
        &mut out,
        "Shots",
        format!(
            "{} ({} with a frame), {} takes, {} assets",
            info.shots, info.shots_with_frames, info.takes, info.assets
        ),
    );
    let t = &info.timeline;
    line(
        &mut out,
        "Timeline",
        format!(
            "'{}': {} tracks, {} clips, {} markers, {} ({} frames)",
            t.name, t.tracks, t.clips, t.markers, t.duration_timecode, t.duration_frames
        ),
    );
    line(
        &mut out,
        "Lock",
        match &info.lock {
            LockState::Free => "free".to_owned(),
            LockState::Held {
                user,
                host,
                pid,
                since,
                stale,
                why,
                ..
            } => format!(
                "held by {user} on {host} (pid {pid}) since {since}{}",
                if *stale {
                    format!("; looks stale: {why}")
                } else {
                    String::new()
                }
            ),
            LockState::Unreadable { detail } => format!("unreadable ({detail})"),
        },
    );
    if info.unsaved_edits > 0 {
        line(
            &mut out,
            "Unsaved",
            format!("{} autosaved edit(s) not yet saved", info.unsaved_edits),
        );
    }
    line(
        &mut out,
        "Backups",
        match info.backups.first() {
            Some(newest) => format!(
                "{} (newest {} at {})",
                info.backups.len(),
                newest.name,
                newest.saved_at
            ),
            None => "none yet".to_owned(),
        },
    );
    if info.problems.is_empty() {
        line(&mut out, "Problems", "none".to_owned());
    } else {
        line(
            &mut out,
            "Problems",
            format!("{} (run `previz validate`)", info.problems.len()),
        );
    }
    out
}
