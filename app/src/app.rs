//! The window: menu, status bar, docked panels, keyboard shortcuts, dialogs, notifications.

use std::path::PathBuf;

use egui::{Key, KeyboardShortcut, Modifiers};
use previz_core::{EditCommand, Item};
use previz_storage::OpenMode;
use serde::{Deserialize, Serialize};

use crate::files::{FileDialog, FilePurpose};
use crate::panels;
use crate::studio::{AutosaveState, Studio};
use crate::toasts::Level;

/// The dockable panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pane {
    Script,
    Shots,
    Storyboard,
    Viewer,
    Timeline,
    Jobs,
    Cast,
}

impl Pane {
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Pane::Script => "Script",
            Pane::Shots => "Shots",
            Pane::Storyboard => "Storyboard",
            Pane::Viewer => "Viewer",
            Pane::Timeline => "Timeline",
            Pane::Jobs => "Jobs",
            Pane::Cast => "Cast",
        }
    }
}

/// Per-panel view state that is not part of the document.
#[derive(Debug, Default)]
pub struct Views {
    pub timeline: panels::timeline::TimelineView,
    pub viewer: panels::viewer::ViewerView,
    pub script: panels::script::ScriptView,
    pub shots: panels::shots::ShotsView,
    pub settings_open: bool,
}

/// The studio application.
pub struct StudioApp {
    pub studio: Studio,
    pub views: Views,
    tree: egui_tiles::Tree<Pane>,
    dialog: Option<FileDialog>,
    export_dialog: Option<crate::export::ExportDialog>,
    settings_path: Option<PathBuf>,
    /// When the settings last changed without being written yet (written in a job once the
    /// typing stops, or the window closes).
    settings_changed: Option<f64>,
}

impl std::fmt::Debug for StudioApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StudioApp")
            .field("studio", &self.studio)
            .finish_non_exhaustive()
    }
}

/// The default layout: script and shots on the left, storyboard and viewer on the right, the
/// timeline across the bottom with the job panel beside it.
fn default_tree() -> egui_tiles::Tree<Pane> {
    let mut tiles = egui_tiles::Tiles::default();
    let script = tiles.insert_pane(Pane::Script);
    let shots = tiles.insert_pane(Pane::Shots);
    let storyboard = tiles.insert_pane(Pane::Storyboard);
    let viewer = tiles.insert_pane(Pane::Viewer);
    let timeline = tiles.insert_pane(Pane::Timeline);
    let jobs = tiles.insert_pane(Pane::Jobs);
    let cast = tiles.insert_pane(Pane::Cast);
    let left = tiles.insert_tab_tile(vec![script, shots, cast]);
    let middle = tiles.insert_tab_tile(vec![storyboard]);
    let right = tiles.insert_tab_tile(vec![viewer]);
    let top = tiles.insert_horizontal_tile(vec![left, middle, right]);
    let bottom = tiles.insert_tab_tile(vec![timeline, jobs]);
    let root = tiles.insert_vertical_tile(vec![top, bottom]);
    egui_tiles::Tree::new(egui::Id::unique("previz_layout"), root, tiles)
}

/// What a panel shows inside its tab.
fn pane_contents_ui(ui: &mut egui::Ui, studio: &mut Studio, views: &mut Views, pane: Pane) {
    match pane {
        Pane::Script => panels::script::ui(ui, studio, &mut views.script),
        Pane::Shots => panels::shots::ui(ui, studio, &mut views.shots),
        Pane::Storyboard => panels::storyboard::ui(ui, studio),
        Pane::Viewer => panels::viewer::ui(ui, studio, &mut views.viewer),
        Pane::Timeline => panels::timeline::ui(ui, studio, &mut views.timeline),
        Pane::Jobs => panels::jobs::ui(ui, studio),
        Pane::Cast => panels::cast::ui(ui, studio),
    }
}

struct Behavior<'a> {
    studio: &'a mut Studio,
    views: &'a mut Views,
}

impl egui_tiles::Behavior<Pane> for Behavior<'_> {
    fn tab_title_for_pane(&mut self, pane: &Pane) -> egui::WidgetText {
        pane.title().into()
    }

    fn pane_ui(
        &mut self,
        ui: &mut egui::Ui,
        _tile: egui_tiles::TileId,
        pane: &mut Pane,
    ) -> egui_tiles::UiResponse {
        pane_contents_ui(ui, self.studio, self.views, *pane);
        egui_tiles::UiResponse::None
    }

    fn simplification_options(&self) -> egui_tiles::SimplificationOptions {
        egui_tiles::SimplificationOptions {
            all_panes_must_have_tabs: true,
            ..egui_tiles::SimplificationOptions::default()
        }
    }
}

impl StudioApp {
    /// The app around a studio state (tests build one on a sample project).
    #[must_use]
    pub fn new(studio: Studio, settings_path: Option<PathBuf>) -> Self {
        Self {
            studio,
            views: Views::default(),
            tree: default_tree(),
            dialog: None,
            export_dialog: None,
            settings_path,
            settings_changed: None,
        }
    }

    /// Draws one frame. eframe calls it through [`eframe::App::ui`]; tests call it directly.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let now = ui.input(|i| i.time);
        self.studio.tick(jiff::Timestamp::now());
        self.studio.toasts.expire(std::time::Instant::now());
        if let Some(doc) = self.studio.doc() {
            let rate = doc.timeline.rate;
            let end = doc.timeline.duration_frames();
            self.studio.transport.advance(now, rate, end);
        }
        if let Some(p) = &self.studio.project {
            let store = p.session.assets();
            self.studio
                .media
                .sync_audio(&self.studio.transport, p.session.project(), &store);
        }
        if self.studio.transport.is_playing() || self.studio.jobs.stats().running > 0 {
            ui.ctx().request_repaint();
        }
        self.shortcuts(ui, now);

        egui::Panel::top("menu").show(ui, |ui| self.menu_ui(ui, now));
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            if self.studio.project.is_some() {
                let mut behavior = Behavior {
                    studio: &mut self.studio,
                    views: &mut self.views,
                };
                self.tree.ui(&mut behavior, ui);
            } else {
                if let Some(request) = panels::welcome::ui(ui, &mut self.studio) {
                    self.dialog = Some(FileDialog::new(request));
                }
            }
        });
        self.dialog_ui(ui);
        self.export_dialog_ui(ui.ctx());
        self.locked_ui(ui.ctx());
        panels::shared::conflicts_window(ui.ctx(), &mut self.studio);
        let now = ui.input(|i| i.time);
        if self.views.settings_open {
            let before = self.studio.settings.clone();
            panels::settings::window(ui.ctx(), &mut self.studio, &mut self.views.settings_open);
            if self.studio.settings != before {
                self.settings_changed = Some(now);
            }
        }
        if let Some(changed) = self.settings_changed {
            if now - changed >= 0.75 || !self.views.settings_open {
                self.settings_changed = None;
                if let Some(path) = self.settings_path.clone() {
                    self.studio.save_settings_in_background(path);
                }
            } else {
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_millis(250));
            }
        }
        self.toasts_ui(ui.ctx());
    }

    /// Draws one panel alone, filling `ui`, without the menu, the status bar or the other
    /// panels. Tests snapshot each panel this way, so a change to one panel changes one image.
    pub fn pane_ui(&mut self, ui: &mut egui::Ui, pane: Pane) {
        pane_contents_ui(ui, &mut self.studio, &mut self.views, pane);
    }

    fn save_settings(&mut self) {
        if let Some(path) = &self.settings_path
            && let Err(e) = self.studio.settings.save(path)
        {
            self.studio
                .toasts
                .error("Settings were not saved", e.to_string());
        }
    }

    fn shortcuts(&mut self, ui: &mut egui::Ui, now: f64) {
        let typing = ui.ctx().egui_wants_keyboard_input();
        let command = Modifiers::COMMAND;
        let undo = KeyboardShortcut::new(command, Key::Z);
        let redo = KeyboardShortcut::new(command | Modifiers::SHIFT, Key::Z);
        let save = KeyboardShortcut::new(command, Key::S);
        // Redo first: ctrl-shift-z also matches ctrl-z's logical shortcut.
        if ui.input_mut(|i| i.consume_shortcut(&redo)) {
            self.studio.redo();
        }
        if ui.input_mut(|i| i.consume_shortcut(&undo)) {
            self.studio.undo();
        }
        if ui.input_mut(|i| i.consume_shortcut(&save)) {
            self.studio.save();
        }
        let export = KeyboardShortcut::new(command, Key::E);
        if ui.input_mut(|i| i.consume_shortcut(&export))
            && let Some(dir) = self.studio.project_dir()
        {
            self.export_dialog = Some(crate::export::ExportDialog::new(dir));
        }
        if typing {
            return;
        }
        let Some(end) = self.studio.doc().map(|d| d.timeline.duration_frames()) else {
            return;
        };
        let pressed = |k: Key| ui.input(|i| i.key_pressed(k) && i.modifiers.is_none());
        let t = &mut self.studio.transport;
        if pressed(Key::Space) {
            t.toggle(now, end);
        }
        if pressed(Key::K) {
            t.stop();
        }
        if pressed(Key::L) {
            t.shuttle_forward(now);
        }
        if pressed(Key::J) {
            t.shuttle_reverse(now);
        }
        if pressed(Key::I) {
            t.mark_in();
        }
        if pressed(Key::O) {
            t.mark_out();
        }
        if pressed(Key::Home) {
            t.seek(0, now);
        }
        if pressed(Key::End) {
            t.seek((end - 1).max(0), now);
        }
        if pressed(Key::ArrowLeft) {
            t.seek(t.playhead - 1, now);
        }
        if pressed(Key::ArrowRight) {
            t.seek(t.playhead + 1, now);
        }
        if pressed(Key::S) {
            self.split_at_playhead();
        }
        let shift_delete = ui.input(|i| {
            (i.key_pressed(Key::Delete) || i.key_pressed(Key::Backspace)) && i.modifiers.shift
        });
        if shift_delete {
            self.delete_selected_clips(true);
        } else if pressed(Key::Delete) || pressed(Key::Backspace) {
            self.delete_selected_clips(false);
        }
    }

    /// Splits the selected clips (or, with none selected, every clip) under the playhead.
    pub fn split_at_playhead(&mut self) {
        let Some(doc) = self.studio.doc() else {
            return;
        };
        let frame = self.studio.transport.playhead;
        let selected = &self.studio.selection.clips;
        let commands: Vec<EditCommand> = doc
            .timeline
            .tracks
            .iter()
            .filter_map(|track| track.item_at(frame))
            .filter_map(|(_, start, item)| match item {
                Item::Clip(c)
                    if start < frame && (selected.is_empty() || selected.contains(&c.id)) =>
                {
                    Some(EditCommand::SplitClip { clip: c.id, frame })
                }
                _ => None,
            })
            .collect();
        if !commands.is_empty() {
            self.studio.apply(&EditCommand::Batch {
                label: "Split at playhead".to_owned(),
                commands,
            });
        }
    }

    /// Delete lifts the selected clips (leaving gaps); shift-delete ripples them out.
    pub fn delete_selected_clips(&mut self, ripple: bool) {
        let clips: Vec<_> = self.studio.selection.clips.iter().copied().collect();
        if clips.is_empty() {
            return;
        }
        let commands = clips
            .into_iter()
            .map(|item| {
                if ripple {
                    EditCommand::RippleDelete { item }
                } else {
                    EditCommand::LiftItem { item }
                }
            })
            .collect();
        let label = if ripple { "Ripple delete" } else { "Lift" };
        if self.studio.apply(&EditCommand::Batch {
            label: label.to_owned(),
            commands,
        }) {
            self.studio.selection.clips.clear();
        }
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui, now: f64) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("New project…").clicked() {
                    self.dialog = Some(FileDialog::new(FilePurpose::NewProject));
                }
                if ui.button("New project from screenplay…").clicked() {
                    self.dialog = Some(FileDialog::new(FilePurpose::ImportScreenplay));
                }
                if ui.button("Open project…").clicked() {
                    self.dialog = Some(FileDialog::new(FilePurpose::OpenProject));
                }
                ui.menu_button("Open recent", |ui| {
                    let recent = self.studio.settings.recent.clone();
                    if recent.is_empty() {
                        ui.label("No recent projects");
                    }
                    for path in recent {
                        if ui.button(path.display().to_string()).clicked() {
                            self.studio.open_project(path, OpenMode::ReadWrite);
                        }
                    }
                });
                ui.separator();
                let open = self.studio.project.is_some();
                if ui.add_enabled(open, egui::Button::new("Import revised screenplay…")).clicked() {
                    self.dialog = Some(FileDialog::new(FilePurpose::ReviseScreenplay));
                }
                if ui
                    .add_enabled(open && !self.studio.read_only(), egui::Button::new("Conform to editorial cut…"))
                    .on_hover_text("Apply a cut edited in Premiere, Resolve, Avid or Final Cut (OTIO, EDL, FCPXML): removed, moved and trimmed shots, as one undo step")
                    .clicked()
                {
                    self.dialog = Some(FileDialog::new(FilePurpose::ConformCut));
                }
                if ui.add_enabled(open, egui::Button::new("Export…  (Ctrl+E)")).clicked()
                    && let Some(dir) = self.studio.project_dir()
                {
                    self.export_dialog = Some(crate::export::ExportDialog::new(dir));
                }
                if ui.add_enabled(open && !self.studio.read_only(), egui::Button::new("Save  (Ctrl+S)")).clicked() {
                    self.studio.save();
                }
                if ui.add_enabled(open, egui::Button::new("Close project")).clicked() {
                    self.studio.close_project();
                }
                ui.separator();
                if ui.button("Settings…").clicked() {
                    self.views.settings_open = true;
                }
            });
            ui.menu_button("Edit", |ui| {
                let undo = self.studio.undo_label();
                if ui
                    .add_enabled(undo.is_some(), egui::Button::new(format!("Undo {}", undo.unwrap_or_default())))
                    .clicked()
                {
                    self.studio.undo();
                }
                let redo = self.studio.redo_label();
                if ui
                    .add_enabled(redo.is_some(), egui::Button::new(format!("Redo {}", redo.unwrap_or_default())))
                    .clicked()
                {
                    self.studio.redo();
                }
                ui.separator();
                if ui.button("Split at playhead  (S)").clicked() {
                    self.split_at_playhead();
                }
                if ui.button("Lift selected clips  (Delete)").clicked() {
                    self.delete_selected_clips(false);
                }
                if ui.button("Ripple delete selected  (Shift+Delete)").clicked() {
                    self.delete_selected_clips(true);
                }
                ui.separator();
                let can_cut = self.studio.doc().is_some_and(|d| !d.script.scenes.is_empty()) && !self.studio.read_only();
                if ui
                    .add_enabled(can_cut, egui::Button::new("Rough cut from script"))
                    .on_hover_text("One master shot per scene without shots, timed by reading speed; rebuilds the timeline")
                    .clicked()
                    && let Some(doc) = self.studio.doc()
                {
                    let cut = previz_core::roughcut::rough_cut(doc);
                    self.studio.apply(&cut);
                }
                ui.separator();
                let shared = self.studio.project.as_ref().is_some_and(|p| p.session.is_shared());
                if ui
                    .add_enabled(shared, egui::Button::new(format!("Conflicts ({})", self.studio.conflicts.len())))
                    .on_hover_text("Edits of yours that did not merge with another editor's save")
                    .clicked()
                {
                    self.studio.show_conflicts = true;
                }
            });
            ui.menu_button("Playback", |ui| {
                let end = self.studio.doc().map_or(0, |d| d.timeline.duration_frames());
                let label = if self.studio.transport.is_playing() { "Pause  (Space)" } else { "Play  (Space)" };
                if ui.button(label).clicked() {
                    self.studio.transport.toggle(now, end);
                }
                if ui.button("Mark in  (I)").clicked() {
                    self.studio.transport.mark_in();
                }
                if ui.button("Mark out  (O)").clicked() {
                    self.studio.transport.mark_out();
                }
                if ui.button("Clear in / out").clicked() {
                    self.studio.transport.clear_marks();
                }
            });
            ui.menu_button("Generate", |ui| {
                panels::shots::generation_menu(ui, &mut self.studio);
            });
            ui.menu_button("Scripts", |ui| self.scripts_menu(ui));
        });
    }

    /// The plugins found for the open project that run from here (macros and exporters).
    fn scripts_menu(&mut self, ui: &mut egui::Ui) {
        if self.studio.project.is_none() {
            ui.label("Open a project to run its plugins");
            return;
        }
        let runnable: Vec<previz_script::Plugin> = self
            .studio
            .plugins
            .iter()
            .filter(|p| crate::scripts::runnable(p))
            .cloned()
            .collect();
        if runnable.is_empty() {
            ui.label("No plugins: put .rhai files in ~/.config/previz-studio/plugins or the show's plugins/ folder");
        }
        for plugin in runnable {
            let hover = if plugin.description.is_empty() {
                plugin.file.display().to_string()
            } else {
                format!("{}\n{}", plugin.description, plugin.file.display())
            };
            if ui.button(&plugin.name).on_hover_text(hover).clicked() {
                self.studio.run_plugin(plugin);
            }
        }
        if !self.studio.style_presets.is_empty() {
            ui.separator();
            ui.label("Storyboard style presets");
        }
        let mut chosen = None;
        for (plugin, preset) in &self.studio.style_presets {
            if ui
                .button(format!("Style: {}", preset.name))
                .on_hover_text(format!("{} (from {plugin})", preset.prompt))
                .clicked()
            {
                chosen = Some(preset.prompt.clone());
            }
        }
        if let Some(prompt) = chosen {
            self.studio.apply(&EditCommand::SetStyle {
                style: previz_core::Style::Custom(prompt),
            });
        }
        for broken in &self.studio.broken_plugins {
            ui.label(
                egui::RichText::new(format!("Broken: {broken}")).color(ui.visuals().warn_fg_color),
            );
        }
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let Some(p) = &self.studio.project else {
                ui.label("No project open");
                return;
            };
            let doc = p.session.project();
            ui.label(egui::RichText::new(&doc.settings.title).strong());
            ui.separator();
            if p.session.read_only() {
                ui.label(egui::RichText::new("Read-only").color(ui.visuals().warn_fg_color))
                    .on_hover_text(p.session.read_only_reason().unwrap_or(""));
            } else if let Some((text, detail)) = panels::shared::status(&self.studio) {
                let label = ui.label(text).on_hover_text(detail);
                if !self.studio.conflicts.is_empty() && label.clicked() {
                    self.studio.show_conflicts = true;
                }
            } else if let Some(lock) = p.session.lock_info() {
                ui.label(format!("Locked by you ({}@{})", lock.user, lock.host))
                    .on_hover_text("Other editors can open this project read-only");
            }
            ui.separator();
            let autosave = match &p.autosave {
                AutosaveState::Saved { at: Some(at) } => format!("Saved {}", at.strftime("%H:%M:%S")),
                AutosaveState::Saved { at: None } => "Saved".to_owned(),
                AutosaveState::Pending => "Unsaved edits".to_owned(),
                AutosaveState::Journaled => "Autosaved (journal)".to_owned(),
                AutosaveState::Failed(e) => format!("Autosave failed: {e}"),
            };
            ui.label(autosave).on_hover_text(
                "Edits are written to the project's journal every few seconds and replayed after a crash; Save writes project.json",
            );
            ui.separator();
            let stats = self.studio.jobs.stats();
            if stats.running + stats.queued > 0 {
                ui.spinner();
                ui.label(format!("{} running, {} queued", stats.running, stats.queued));
                ui.separator();
            }
            let t = &self.studio.transport;
            let time = doc.timeline.time(t.playhead + doc.timeline.start_frame);
            ui.monospace(time.to_timecode(doc.timeline.rate.is_ntsc_drop_candidate()));
            if t.is_playing() {
                ui.label(format!("▶ {}×", t.speed));
            }
            ui.separator();
            ui.label(self.studio.media.audio_status());
        });
    }

    fn dialog_ui(&mut self, ui: &mut egui::Ui) {
        let Some(dialog) = &mut self.dialog else {
            return;
        };
        match dialog.ui(ui.ctx()) {
            crate::files::Outcome::Open => {}
            crate::files::Outcome::Cancelled => self.dialog = None,
            crate::files::Outcome::Chosen {
                purpose,
                path,
                title,
            } => {
                self.dialog = None;
                match purpose {
                    FilePurpose::OpenProject => self.studio.open_project(path, OpenMode::ReadWrite),
                    FilePurpose::OpenProjectReadOnly => {
                        self.studio.open_project(path, OpenMode::ReadOnly);
                    }
                    FilePurpose::NewProject => self.studio.new_empty_project(path, title),
                    FilePurpose::ImportScreenplay => {
                        let dir = path.with_extension("previz");
                        self.studio.new_project_from_screenplay(path, dir);
                    }
                    FilePurpose::ReviseScreenplay => self.studio.import_revision(path),
                    FilePurpose::ConformCut => self.studio.conform_cut(path),
                }
            }
        }
    }

    fn export_dialog_ui(&mut self, ctx: &egui::Context) {
        let Some(dialog) = &mut self.export_dialog else {
            return;
        };
        match dialog.ui(ctx) {
            crate::export::Outcome::Open => {}
            crate::export::Outcome::Cancelled => self.export_dialog = None,
            crate::export::Outcome::Export(request) => {
                self.export_dialog = None;
                self.studio.export(*request);
            }
        }
    }

    /// Asks what to do about a project someone else holds: open it read-only, or take it over.
    fn locked_ui(&mut self, ctx: &egui::Context) {
        let Some(locked) = self.studio.locked.clone() else {
            return;
        };
        let mut choice = None;
        egui::Window::new("Project in use")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label(format!("{} is open for writing by {}.", locked.dir.display(), locked.holder));
                if locked.stale {
                    ui.label(format!("That session looks gone: {}.", locked.why));
                } else {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("That session looks alive: {}. Taking over would make their window read-only.", locked.why),
                    );
                }
                ui.horizontal(|ui| {
                    if ui.button("Open read-only").clicked() {
                        choice = Some(OpenMode::ReadOnly);
                    }
                    if ui.button("Take over").on_hover_text("Replace their lock with yours; they can still Save As").clicked() {
                        choice = Some(OpenMode::TakeOver);
                    }
                    if ui.button("Cancel").clicked() {
                        self.studio.locked = None;
                    }
                });
            });
        if let Some(mode) = choice {
            self.studio.locked = None;
            self.studio.open_project(locked.dir, mode);
        }
    }

    fn toasts_ui(&mut self, ctx: &egui::Context) {
        if self.studio.toasts.visible.is_empty() {
            return;
        }
        let mut dismiss = None;
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0))
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                ui.set_max_width(420.0);
                for (i, toast) in self.studio.toasts.visible.iter().enumerate() {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.horizontal(|ui| {
                            let title = egui::RichText::new(&toast.title).strong();
                            match toast.level {
                                Level::Error => ui.label(title.color(ui.visuals().error_fg_color)),
                                Level::Info => ui.label(title),
                            };
                            if ui.small_button("×").on_hover_text("Dismiss").clicked() {
                                dismiss = Some(i);
                            }
                        });
                        if !toast.detail.is_empty() {
                            ui.collapsing("Details", |ui| {
                                ui.label(&toast.detail);
                            });
                        }
                    });
                }
            });
        if let Some(i) = dismiss {
            self.studio.toasts.dismiss(i);
        }
        ctx.request_repaint_after(std::time::Duration::from_millis(500));
    }
}

impl eframe::App for StudioApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn on_exit(&mut self) {
        self.save_settings();
        self.studio.jobs.cancel_all();
        // Unsaved edits stay in the journal and come back on the next open.
        self.studio.close_project();
    }
}
