//! The track headers: name (double-click to rename), kind, mute and lock.

use egui::{Key, Rect, Sense, pos2, vec2};
use previz_core::{EditCommand, TrackId, TrackKind};

use super::{Areas, TimelineView, visible_rows};
use crate::studio::Studio;

/// A track name being edited in its header.
#[derive(Debug)]
pub(super) struct Renaming {
    track: TrackId,
    text: String,
    focused: bool,
}

/// The track headers: name (double-click to rename), kind, mute and lock toggles.
pub(super) fn headers(
    ui: &mut egui::Ui,
    studio: &mut Studio,
    view: &mut TimelineView,
    areas: &Areas,
) {
    let Some(doc) = studio.doc() else {
        return;
    };
    let mut header_ui = ui.new_child(egui::UiBuilder::new().max_rect(areas.headers));
    header_ui.set_clip_rect(areas.headers.intersect(ui.clip_rect()));
    let visuals = ui.visuals().clone();
    let mut commands = Vec::new();
    let mut stop_renaming = false;
    let escape = ui.input(|i| i.key_pressed(Key::Escape));
    for (i, lane) in visible_rows(view, areas, doc.timeline.tracks.len()) {
        let Some(track) = doc.timeline.tracks.get(i) else {
            continue;
        };
        let row = Rect::from_min_max(
            pos2(areas.headers.left(), lane.top()),
            pos2(areas.headers.right(), lane.bottom()),
        );
        let painter = header_ui.painter().clone();
        painter.rect_filled(row.shrink2(vec2(0.0, 1.0)), 0.0, visuals.faint_bg_color);
        painter.hline(
            row.x_range(),
            row.bottom() - 0.5,
            visuals.widgets.noninteractive.bg_stroke,
        );
        let stripe = Rect::from_min_size(row.min + vec2(0.0, 1.0), vec2(3.0, row.height() - 2.0));
        painter.rect_filled(stripe, 0.0, super::draw::track_color(track.kind));
        let buttons_left = row.right() - 52.0;
        let name_rect = Rect::from_min_max(
            row.min + vec2(8.0, 4.0),
            pos2(buttons_left - 4.0, row.top() + 22.0),
        );
        match &mut view.renaming {
            Some(r) if r.track == track.id => {
                let edit = header_ui.put(
                    name_rect,
                    egui::TextEdit::singleline(&mut r.text).hint_text("Track name"),
                );
                if !r.focused {
                    edit.request_focus();
                    r.focused = true;
                }
                if edit.lost_focus() {
                    let name = r.text.trim();
                    if !escape && !name.is_empty() && name != track.name {
                        commands.push(EditCommand::RenameTrack {
                            track: track.id,
                            name: name.to_owned(),
                        });
                    }
                    stop_renaming = true;
                }
            }
            _ => {
                let response = header_ui.interact(
                    name_rect,
                    header_ui.scope_id().with(("track.name", track.id)),
                    Sense::click(),
                );
                response.widget_info(|| {
                    egui::WidgetInfo::labeled(egui::Role::Label, true, &track.name)
                });
                let response = response.on_hover_text("Double-click to rename");
                let galley = painter.layout_no_wrap(
                    track.name.clone(),
                    egui::FontId::proportional(13.0),
                    visuals.strong_text_color(),
                );
                header_ui
                    .painter()
                    .with_clip_rect(name_rect.intersect(header_ui.clip_rect()))
                    .galley(
                        name_rect.left_center() - vec2(0.0, galley.size().y / 2.0),
                        galley,
                        visuals.text_color(),
                    );
                if response.double_clicked() {
                    view.renaming = Some(Renaming {
                        track: track.id,
                        text: track.name.clone(),
                        focused: false,
                    });
                }
            }
        }
        let kind = match track.kind {
            TrackKind::Video => "Video",
            TrackKind::Audio => "Audio",
        };
        let mut status = kind.to_owned();
        if track.locked {
            status.push_str(" · locked");
        }
        if track.muted {
            status.push_str(" · muted");
        }
        header_ui.painter().text(
            pos2(row.left() + 8.0, row.top() + 26.0),
            egui::Align2::LEFT_TOP,
            status,
            egui::FontId::proportional(10.5),
            visuals.weak_text_color(),
        );
        let button = |x: f32| Rect::from_min_size(pos2(x, row.top() + 4.0), vec2(22.0, 18.0));
        let mute = header_ui
            .put(
                button(buttons_left),
                egui::Button::selectable(track.muted, "M"),
            )
            .on_hover_text(if track.muted { "Unmute" } else { "Mute" });
        if mute.clicked() {
            commands.push(EditCommand::SetTrackFlags {
                track: track.id,
                muted: !track.muted,
                locked: track.locked,
            });
        }
        let lock = header_ui
            .put(
                button(buttons_left + 25.0),
                egui::Button::selectable(track.locked, "L"),
            )
            .on_hover_text(if track.locked {
                "Unlock"
            } else {
                "Lock: no edits on this track"
            });
        if lock.clicked() {
            commands.push(EditCommand::SetTrackFlags {
                track: track.id,
                muted: track.muted,
                locked: !track.locked,
            });
        }
    }
    if stop_renaming {
        view.renaming = None;
    }
    if view
        .renaming
        .as_ref()
        .is_some_and(|r| track_index(studio, r.track).is_none())
    {
        view.renaming = None;
    }
    for command in commands {
        studio.apply(&command);
    }
}

fn track_index(studio: &Studio, track: TrackId) -> Option<usize> {
    studio.doc()?.timeline.track_index(track)
}
