//! Synthetic projects of any size, for benchmarks, load tests and fuzzing: a feature-length
//! script's worth of scenes, shots with takes and provenance, and a cut with picture and dialogue.

use crate::Extra;
use crate::ids::TakeId;
use crate::project::Project;
use crate::script::{DialogueBlock, DialoguePart, Scene, SceneHeading, ScriptElement};
use crate::shot::{
    Asset, AssetKind, CameraAngle, CameraMovement, ContentHash, MediaInfo, Provenance, Shot,
    ShotSize, Take,
};
use crate::time::RationalTime;
use crate::timeline::{Clip, ClipSource, Item};

/// Deterministic pseudo-random numbers (SplitMix64), so generated projects are reproducible.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A project with `shot_count` shots over `shot_count / 8` scenes, one take each, and
/// `clip_count` clips split between a picture track and a dialogue track.
#[must_use]
pub fn project(shot_count: usize, clip_count: usize) -> Project {
    let mut project = Project::new("Synthetic Feature");
    let rate = project.settings.frame_rate;
    let scene_count = shot_count.div_ceil(8).max(1);
    for n in 0..scene_count {
        let time = if n % 3 == 0 { "NIGHT" } else { "DAY" };
        let mut scene = Scene::new(SceneHeading::parse(
            &format!("INT. LOCATION {} - {time}", n % 97),
            false,
        ));
        scene.elements.push(ScriptElement::Action {
            text: format!("Scene {n}: rain streaks the windows while the harbour lights flicker.")
                .as_str()
                .into(),
            forced: false,
        });
        for k in 0..3 {
            scene.elements.push(ScriptElement::Dialogue(DialogueBlock {
                id: crate::ids::LineId::new(),
                character: None,
                cue: ["MARA", "OTTO", "INSPECTOR VANCE"][(n + k) % 3].to_owned(),
                extensions: Vec::new(),
                forced: false,
                dual: None,
                notes: Vec::new(),
                parts: vec![DialoguePart::Line(
                    format!("Line {k} of scene {n}, said with feeling.")
                        .as_str()
                        .into(),
                )],
                extra: Extra::new(),
            }));
        }
        project.script.scenes.push(scene);
    }
    project.script.index_cast();

    for i in 0..shot_count {
        let scene = &project.script.scenes[i / 8 % scene_count];
        let mut shot = Shot::new(
            scene.id,
            RationalTime::new(48 + (mix(i as u64) % 96) as i64, rate),
        );
        shot.size = Some(ShotSize::ALL[i % ShotSize::ALL.len()]);
        shot.angle = Some(CameraAngle::ALL[i % CameraAngle::ALL.len()]);
        shot.movement = Some(CameraMovement::ALL[i % CameraMovement::ALL.len()]);
        shot.lens_mm = Some([24.0, 35.0, 50.0, 85.0][i % 4]);
        shot.subject = "Mara at the window".to_owned();
        shot.action = "She turns as the door opens behind her.".to_owned();
        shot.prompt = format!(
            "storyboard frame, {} of a woman at a rain-streaked window, harbour lights, noir",
            shot.size.map_or("", ShotSize::as_str)
        );
        shot.dialogue = scene.dialogue().take(1 + i % 2).map(|d| d.id).collect();
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&mix(i as u64 ^ 0xA5A5).to_le_bytes());
        hash[8..16].copy_from_slice(&(i as u64).to_le_bytes());
        let hash = ContentHash(hash);
        project.assets.insert(
            hash,
            Asset {
                hash,
                kind: AssetKind::Image,
                media: MediaInfo {
                    mime: "image/png".to_owned(),
                    bytes: 180_000 + mix(i as u64) % 50_000,
                    width: Some(1024),
                    height: Some(432),
                    ..MediaInfo::default()
                },
                extra: Extra::new(),
            },
        );
        let take = Take {
            id: TakeId::new(),
            asset: hash,
            provenance: Provenance {
                generator: "diffusion".to_owned(),
                model_id: Some("sd-turbo".to_owned()),
                prompt: shot.prompt.clone(),
                seed: Some(mix(i as u64)),
                steps: Some(4),
                scheduler: Some("euler_a".to_owned()),
                guidance: Some(0.0),
                ..Provenance::default()
            },
            created: jiff::Timestamp::UNIX_EPOCH,
            note: String::new(),
            extra: Extra::new(),
        };
        shot.active_take = Some(take.id);
        shot.takes.push(take);
        project.shots.push(shot);
    }

    let picture = clip_count.div_ceil(2);
    let lines: Vec<_> = project
        .script
        .scenes
        .iter()
        .flat_map(|s| s.dialogue().map(|d| d.id))
        .collect();
    for i in 0..clip_count {
        let (track, source, frames) = if i < picture {
            let shot = &project.shots[i % project.shots.len().max(1)];
            (0, ClipSource::Shot { shot: shot.id }, shot.duration.value)
        } else {
            let line = lines[i % lines.len()];
            (
                1,
                ClipSource::Dialogue { line, take: None },
                30 + (mix(i as u64) % 60) as i64,
            )
        };
        if project.shots.is_empty() && track == 0 {
            continue;
        }
        let clip = Clip::new(format!("clip {i}"), source, frames);
        project.timeline.tracks[track].items.push(Item::Clip(clip));
    }
    project
}

#[cfg(test)]
mod tests {
    #[test]
    fn synthetic_projects_are_sound() {
        let project = super::project(100, 120);
        assert!(project.validate().is_empty(), "{:?}", project.validate());
        assert_eq!(project.shots.len(), 100);
        assert_eq!(project.timeline.clips().count(), 120);
    }
}
