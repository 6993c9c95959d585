//! The `previz` binary end to end: exit codes, JSON, projects, export, revision.

use std::path::Path;

use previz_core::{EditCommand, RationalTime, Shot};
use previz_e2e::{previz_in, sample, without_ids};
use previz_storage::{OpenMode, Session};

const TYPES: &[&str] = &[
    "scene_heading",
    "action",
    "character",
    "parenthetical",
    "dialogue",
    "lyrics",
    "transition",
    "centered",
    "section",
    "synopsis",
    "note",
    "page_break",
];

#[test]
fn import_json_prints_the_contract_for_every_sample() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "short-action.fountain",
        "dialogue-heavy.fountain",
        "every-feature.fountain",
        "short-action.fdx",
    ] {
        let run = previz_in(
            tmp.path(),
            &["import", sample(name).to_str().unwrap(), "--json"],
        );
        assert_eq!(run.status, 0, "{name}: {}", run.stderr);
        let json = run.json();
        assert!(json["title_page"].is_object(), "{name}");
        let elements = json["elements"].as_array().unwrap();
        assert!(elements.len() > 5, "{name}");
        for e in elements {
            let ty = e["type"].as_str().unwrap();
            assert!(TYPES.contains(&ty), "{name}: unknown type {ty}");
            assert!(e["line"].as_u64().is_some(), "{name}: no line on {e}");
            match ty {
                "scene_heading" => {
                    assert!(e["text"].is_string() && e.get("scene_number").is_some());
                }
                "character" => {
                    assert!(
                        e["name"].is_string()
                            && e.get("extension").is_some()
                            && e["dual"].is_boolean()
                    );
                }
                _ => {}
            }
        }
        assert!(
            elements.iter().any(|e| e["type"] == "scene_heading"),
            "{name}"
        );
    }
    // Nothing was written.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn a_broken_screenplay_is_one_clear_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, position) in [("broken.fountain", ":7:1: "), ("broken.fdx", ":9:3: ")] {
        let path = sample(name);
        let run = previz_in(tmp.path(), &["import", path.to_str().unwrap()]);
        assert_eq!(run.status, 2, "{name}: {run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {}", run.stderr);
        assert!(
            lines[0].starts_with("previz: error: ")
                && lines[0].contains(&format!("{}{position}", path.display())),
            "{name}: {}",
            lines[0]
        );
        assert!(run.stdout.is_empty());
        // Machine form.
        let run = previz_in(tmp.path(), &["--json", "import", path.to_str().unwrap()]);
        assert_eq!(run.status, 2);
        let error: serde_json::Value = serde_json::from_str(run.stderr.trim()).unwrap();
        assert_eq!(error["error"]["kind"], "bad_input");
        assert!(error["error"]["line"].as_u64().is_some());
    }
    let run = previz_in(tmp.path(), &["import", "no-such-file.fountain"]);
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.contains("no-such-file.fountain: no such file"),
        "{}",
        run.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(previz_in(tmp.path(), &["import"]).status, 2);
    assert_eq!(previz_in(tmp.path(), &["frobnicate"]).status, 2);
    assert_eq!(
        previz_in(tmp.path(), &["new", "x", "--fps", "fast"]).status,
        2
    );
    assert_eq!(
        previz_in(tmp.path(), &["new", "x", "--frame-size", "wide"]).status,
        2
    );
    assert_eq!(
        previz_in(tmp.path(), &["info"]).status,
        2,
        "no project here"
    );
    assert_eq!(previz_in(tmp.path(), &["--help"]).status, 0);
}

#[test]
fn new_then_info() {
    let tmp = tempfile::tempdir().unwrap();
    let run = previz_in(
        tmp.path(),
        &[
            "new",
            "lighthouse",
            "--fps",
            "24000/1001",
            "--frame-size",
            "1920x1080",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(tmp.path().join("lighthouse.previz/project.json").is_file());
    let run = previz_in(tmp.path(), &["--json", "info"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let info = run.json();
    assert_eq!(info["title"], "lighthouse");
    assert_eq!(info["frame_rate"], "24000/1001");
    assert_eq!(info["aspect_ratio"], "1.78:1");
    assert_eq!(info["lock"]["state"], "free");
    // A second `new` on the same folder is refused.
    let run = previz_in(tmp.path(), &["new", "lighthouse"]);
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
}

#[test]
fn fountain_to_project_to_fountain_to_project_is_the_same_document() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "every-feature.fountain",
        "dialogue-heavy.fountain",
        "short-action.fdx",
    ] {
        let first = tmp.path().join(format!("{name}-a.previz"));
        let run = previz_in(
            tmp.path(),
            &[
                "import",
                sample(name).to_str().unwrap(),
                "-o",
                first.to_str().unwrap(),
            ],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        let exported = tmp.path().join(format!("{name}.fountain"));
        let run = previz_in(
            tmp.path(),
            &[
                "export",
                first.to_str().unwrap(),
                "--format",
                "fountain",
                "-o",
                exported.to_str().unwrap(),
            ],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        let second = tmp.path().join(format!("{name}-b.previz"));
        let run = previz_in(
            tmp.path(),
            &[
                "import",
                exported.to_str().unwrap(),
                "-o",
                second.to_str().unwrap(),
            ],
        );
        assert_eq!(run.status, 0, "{}", run.stderr);
        let script = |dir: &Path| {
            let (session, _) = Session::open(dir, OpenMode::ReadOnly).unwrap();
            let mut value = serde_json::to_value(&session.project().script).unwrap();
            value.as_object_mut().unwrap().remove("source");
            without_ids(value)
        };
        assert_eq!(script(&first), script(&second), "{name}");
    }
}

/// Adds one shot per scene covering its first speech, the way a breakdown would.
fn add_shots(dir: &Path) -> Vec<(String, previz_core::SceneId, previz_core::ShotId)> {
    let (mut session, _) = Session::open(dir, OpenMode::ReadWrite).unwrap();
    let scenes = session.project().script.scenes.clone();
    let rate = session.project().settings.frame_rate;
    let mut out = Vec::new();
    for scene in &scenes {
        let mut shot = Shot::new(scene.id, RationalTime::new(48, rate));
        shot.dialogue = scene.dialogue().take(1).map(|d| d.id).collect();
        out.push((scene.heading.text.clone(), scene.id, shot.id));
        session
            .apply(&EditCommand::AddShot {
                shot: Box::new(shot),
                after: None,
            })
            .unwrap();
    }
    session.save().unwrap();
    session.close().unwrap();
    out
}

fn revise(tmp: &Path, project: &Path, text: &str) -> serde_json::Value {
    let draft = tmp.join("draft.fountain");
    std::fs::write(&draft, text).unwrap();
    let run = previz_in(
        tmp,
        &[
            "--json",
            "import",
            draft.to_str().unwrap(),
            "--into",
            project.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    run.json()
}

type SceneRows = Vec<(String, previz_core::SceneId, bool)>;
type ShotRows = Vec<(previz_core::ShotId, previz_core::SceneId)>;

fn scenes_and_shots(dir: &Path) -> (SceneRows, ShotRows) {
    let (session, _) = Session::open(dir, OpenMode::ReadOnly).unwrap();
    let p = session.project();
    assert!(p.validate().is_empty(), "{:?}", p.validate());
    (
        p.script
            .scenes
            .iter()
            .map(|s| (s.heading.text.clone(), s.id, s.omitted))
            .collect(),
        p.shots.iter().map(|s| (s.id, s.scene)).collect(),
    )
}

#[test]
fn revisions_keep_untouched_scenes_their_ids_and_shots() {
    let tmp = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(sample("short-action.fountain")).unwrap();
    let project = tmp.path().join("film.previz");
    let draft = tmp.path().join("v1.fountain");
    std::fs::write(&draft, &original).unwrap();
    assert_eq!(
        previz_in(
            tmp.path(),
            &[
                "import",
                draft.to_str().unwrap(),
                "-o",
                project.to_str().unwrap()
            ]
        )
        .status,
        0
    );
    let shots = add_shots(&project);
    let (before_scenes, before_shots) = scenes_and_shots(&project);
    assert!(
        before_scenes.len() >= 3,
        "the sample needs at least three scenes"
    );

    // 1. Edit a line of dialogue (the first speech of the script).
    let (session, _) = Session::open(&project, OpenMode::ReadOnly).unwrap();
    let first_line = session
        .project()
        .script
        .scenes
        .iter()
        .find_map(|s| s.dialogue().next())
        .unwrap()
        .spoken_text();
    drop(session);
    let edited = original.replacen(&first_line, &format!("{} Not again.", first_line), 1);
    assert_ne!(edited, original);
    let report = revise(tmp.path(), &project, &edited);
    assert_eq!(
        report["scenes_changed"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert!(report["scenes_added"].as_array().unwrap().is_empty());
    let (scenes, shots_now) = scenes_and_shots(&project);
    assert_eq!(scenes, before_scenes);
    assert_eq!(shots_now, before_shots);

    // 2. Insert a scene after the first.
    let cut = edited
        .find(&format!("\n\n{}\n", before_scenes[1].0))
        .unwrap()
        + 2;
    let inserted = format!(
        "{}INT. BOATHOUSE - NIGHT\n\nOars drip on the boards. Somebody left the radio on.\n\n{}",
        &edited[..cut],
        &edited[cut..]
    );
    let report = revise(tmp.path(), &project, &inserted);
    assert_eq!(
        report["scenes_added"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert_eq!(
        report["scenes_changed"].as_array().unwrap().len(),
        0,
        "{report}"
    );
    let (scenes, shots_now) = scenes_and_shots(&project);
    assert_eq!(scenes.len(), before_scenes.len() + 1);
    assert_eq!(scenes[0], before_scenes[0]);
    assert_eq!(scenes[1].0, "INT. BOATHOUSE - NIGHT");
    assert_eq!(&scenes[2..], &before_scenes[1..]);
    assert_eq!(shots_now, before_shots);

    // 3. Delete the second original scene: it has a shot, so it stays as OMITTED.
    let start = inserted.find(&before_scenes[1].0).unwrap();
    let end = inserted.find(&before_scenes[2].0).unwrap();
    let deleted = format!("{}{}", &inserted[..start], &inserted[end..]);
    let report = revise(tmp.path(), &project, &deleted);
    let removed = report["scenes_removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "{report}");
    assert_eq!(removed[0]["kept_as_omitted"], true);
    let (scenes, shots_now) = scenes_and_shots(&project);
    let omitted = scenes.iter().find(|s| s.1 == before_scenes[1].1).unwrap();
    assert!(omitted.2, "kept as omitted");
    for (heading, scene, _) in &before_scenes {
        assert!(
            scenes.iter().any(|s| s.1 == *scene),
            "{heading} lost its id"
        );
    }
    assert_eq!(shots_now, before_shots, "no shot lost");
    assert_eq!(shots.len(), before_shots.len());

    // A dry run changes nothing.
    let run = previz_in(
        tmp.path(),
        &[
            "import",
            sample("short-action.fountain").to_str().unwrap(),
            "--into",
            project.to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.contains("dry run"), "{}", run.stdout);
    assert_eq!(scenes_and_shots(&project).0, scenes);
}

#[test]
fn a_locked_project_names_its_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("film.previz");
    assert_eq!(
        previz_in(
            tmp.path(),
            &[
                "import",
                sample("short-action.fountain").to_str().unwrap(),
                "-o",
                project.to_str().unwrap()
            ]
        )
        .status,
        0
    );
    let (holder, _) = Session::open(&project, OpenMode::ReadWrite).unwrap();
    let run = previz_in(
        tmp.path(),
        &[
            "import",
            sample("short-action.fountain").to_str().unwrap(),
            "--into",
            project.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status, 1, "{run:?}");
    assert!(
        run.stderr.contains("is open for writing by"),
        "{}",
        run.stderr
    );
    // Reading still works while it is locked.
    let run = previz_in(tmp.path(), &["--json", "info", project.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.json()["lock"]["state"], "held");
    drop(holder);
}

#[test]
fn a_damaged_project_file_is_reported_with_its_position() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(previz_in(tmp.path(), &["new", "film"]).status, 0);
    let file = tmp.path().join("film.previz/project.json");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("\"settings\": {", "\"settings\": {,", 1),
    )
    .unwrap();
    let run = previz_in(tmp.path(), &["validate", "film.previz"]);
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.contains("film.previz/project.json:5:16: "),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("backups"), "{}", run.stderr);
}

#[test]
fn validate_a_screenplay() {
    let tmp = tempfile::tempdir().unwrap();
    let run = previz_in(
        tmp.path(),
        &[
            "validate",
            sample("every-feature.fountain").to_str().unwrap(),
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let run = previz_in(
        tmp.path(),
        &["validate", sample("broken.fountain").to_str().unwrap()],
    );
    assert_eq!(run.status, 2);
}

#[test]
fn breakdown_makes_shots_resumes_and_keeps_to_its_scenes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("night.previz");
    let dir_s = dir.to_str().unwrap();
    let run = previz_in(
        tmp.path(),
        &[
            "import",
            sample("short-action.fountain").to_str().unwrap(),
            "-o",
            dir_s,
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);

    // Only scenes 2-3 first.
    let run = previz_in(
        tmp.path(),
        &["breakdown", dir_s, "--scenes", "2-3", "--json"],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["scenes"], 2);
    let (session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    let project = session.project();
    for (i, scene) in project.script.scenes.iter().enumerate() {
        let shots = project.shots_in_scene(scene.id).count();
        assert_eq!(shots > 0, (1..=2).contains(&i), "scene {}", i + 1);
    }
    drop(session);

    // Then everything: the two done are skipped.
    let run = previz_in(tmp.path(), &["breakdown", dir_s]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("skipped (up to date)"),
        "{}",
        run.stderr
    );
    let run = previz_in(tmp.path(), &["validate", dir_s, "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.json()["ok"], true);

    let (session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    let project = session.project();
    for scene in &project.script.scenes {
        assert!(project.shots_in_scene(scene.id).next().is_some());
        for d in scene.dialogue() {
            assert!(
                project.shots.iter().any(|s| s.dialogue.contains(&d.id)),
                "{:?} uncovered",
                d.cue
            );
        }
    }
    assert!(
        project
            .shots
            .iter()
            .all(|s| s.extra.contains_key("breakdown") && !s.prompt.is_empty())
    );
    let shots = project.shots.clone();
    let clips: usize = project.timeline.tracks.iter().map(|t| t.items.len()).sum();
    assert!(clips >= shots.len());
    drop(session);

    // Again: all skipped, nothing changes.
    let run = previz_in(tmp.path(), &["breakdown", dir_s, "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["skipped"], json["scenes"]);
    assert_eq!(json["shots"], 0);
    let (session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    assert_eq!(session.project().shots, shots);
    drop(session);

    // Unknown models and bad ranges are bad input.
    let run = previz_in(tmp.path(), &["breakdown", dir_s, "--model", "nope"]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("model 'nope' is not installed"),
        "{}",
        run.stderr
    );
    let run = previz_in(tmp.path(), &["breakdown", dir_s, "--scenes", "5-2"]);
    assert_eq!(run.status, 2, "{}", run.stderr);
}

#[test]
fn voices_speaks_each_line_retimes_the_edit_and_keeps_what_is_current() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("archive.previz");
    let dir_s = dir.to_str().unwrap();
    let run = previz_in(
        tmp.path(),
        &[
            "import",
            sample("dialogue-heavy.fountain").to_str().unwrap(),
            "-o",
            dir_s,
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let cache = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/cache");
    let env = [("PREVIZ_MODELS_DIR", cache.as_os_str())];
    let run = previz_e2e::previz_in_env(
        tmp.path(),
        &["voices", dir_s, "--scenes", "1", "--json"],
        &env,
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let json = run.json();
    let voiced = json["voiced"].as_u64().unwrap();
    assert!(voiced >= 5, "{json}");
    assert!(json["cast"].as_u64().unwrap() >= 2, "{json}");
    let (session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    let project = session.project();
    assert_eq!(project.voices.len() as u64, voiced);
    let store = session.assets();
    for voice in project.voices.values() {
        let take = voice.active().unwrap();
        assert!(store.read(&take.asset).unwrap().starts_with(b"RIFF"));
    }
    drop(session);
    // Again: nothing to do.
    let run = previz_e2e::previz_in_env(
        tmp.path(),
        &["voices", dir_s, "--scenes", "1", "--json"],
        &env,
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.json()["voiced"], 0);
    assert_eq!(run.json()["kept"].as_u64().unwrap(), voiced);
    let run = previz_in(tmp.path(), &["validate", dir_s, "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
}

#[test]
fn voices_list_says_what_can_be_cast_here() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/cache");
    let env = [("PREVIZ_MODELS_DIR", cache.as_os_str())];
    let run = previz_e2e::previz_in_env(tmp.path(), &["voices", "--list", "--json"], &env);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let json = run.json();
    let ids: Vec<&str> = json["voices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.last(), Some(&"silent"), "{json}");
    let default = json["default_voice"].as_str().unwrap();
    assert!(ids.contains(&default), "{default} is offered: {json}");
    if default != "silent" {
        assert!(ids.contains(&"espeak:en-us"), "{json}");
    }
    let run = previz_e2e::previz_in_env(tmp.path(), &["voices", "--list"], &env);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.contains("new characters get:"), "{}", run.stdout);
}

#[test]
fn frames_draws_sketches_without_a_model_and_takes_from_a_diffusion_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("night.previz");
    let dir_s = dir.to_str().unwrap();
    let run = previz_in(
        tmp.path(),
        &[
            "import",
            sample("dialogue-heavy.fountain").to_str().unwrap(),
            "-o",
            dir_s,
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let run = previz_in(tmp.path(), &["breakdown", dir_s, "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    // No model anywhere this run looks: every shot gets the built-in sketch.
    let empty = tmp.path().join("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let env = [
        ("PREVIZ_MODELS_DIR", empty.as_os_str()),
        ("HOME", empty.as_os_str()),
    ];
    let run = previz_e2e::previz_in_env(tmp.path(), &["frames", dir_s, "--json"], &env);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["engine"], "sketch");
    let (session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    let shots = session.project().shots.len() as u64;
    assert!(shots > 0);
    assert_eq!(json["takes"].as_u64(), Some(shots), "{json}");
    for shot in &session.project().shots {
        let take = shot.active().expect("a sketch per shot");
        assert!(
            session
                .assets()
                .read(&take.asset)
                .unwrap()
                .starts_with(b"\x89PNG")
        );
    }
    drop(session);
    let run = previz_e2e::previz_in_env(tmp.path(), &["frames", dir_s, "--json"], &env);
    assert_eq!(
        run.json()["kept"].as_u64(),
        Some(shots),
        "a second run keeps them"
    );

    // A tiny diffusion model of the real architecture, named by its folder.
    let model = tmp.path().join("tiny-sd");
    previz_models::diffusion::tiny::write_tiny_model(
        &model,
        &previz_models::diffusion::tiny::TinySpec::default(),
    )
    .unwrap();
    let model_s = model.to_str().unwrap();
    let run = previz_e2e::previz_in_env(
        tmp.path(),
        &[
            "frames",
            dir_s,
            "--model",
            model_s,
            "--shots",
            "1-2",
            "--takes",
            "2",
            "--steps",
            "2",
            "--scheduler",
            "ddim",
            "--seed",
            "5",
            "--json",
        ],
        &env,
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let json = run.json();
    assert_eq!(
        (json["engine"].as_str(), json["takes"].as_u64()),
        (Some("tiny-sd"), Some(4)),
        "{json}"
    );
    let (session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    let first = &session.project().shots[0];
    assert_eq!(first.takes.len(), 3, "the sketch and two new takes");
    let active = first.active().unwrap();
    assert_eq!(active.provenance.generator, "diffusion");
    assert_eq!(active.provenance.scheduler.as_deref(), Some("ddim"));
    assert_eq!(active.provenance.steps, Some(2));
    drop(session);

    // A character's look goes into the bible; an unknown name is refused with the cast.
    let run = previz_e2e::previz_in_env(
        tmp.path(),
        &[
            "frames",
            dir_s,
            "--look",
            "NOBODY=x.safetensors",
            "--shots",
            "1",
        ],
        &env,
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("NOBODY") && run.stderr.contains("--look"),
        "{}",
        run.stderr
    );
    let (session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    let name = session.project().script.characters[0].name.clone();
    drop(session);
    std::fs::write(dir.join("look.safetensors"), b"").unwrap();
    let spec = format!("{name}=look.safetensors:0.7@m4ra woman");
    let run = previz_e2e::previz_in_env(
        tmp.path(),
        &["frames", dir_s, "--look", &spec, "--shots", "1", "--json"],
        &env,
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let (session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    let look = session.project().script.characters[0].look.clone().unwrap();
    assert_eq!(
        (
            look.lora.as_str(),
            look.scale_percent,
            look.trigger.as_str()
        ),
        ("look.safetensors", 70, "m4ra woman")
    );
    drop(session);

    // A reference picture instead of the LoRA: shown through the IP-Adapter named on the
    // command line; without one, one clear error saying how to set it.
    let adapter =
        previz_models::diffusion::tiny::write_tiny_ip_adapter(&tmp.path().join("ip"), &model, 3)
            .unwrap();
    std::fs::create_dir_all(dir.join("looks")).unwrap();
    let picture = previz_models::diffusion::tiny::test_picture(40, 30, 1);
    image::RgbImage::from_raw(picture.width, picture.height, picture.pixels)
        .unwrap()
        .save(dir.join("looks/ref.png"))
        .unwrap();
    let (mut session, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    let first_shot = session.project().shots[0].id;
    session
        .apply(&EditCommand::EditShot {
            shot: first_shot,
            field: previz_core::shot::ShotField::Subject(name.clone()),
        })
        .unwrap();
    session.save().unwrap();
    session.close().unwrap();
    let clear_lora = format!("{name}=");
    let reference = format!("{name}=looks/ref.png:70");
    let frames_with = |extra: &[&str]| {
        let mut args = vec![
            "frames",
            dir_s,
            "--model",
            model_s,
            "--steps",
            "2",
            "--shots",
            "1",
            "--look",
            &clear_lora,
            "--reference",
            &reference,
            "--json",
        ];
        args.extend_from_slice(extra);
        previz_e2e::previz_in_env(tmp.path(), &args, &env)
    };
    let run = frames_with(&[]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("ip_adapter") && run.stderr.contains("ref.png"),
        "{}",
        run.stderr
    );
    let run = frames_with(&["--ip-adapter", adapter.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let (session, _) = Session::open(&dir, OpenMode::ReadOnly).unwrap();
    let look = session.project().script.characters[0].look.clone().unwrap();
    assert_eq!(
        (
            look.lora.as_str(),
            look.reference.as_str(),
            look.reference_percent
        ),
        ("", "looks/ref.png", 70)
    );
    let reference_json = &session.project().shots[0]
        .active()
        .unwrap()
        .provenance
        .extra["reference"];
    assert_eq!(reference_json["pictures"][0]["file"], "ref.png");
    assert_eq!(reference_json["scale"], serde_json::json!(0.7));
    drop(session);
    let run = previz_e2e::previz_in_env(
        tmp.path(),
        &[
            "frames",
            dir_s,
            "--reference",
            &format!("{name}=looks/ref.png:500"),
        ],
        &env,
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--reference") && run.stderr.contains("500"),
        "{}",
        run.stderr
    );

    // Bad input: a clear line and exit 2.
    let run = previz_e2e::previz_in_env(tmp.path(), &["frames", dir_s, "--shots", "999"], &env);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--shots") && run.stderr.contains("999"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(model.join("vae/diffusion_pytorch_model.safetensors")).unwrap();
    let run = previz_e2e::previz_in_env(tmp.path(), &["frames", dir_s, "--model", model_s], &env);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("vae/diffusion_pytorch_model.safetensors"),
        "{}",
        run.stderr
    );
}
