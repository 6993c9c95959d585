//! Random edit sequences: every command either applies and keeps the document sound, or fails
//! and changes nothing; undoing everything gives back the start, redoing gives back the end; the
//! result survives a save format round trip.

mod common;

use common::*;
use previz_core::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert {
        track: usize,
        frame: i64,
        frames: i64,
        overwrite: bool,
    },
    Move {
        clip: usize,
        track: usize,
        frame: i64,
        ripple: bool,
    },
    Trim {
        clip: usize,
        head: bool,
        delta: i64,
        ripple: bool,
    },
    Split {
        clip: usize,
        offset: i64,
    },
    Lift {
        item: usize,
    },
    RippleDelete {
        item: usize,
    },
    Slip {
        clip: usize,
        delta: i64,
    },
    EditShot {
        shot: usize,
        text: String,
    },
    Reorder {
        shot: usize,
        position: usize,
    },
    Lock {
        track: usize,
        locked: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..200i64, 1..60i64, any::<bool>()).prop_map(
            |(track, frame, frames, overwrite)| Op::Insert {
                track,
                frame,
                frames,
                overwrite
            }
        ),
        (0..50usize, 0..3usize, 0..200i64, any::<bool>()).prop_map(
            |(clip, track, frame, ripple)| Op::Move {
                clip,
                track,
                frame,
                ripple
            }
        ),
        (0..50usize, any::<bool>(), -30..30i64, any::<bool>()).prop_map(
            |(clip, head, delta, ripple)| Op::Trim {
                clip,
                head,
                delta,
                ripple
            }
        ),
        (0..50usize, 0..60i64).prop_map(|(clip, offset)| Op::Split { clip, offset }),
        (0..50usize).prop_map(|item| Op::Lift { item }),
        (0..50usize).prop_map(|item| Op::RippleDelete { item }),
        (0..50usize, -20..20i64).prop_map(|(clip, delta)| Op::Slip { clip, delta }),
        (0..3usize, "[a-z ]{0,12}").prop_map(|(shot, text)| Op::EditShot { shot, text }),
        (0..3usize, 0..4usize).prop_map(|(shot, position)| Op::Reorder { shot, position }),
        (0..3usize, prop::bool::weighted(0.2))
            .prop_map(|(track, locked)| Op::Lock { track, locked }),
    ]
}

fn nth_item(project: &Project, n: usize, clips_only: bool) -> Option<ItemId> {
    let items: Vec<ItemId> = project
        .timeline
        .tracks
        .iter()
        .flat_map(|t| t.items.iter())
        .filter(|i| !clips_only || !i.is_gap())
        .map(Item::id)
        .collect();
    (!items.is_empty()).then(|| items[n % items.len()])
}

fn to_command(f: &Fixture, project: &Project, op: &Op) -> Option<EditCommand> {
    let track_id = |t: usize| project.timeline.tracks[t % project.timeline.tracks.len()].id;
    Some(match op.clone() {
        Op::Insert {
            track,
            frame,
            frames,
            overwrite,
        } => {
            let track = track_id(track);
            let is_audio = project.timeline.track(track)?.kind == TrackKind::Audio;
            let source = if is_audio {
                ClipSource::Dialogue {
                    line: f.lines[frame as usize % f.lines.len()],
                    take: None,
                }
            } else {
                ClipSource::Shot {
                    shot: f.shots[frame as usize % f.shots.len()],
                }
            };
            let clip = Clip::new(format!("c{frame}"), source, frames);
            if overwrite {
                EditCommand::OverwriteClip { track, frame, clip }
            } else {
                EditCommand::InsertClip { track, frame, clip }
            }
        }
        Op::Move {
            clip,
            track,
            frame,
            ripple,
        } => EditCommand::MoveClip {
            clip: nth_item(project, clip, true)?,
            track: track_id(track),
            frame,
            ripple,
        },
        Op::Trim {
            clip,
            head,
            delta,
            ripple,
        } => EditCommand::TrimClip {
            clip: nth_item(project, clip, true)?,
            edge: if head { Edge::Head } else { Edge::Tail },
            delta_frames: delta,
            ripple,
        },
        Op::Split { clip, offset } => {
            let id = nth_item(project, clip, true)?;
            let (t, i) = project.timeline.find_item(id)?;
            let start = project.timeline.tracks[t].start_of(i);
            EditCommand::SplitClip {
                clip: id,
                frame: start + offset,
            }
        }
        Op::Lift { item } => EditCommand::LiftItem {
            item: nth_item(project, item, true)?,
        },
        Op::RippleDelete { item } => EditCommand::RippleDelete {
            item: nth_item(project, item, false)?,
        },
        Op::Slip { clip, delta } => EditCommand::SlipClip {
            clip: nth_item(project, clip, true)?,
            delta_frames: delta,
        },
        Op::EditShot { shot, text } => EditCommand::EditShot {
            shot: f.shots[shot % f.shots.len()],
            field: ShotField::Action(text),
        },
        Op::Reorder { shot, position } => EditCommand::ReorderShot {
            shot: f.shots[shot % f.shots.len()],
            position,
        },
        Op::Lock { track, locked } => EditCommand::SetTrackFlags {
            track: track_id(track),
            muted: false,
            locked,
        },
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_edits_keep_the_document_sound_and_undo_exactly(ops in prop::collection::vec(op(), 1..40)) {
        let mut f = fixture();
        f.project.timeline.tracks.push(Track::new("V2", TrackKind::Video));
        let start = f.project.clone();
        let mut history = History::with_limit(usize::MAX);
        for op in &ops {
            let Some(command) = to_command(&f, &f.project, op) else { continue };
            let before = f.project.clone();
            let mut project = std::mem::replace(&mut f.project, start.clone());
            let result = history.apply(&mut project, &command);
            f.project = project;
            match result {
                Ok(_) => assert_sound(&f.project),
                Err(_) => prop_assert_eq!(&f.project, &before, "a refused {:?} changed the project", command),
            }
        }
        let end = f.project.clone();
        let reloaded = format::from_json(&format::to_json(&end)).unwrap();
        prop_assert_eq!(&reloaded, &end);
        while history.can_undo() {
            history.undo(&mut f.project).unwrap();
        }
        prop_assert_eq!(&f.project, &start);
        while history.can_redo() {
            history.redo(&mut f.project).unwrap();
        }
        prop_assert_eq!(&f.project, &end);
    }
}
