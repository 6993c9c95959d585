//! Plugin scripts from the command line: the shipped examples end to end on a project made from
//! a sample screenplay, the show's own plugins (an import hook, a breakdown hook) found next to
//! the project, and failures that name the plugin file and line and change nothing.

use std::path::Path;

use previz_e2e::{Run, previz_in_env, sample};
use previz_storage::{OpenMode, Session};

/// `previz` with the user's plugin folder pointed into the test's folder.
fn previz(tmp: &Path, args: &[&str]) -> Run {
    let config = tmp.join("config");
    previz_in_env(tmp, args, &[("XDG_CONFIG_HOME", config.as_os_str())])
}

fn project(dir: &Path) -> previz_core::Project {
    let (s, _) = Session::open(dir, OpenMode::ReadOnly).unwrap();
    s.project().clone()
}

fn film(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("film.previz");
    let run = previz(
        tmp,
        &[
            "import",
            sample("short-action.fountain").to_str().unwrap(),
            "-o",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let run = previz(tmp, &["breakdown", "film.previz"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    dir
}

#[test]
fn the_shipped_examples_run_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = film(tmp.path());
    let run = previz(tmp.path(), &["script", "list", "film.previz", "--json"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let list = run.json();
    let names: Vec<&str> = list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ad-csv", "house-style", "shot-numbering"]);

    let run = previz(
        tmp.path(),
        &["script", "run", "shot-numbering", "film.previz", "--json"],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let report = run.json();
    let p = project(&dir);
    assert_eq!(report["edits"], p.shots.len());
    assert!(p.shots.iter().all(|s| {
        s.label
            .as_deref()
            .is_some_and(|l| l.ends_with(char::is_alphabetic))
    }));

    let run = previz(tmp.path(), &["script", "run", "ad-csv", "film.previz"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let csv = dir.join("exports/ad-csv/shot-list.csv");
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), p.shots.len());
    assert_eq!(
        rows[0][2],
        *p.shots[0].label.as_deref().unwrap(),
        "the locked numbers"
    );

    let run = previz(
        tmp.path(),
        &[
            "script",
            "run",
            "house-style",
            "film.previz",
            "--preset",
            "House night",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(matches!(
        project(&dir).settings.style,
        previz_core::Style::Custom(ref s) if s.contains("charcoal")
    ));
    let run = previz(tmp.path(), &["script", "run", "house-style", "film.previz"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let p = project(&dir);
    assert!(
        p.shots.iter().any(|s| s.prompt.contains(" SHOT")
            || s.prompt.starts_with("day")
            || s.prompt.starts_with("night")),
        "{:?}",
        p.shots.iter().map(|s| &s.prompt).collect::<Vec<_>>()
    );
    let run = previz(
        tmp.path(),
        &[
            "script",
            "run",
            "house-style",
            "film.previz",
            "--preset",
            "Nope",
        ],
    );
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("House pencil"), "{}", run.stderr);
}

#[test]
fn the_shows_plugins_rewrite_imports_and_breakdowns() {
    let tmp = tempfile::tempdir().unwrap();
    let show = tmp.path().join("plugins");
    std::fs::create_dir_all(&show).unwrap();
    // House rule: scene headings in the board read without "CONTINUOUS".
    std::fs::write(
        show.join("headings.rhai"),
        "fn on_import(script) {\n    let scenes = script.scenes;\n    for i in 0..scenes.len() {\n        let scene = scenes[i];\n        let text = scene.heading.text;\n        text.replace(\" - CONTINUOUS\", \"\");\n        scene.heading.text = text;\n        scenes[i] = scene;\n    }\n    script.scenes = scenes;\n    script\n}\n",
    )
    .unwrap();
    // House rule: every scene's breakdown ends on a cutaway.
    std::fs::write(
        show.join("cutaways.rhai"),
        "fn on_breakdown(shots) {\n    if shots.len() > 0 {\n        let extra = shots[shots.len() - 1];\n        extra.id = new_id();\n        extra.subject = \"CUTAWAY\";\n        extra.dialogue = [];\n        shots.push(extra);\n    }\n    shots\n}\n",
    )
    .unwrap();
    let dir = film(tmp.path());
    let p = project(&dir);
    assert!(
        p.script
            .scenes
            .iter()
            .all(|s| !s.heading.text.contains("CONTINUOUS")),
        "the import hook ran"
    );
    let with_shots: std::collections::BTreeSet<_> = p.shots.iter().map(|s| s.scene).collect();
    for scene in with_shots {
        let last = p.shots.iter().rfind(|s| s.scene == scene).unwrap();
        assert_eq!(
            last.subject, "CUTAWAY",
            "the breakdown hook ran for every scene"
        );
    }
}

#[test]
fn a_failing_plugin_names_its_file_and_line_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = film(tmp.path());
    let before = std::fs::read(dir.join("project.json")).unwrap();
    let bad = tmp.path().join("half.rhai");
    let first = project(&dir).shots[0].id;
    std::fs::write(
        &bad,
        format!(
            "fn run() {{\n    set_shot(\"{first}\", \"notes\", \"half\");\n    let s = read_text(\"/etc/passwd\");\n}}\n"
        ),
    )
    .unwrap();
    let run = previz(
        tmp.path(),
        &["script", "run", bad.to_str().unwrap(), "film.previz"],
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{}:3:", bad.display())),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("refused"), "{}", run.stderr);
    assert_eq!(std::fs::read(dir.join("project.json")).unwrap(), before);
    let (s, _) = Session::open(&dir, OpenMode::ReadWrite).unwrap();
    assert!(!s.is_dirty(), "nothing journalled either");
    assert!(!s.history().can_undo());
    drop(s);

    let looping = tmp.path().join("loop.rhai");
    std::fs::write(&looping, "fn run() {\n    while true {}\n}\n").unwrap();
    let run = previz(
        tmp.path(),
        &[
            "script",
            "run",
            looping.to_str().unwrap(),
            "film.previz",
            "--timeout",
            "2",
        ],
    );
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.contains("loop.rhai:2:"), "{}", run.stderr);
    assert_eq!(std::fs::read(dir.join("project.json")).unwrap(), before);

    let broken = tmp.path().join("plugins");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("broken.rhai"), "fn run( {\n").unwrap();
    let run = previz(tmp.path(), &["script", "run", "broken", "film.previz"]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("broken.rhai:"), "{}", run.stderr);
    let run = previz(tmp.path(), &["script", "list", "film.previz"]);
    assert!(run.stdout.contains("BROKEN"), "{}", run.stdout);
}

#[test]
fn a_macro_runs_the_jobs_it_queues_after_its_edits_are_saved() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = film(tmp.path());
    let before = project(&dir);
    assert!(before.shots.iter().all(|s| s.takes.is_empty()));
    assert!(before.voices.is_empty());
    let (a, b) = (before.shots[0].id, before.shots[2].id);
    let talking = before
        .script
        .scenes
        .iter()
        .position(|s| s.dialogue().next().is_some())
        .unwrap();
    let macro_file = tmp.path().join("dailies.rhai");
    std::fs::write(
        &macro_file,
        format!(
            "fn run() {{\n    set_shot(\"{a}\", \"notes\", \"redo for dailies\");\n    queue_job(\"frames\", #{{ shots: [\"{a}\", \"{b}\"] }});\n    queue_job(\"voices\", #{{ scene: {} }});\n    queue_job(\"export\", #{{ format: \"csv\" }});\n    queue_job(\"export\", #{{ format: \"otio\" }});\n}}\n",
            talking + 1
        ),
    )
    .unwrap();

    // --no-jobs: the edit lands, the jobs are only listed.
    let run = previz(
        tmp.path(),
        &[
            "script",
            "run",
            macro_file.to_str().unwrap(),
            "film.previz",
            "--no-jobs",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("queued by the plugin: previz frames")
            && run.stdout.contains(&format!("--scenes {}", talking + 1))
            && run.stdout.contains("--format csv"),
        "{}",
        run.stdout
    );
    let p = project(&dir);
    assert_eq!(p.shots[0].notes, "redo for dailies");
    assert!(p.shots.iter().all(|s| s.takes.is_empty()), "nothing ran");
    assert!(!dir.join("exports/film.csv").exists());

    let run = previz(
        tmp.path(),
        &["script", "run", macro_file.to_str().unwrap(), "film.previz"],
    );
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    let p = project(&dir);
    let with_frames: Vec<_> = p
        .shots
        .iter()
        .filter(|s| !s.takes.is_empty())
        .map(|s| s.id)
        .collect();
    assert_eq!(with_frames, [a, b], "frames for exactly the queued shots");
    let scene = p.script.scenes[talking].id;
    let lines_in_scene: Vec<_> = p.script.scenes[talking].dialogue().map(|l| l.id).collect();
    assert!(!lines_in_scene.is_empty());
    assert!(
        lines_in_scene.iter().all(|l| p.voices.contains_key(l)),
        "the scene voiced"
    );
    assert!(
        p.voices.keys().all(|l| lines_in_scene.contains(l)),
        "only that scene ({scene}) voiced"
    );
    let mut reader = csv::Reader::from_path(dir.join("exports/film.csv")).unwrap();
    assert_eq!(reader.records().count(), p.shots.len());
    let otio: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("exports/film.otio")).unwrap()).unwrap();
    assert_eq!(otio["OTIO_SCHEMA"], "Timeline.1");

    // A job the CLI cannot do fails at its line before anything lands.
    let bad = tmp.path().join("bad-job.rhai");
    std::fs::write(
        &bad,
        format!(
            "fn run() {{\n    set_shot(\"{a}\", \"notes\", \"x\");\n    queue_job(\"export\", #{{ format: \"avi\" }});\n}}\n"
        ),
    )
    .unwrap();
    let saved = std::fs::read(dir.join("project.json")).unwrap();
    let run = previz(
        tmp.path(),
        &["script", "run", bad.to_str().unwrap(), "film.previz"],
    );
    assert_ne!(run.status, 0);
    assert!(run.stderr.contains("bad-job.rhai:3:"), "{}", run.stderr);
    assert!(run.stderr.contains("avi"), "{}", run.stderr);
    assert_eq!(std::fs::read(dir.join("project.json")).unwrap(), saved);
}
