//! The screenplay laid out as a screenplay (headings, centred cues, the dialogue column) with
//! a scene navigator; selecting a scene selects its shots.

use previz_core::{DialoguePart, ScriptElement};

use crate::studio::Studio;

/// View state of the script panel.
#[derive(Debug, Default)]
pub struct ScriptView {
    /// Scroll the page to the selected scene on the next frame.
    pub scroll_to_selection: bool,
    pub filter: String,
}

const PAGE_WIDTH: f32 = 560.0;

/// Draws the panel.
pub fn ui(ui: &mut egui::Ui, studio: &mut Studio, view: &mut ScriptView) {
    let Some(doc) = studio.doc() else {
        return;
    };
    let scenes: Vec<(previz_core::SceneId, String, String, bool, Option<String>)> = doc
        .script
        .scenes
        .iter()
        .zip(doc.script.display_numbers())
        .map(|(s, n)| {
            (
                s.id,
                n.unwrap_or_else(|| "—".into()),
                s.heading.text.clone(),
                s.omitted,
                super::shared::scene_badge(studio, s.id),
            )
        })
        .collect();
    let mut clicked = None;
    egui::Panel::left("scene_navigator")
        .resizable(true)
        .default_size(220.0)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label("Scenes");
                ui.add(
                    egui::TextEdit::singleline(&mut view.filter)
                        .hint_text("filter")
                        .desired_width(110.0),
                );
            });
            egui::ScrollArea::vertical()
                .id_salt("scenes")
                .show(ui, |ui| {
                    let filter = view.filter.to_lowercase();
                    for (id, number, heading, omitted, badge) in &scenes {
                        if !filter.is_empty() && !heading.to_lowercase().contains(&filter) {
                            continue;
                        }
                        let mut text = if *omitted {
                            format!("{number}  OMITTED ({heading})")
                        } else {
                            format!("{number}  {heading}")
                        };
                        if let Some(badge) = badge {
                            text.push_str("   ");
                            text.push_str(badge);
                        }
                        let selected = studio.selection.scene == Some(*id);
                        if ui.selectable_label(selected, text).clicked() {
                            clicked = Some(*id);
                        }
                    }
                });
        });
    if let Some(scene) = clicked {
        studio.select_scene(scene);
        view.scroll_to_selection = true;
    }
    let Some(doc) = studio.doc() else {
        return;
    };
    let selected = studio.selection.scene;
    let mut clicked_scene = None;
    egui::ScrollArea::vertical()
        .id_salt("script_page")
        .show(ui, |ui| {
            // A page narrower than PAGE_WIDTH when the tab is: with a fixed width the text ran
            // past the tab's edge, under the next panel, instead of wrapping.
            ui.set_max_width(PAGE_WIDTH.min(ui.available_width()));
            let mono = egui::TextStyle::Monospace;
            for (scene, number) in doc.script.scenes.iter().zip(doc.script.display_numbers()) {
                if scene.omitted {
                    continue;
                }
                let heading = format!(
                    "{}  {}",
                    number.unwrap_or_default(),
                    scene.heading.text.to_uppercase()
                );
                let is_selected = selected == Some(scene.id);
                let response = ui.selectable_label(
                    is_selected,
                    egui::RichText::new(heading)
                        .text_style(mono.clone())
                        .strong(),
                );
                if is_selected && view.scroll_to_selection {
                    response.scroll_to_me(Some(egui::Align::TOP));
                    view.scroll_to_selection = false;
                }
                if response.clicked() {
                    clicked_scene = Some(scene.id);
                }
                for element in &scene.elements {
                    element_ui(ui, element);
                }
                ui.add_space(12.0);
            }
        });
    if let Some(scene) = clicked_scene {
        studio.select_scene(scene);
    }
}

fn element_ui(ui: &mut egui::Ui, element: &ScriptElement) {
    let mono = |text: &str| egui::RichText::new(text).text_style(egui::TextStyle::Monospace);
    match element {
        ScriptElement::Action { text, .. } => {
            ui.label(mono(&text.text));
            ui.add_space(6.0);
        }
        ScriptElement::Dialogue(block) => {
            ui.vertical_centered(|ui| {
                let mut cue = block.cue.to_uppercase();
                for ext in &block.extensions {
                    cue.push_str(&format!(" ({ext})"));
                }
                ui.label(mono(&cue));
            });
            ui.horizontal(|ui| {
                ui.add_space(100.0);
                ui.vertical(|ui| {
                    ui.set_max_width(
                        (PAGE_WIDTH - 200.0).min((ui.available_width() - 100.0).max(120.0)),
                    );
                    for part in &block.parts {
                        match part {
                            DialoguePart::Parenthetical(t) => {
                                ui.horizontal(|ui| {
                                    ui.add_space(40.0);
                                    ui.label(mono(&t.text).italics());
                                });
                            }
                            DialoguePart::Line(t) => {
                                ui.label(mono(&t.text));
                            }
                            DialoguePart::Lyrics(t) => {
                                ui.label(mono(&t.text).italics());
                            }
                        }
                    }
                });
            });
            ui.add_space(6.0);
        }
        ScriptElement::Transition { text, .. } => {
            ui.with_layout(egui::Layout::right_to_left(egui::Align::TOP), |ui| {
                ui.label(mono(&text.text.to_uppercase()));
            });
        }
        ScriptElement::Centered { text } => {
            ui.vertical_centered(|ui| ui.label(mono(&text.text)));
        }
        ScriptElement::Lyrics { text } => {
            ui.label(mono(&text.text).italics());
        }
        ScriptElement::Section { text, .. } => {
            ui.label(egui::RichText::new(&text.text).weak());
        }
        ScriptElement::Synopsis { text } => {
            ui.label(
                egui::RichText::new(format!("= {}", text.text))
                    .weak()
                    .italics(),
            );
        }
        ScriptElement::Note { text } => {
            ui.label(egui::RichText::new(format!("[[{text}]]")).weak());
        }
        ScriptElement::PageBreak => {
            ui.separator();
        }
    }
}
