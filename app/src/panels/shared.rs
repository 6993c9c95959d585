//! Working beside other editors on a shared project: who holds which scene (badges in the scene
//! navigator, a summary in the status bar) and the Conflicts window, where each edit that did
//! not merge shows both values and the editor chooses: use mine, or keep theirs.

use previz_core::merge::Conflict;
use previz_core::{Change, EditCommand, SceneId};
use previz_jobs::{JobKind, JobOutput, JobSpec};

use crate::studio::Studio;

/// The badge after a scene's name: who else works on it, or that this editor does.
#[must_use]
pub fn scene_badge(studio: &Studio, scene: SceneId) -> Option<String> {
    let shared = studio.project.as_ref()?.session.shared()?;
    if shared.held_lease(scene).is_some() {
        return Some("(yours)".to_owned());
    }
    shared
        .leases_of_others()
        .into_iter()
        .find(|l| l.scene == scene)
        .map(|l| format!("🔒 {}", l.holder.user))
}

/// The status bar's summary for a shared project, with the detail for its tooltip.
#[must_use]
pub fn status(studio: &Studio) -> Option<(String, String)> {
    let shared = studio.project.as_ref()?.session.shared()?;
    let others = shared.leases_of_others();
    let mut editors: Vec<String> = others
        .iter()
        .map(|l| format!("{}@{}", l.holder.user, l.holder.host))
        .collect();
    editors.sort();
    editors.dedup();
    let held = shared.held_scenes();
    let mut text = format!(
        "Shared · {} other editor{} working",
        editors.len(),
        if editors.len() == 1 { "" } else { "s" }
    );
    if !held.is_empty() {
        text.push_str(&format!(" · you hold {} scene(s)", held.len()));
    }
    if !studio.conflicts.is_empty() {
        text.push_str(&format!(" · {} conflict(s)", studio.conflicts.len()));
    }
    let mut detail = String::from(
        "Several editors work on this project. The scenes you edit are leased to you; saves merge everyone's work, and edits that touch what someone else changed are shown as conflicts.",
    );
    for lease in others {
        detail.push_str(&format!(
            "\nScene {}: {} until {}",
            lease.scene,
            lease.holder,
            lease.expires.strftime("%H:%M:%S")
        ));
    }
    Some((text, detail))
}

/// A value as one short line.
fn brief(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::Null => "(nothing)".to_owned(),
        serde_json::Value::String(s) if s.is_empty() => "(empty)".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(79).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The edits that put this editor's value back, when the conflict is on fields of shots
/// (the common case: two people typing into one shot). Other regions are re-done by hand.
fn use_mine(conflict: &Conflict) -> Option<Vec<EditCommand>> {
    conflict
        .changes
        .iter()
        .map(|change| match change {
            Change::SetShotField { shot, field } => Some(EditCommand::EditShot {
                shot: *shot,
                field: field.clone(),
            }),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .filter(|edits| !edits.is_empty())
}

enum Choice {
    Mine(usize),
    Theirs(usize),
}

/// The Conflicts window (shown after a save that left conflicts, or from View → Conflicts).
pub fn conflicts_window(ctx: &egui::Context, studio: &mut Studio) {
    if !studio.show_conflicts {
        return;
    }
    let mut open = true;
    let mut choice = None;
    egui::Window::new("Conflicts")
        .open(&mut open)
        .default_width(520.0)
        .show(ctx, |ui| {
            if studio.conflicts.is_empty() {
                ui.label("Nothing to choose: every edit merged.");
                return;
            }
            ui.label(
                "Another editor saved a change to the same thing first. The project kept theirs; choose for each.",
            );
            egui::ScrollArea::vertical().show(ui, |ui| {
                for (i, open) in studio.conflicts.iter().enumerate() {
                    let c = &open.conflict;
                    ui.separator();
                    ui.label(egui::RichText::new(capitalised(&c.region.to_string())).strong());
                    ui.label(format!("Yours: {}", brief(&c.mine)));
                    ui.label(format!("Kept (theirs): {}", brief(&c.theirs)));
                    ui.horizontal(|ui| {
                        let mine = ui.add_enabled(
                            use_mine(c).is_some() && !studio.read_only(),
                            egui::Button::new("Use mine"),
                        );
                        if mine.clicked() {
                            choice = Some(Choice::Mine(i));
                        }
                        mine.on_disabled_hover_text(
                            "This change cannot be re-applied in one step: redo it by hand if you still want it",
                        );
                        if ui.button("Keep theirs").clicked() {
                            choice = Some(Choice::Theirs(i));
                        }
                    });
                }
            });
        });
    if !open {
        studio.show_conflicts = false;
    }
    match choice {
        Some(Choice::Mine(i)) => {
            if let Some(edits) = use_mine(&studio.conflicts[i].conflict) {
                studio.begin_gesture("Use my version");
                let applied = edits.iter().all(|e| studio.apply(e));
                if applied {
                    studio.end_gesture();
                    settle(studio, i);
                } else {
                    studio.cancel_gesture();
                }
            }
        }
        Some(Choice::Theirs(i)) => settle(studio, i),
        None => {}
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
}

/// Takes conflict `i` off the list; once no open conflict comes from its record on the share,
/// the record is marked as dealt with (moved to `conflicts-resolved/`) by a job.
fn settle(studio: &mut Studio, i: usize) {
    let done = studio.conflicts.remove(i);
    let Some(record) = done.record else {
        return;
    };
    if studio
        .conflicts
        .iter()
        .any(|c| c.record.as_deref() == Some(record.as_str()))
    {
        return;
    }
    let Some(dir) = studio.project_dir().map(std::path::Path::to_path_buf) else {
        return;
    };
    let Some(name) = std::path::Path::new(&record)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
    else {
        return;
    };
    let spec = JobSpec::new(JobKind::Other, "Mark conflicts as dealt with");
    studio.jobs.submit(spec, move |_| {
        let backend = previz_storage::backend::PosixBackend::new(&dir);
        previz_storage::shared::resolve_conflicts(&backend, "", &[format!("conflicts/{name}")])
            .map_err(|e| previz_jobs::JobError::from_error(&e))?;
        Ok(JobOutput::new("conflicts marked as dealt with"))
    });
}
