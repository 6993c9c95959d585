//! The character and location bibles and the storyboard style: edits, undo, and old files.

mod common;

use common::*;
use previz_core::*;

#[test]
fn character_fields_edit_and_undo() {
    let mut f = fixture();
    let mara = f.project.script.characters[0].id;
    let before = f.project.clone();
    let command = EditCommand::EditCharacter {
        character: mara,
        field: CharacterField::Wardrobe("rain-soaked coat".into()),
    };
    assert_eq!(command.label(), "Edit character wardrobe");
    let applied = f.project.apply(&command).unwrap();
    assert_eq!(f.project.script.characters[0].wardrobe, "rain-soaked coat");
    let age = f
        .project
        .apply(&EditCommand::EditCharacter {
            character: mara,
            field: CharacterField::Age("30s".into()),
        })
        .unwrap();
    assert_eq!(f.project.script.characters[0].age, "30s");
    f.project.apply_changes(&age.undo).unwrap();
    f.project.apply_changes(&applied.undo).unwrap();
    assert_eq!(f.project, before);
    let missing = EditCommand::EditCharacter {
        character: CharacterId::new(),
        field: CharacterField::Age("1".into()),
    };
    assert!(f.project.apply(&missing).is_err());
    assert_eq!(f.project, before, "a refused edit changes nothing");
}

#[test]
fn location_description_and_style_edit_and_undo() {
    let mut f = fixture();
    let location = f.project.script.locations[0].id;
    let before = f.project.clone();
    let mut history = History::new();
    history
        .apply(
            &mut f.project,
            &EditCommand::EditLocation {
                location,
                description: "a cramped lamp room".into(),
            },
        )
        .unwrap();
    history
        .apply(
            &mut f.project,
            &EditCommand::SetStyle { style: Style::Noir },
        )
        .unwrap();
    assert_eq!(
        f.project.script.locations[0].description,
        "a cramped lamp room"
    );
    assert_eq!(f.project.settings.style, Style::Noir);
    assert_eq!(
        EditCommand::SetStyle { style: Style::Noir }.label(),
        "Storyboard style"
    );
    history.undo(&mut f.project).unwrap();
    assert_eq!(f.project.settings.style, Style::PencilStoryboard);
    history.undo(&mut f.project).unwrap();
    assert_eq!(f.project, before);
}

#[test]
fn old_projects_open_unchanged_and_new_fields_round_trip() {
    let f = fixture();
    // A project written before the bible existed has none of its keys.
    let old = format::to_json(&f.project);
    let text = String::from_utf8(old.clone()).unwrap();
    for key in ["\"age\"", "\"appearance\"", "\"wardrobe\"", "\"style\""] {
        assert!(!text.contains(key), "{key} written when empty");
    }
    let opened = format::from_json(&old).unwrap();
    assert_eq!(opened, f.project);
    assert_eq!(
        format::to_json(&opened),
        old,
        "an old file is written back byte for byte"
    );

    let mut p = f.project.clone();
    p.script.characters[0].appearance = "tall, grey stubble".into();
    p.settings.style = Style::Custom("charcoal on brown paper".into());
    let back = format::from_json(&format::to_json(&p)).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.settings.style.prompt_text(), "charcoal on brown paper");
}

#[test]
fn a_project_saved_before_the_bible_opens_and_saves_back_unchanged() {
    // Written by `previz import` + `previz breakdown` before characters had bible fields and
    // settings a style.
    let old = include_bytes!("fixtures/before-bible.project.json");
    let project = format::from_json(old).unwrap();
    assert!(project.validate().is_empty());
    assert!(
        project
            .script
            .characters
            .iter()
            .all(|c| c.age.is_empty() && c.appearance.is_empty() && c.wardrobe.is_empty())
    );
    assert_eq!(project.settings.style, Style::PencilStoryboard);
    assert_eq!(format::to_json(&project), old.to_vec());
}
