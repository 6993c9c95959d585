//! A small project and deterministic edits for the storage tests.
#![allow(dead_code)] // each test file uses a different part

use previz_core::*;

/// One scene with a line of dialogue and one shot.
pub fn base_project() -> Project {
    let mut project = Project::new("Storage Fixture");
    let mut scene = Scene::new(SceneHeading::parse("INT. LIGHTHOUSE - NIGHT", false));
    scene.elements.push(ScriptElement::Action {
        text: "Waves hit the glass.".into(),
        forced: false,
    });
    project.script.scenes.push(scene);
    project.script.index_cast();
    let scene = project.script.scenes[0].id;
    let rate = project.settings.frame_rate;
    project
        .shots
        .push(Shot::new(scene, RationalTime::new(48, rate)));
    project
}

/// The ids edits refer to.
#[derive(Clone, Copy, Debug)]
pub struct Ids {
    pub scene: SceneId,
    pub shot: ShotId,
    pub v1: TrackId,
}

pub fn ids(project: &Project) -> Ids {
    Ids {
        scene: project.script.scenes[0].id,
        shot: project.shots[0].id,
        v1: project.timeline.tracks[0].id,
    }
}

pub fn notes(ids: Ids, text: &str) -> EditCommand {
    EditCommand::EditShot {
        shot: ids.shot,
        field: ShotField::Notes(text.to_owned()),
    }
}

pub fn subject(ids: Ids, text: &str) -> EditCommand {
    EditCommand::EditShot {
        shot: ids.shot,
        field: ShotField::Subject(text.to_owned()),
    }
}

pub fn add_shot(ids: Ids, n: u64) -> EditCommand {
    let mut shot = Shot::new(ids.scene, RationalTime::new(24, Rate::FPS_24));
    shot.id = ShotId::from_u128(u128::from(n) + 1);
    EditCommand::AddShot {
        shot: Box::new(shot),
        after: None,
    }
}

pub fn insert_clip(ids: Ids, n: u64) -> EditCommand {
    let mut clip = Clip::new(format!("clip {n}"), ClipSource::Shot { shot: ids.shot }, 12);
    clip.id = ItemId::from_u128((1 << 64) | u128::from(n));
    EditCommand::InsertClip {
        track: ids.v1,
        frame: 0,
        clip,
    }
}

pub fn rename_clip(n: u64, name: &str) -> EditCommand {
    EditCommand::RenameClip {
        clip: ItemId::from_u128((1 << 64) | u128::from(n)),
        name: name.to_owned(),
    }
}
