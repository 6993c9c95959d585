//! The Cast panel: a voice per character (voice, espeak-ng variant, speaker of a
//! multi-speaker voice, speed, pitch), kept in the character bible, with "Preview" to hear the
//! character's first line as cast before voicing the script. Every change is an
//! `EditCharacter` command (undoable); the next "Voices" job re-voices the lines whose
//! casting changed and re-times the edit.
//!
//! Each character also has a *look* for the storyboard frames: a LoRA trained on them (a file
//! relative to the project folder), its strength and its trigger words. The frames of the
//! shots that show the character are drawn with it merged; changing it redraws only those.

use previz_core::script::{CharacterField, CharacterLook};
use previz_core::{Casting, CharacterId, EditCommand};
use previz_voices::{Catalogue, VoiceFamily};

use crate::studio::Studio;

/// An edit the panel asks for, applied after drawing (the rows borrow the document).
enum Pending {
    Now(EditCommand),
    Coalesce(EditCommand, String),
    Seal,
    Preview(CharacterId, Casting),
}

fn cast(character: CharacterId, casting: Option<Casting>) -> EditCommand {
    EditCommand::EditCharacter {
        character,
        field: CharacterField::Voice(casting),
    }
}

fn voice_label(catalogue: Option<&Catalogue>, voice: &str) -> String {
    match catalogue.and_then(|c| c.find(voice)) {
        Some(option) => match voice.split_once('+') {
            Some((_, variant)) => format!("{} + {variant}", option.label),
            None => option.label.clone(),
        },
        None if catalogue.is_some() => format!("{voice} (not on this machine)"),
        None => voice.to_owned(),
    }
}

/// Draws the panel.
pub fn ui(ui: &mut egui::Ui, studio: &mut Studio) {
    if studio.doc().is_none() {
        ui.weak("Open a project to cast its characters.");
        return;
    }
    if studio.cast.catalogue.is_none() {
        studio.request_voice_catalogue();
    }
    let Some(doc) = studio.doc() else { return };
    let catalogue = studio.cast.catalogue.as_ref();
    let read_only = studio.read_only();
    let mut pending: Vec<Pending> = Vec::new();

    ui.horizontal_wrapped(|ui| {
        ui.label(
            "A voice and a look per character. Voice changes apply to the lines the next time the dialogue is voiced (Generate › Voices), and the edit re-times to the new takes; a look (a LoRA trained on the character) is used for the frames of the shots that show them.",
        );
    });
    match catalogue {
        None => {
            ui.weak("Finding the voices on this machine…");
        }
        Some(c) => {
            for note in &c.notes {
                ui.weak(note);
            }
        }
    }
    ui.separator();

    let speaking: Vec<_> = doc
        .script
        .characters
        .iter()
        .map(|c| {
            let lines = doc
                .script
                .scenes
                .iter()
                .map(|s| s.dialogue().filter(|d| d.character == Some(c.id)).count())
                .sum::<usize>();
            (c, lines)
        })
        .collect();
    if speaking.is_empty() {
        ui.weak("The script has no characters yet.");
        return;
    }

    egui::ScrollArea::vertical().id_salt("cast").show(ui, |ui| {
        for (character, lines) in &speaking {
            let id = character.id;
            let name = &character.name;
            let current = character.voice.clone();
            ui.group(|ui| {
                ui.set_width(ui.available_width());
                ui.horizontal_wrapped(|ui| {
                    ui.strong(name);
                    ui.weak(match lines {
                        0 => "no lines".to_owned(),
                        1 => "1 line".to_owned(),
                        n => format!("{n} lines"),
                    });
                    let busy = studio.cast.previewing.is_some_and(|(_, c)| c == id);
                    let casting = current.clone().unwrap_or_else(|| {
                        Casting::new(
                            studio
                                .settings
                                .voice_model
                                .clone()
                                .or_else(|| {
                                    catalogue
                                        .and_then(|c| c.voices.first())
                                        .map(|v| v.id.clone())
                                })
                                .unwrap_or_else(|| "silent".to_owned()),
                        )
                    });
                    let r = ui
                        .add_enabled(
                            !busy,
                            egui::Button::new(if busy { "Speaking…" } else { "▶ Preview" }),
                        )
                        .on_hover_text("Hear the character's first line as cast");
                    let r = r.accessible_name(format!("Preview {name}"));
                    if r.clicked() {
                        pending.push(Pending::Preview(id, casting));
                    }
                    if let Some(heard) = studio.cast.heard.as_ref().filter(|h| h.character == id) {
                        ui.weak(match &heard.played {
                            Ok(device) => {
                                format!("{:.1} s, {} on {device}", heard.seconds, heard.voice)
                            }
                            Err(why) => format!(
                                "{:.1} s, {}; not played: {why}",
                                heard.seconds, heard.voice
                            ),
                        });
                    }
                    if let Some((_, why)) = studio.cast.failed.as_ref().filter(|(c, _)| *c == id) {
                        ui.colored_label(ui.visuals().error_fg_color, why);
                    }
                });
                ui.add_enabled_ui(!read_only, |ui| {
                    ui.horizontal_wrapped(|ui| {
                        ui.label("Voice");
                        voice_menu(ui, catalogue, id, name, current.as_ref(), &mut pending);
                        variant_menu(ui, catalogue, id, name, current.as_ref(), &mut pending);
                    });
                    if let Some(casting) = &current {
                        ui.horizontal_wrapped(|ui| {
                            casting_numbers(ui, id, name, casting, &mut pending);
                        });
                    }
                    ui.horizontal_wrapped(|ui| {
                        look_row(ui, id, name, character.look.as_ref(), &mut pending);
                    });
                    ui.horizontal_wrapped(|ui| {
                        reference_row(ui, id, name, character.look.as_ref(), &mut pending);
                    });
                });
            });
        }
    });
    for p in pending {
        match p {
            Pending::Now(command) => {
                studio.apply(&command);
            }
            Pending::Coalesce(command, key) => {
                studio.apply_coalescing(&command, &key);
            }
            Pending::Seal => studio.seal(),
            Pending::Preview(character, casting) => studio.preview_voice(character, casting),
        }
    }
}

/// An edit that sets a character's look, clearing it when it says nothing.
fn set_look(id: CharacterId, l: CharacterLook) -> EditCommand {
    EditCommand::EditCharacter {
        character: id,
        field: CharacterField::Look((!l.is_empty()).then_some(l)),
    }
}

/// The character's reference picture (shown to the image model through the IP-Adapter) and
/// its strength; each edit coalesces into one undo step per field.
fn reference_row(
    ui: &mut egui::Ui,
    id: CharacterId,
    name: &str,
    look: Option<&CharacterLook>,
    pending: &mut Vec<Pending>,
) {
    let current = look.cloned().unwrap_or_else(|| CharacterLook::new(""));
    ui.label("Reference");
    let mut file = current.reference.clone();
    let r = ui
        .add(
            egui::TextEdit::singleline(&mut file)
                .hint_text("picture (.png, .jpg)")
                .desired_width(180.0),
        )
        .on_hover_text(
            "A picture of this character, relative to the project folder: shown to the image model through the IP-Adapter (ip_adapter in the settings) for the shots that show them",
        )
        .accessible_name(format!("Reference picture of {name}"));
    if r.changed() {
        let mut l = current.clone();
        l.reference = file;
        pending.push(Pending::Coalesce(
            set_look(id, l),
            format!("look:{id}:reference"),
        ));
    } else if r.lost_focus() {
        pending.push(Pending::Seal);
    }
    if current.reference.trim().is_empty() {
        return;
    }
    let mut strength = current.reference_percent;
    let r = ui
        .add(
            egui::DragValue::new(&mut strength)
                .range(0..=200)
                .suffix(" %"),
        )
        .on_hover_text("How strongly the picture steers: 60 leaves room for the prompt")
        .accessible_name(format!("Reference strength of {name}"));
    if r.changed() {
        let mut l = current;
        l.reference_percent = strength;
        pending.push(Pending::Coalesce(
            set_look(id, l),
            format!("look:{id}:reference-strength"),
        ));
    } else if r.drag_stopped() || r.lost_focus() {
        pending.push(Pending::Seal);
    }
}

/// The character's look: LoRA file, strength and trigger words; each edit coalesces into one
/// undo step per field, and an empty file clears the LoRA (a reference picture stays).
fn look_row(
    ui: &mut egui::Ui,
    id: CharacterId,
    name: &str,
    look: Option<&CharacterLook>,
    pending: &mut Vec<Pending>,
) {
    let current = look.cloned().unwrap_or_else(|| CharacterLook::new(""));
    let set = |l: CharacterLook| set_look(id, l);
    ui.label("Look");
    let mut file = current.lora.clone();
    let r = ui
        .add(
            egui::TextEdit::singleline(&mut file)
                .hint_text("LoRA file (.safetensors)")
                .desired_width(180.0),
        )
        .on_hover_text(
            "A LoRA trained on this character, relative to the project folder: merged into the image model for the shots that show them",
        )
        .accessible_name(format!("Look LoRA of {name}"));
    if r.changed() {
        let mut l = current.clone();
        l.lora = file;
        pending.push(Pending::Coalesce(set(l), format!("look:{id}:file")));
    } else if r.lost_focus() {
        pending.push(Pending::Seal);
    }
    if current.lora.trim().is_empty() {
        return;
    }
    let mut scale = current.scale_percent;
    let r = ui
        .add(egui::DragValue::new(&mut scale).range(0..=200).suffix(" %"))
        .accessible_name(format!("Look strength of {name}"));
    if r.changed() {
        let mut l = current.clone();
        l.scale_percent = scale;
        pending.push(Pending::Coalesce(set(l), format!("look:{id}:scale")));
    } else if r.drag_stopped() || r.lost_focus() {
        pending.push(Pending::Seal);
    }
    let mut trigger = current.trigger.clone();
    let r = ui
        .add(
            egui::TextEdit::singleline(&mut trigger)
                .hint_text("trigger words")
                .desired_width(140.0),
        )
        .accessible_name(format!("Look trigger words of {name}"));
    if r.changed() {
        let mut l = current;
        l.trigger = trigger;
        pending.push(Pending::Coalesce(set(l), format!("look:{id}:trigger")));
    } else if r.lost_focus() {
        pending.push(Pending::Seal);
    }
}

fn voice_menu(
    ui: &mut egui::Ui,
    catalogue: Option<&Catalogue>,
    id: CharacterId,
    name: &str,
    current: Option<&Casting>,
    pending: &mut Vec<Pending>,
) {
    let selected = current.map_or_else(
        || "not cast".to_owned(),
        |c| voice_label(catalogue, &c.voice),
    );
    let menu = egui::ComboBox::from_id_salt(("voice", id))
        .selected_text(selected)
        .width(230.0)
        .show_ui(ui, |ui| {
            if ui.selectable_label(current.is_none(), "not cast").clicked() {
                pending.push(Pending::Now(cast(id, None)));
            }
            let Some(catalogue) = catalogue else {
                ui.weak("finding voices…");
                return;
            };
            for option in &catalogue.voices {
                let base =
                    current.map(|c| c.voice.split_once('+').map_or(c.voice.as_str(), |(b, _)| b));
                if ui
                    .selectable_label(base == Some(option.id.as_str()), &option.label)
                    .clicked()
                {
                    // A new voice keeps the character's pace and pitch; speaker and variant
                    // belong to the old voice.
                    let mut casting = current.cloned().unwrap_or_else(|| Casting::new(""));
                    casting.voice.clone_from(&option.id);
                    casting.speaker = option.speakers.first().cloned();
                    pending.push(Pending::Now(cast(id, Some(casting))));
                }
            }
        });
    let _ = menu.response.accessible_name(format!("Voice of {name}"));
}

/// Speed and pitch, dragged or typed (one undo step per gesture).
fn casting_numbers(
    ui: &mut egui::Ui,
    id: CharacterId,
    name: &str,
    casting: &Casting,
    pending: &mut Vec<Pending>,
) {
    number(
        ui,
        name,
        "Speed",
        " %",
        25..=400,
        casting.speed_percent,
        |v| {
            let mut c = casting.clone();
            c.speed_percent = v;
            c
        },
    )
    .map(|c| (c, "speed"))
    .into_iter()
    .chain(
        number(
            ui,
            name,
            "Pitch",
            " st",
            -12..=12,
            casting.pitch_semitones,
            |v| {
                let mut c = casting.clone();
                c.pitch_semitones = v;
                c
            },
        )
        .map(|c| (c, "pitch")),
    )
    .for_each(|(edit, field)| match edit {
        Some(c) => pending.push(Pending::Coalesce(
            cast(id, Some(c)),
            format!("cast:{id}:{field}"),
        )),
        None => pending.push(Pending::Seal),
    });

    /// One numeric field of the casting, named "<label> of <character>": `Some(Some(casting))`
    /// when it changed, `Some(None)` when the drag or typing ended (seal the undo step).
    fn number<T: egui::emath::Numeric>(
        ui: &mut egui::Ui,
        name: &str,
        label: &str,
        suffix: &str,
        range: std::ops::RangeInclusive<T>,
        value: T,
        with: impl FnOnce(T) -> Casting,
    ) -> Option<Option<Casting>> {
        ui.label(label);
        let mut v = value;
        let r = ui
            .add(egui::DragValue::new(&mut v).range(range).suffix(suffix))
            .accessible_name(format!("{label} of {name}"));
        if r.changed() {
            return Some(Some(with(v)));
        }
        (r.drag_stopped() || r.lost_focus()).then_some(None)
    }
}

/// espeak-ng voices take a variant (`+Annie`); multi-speaker Piper voices a speaker.
fn variant_menu(
    ui: &mut egui::Ui,
    catalogue: Option<&Catalogue>,
    id: CharacterId,
    name: &str,
    current: Option<&Casting>,
    pending: &mut Vec<Pending>,
) {
    let (Some(catalogue), Some(casting)) = (catalogue, current) else {
        return;
    };
    let Some(option) = catalogue.find(&casting.voice) else {
        return;
    };
    match option.family {
        VoiceFamily::Espeak => {
            ui.label("Variant");
            let (base, variant) = casting
                .voice
                .split_once('+')
                .map_or((casting.voice.as_str(), None), |(b, v)| (b, Some(v)));
            let menu = egui::ComboBox::from_id_salt(("variant", id))
                .selected_text(variant.unwrap_or("default"))
                .width(120.0)
                .show_ui(ui, |ui| {
                    if ui.selectable_label(variant.is_none(), "default").clicked() {
                        let mut c = casting.clone();
                        c.voice = base.to_owned();
                        pending.push(Pending::Now(cast(id, Some(c))));
                    }
                    for v in &catalogue.variants {
                        let label = format!("{} ({})", v.name, v.gender);
                        if ui
                            .selectable_label(variant == Some(v.name.as_str()), label)
                            .clicked()
                        {
                            let mut c = casting.clone();
                            c.voice = format!("{base}+{}", v.name);
                            pending.push(Pending::Now(cast(id, Some(c))));
                        }
                    }
                });
            let _ = menu.response.accessible_name(format!("Variant of {name}"));
        }
        VoiceFamily::Piper if option.speaker_count > 1 => {
            ui.label("Speaker");
            let speakers: Vec<String> = if option.speakers.is_empty() {
                (0..option.speaker_count).map(|i| i.to_string()).collect()
            } else {
                option.speakers.clone()
            };
            let menu = egui::ComboBox::from_id_salt(("speaker", id))
                .selected_text(
                    casting
                        .speaker
                        .clone()
                        .unwrap_or_else(|| speakers[0].clone()),
                )
                .width(120.0)
                .show_ui(ui, |ui| {
                    for s in &speakers {
                        if ui
                            .selectable_label(casting.speaker.as_deref() == Some(s.as_str()), s)
                            .clicked()
                        {
                            let mut c = casting.clone();
                            c.speaker = Some(s.clone());
                            pending.push(Pending::Now(cast(id, Some(c))));
                        }
                    }
                });
            let _ = menu.response.accessible_name(format!("Speaker of {name}"));
        }
        _ => {}
    }
}
