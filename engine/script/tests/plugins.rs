//! The shipped example plugins end to end on a real project session, and the sandbox: limits,
//! refused paths, a plugin failing halfway, errors that name the file and line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use previz_core::{Project, RationalTime, Scene, SceneHeading, Shot, ShotSize};
use previz_script::{ErrorKind, Host, Limits, Plugin, land};
use previz_storage::Session;

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/plugins")
        .join(format!("{name}.rhai"))
}

/// Two scenes: the kitchen (day) with two shots, the pier (night) with one.
fn film() -> Project {
    let mut p = Project::new("Film");
    for heading in ["INT. KITCHEN - DAY", "EXT. PIER - NIGHT"] {
        p.script
            .scenes
            .push(Scene::new(SceneHeading::parse(heading, false)));
    }
    let rate = p.settings.frame_rate;
    let (kitchen, pier) = (p.script.scenes[0].id, p.script.scenes[1].id);
    for (scene, subject) in [
        (kitchen, "ANNA, cooking"),
        (kitchen, "the pan"),
        (pier, "BEN"),
    ] {
        let mut shot = Shot::new(scene, RationalTime::new(36, rate));
        shot.subject = subject.into();
        shot.size = Some(ShotSize::Wide);
        p.shots.push(shot);
    }
    p
}

struct Open {
    _tmp: tempfile::TempDir,
    session: Session,
}

fn open() -> Open {
    let tmp = tempfile::tempdir().unwrap();
    let session = Session::create(tmp.path().join("film.previz"), film()).unwrap();
    Open { _tmp: tmp, session }
}

fn plugin(source: &str) -> Plugin {
    Host::default()
        .compile(Path::new("plugins/test.rhai"), source)
        .unwrap()
}

#[test]
fn shot_numbering_locks_12a_style_numbers_as_one_undo_step() {
    let mut o = open();
    let host = Host::default();
    let p = host.load(&shipped("shot-numbering")).unwrap();
    assert!(p.hooks.contains(&previz_script::Hook::Run));
    assert!(p.description.contains("12A"), "{}", p.description);
    let outcome = host
        .run(&p, o.session.project(), Some(o.session.dir()))
        .unwrap();
    assert_eq!(outcome.edits.len(), 3);
    assert_eq!(outcome.log, vec!["numbered 3 shot(s)".to_owned()]);
    land(&mut o.session, &p, &outcome).unwrap();
    let labels: Vec<Option<String>> = o
        .session
        .project()
        .shots
        .iter()
        .map(|s| s.label.clone())
        .collect();
    assert_eq!(
        labels,
        vec![Some("1A".into()), Some("1B".into()), Some("2A".into())]
    );
    assert_eq!(
        o.session.history().undo_label(),
        Some("Plugin shot-numbering")
    );
    o.session.undo().unwrap();
    assert!(o.session.project().shots.iter().all(|s| s.label.is_none()));
    // Run again after landing: nothing left to change.
    o.session.redo().unwrap();
    let again = host
        .run(&p, o.session.project(), Some(o.session.dir()))
        .unwrap();
    assert!(again.edits.is_empty());
}

#[test]
fn the_ad_csv_exporter_writes_rfc4180_rows_into_the_exports_folder() {
    let mut o = open();
    let host = Host::default();
    let p = host.load(&shipped("ad-csv")).unwrap();
    let outcome = host
        .export(&p, o.session.project(), Some(o.session.dir()))
        .unwrap();
    let written = land(&mut o.session, &p, &outcome).unwrap();
    let expected = o.session.dir().join("exports/ad-csv/shot-list.csv");
    assert_eq!(written, vec![expected.clone()]);
    let text = std::fs::read_to_string(&expected).unwrap();
    assert!(text.contains("\r\n"), "CRLF line ends");
    let mut reader = csv::Reader::from_path(&expected).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "Scene", "Heading", "Shot", "Size", "Subject", "Seconds", "Speaking"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(&rows[0][1], "INT. KITCHEN - DAY");
    assert_eq!(&rows[0][2], "1.1");
    assert_eq!(
        &rows[0][4], "ANNA, cooking",
        "a comma inside a field is quoted"
    );
    assert_eq!(&rows[2][0], "2");
    assert_eq!(rows[2][5].parse::<f64>().unwrap(), 1.5);
    assert!(
        !o.session.history().can_undo(),
        "an exporter changes no document"
    );
}

#[test]
fn the_house_style_gives_presets_and_a_prompt_template() {
    let o = open();
    let host = Host::default();
    let p = host.load(&shipped("house-style")).unwrap();
    let presets = host.style_presets(&p, o.session.project()).unwrap();
    assert_eq!(presets.len(), 2);
    assert_eq!(presets[0].name, "House pencil");
    let doc = o.session.project();
    let day = host
        .prompt(&p, doc, doc.shots[0].id, "a woman at a stove")
        .unwrap();
    assert_eq!(day, "WIDE SHOT, day, a woman at a stove");
    let night = host
        .prompt(&p, doc, doc.shots[2].id, "a man on a pier")
        .unwrap();
    assert_eq!(night, "WIDE SHOT, night, a man on a pier");
}

#[test]
fn an_endless_loop_is_stopped_by_the_operation_budget_and_by_the_clock() {
    let o = open();
    let p = plugin("fn run() {\n    let i = 0;\n    loop { i += 1; }\n}\n");
    let budget = Host::new(Limits {
        max_operations: 1_000_000,
        ..Limits::default()
    });
    let err = budget.run(&p, o.session.project(), None).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Limit, "{err}");
    assert!(err.to_string().starts_with("plugins/test.rhai:3:"), "{err}");
    assert!(err.message.contains("operation budget"), "{err}");

    let slow = Host::new(Limits {
        max_operations: 0, // unlimited: only the clock stops it
        timeout: Duration::from_millis(200),
        ..Limits::default()
    });
    let started = std::time::Instant::now();
    let err = slow.run(&p, o.session.project(), None).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Limit, "{err}");
    assert!(err.message.contains("time limit"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn huge_allocations_are_refused_at_their_line() {
    let o = open();
    let host = Host::default();
    for (source, line) in [
        (
            "fn run() {\n    let a = [];\n    a.pad(100000000, 0);\n}\n",
            3,
        ),
        (
            "fn run() {\n    let s = \"xxxxxxxx\";\n    for i in 0..40 { s += s; }\n}\n",
            3,
        ),
        (
            "fn run() {\n    let m = #{};\n    for i in 0..1000000 { m[`k${i}`] = i; }\n}\n",
            3,
        ),
        ("fn run() {\n    let b = blob(100000000);\n}\n", 2),
    ] {
        let Err(err) = host.run(&plugin(source), o.session.project(), None) else {
            panic!("not refused: {source}");
        };
        assert_eq!(err.kind, ErrorKind::Limit, "{source}: {err}");
        assert_eq!(err.line, Some(line), "{source}: {err}");
    }
}

#[test]
fn files_outside_the_project_are_refused_and_inside_ones_read() {
    let o = open();
    let dir = o.session.dir().to_path_buf();
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/cast.txt"), "ANNA\nBEN\n").unwrap();
    std::os::unix::fs::symlink("/etc", dir.join("notes/etc")).unwrap();
    let host = Host::default();
    let ok = plugin("fn run() { print(read_text(\"notes/cast.txt\")); }");
    let outcome = host.run(&ok, o.session.project(), Some(&dir)).unwrap();
    assert_eq!(outcome.log, vec!["ANNA\nBEN\n".to_owned()]);
    for path in [
        "/etc/passwd",
        "../film.previz/project.json",
        "notes/../../x",
        "notes/etc/passwd",
    ] {
        let p = plugin(&format!("fn run() {{\n    read_text({path:?});\n}}\n"));
        let err = host.run(&p, o.session.project(), Some(&dir)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Refused, "{path}: {err}");
        assert_eq!(err.line, Some(2), "{path}: {err}");
        assert!(!err.message.contains("root:"), "nothing of the file leaks");
    }
    // Exports name only a file.
    let p = plugin("fn export_files() { write_export(\"../escape.txt\", \"x\"); }");
    let err = host
        .export(&p, o.session.project(), Some(&dir))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    // No import, no eval.
    for source in [
        "import \"x\" as x; fn run() {}",
        "fn run() { eval(\"1\"); }",
    ] {
        assert!(
            Host::default()
                .compile(Path::new("p.rhai"), source)
                .is_err(),
            "{source}"
        );
    }
}

#[test]
fn a_plugin_failing_halfway_leaves_the_project_and_its_history_as_they_were() {
    let mut o = open();
    let first = o.session.project().shots[0].id;
    let second = o.session.project().shots[1].id;
    o.session
        .apply(&previz_core::EditCommand::EditShot {
            shot: first,
            field: previz_core::ShotField::Notes("before".into()),
        })
        .unwrap();
    let before = o.session.project().clone();
    let undo_before = o.session.history().undo_label().map(str::to_owned);
    let source = format!(
        "fn run() {{\n    set_shot(\"{first}\", \"notes\", \"changed\");\n    edit(#{{ op: \"edit_shot\", shot: \"{second}\", field: \"subject\", value: \"x\" }});\n    throw \"the AD list is not ready\";\n}}\n"
    );
    let err = Host::default()
        .run(&plugin(&source), o.session.project(), None)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Runtime);
    assert_eq!(err.line, Some(4), "{err}");
    assert!(err.message.contains("the AD list is not ready"), "{err}");
    assert!(err.message.contains("nothing was changed"), "{err}");
    assert_eq!(o.session.project(), &before);
    assert_eq!(
        o.session.history().undo_label().map(str::to_owned),
        undo_before
    );

    // An edit that does not apply fails at its line, with what was wrong.
    let bad = "fn run() {\n    set_shot(\"00000000-0000-0000-0000-000000000001\", \"notes\", \"x\");\n}\n";
    let err = Host::default()
        .run(&plugin(bad), o.session.project(), None)
        .unwrap_err();
    assert_eq!((err.kind, err.line), (ErrorKind::Edit, Some(2)), "{err}");
    let field = format!("fn run() {{\n    set_shot(\"{first}\", \"colour\", 3);\n}}\n");
    let err = Host::default()
        .run(&plugin(&field), o.session.project(), None)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Edit, "{err}");
    assert!(err.message.contains("not a shot field"), "{err}");
    assert_eq!(o.session.project(), &before);
}

#[test]
fn syntax_errors_and_missing_hooks_name_the_file_and_line() {
    let err = Host::default()
        .compile(
            Path::new("assets/plugins/broken.rhai"),
            "fn run() {\n    let x = ;\n}\n",
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Syntax);
    assert!(
        err.to_string().starts_with("assets/plugins/broken.rhai:2:"),
        "{err}"
    );
    let o = open();
    let err = Host::default()
        .export(&plugin("fn run() {}"), o.session.project(), None)
        .unwrap_err();
    assert!(err.message.contains("fn export"), "{err}");
}

#[test]
fn discovery_lets_the_show_replace_a_shipped_plugin_and_reports_broken_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let show = tmp.path().join("show");
    std::fs::create_dir_all(&show).unwrap();
    std::fs::write(
        show.join("ad-csv.rhai"),
        "// The show's own list\nfn export_files() {}\n",
    )
    .unwrap();
    std::fs::write(show.join("broken.rhai"), "fn run( {").unwrap();
    let dirs = previz_script::PluginDirs {
        dirs: vec![
            shipped("ad-csv").parent().unwrap().to_path_buf(),
            show.clone(),
        ],
    };
    let (plugins, errors) = previz_script::discover(&Host::default(), &dirs);
    let names: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ad-csv", "house-style", "shot-numbering"]);
    assert_eq!(plugins[0].description, "The show's own list");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].file.ends_with("broken.rhai"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// Any text is a plugin or a clear syntax error, never a panic.
    #[test]
    fn compiling_any_text_never_panics(source in "\\PC{0,200}") {
        let _ = Host::default().compile(Path::new("fuzz.rhai"), &source);
    }

    /// Pieces of real syntax, recombined, compile or fail cleanly, and run or fail cleanly.
    #[test]
    fn running_recombined_syntax_never_panics(
        parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "fn run() {", "}", "let x = 1;", "x += 1;", "loop {", "break;", "shots()",
                "set_shot(\"a\", \"notes\", 1);", "print(x);", "[1,2,3].len()", "#{a: 1}",
                "throw 1;", "if x > 1 {", "} else {", "while true {", ";", "(", ")", "\"",
            ]),
            0..24,
        )
    ) {
        let source = parts.join("\n");
        let host = Host::new(Limits { max_operations: 100_000, ..Limits::default() });
        if let Ok(p) = host.compile(Path::new("fuzz.rhai"), &source)
            && p.hooks.contains(&previz_script::Hook::Run)
        {
            let _ = host.run(&p, &film(), None);
        }
    }
}

#[test]
fn script_numbers_fit_the_documents_types() {
    // Rhai's floats are f64 and its integers i64; a lens length is f32, a scene number usize.
    let mut o = open();
    let shot = o.session.project().shots[0].id;
    let source = format!(
        "fn run() {{\n    set_shot(\"{shot}\", \"lens_mm\", 35.0);\n    queue_job(\"breakdown\", #{{ scene: 2 }});\n}}\n"
    );
    let p = plugin(&source);
    let outcome = Host::default().run(&p, o.session.project(), None).unwrap();
    assert_eq!(
        outcome.jobs,
        vec![previz_script::JobRequest::Breakdown { scene: Some(2) }]
    );
    land(&mut o.session, &p, &outcome).unwrap();
    assert_eq!(o.session.project().shots[0].lens_mm, Some(35.0));
}
