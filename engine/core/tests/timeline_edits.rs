//! Timeline verbs: what each does to a track, and that undo and redo are exact.

mod common;

use common::*;
use previz_core::*;

/// Applies, checks, undoes (back to the start), redoes (back to the result).
fn check_round_trip(project: &mut Project, command: &EditCommand) -> Applied {
    let before = project.clone();
    let applied = project
        .apply(command)
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert_sound(project);
    let after = project.clone();
    project.apply_changes(&applied.undo).unwrap();
    assert_eq!(*project, before, "undo of {}", applied.label);
    project.apply_changes(&applied.redo).unwrap();
    assert_eq!(*project, after, "redo of {}", applied.label);
    applied
}

fn with_clips(names: &[(&str, i64)]) -> (Fixture, Vec<ItemId>) {
    let mut f = fixture();
    let mut ids = Vec::new();
    let mut at = 0;
    for (name, frames) in names {
        let clip = slug(name, *frames);
        ids.push(clip.id);
        f.project
            .apply(&EditCommand::InsertClip {
                track: f.v1,
                frame: at,
                clip,
            })
            .unwrap();
        at += frames;
    }
    (f, ids)
}

#[test]
fn insert_splits_the_clip_under_the_playhead_and_ripples() {
    let (mut f, ids) = with_clips(&[("A", 24), ("B", 24)]);
    check_round_trip(
        &mut f.project,
        &EditCommand::InsertClip {
            track: f.v1,
            frame: 12,
            clip: slug("C", 6),
        },
    );
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("A", 12), ("C", 6), ("A", 12), ("B", 24)])
    );
    // The first half keeps the id; the second is a new clip.
    let track = f.project.timeline.track(f.v1).unwrap();
    assert_eq!(track.items[0].id(), ids[0]);
    assert_ne!(track.items[2].id(), ids[0]);
}

#[test]
fn insert_past_the_end_pads_with_a_gap() {
    let (mut f, _) = with_clips(&[("A", 24)]);
    check_round_trip(
        &mut f.project,
        &EditCommand::InsertClip {
            track: f.v1,
            frame: 30,
            clip: slug("B", 10),
        },
    );
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("A", 24), ("gap", 6), ("B", 10)])
    );
}

#[test]
fn overwrite_replaces_what_was_there_without_moving_the_rest() {
    let (mut f, _) = with_clips(&[("A", 24), ("B", 24), ("C", 24)]);
    check_round_trip(
        &mut f.project,
        &EditCommand::OverwriteClip {
            track: f.v1,
            frame: 18,
            clip: slug("X", 36),
        },
    );
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("A", 18), ("X", 36), ("C", 18)])
    );
    assert_eq!(
        f.project.timeline.track(f.v1).unwrap().duration_frames(),
        72
    );
}

#[test]
fn split_advances_the_source_of_sound_but_not_of_stills() {
    let mut f = fixture();
    let voice = Clip::new(
        "line",
        ClipSource::Dialogue {
            line: f.lines[0],
            take: None,
        },
        48,
    );
    let voice_id = voice.id;
    f.project
        .apply(&EditCommand::InsertClip {
            track: f.a1,
            frame: 0,
            clip: voice,
        })
        .unwrap();
    check_round_trip(
        &mut f.project,
        &EditCommand::SplitClip {
            clip: voice_id,
            frame: 20,
        },
    );
    let track = f.project.timeline.track(f.a1).unwrap();
    let second = track.items[1].as_clip().unwrap();
    assert_eq!((second.source_in_frames, second.duration_frames), (20, 28));

    let (mut f, ids) = with_clips(&[("A", 24)]);
    check_round_trip(
        &mut f.project,
        &EditCommand::SplitClip {
            clip: ids[0],
            frame: 10,
        },
    );
    let track = f.project.timeline.track(f.v1).unwrap();
    assert_eq!(track.items[1].as_clip().unwrap().source_in_frames, 0);
    let err = f
        .project
        .apply(&EditCommand::SplitClip {
            clip: ids[0],
            frame: 10,
        })
        .unwrap_err();
    assert!(err.to_string().contains("not inside"), "{err}");
}

#[test]
fn lift_leaves_a_gap_and_ripple_delete_closes_it() {
    let (mut f, ids) = with_clips(&[("A", 24), ("B", 12), ("C", 24)]);
    check_round_trip(&mut f.project, &EditCommand::LiftItem { item: ids[1] });
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("A", 24), ("gap", 12), ("C", 24)])
    );
    let gap = f.project.timeline.track(f.v1).unwrap().items[1].id();
    check_round_trip(&mut f.project, &EditCommand::RippleDelete { item: gap });
    assert_eq!(layout(&f.project, f.v1), l(&[("A", 24), ("C", 24)]));
    // Lifting the last clip leaves no trailing gap.
    check_round_trip(&mut f.project, &EditCommand::LiftItem { item: ids[2] });
    assert_eq!(layout(&f.project, f.v1), l(&[("A", 24)]));
}

#[test]
fn adjacent_gaps_merge() {
    let (mut f, ids) = with_clips(&[("A", 24), ("B", 12), ("C", 6), ("D", 24)]);
    f.project
        .apply(&EditCommand::LiftItem { item: ids[1] })
        .unwrap();
    check_round_trip(&mut f.project, &EditCommand::LiftItem { item: ids[2] });
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("A", 24), ("gap", 18), ("D", 24)])
    );
}

#[test]
fn move_without_ripple_leaves_a_gap_and_overwrites_the_destination() {
    let (mut f, ids) = with_clips(&[("A", 24), ("B", 24), ("C", 24)]);
    check_round_trip(
        &mut f.project,
        &EditCommand::MoveClip {
            clip: ids[0],
            track: f.v1,
            frame: 60,
            ripple: false,
        },
    );
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("gap", 24), ("B", 24), ("C", 12), ("A", 24)])
    );
}

#[test]
fn move_with_ripple_reorders() {
    let (mut f, ids) = with_clips(&[("A", 24), ("B", 24), ("C", 24)]);
    check_round_trip(
        &mut f.project,
        &EditCommand::MoveClip {
            clip: ids[0],
            track: f.v1,
            frame: 48,
            ripple: true,
        },
    );
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("B", 24), ("C", 24), ("A", 24)])
    );
}

#[test]
fn move_to_another_track_of_the_right_kind_only() {
    let (mut f, ids) = with_clips(&[("A", 24)]);
    let v2 = Track::new("V2", TrackKind::Video);
    let v2_id = v2.id;
    check_round_trip(
        &mut f.project,
        &EditCommand::AddTrack {
            index: None,
            track: v2,
        },
    );
    check_round_trip(
        &mut f.project,
        &EditCommand::MoveClip {
            clip: ids[0],
            track: v2_id,
            frame: 10,
            ripple: false,
        },
    );
    assert_eq!(layout(&f.project, v2_id), l(&[("gap", 10), ("A", 24)]));
    assert!(layout(&f.project, f.v1).is_empty());
    let before = f.project.clone();
    let err = f
        .project
        .apply(&EditCommand::MoveClip {
            clip: ids[0],
            track: f.a1,
            frame: 0,
            ripple: false,
        })
        .unwrap_err();
    assert!(err.to_string().contains("audio track"), "{err}");
    assert_eq!(f.project, before, "a refused edit changes nothing");
}

#[test]
fn trim_tail_without_ripple_uses_the_gap_and_stops_at_a_clip() {
    let (mut f, ids) = with_clips(&[("A", 24), ("B", 24)]);
    let shorten = EditCommand::TrimClip {
        clip: ids[0],
        edge: Edge::Tail,
        delta_frames: -8,
        ripple: false,
    };
    check_round_trip(&mut f.project, &shorten);
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("A", 16), ("gap", 8), ("B", 24)])
    );
    let extend = EditCommand::TrimClip {
        clip: ids[0],
        edge: Edge::Tail,
        delta_frames: 5,
        ripple: false,
    };
    check_round_trip(&mut f.project, &extend);
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("A", 21), ("gap", 3), ("B", 24)])
    );
    let before = f.project.clone();
    let err = f
        .project
        .apply(&EditCommand::TrimClip {
            clip: ids[0],
            edge: Edge::Tail,
            delta_frames: 4,
            ripple: false,
        })
        .unwrap_err();
    assert!(err.to_string().contains("3 free frames"), "{err}");
    assert_eq!(f.project, before);
    // The last clip extends freely.
    check_round_trip(
        &mut f.project,
        &EditCommand::TrimClip {
            clip: ids[1],
            edge: Edge::Tail,
            delta_frames: 100,
            ripple: false,
        },
    );
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("A", 21), ("gap", 3), ("B", 124)])
    );
}

#[test]
fn trim_head_without_ripple_keeps_the_tail_in_place() {
    let (mut f, ids) = with_clips(&[("A", 24), ("B", 24)]);
    check_round_trip(
        &mut f.project,
        &EditCommand::TrimClip {
            clip: ids[1],
            edge: Edge::Head,
            delta_frames: 10,
            ripple: false,
        },
    );
    assert_eq!(
        layout(&f.project, f.v1),
        l(&[("A", 24), ("gap", 10), ("B", 14)])
    );
    check_round_trip(
        &mut f.project,
        &EditCommand::TrimClip {
            clip: ids[1],
            edge: Edge::Head,
            delta_frames: -10,
            ripple: false,
        },
    );
    assert_eq!(layout(&f.project, f.v1), l(&[("A", 24), ("B", 24)]));
    let err = f
        .project
        .apply(&EditCommand::TrimClip {
            clip: ids[0],
            edge: Edge::Head,
            delta_frames: -1,
            ripple: false,
        })
        .unwrap_err();
    assert!(err.to_string().contains("0 free frames"), "{err}");
}

#[test]
fn ripple_trims_move_everything_after() {
    let (mut f, ids) = with_clips(&[("A", 24), ("B", 24)]);
    check_round_trip(
        &mut f.project,
        &EditCommand::TrimClip {
            clip: ids[0],
            edge: Edge::Tail,
            delta_frames: 12,
            ripple: true,
        },
    );
    assert_eq!(layout(&f.project, f.v1), l(&[("A", 36), ("B", 24)]));
    check_round_trip(
        &mut f.project,
        &EditCommand::TrimClip {
            clip: ids[1],
            edge: Edge::Head,
            delta_frames: 4,
            ripple: true,
        },
    );
    assert_eq!(layout(&f.project, f.v1), l(&[("A", 36), ("B", 20)]));
    check_round_trip(
        &mut f.project,
        &EditCommand::SetClipDuration {
            clip: ids[0],
            duration_frames: 6,
            ripple: true,
        },
    );
    assert_eq!(layout(&f.project, f.v1), l(&[("A", 6), ("B", 20)]));
    let err = f
        .project
        .apply(&EditCommand::SetClipDuration {
            clip: ids[0],
            duration_frames: 0,
            ripple: true,
        })
        .unwrap_err();
    assert!(err.to_string().contains("leave nothing"), "{err}");
}

#[test]
fn slip_moves_the_source_of_sound_only() {
    let mut f = fixture();
    let sound = Clip::new("sfx", ClipSource::Asset { asset: f.sound }, 48);
    let id = sound.id;
    f.project
        .apply(&EditCommand::InsertClip {
            track: f.a1,
            frame: 0,
            clip: sound,
        })
        .unwrap();
    check_round_trip(
        &mut f.project,
        &EditCommand::SlipClip {
            clip: id,
            delta_frames: 12,
        },
    );
    assert_eq!(
        f.project.timeline.track(f.a1).unwrap().items[0]
            .as_clip()
            .unwrap()
            .source_in_frames,
        12
    );
    assert!(
        f.project
            .apply(&EditCommand::SlipClip {
                clip: id,
                delta_frames: -13
            })
            .is_err()
    );
}

#[test]
fn locked_tracks_refuse_edits() {
    let (mut f, ids) = with_clips(&[("A", 24)]);
    check_round_trip(
        &mut f.project,
        &EditCommand::SetTrackFlags {
            track: f.v1,
            muted: false,
            locked: true,
        },
    );
    let err = f
        .project
        .apply(&EditCommand::LiftItem { item: ids[0] })
        .unwrap_err();
    assert_eq!(err, EditError::TrackLocked { track: "V1".into() });
}

#[test]
fn tracks_add_rename_remove() {
    let mut f = fixture();
    check_round_trip(
        &mut f.project,
        &EditCommand::RenameTrack {
            track: f.v1,
            name: "Storyboard".into(),
        },
    );
    assert_eq!(f.project.timeline.tracks[0].name, "Storyboard");
    check_round_trip(&mut f.project, &EditCommand::RemoveTrack { track: f.a1 });
    assert_eq!(f.project.timeline.tracks.len(), 1);
    check_round_trip(
        &mut f.project,
        &EditCommand::AddTrack {
            index: Some(0),
            track: Track::new("BG", TrackKind::Video),
        },
    );
    assert_eq!(f.project.timeline.tracks[0].name, "BG");
}

#[test]
fn clips_must_point_at_things_that_exist() {
    let mut f = fixture();
    let ghost = Clip::new(
        "ghost",
        ClipSource::Shot {
            shot: ShotId::new(),
        },
        10,
    );
    let err = f
        .project
        .apply(&EditCommand::InsertClip {
            track: f.v1,
            frame: 0,
            clip: ghost,
        })
        .unwrap_err();
    assert!(
        matches!(err, EditError::NotFound { what: "shot", .. }),
        "{err}"
    );
    let picture = Clip::new("still", ClipSource::Asset { asset: f.image }, 10);
    let err = f
        .project
        .apply(&EditCommand::InsertClip {
            track: f.a1,
            frame: 0,
            clip: picture,
        })
        .unwrap_err();
    assert!(err.to_string().contains("picture"), "{err}");
}

#[test]
fn markers_stay_sorted() {
    let mut f = fixture();
    for (frame, name) in [(48, "b"), (12, "a"), (96, "c")] {
        check_round_trip(
            &mut f.project,
            &EditCommand::AddMarker {
                marker: Marker {
                    id: MarkerId::new(),
                    frame,
                    duration_frames: 0,
                    name: name.into(),
                    color: MarkerColor::Green,
                    note: String::new(),
                },
            },
        );
    }
    let names: Vec<_> = f
        .project
        .timeline
        .markers
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let mut moved = f.project.timeline.markers[0].clone();
    moved.frame = 200;
    check_round_trip(&mut f.project, &EditCommand::EditMarker { marker: moved });
    let names: Vec<_> = f
        .project
        .timeline
        .markers
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["b", "c", "a"]);
}

#[test]
fn a_failing_batch_changes_nothing() {
    let (mut f, ids) = with_clips(&[("A", 24), ("B", 24)]);
    let before = f.project.clone();
    let batch = EditCommand::Batch {
        label: "Tidy".into(),
        commands: vec![
            EditCommand::LiftItem { item: ids[0] },
            EditCommand::SplitClip {
                clip: ids[1],
                frame: 1000,
            },
        ],
    };
    assert!(f.project.apply(&batch).is_err());
    assert_eq!(f.project, before);
}
