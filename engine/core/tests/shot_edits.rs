//! Shot-list verbs and undo history.

mod common;

use common::*;
use previz_core::*;

fn take(asset: ContentHash) -> Take {
    Take {
        id: TakeId::new(),
        asset,
        provenance: Provenance {
            generator: "diffusion".into(),
            seed: Some(7),
            ..Provenance::default()
        },
        created: jiff::Timestamp::UNIX_EPOCH,
        note: String::new(),
        extra: Extra::new(),
    }
}

fn scene_order(project: &Project, scene: SceneId) -> Vec<ShotId> {
    project.shots_in_scene(scene).map(|s| s.id).collect()
}

#[test]
fn new_shots_land_at_the_end_of_their_scene() {
    let mut f = fixture();
    let shot = Shot::new(f.scene1, RationalTime::new(24, Rate::FPS_24));
    let id = shot.id;
    f.project
        .apply(&EditCommand::AddShot {
            shot: Box::new(shot),
            after: None,
        })
        .unwrap();
    assert_eq!(
        f.project.shot_index(id),
        Some(2),
        "after scene 1's shots, before scene 2's"
    );
    let first = Shot::new(f.scene1, RationalTime::new(24, Rate::FPS_24));
    let first_id = first.id;
    f.project
        .apply(&EditCommand::AddShot {
            shot: Box::new(first),
            after: Some(f.shots[0]),
        })
        .unwrap();
    assert_eq!(f.project.shot_index(first_id), Some(1));
    assert_sound(&f.project);
    let orphan = Shot::new(SceneId::new(), RationalTime::new(24, Rate::FPS_24));
    let err = f
        .project
        .apply(&EditCommand::AddShot {
            shot: Box::new(orphan),
            after: None,
        })
        .unwrap_err();
    assert!(
        matches!(err, EditError::NotFound { what: "scene", .. }),
        "{err}"
    );
}

#[test]
fn reorder_moves_within_the_scene_and_undoes() {
    let mut f = fixture();
    let extra = Shot::new(f.scene1, RationalTime::new(24, Rate::FPS_24));
    let extra_id = extra.id;
    f.project
        .apply(&EditCommand::AddShot {
            shot: Box::new(extra),
            after: None,
        })
        .unwrap();
    let before = f.project.clone();
    let applied = f
        .project
        .apply(&EditCommand::ReorderShot {
            shot: extra_id,
            position: 0,
        })
        .unwrap();
    assert_eq!(
        scene_order(&f.project, f.scene1),
        vec![extra_id, f.shots[0], f.shots[1]]
    );
    let applied2 = f
        .project
        .apply(&EditCommand::ReorderShot {
            shot: extra_id,
            position: 99,
        })
        .unwrap();
    assert_eq!(
        scene_order(&f.project, f.scene1),
        vec![f.shots[0], f.shots[1], extra_id]
    );
    assert_eq!(
        f.project.shots.last().unwrap().scene,
        f.scene2,
        "scene 2 stays after scene 1"
    );
    f.project.apply_changes(&applied2.undo).unwrap();
    f.project.apply_changes(&applied.undo).unwrap();
    assert_eq!(f.project, before);
}

#[test]
fn fields_are_validated() {
    let mut f = fixture();
    let shot = f.shots[0];
    for bad in [
        ShotField::LensMm(Some(-35.0)),
        ShotField::LensMm(Some(f32::NAN)),
        ShotField::Duration(RationalTime::new(0, Rate::FPS_24)),
        ShotField::Dialogue(vec![LineId::new()]),
        ShotField::Scene(SceneId::new()),
    ] {
        let before = f.project.clone();
        assert!(
            f.project
                .apply(&EditCommand::EditShot {
                    shot,
                    field: bad.clone()
                })
                .is_err(),
            "{bad:?}"
        );
        assert_eq!(f.project, before);
    }
    f.project
        .apply(&EditCommand::EditShot {
            shot,
            field: ShotField::Dialogue(vec![f.lines[0], f.lines[1]]),
        })
        .unwrap();
    assert_sound(&f.project);
}

#[test]
fn takes_attach_activate_and_detach_with_a_successor() {
    let mut f = fixture();
    let shot = f.shots[0];
    let t1 = take(f.image);
    let second_hash = ContentHash([9; 32]);
    let t2 = take(second_hash);
    let (t1_id, t2_id) = (t1.id, t2.id);
    f.project
        .apply(&EditCommand::AttachTake {
            shot,
            take: Box::new(t1),
            asset: None,
            make_active: true,
        })
        .unwrap();
    // A take of an unregistered asset needs the asset.
    assert!(
        f.project
            .apply(&EditCommand::AttachTake {
                shot,
                take: Box::new(t2.clone()),
                asset: None,
                make_active: true,
            })
            .is_err()
    );
    let asset = Asset {
        hash: second_hash,
        kind: AssetKind::Image,
        media: MediaInfo::default(),
        extra: Extra::new(),
    };
    f.project
        .apply(&EditCommand::AttachTake {
            shot,
            take: Box::new(t2),
            asset: Some(Box::new(asset)),
            make_active: true,
        })
        .unwrap();
    assert_eq!(f.project.shot(shot).unwrap().active_take, Some(t2_id));
    // A clip pinned to the active take.
    let pinned = Clip::new("pinned", ClipSource::Take { shot, take: t2_id }, 24);
    let pinned_id = pinned.id;
    f.project
        .apply(&EditCommand::InsertClip {
            track: f.v1,
            frame: 0,
            clip: pinned,
        })
        .unwrap();
    let before = f.project.clone();
    let applied = f
        .project
        .apply(&EditCommand::DetachTake { shot, take: t2_id })
        .unwrap();
    assert_sound(&f.project);
    assert_eq!(f.project.shot(shot).unwrap().active_take, Some(t1_id));
    let (t, i) = f.project.timeline.find_item(pinned_id).unwrap();
    assert_eq!(
        f.project.timeline.tracks[t].items[i]
            .as_clip()
            .unwrap()
            .source,
        ClipSource::Shot { shot }
    );
    f.project.apply_changes(&applied.undo).unwrap();
    assert_eq!(f.project, before);
}

#[test]
fn removing_a_shot_lifts_its_clips() {
    let mut f = fixture();
    let shot = f.shots[1];
    let other = Clip::new("other", ClipSource::Shot { shot: f.shots[0] }, 24);
    let mine = Clip::new("mine", ClipSource::Shot { shot }, 24);
    for clip in [other, mine] {
        let at = f.project.timeline.track(f.v1).unwrap().duration_frames();
        f.project
            .apply(&EditCommand::InsertClip {
                track: f.v1,
                frame: at,
                clip,
            })
            .unwrap();
    }
    let tail = Clip::new("tail", ClipSource::Shot { shot: f.shots[2] }, 24);
    f.project
        .apply(&EditCommand::InsertClip {
            track: f.v1,
            frame: 48,
            clip: tail,
        })
        .unwrap();
    let before = f.project.clone();
    let applied = f.project.apply(&EditCommand::RemoveShot { shot }).unwrap();
    assert_sound(&f.project);
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("other", 24), ("gap", 24), ("tail", 24)])
    );
    assert!(f.project.shot(shot).is_none());
    f.project.apply_changes(&applied.undo).unwrap();
    assert_eq!(f.project, before);
}

#[test]
fn script_replacement_must_keep_what_shots_point_at() {
    let mut f = fixture();
    let mut script = f.project.script.clone();
    script.scenes.remove(1);
    let err = f
        .project
        .apply(&EditCommand::ReplaceScript {
            script: Box::new(script),
        })
        .unwrap_err();
    assert!(matches!(err, EditError::InUse { .. }), "{err}");
}

#[test]
fn typing_coalesces_into_one_step_and_seal_starts_another() {
    let mut f = fixture();
    let shot = f.shots[0];
    let mut history = History::new();
    let mut text = String::new();
    for ch in "a lighthouse".chars() {
        text.push(ch);
        history
            .apply_coalescing(
                &mut f.project,
                &EditCommand::EditShot {
                    shot,
                    field: ShotField::Prompt(text.clone()),
                },
                "prompt",
            )
            .unwrap();
    }
    assert_eq!(history.len(), 1);
    assert_eq!(history.undo_label(), Some("Edit shot prompt"));
    history.seal();
    history
        .apply_coalescing(
            &mut f.project,
            &EditCommand::EditShot {
                shot,
                field: ShotField::Prompt("a lighthouse at dusk".into()),
            },
            "prompt",
        )
        .unwrap();
    assert_eq!(history.len(), 2);
    history.undo(&mut f.project).unwrap();
    assert_eq!(f.project.shot(shot).unwrap().prompt, "a lighthouse");
    history.undo(&mut f.project).unwrap();
    assert_eq!(f.project.shot(shot).unwrap().prompt, "");
    assert!(!history.can_undo());
    history.redo(&mut f.project).unwrap();
    assert_eq!(f.project.shot(shot).unwrap().prompt, "a lighthouse");
    history.redo(&mut f.project).unwrap();
    assert_eq!(f.project.shot(shot).unwrap().prompt, "a lighthouse at dusk");
    assert!(!history.can_redo());
}

#[test]
fn a_drag_is_one_undo_step_and_escape_cancels_it() {
    let mut f = fixture();
    let clip = slug("A", 24);
    let id = clip.id;
    let mut history = History::new();
    history
        .apply(
            &mut f.project,
            &EditCommand::InsertClip {
                track: f.v1,
                frame: 0,
                clip,
            },
        )
        .unwrap();
    let before_drag = f.project.clone();
    history.begin_group("Drag clip");
    for frame in (2..=40).step_by(2) {
        history
            .apply(
                &mut f.project,
                &EditCommand::MoveClip {
                    clip: id,
                    track: f.v1,
                    frame,
                    ripple: false,
                },
            )
            .unwrap();
    }
    history.end_group();
    assert_eq!(layout(&f.project, f.v1), l(&[("gap", 40), ("A", 24)]));
    assert_eq!(history.len(), 2);
    assert_eq!(history.undo_label(), Some("Drag clip"));
    history.undo(&mut f.project).unwrap();
    assert_eq!(f.project, before_drag);

    history.begin_group("Drag clip");
    history
        .apply(
            &mut f.project,
            &EditCommand::MoveClip {
                clip: id,
                track: f.v1,
                frame: 100,
                ripple: false,
            },
        )
        .unwrap();
    history.cancel_group(&mut f.project).unwrap();
    assert_eq!(f.project, before_drag);
    assert_eq!(history.len(), 1);
}

#[test]
fn a_new_edit_clears_redo() {
    let mut f = fixture();
    let mut history = History::new();
    let shot = f.shots[0];
    let edit = |p: &str| EditCommand::EditShot {
        shot,
        field: ShotField::Subject(p.into()),
    };
    history.apply(&mut f.project, &edit("Mara")).unwrap();
    history.undo(&mut f.project).unwrap();
    assert!(history.can_redo());
    history.apply(&mut f.project, &edit("Otto")).unwrap();
    assert!(!history.can_redo());
}

#[test]
fn history_is_bounded() {
    let mut f = fixture();
    let mut history = History::with_limit(5);
    for i in 0..20 {
        history
            .apply(
                &mut f.project,
                &EditCommand::EditShot {
                    shot: f.shots[0],
                    field: ShotField::Notes(i.to_string()),
                },
            )
            .unwrap();
    }
    assert_eq!(history.len(), 5);
    while history.can_undo() {
        history.undo(&mut f.project).unwrap();
    }
    assert_eq!(f.project.shot(f.shots[0]).unwrap().notes, "14");
}

#[test]
fn commands_and_changes_serialize_for_journals_and_plugins() {
    let f = fixture();
    let command = EditCommand::EditShot {
        shot: f.shots[0],
        field: ShotField::LensMm(Some(50.0)),
    };
    let json = serde_json::to_value(&command).unwrap();
    assert_eq!(json["op"], "edit_shot");
    assert_eq!(json["field"], "lens_mm");
    assert_eq!(json["value"], 50.0);
    let back: EditCommand = serde_json::from_value(json).unwrap();
    assert_eq!(back, command);
}
