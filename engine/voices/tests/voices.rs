//! Dialogue to audio over a real screenplay: takes in the store, the edit re-timed to them,
//! a changed line re-voiced and the edit after it moved by the measured difference (issue #5).
//!
//! With the joe voice and espeak-ng (scripts/test.sh installs both) the lines are spoken by
//! the neural voice; without them the test says so and uses what the machine has, unless
//! PREVIZ_REQUIRE_MODELS is set.

use std::path::PathBuf;

use previz_core::project::Project;
use previz_core::timeline::ClipSource;
use previz_core::{DialoguePart, EditCommand, LineId, ScriptElement};
use previz_jobs::{CancelToken, JobContext, JobKind};
use previz_models::device::DeviceChoice;
use previz_models::registry::Registry;
use previz_storage::AssetStore;
use previz_voices::{LineStatus, VoiceBank, VoicesOptions, audio::read_wav, run_voices};

fn project() -> Project {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/screenplays/dialogue-heavy.fountain");
    let bytes = std::fs::read(&path).unwrap();
    let format = previz_screenplay::Format::detect(Some("dialogue-heavy.fountain"), &bytes);
    let parsed = format.parse(&bytes).unwrap();
    let mut project = Project::new("Night Shift");
    project.script = previz_screenplay::convert::to_script(&parsed.screenplay);
    let cut = previz_core::roughcut::rough_cut(&project);
    project.apply(&cut).unwrap();
    project
}

fn bank() -> VoiceBank {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/cache");
    let mut roots: Vec<PathBuf> = std::env::var_os("PREVIZ_MODELS_DIR")
        .map(|d| std::env::split_paths(&d).collect())
        .unwrap_or_default();
    roots.push(cache.clone());
    // Fails here (under PREVIZ_REQUIRE_MODELS) when the voice is missing.
    let _ = previz_models::registry::model_for_tests("en-us-joe-medium", &cache);
    let bank = VoiceBank::with_registry(Registry::discover(&roots), DeviceChoice::Cpu);
    if !bank.has_espeak() {
        assert!(
            std::env::var_os("PREVIZ_REQUIRE_MODELS").is_none(),
            "espeak-ng is required: apt install espeak-ng"
        );
        eprintln!("note: no espeak-ng; lines are timed silences");
    }
    bank
}

fn ctx() -> JobContext {
    JobContext::detached(JobKind::Voices, "test", CancelToken::new())
}

fn clip_of(p: &Project, line: LineId) -> (usize, i64, i64) {
    p.timeline
        .clips()
        .find(|(_, _, c)| matches!(c.source, ClipSource::Dialogue { line: l, .. } if l == line))
        .map(|(t, s, c)| (t, s, c.duration_frames))
        .unwrap()
}

fn frames_of(p: &Project, store: &AssetStore, line: LineId) -> i64 {
    let take = p.voices[&line].active().unwrap();
    let (samples, rate) = read_wav(&store.read(&take.asset).unwrap(), "take").unwrap();
    assert_eq!(rate, p.settings.audio_sample_rate);
    let seconds = samples.len() as f64 / f64::from(rate);
    (seconds * p.timeline.rate.as_f64()).ceil() as i64
}

#[test]
fn every_line_becomes_a_take_and_the_edit_takes_its_measured_length() {
    let dir = tempfile::tempdir().unwrap();
    let store = AssetStore::new(dir.path().join("assets"));
    let mut bank = bank();
    let mut project = project();
    let original = project.clone();
    let options = VoicesOptions {
        scenes: Some(vec![0]),
        ..VoicesOptions::default()
    };
    let mut outcomes = Vec::new();
    let (batch, summary) = run_voices(&project, &mut bank, &store, &options, &ctx(), |o| {
        outcomes.push(o.clone());
    })
    .unwrap();
    let lines: Vec<LineId> = project.script.scenes[0].dialogue().map(|d| d.id).collect();
    assert_eq!(summary.voiced, lines.len());
    assert!(summary.cast >= 2, "the speakers were cast: {summary:?}");
    let applied = project.apply(&batch.unwrap()).unwrap();
    assert!(project.validate().is_empty(), "{:?}", project.validate());
    for line in &lines {
        let take = project.voices[line].active().expect("an active take");
        assert_eq!(take.provenance.generator, "tts");
        assert!(take.provenance.voice.is_some() && take.provenance.seed.is_some());
        let (_, _, frames) = clip_of(&project, *line);
        assert_eq!(
            frames,
            frames_of(&project, &store, *line),
            "clip = measured take"
        );
        if bank.has_espeak() {
            let (samples, _) = read_wav(&store.read(&take.asset).unwrap(), "take").unwrap();
            let rms = (samples.iter().map(|v| v * v).sum::<f32>() / samples.len() as f32).sqrt();
            assert!(rms > 0.01, "audible: {rms}");
        }
    }
    // Characters keep their casting in the bible.
    assert!(
        project
            .script
            .characters
            .iter()
            .filter(|c| c.voice.is_some())
            .count()
            >= 2
    );
    // One undo takes it all back.
    project.apply_changes(&applied.undo).unwrap();
    assert_eq!(project, original);
}

#[test]
fn changing_a_line_revoices_it_and_moves_the_edit_after_it_by_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let store = AssetStore::new(dir.path().join("assets"));
    let mut bank = bank();
    let mut project = project();
    let options = VoicesOptions {
        scenes: Some(vec![0]),
        ..VoicesOptions::default()
    };
    let (batch, _) = run_voices(&project, &mut bank, &store, &options, &ctx(), |_| {}).unwrap();
    project.apply(&batch.unwrap()).unwrap();

    // The writer makes Jonah's "Nobody does." much longer.
    let line = project.script.scenes[0]
        .dialogue()
        .find(|d| d.spoken_text() == "Nobody does.")
        .unwrap()
        .id;
    let mut script = project.script.clone();
    for e in &mut script.scenes[0].elements {
        if let ScriptElement::Dialogue(d) = e
            && d.id == line
        {
            for p in &mut d.parts {
                if let DialoguePart::Line(t) = p {
                    t.text = "Nobody does, and nobody has for thirty years, not since the flood took the harbour office.".into();
                }
            }
        }
    }
    project
        .apply(&EditCommand::ReplaceScript {
            script: Box::new(script),
        })
        .unwrap();
    let before = project.clone();
    let (track, start, old) = clip_of(&before, line);
    let end = start + old;

    let mut statuses = Vec::new();
    let (batch, summary) = run_voices(&project, &mut bank, &store, &options, &ctx(), |o| {
        statuses.push((o.line, o.status.clone()));
    })
    .unwrap();
    assert_eq!(summary.voiced, 1, "only the changed line: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|(l, s)| (*l == line) == (*s == LineStatus::Voiced))
    );
    let applied = project.apply(&batch.unwrap()).unwrap();
    let new = frames_of(&project, &store, line);
    let delta = new - old;
    assert!(delta > 24, "a much longer line: {old} -> {new}");
    assert_eq!(clip_of(&project, line), (track, start, new));
    // Every clip that started after the line's end moved by the measured difference; the
    // picture is longer by it.
    let moved: Vec<_> = before
        .timeline
        .clips()
        .filter(|(_, s, _)| *s >= end)
        .map(|(t, s, c)| (t, s, c.id))
        .collect();
    assert!(!moved.is_empty());
    for (t, s, id) in moved {
        let now = project
            .timeline
            .clips()
            .find(|(_, _, c)| c.id == id)
            .map(|(tt, ss, _)| (tt, ss))
            .unwrap();
        assert_eq!(now, (t, s + delta));
    }
    assert_eq!(
        project.timeline.tracks[0].duration_frames(),
        before.timeline.tracks[0].duration_frames() + delta
    );
    assert!(project.validate().is_empty(), "{:?}", project.validate());
    // As one undoable command.
    project.apply_changes(&applied.undo).unwrap();
    assert_eq!(project, before);
}

/// Recasting a character (here: speaking 50% faster, as the Cast panel's speed does) re-voices
/// only their lines, and the edit re-times to the new takes as one undoable command.
#[test]
fn recasting_a_character_revoices_only_their_lines_and_retimes_the_edit() {
    let dir = tempfile::tempdir().unwrap();
    let store = AssetStore::new(dir.path().join("assets"));
    let mut bank = bank();
    let mut project = project();
    let options = VoicesOptions {
        scenes: Some(vec![0]),
        ..VoicesOptions::default()
    };
    let (batch, _) = run_voices(&project, &mut bank, &store, &options, &ctx(), |_| {}).unwrap();
    project.apply(&batch.unwrap()).unwrap();

    let speaker = project.script.scenes[0]
        .dialogue()
        .find_map(|d| d.character)
        .unwrap();
    let theirs: Vec<LineId> = project.script.scenes[0]
        .dialogue()
        .filter(|d| d.character == Some(speaker))
        .map(|d| d.id)
        .collect();
    let mut casting = project
        .script
        .character(speaker)
        .unwrap()
        .voice
        .clone()
        .unwrap();
    casting.speed_percent = 150;
    project
        .apply(&EditCommand::EditCharacter {
            character: speaker,
            field: previz_core::script::CharacterField::Voice(Some(casting)),
        })
        .unwrap();
    let before = project.clone();
    let old: i64 = theirs.iter().map(|l| clip_of(&before, *l).2).sum();

    let mut voiced = Vec::new();
    let (batch, summary) = run_voices(&project, &mut bank, &store, &options, &ctx(), |o| {
        if o.status == LineStatus::Voiced {
            voiced.push(o.line);
        }
    })
    .unwrap();
    assert_eq!(voiced, theirs, "exactly the recast character's lines");
    assert_eq!(summary.voiced, theirs.len());
    let applied = project.apply(&batch.unwrap()).unwrap();
    let new: i64 = theirs.iter().map(|l| clip_of(&project, *l).2).sum();
    assert!(new < old, "faster speech, shorter clips: {old} -> {new}");
    assert_eq!(
        project.timeline.tracks[0].duration_frames(),
        before.timeline.tracks[0].duration_frames() - (old - new),
        "the picture is shorter by the measured difference"
    );
    assert!(project.validate().is_empty(), "{:?}", project.validate());
    project.apply_changes(&applied.undo).unwrap();
    assert_eq!(project, before, "one undo");
}

#[test]
fn with_no_espeak_lines_are_timed_silences_at_reading_speed() {
    let dir = tempfile::tempdir().unwrap();
    let store = AssetStore::new(dir.path().join("assets"));
    let mut bank = VoiceBank::with_registry(Registry::default(), DeviceChoice::Cpu)
        .with_espeak_program("/nonexistent/espeak-ng");
    assert_eq!(bank.default_voice(), "silent");
    let mut project = project();
    let options = VoicesOptions {
        scenes: Some(vec![0]),
        ..VoicesOptions::default()
    };
    let (batch, summary) =
        run_voices(&project, &mut bank, &store, &options, &ctx(), |_| {}).unwrap();
    assert!(summary.voiced > 0);
    project.apply(&batch.unwrap()).unwrap();
    let line = project.script.scenes[0].dialogue().next().unwrap();
    let words = line.spoken_text().split_whitespace().count() as f64;
    let frames = clip_of(&project, line.id).2 as f64;
    let expected = (words / 2.5 + 0.3) * project.timeline.rate.as_f64();
    assert!(
        (frames - expected).abs() <= 2.0 + expected * 0.05,
        "{frames} vs {expected}"
    );
    // A cast voice that needs espeak-ng says what to do.
    let casting = previz_core::Casting::new("espeak:en-us");
    let e = bank
        .render(&casting, &[], 48_000, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("apt install espeak-ng"), "{e}");
}

#[test]
fn espeak_voices_speak_what_they_are_cast_for() {
    let mut bank = VoiceBank::with_registry(Registry::default(), DeviceChoice::Cpu);
    if !bank.has_espeak() {
        assert!(
            std::env::var_os("PREVIZ_REQUIRE_MODELS").is_none(),
            "espeak-ng is required: apt install espeak-ng"
        );
        return;
    }
    assert_eq!(bank.default_voice(), "espeak:en-us");
    let say = |text: &str| previz_voices::delivery::Segment::Say {
        text: text.into(),
        delivery: previz_voices::delivery::Delivery::default(),
    };
    let mut casting = previz_core::Casting::new("espeak:en-us");
    let normal = bank
        .render(
            &casting,
            &[say("We leave at midnight, no exceptions.")],
            48_000,
            0,
        )
        .unwrap();
    let seconds = normal.samples.len() as f32 / 48_000.0;
    assert!((1.2..=4.0).contains(&seconds), "{seconds} s");
    let rms =
        (normal.samples.iter().map(|v| v * v).sum::<f32>() / normal.samples.len() as f32).sqrt();
    assert!(rms > 0.02, "audible: {rms}");
    // Faster casting, shorter take.
    casting.speed_percent = 150;
    let fast = bank
        .render(
            &casting,
            &[say("We leave at midnight, no exceptions.")],
            48_000,
            0,
        )
        .unwrap();
    assert!(fast.samples.len() < normal.samples.len() * 8 / 10);
}

/// The casting panel's catalogue and "preview voice": the installed voices are offered (joe
/// with the test setup, espeak-ng's languages and variants, silence), a preview speaks the
/// character's first line as cast (a different casting sounds different), and the project is
/// left as it was.
#[test]
fn the_catalogue_offers_what_is_installed_and_a_preview_speaks_the_first_line() {
    let mut bank = bank();
    let catalogue = bank.catalogue();
    let ids: Vec<&str> = catalogue.voices.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids.last(), Some(&"silent"), "{ids:?}");
    if bank.has_espeak() {
        assert!(ids.contains(&"espeak:en-us"), "{ids:?}");
        assert!(
            catalogue.variants.iter().any(|v| v.gender == "F"),
            "espeak-ng's variants include female voices"
        );
        if !bank.piper_voices().is_empty() {
            assert_eq!(ids.first(), Some(&"en-us-joe-medium"), "{ids:?}");
            assert_eq!(catalogue.voices[0].speaker_count, 1, "joe has one speaker");
        }
    } else {
        assert_eq!(ids, ["silent"]);
        assert!(
            catalogue
                .notes
                .iter()
                .any(|n| n.contains("apt install espeak-ng"))
        );
    }

    let project = project();
    let before = project.clone();
    let speaker = project
        .script
        .scenes
        .iter()
        .flat_map(previz_core::Scene::dialogue)
        .find_map(|d| d.character)
        .unwrap();
    let voice = bank.default_voice();
    let casting = previz_core::Casting::new(voice.clone());
    let heard = previz_voices::preview(&mut bank, &project, speaker, &casting, 48_000).unwrap();
    let seconds = heard.samples.len() as f32 / 48_000.0;
    assert!((0.5..=15.0).contains(&seconds), "{seconds} s");
    if voice != "silent" {
        let rms =
            (heard.samples.iter().map(|v| v * v).sum::<f32>() / heard.samples.len() as f32).sqrt();
        assert!(rms > 0.02, "audible: {rms}");
        let mut lower = casting.clone();
        lower.pitch_semitones = -5;
        let other = previz_voices::preview(&mut bank, &project, speaker, &lower, 48_000).unwrap();
        assert_ne!(other.samples, heard.samples, "the casting is what is heard");
    }
    assert_eq!(project, before, "a preview changes nothing");
    // Someone who never speaks introduces themselves.
    let silent_one = project
        .script
        .characters
        .iter()
        .find(|c| {
            !project
                .script
                .scenes
                .iter()
                .any(|s| s.dialogue().any(|d| d.character == Some(c.id)))
        })
        .map(|c| c.id);
    if let Some(id) = silent_one {
        let said = previz_voices::catalogue::preview_segments(&project, id);
        assert!(
            matches!(&said[..], [previz_voices::delivery::Segment::Say { text, .. }] if text.starts_with("Hello, my name is")),
            "{said:?}"
        );
    }
}

/// A Piper voice dropped into a models folder (no manifest) is found, a multi-speaker one
/// offers its speakers, and a casting picks one: speakers sound different.
#[test]
fn a_dropped_in_multi_speaker_voice_offers_its_speakers_and_casting_picks_one() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/multispeaker");
    let mut bank = VoiceBank::with_registry(Registry::discover(&[dir]), DeviceChoice::Cpu);
    assert_eq!(bank.piper_voices(), ["tiny-multispeaker"]);
    let catalogue = bank.catalogue();
    let tiny = catalogue.find("tiny-multispeaker").expect("offered");
    assert_eq!(tiny.speakers, ["ada", "ben", "cy"]);
    assert_eq!(tiny.speaker_count, 3);
    if !bank.has_espeak() {
        assert!(
            std::env::var_os("PREVIZ_REQUIRE_MODELS").is_none(),
            "espeak-ng is required: apt install espeak-ng"
        );
        return;
    }
    let say = [previz_voices::delivery::Segment::Say {
        text: "We leave at midnight.".into(),
        delivery: previz_voices::delivery::Delivery::default(),
    }];
    let mut takes = Vec::new();
    for speaker in ["ada", "cy"] {
        let mut casting = previz_core::Casting::new("tiny-multispeaker");
        casting.speaker = Some(speaker.into());
        let take = bank.render(&casting, &say, 48_000, 0).unwrap();
        assert_eq!(
            take.engine,
            previz_voices::EngineKind::Piper {
                id: "tiny-multispeaker".into()
            }
        );
        assert!(!take.samples.is_empty());
        takes.push(take.samples);
    }
    assert_ne!(takes[0], takes[1], "two speakers, two voices");
    let mut casting = previz_core::Casting::new("tiny-multispeaker");
    casting.speaker = Some("dan".into());
    let err = bank
        .render(&casting, &say, 48_000, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ada"), "names the speakers there are: {err}");
}
