//! The share through the `previz` binary, against a real S3 server on loopback (moto, started
//! here; skipped without it unless PREVIZ_REQUIRE_S3=1): rushes ingested from an S3 prefix, a
//! project's media shared through the show store, and `fsck` fetching lost assets back.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use previz_e2e::{Run, previz_in, previz_in_env};
use previz_storage::backend::test_server::{BUCKET, S3TestServer};
use previz_storage::backend::{Backend, PutMode, RetryPolicy};

fn with_env(dir: &Path, args: &[&str], env: &[(&'static str, String)], cache: &Path) -> Run {
    let mut vars: Vec<(&str, OsString)> =
        env.iter().map(|(k, v)| (*k, OsString::from(v))).collect();
    vars.push(("PREVIZ_CACHE_DIR", cache.as_os_str().to_owned()));
    vars.push(("PREVIZ_SHARE_RETRY_SECS", OsString::from("20")));
    let refs: Vec<(&str, &std::ffi::OsStr)> =
        vars.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    previz_in_env(dir, args, &refs)
}

fn wav(seconds: f32, seed: u32) -> Vec<u8> {
    let rate = 16_000u32;
    let n = (seconds * rate as f32) as u32;
    let mut out = Vec::new();
    let mut put = |b: &[u8]| out.extend_from_slice(b);
    put(b"RIFF");
    put(&(36 + n * 2).to_le_bytes());
    put(b"WAVEfmt ");
    put(&16u32.to_le_bytes());
    put(&1u16.to_le_bytes());
    put(&1u16.to_le_bytes());
    put(&rate.to_le_bytes());
    put(&(rate * 2).to_le_bytes());
    put(&2u16.to_le_bytes());
    put(&16u16.to_le_bytes());
    put(b"data");
    put(&(n * 2).to_le_bytes());
    for i in 0..n {
        let v = (((i.wrapping_mul(seed | 1) >> 3) & 0x3fff) as i16) - 0x2000;
        put(&v.to_le_bytes());
    }
    out
}

#[test]
fn rushes_from_s3_a_shared_store_and_fsck_fetching_back() {
    let Some(server) = S3TestServer::start_or_skip() else {
        eprintln!("skipping: moto is not installed");
        return;
    };
    let retry = RetryPolicy {
        first_wait: Duration::from_millis(20),
        max_wait: Duration::from_millis(200),
        budget: Duration::from_secs(20),
    };
    let bucket = server.backend("", retry);
    bucket
        .put(
            "rushes/day1/A001_C001.wav",
            &wav(1.0, 3),
            PutMode::Overwrite,
        )
        .unwrap();
    bucket
        .put(
            "rushes/day1/A001_C002.wav",
            &wav(2.0, 5),
            PutMode::Overwrite,
        )
        .unwrap();
    bucket
        .put("rushes/day1/notes.txt", b"not media", PutMode::Overwrite)
        .unwrap();
    bucket
        .put("rushes/day1/.DS_Store", b"hidden", PutMode::Overwrite)
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let env = server.env();
    let run = previz_in(tmp.path(), &["new", "film.previz"]);
    assert_eq!(run.status, 0, "{}", run.stderr);

    let source = format!("s3://{BUCKET}/rushes/day1");
    let args = ["ingest", source.as_str(), "--into", "film.previz", "--json"];
    let run = with_env(tmp.path(), &args, &env, &cache);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let report = run.json();
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{report}");
    assert_eq!(
        files[0]["source"], "A001_C001.wav",
        "relative to the prefix, as to a folder"
    );
    assert_eq!(
        files[1]["media"]["sample_rate_hz"], 16_000,
        "probed: {report}"
    );
    assert_eq!(report["registered"], 2);
    let skipped = report["skipped"].to_string();
    assert!(
        skipped.contains("notes.txt") && skipped.contains(".DS_Store"),
        "{skipped}"
    );
    assert!(
        !tmp.path()
            .join("film.previz/ingest")
            .read_dir()
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".staging")),
        "the staging folder is gone"
    );
    // Again: nothing is fetched or read twice.
    let again = with_env(tmp.path(), &args, &env, &cache);
    assert_eq!(again.status, 0, "{}", again.stderr);
    assert_eq!(again.json()["bytes_read"], 0, "{}", again.stdout);
    assert_eq!(again.json()["registered"], 0);

    // Share the project's media through the show store on S3.
    let store = format!("s3://{BUCKET}/show");
    let run = with_env(
        tmp.path(),
        &["store", "film.previz", &store, "--json"],
        &env,
        &cache,
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.json()["sent"], 2, "{}", run.stdout);
    assert_eq!(bucket.list("show/objects/").unwrap().len(), 2);
    let run = with_env(
        tmp.path(),
        &["store", "film.previz", &store, "--json"],
        &env,
        &cache,
    );
    assert_eq!(
        run.json()["already_there"],
        2,
        "stored once: {}",
        run.stdout
    );

    // An asset lost from the project folder: fsck says the show has it, --repair fetches it.
    let hash = files[0]["hash"]
        .as_str()
        .unwrap()
        .trim_start_matches("blake3:")
        .to_owned();
    let lost = tmp
        .path()
        .join("film.previz/assets")
        .join(&hash[0..2])
        .join(&hash[2..4])
        .join(&hash);
    std::fs::remove_file(&lost).unwrap();
    let run = with_env(tmp.path(), &["fsck", "film.previz"], &env, &cache);
    assert_eq!(run.status, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("show store has it"), "{}", run.stdout);
    let run = with_env(
        tmp.path(),
        &["fsck", "film.previz", "--repair"],
        &env,
        &cache,
    );
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("fetched"), "{}", run.stdout);
    assert!(lost.is_file());
    let run = with_env(tmp.path(), &["fsck", "film.previz", "--json"], &env, &cache);
    assert_eq!(run.status, 0, "{}", run.stdout);

    // Without credentials: a clear error naming where they are looked for.
    let run = previz_in_env(
        tmp.path(),
        &args,
        &[
            ("AWS_ACCESS_KEY_ID", std::ffi::OsStr::new("")),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                tmp.path().join("none").as_os_str(),
            ),
            ("AWS_CONFIG_FILE", tmp.path().join("none").as_os_str()),
        ],
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("AWS_ACCESS_KEY_ID"), "{}", run.stderr);
}

#[test]
fn previz_shared_enable_turns_a_project_folder_shared() {
    let tmp = tempfile::tempdir().unwrap();
    let run = previz_in(tmp.path(), &["new", "film.previz"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let run = previz_in(tmp.path(), &["shared", "film.previz", "--enable"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(tmp.path().join("film.previz/project.json.gen").is_dir());
    // Opened for writing, it is a shared session now.
    let (s, _) = previz_storage::Session::open(
        tmp.path().join("film.previz"),
        previz_storage::OpenMode::ReadWrite,
    )
    .unwrap();
    assert!(s.is_shared());
    drop(s);
    let run = previz_in(tmp.path(), &["shared", "s3://bucket/x", "--enable"]);
    assert_eq!(run.status, 2, "{}", run.stderr);
}

#[test]
fn previz_shared_shows_who_holds_what_and_what_did_not_merge() {
    use std::sync::Arc;

    use previz_core::{EditCommand, Project, RationalTime, Scene, SceneHeading, Shot, ShotField};
    use previz_storage::backend::PosixBackend;
    use previz_storage::{LeaseOutcome, SharedOptions, SharedProject};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("team.previz");
    let mut p = Project::new("Team");
    for heading in ["INT. KITCHEN - DAY", "EXT. PIER - NIGHT"] {
        p.script
            .scenes
            .push(Scene::new(SceneHeading::parse(heading, false)));
    }
    let rate = p.settings.frame_rate;
    for i in 0..2 {
        let scene = p.script.scenes[i].id;
        p.shots.push(Shot::new(scene, RationalTime::new(24, rate)));
    }
    let store: Arc<dyn Backend> = Arc::new(PosixBackend::new(&dir));
    let options = SharedOptions {
        journal_dir: Some(tmp.path().join("journal")),
        ..SharedOptions::default()
    };
    let mut anna = SharedProject::create(store.clone(), "", &p, options.clone()).unwrap();
    let mut ben = SharedProject::open(store, "", options).unwrap();
    let kitchen = p.script.scenes[0].id;
    assert_eq!(anna.acquire(kitchen).unwrap(), LeaseOutcome::Acquired);
    ben.refresh_leases().unwrap();
    let shot = p.shots[1].id;
    let notes = |text: &str| EditCommand::EditShot {
        shot,
        field: ShotField::Notes(text.into()),
    };
    anna.apply(&notes("wide, then push in")).unwrap();
    ben.apply(&notes("handheld")).unwrap();
    assert!(anna.save().unwrap().conflicts.is_empty());
    let saved = ben.save().unwrap();
    assert_eq!(saved.conflicts.len(), 1);
    // Ben cannot edit the kitchen while Anna holds it.
    let refused = ben
        .apply(&EditCommand::EditShot {
            shot: p.shots[0].id,
            field: ShotField::Notes("mine".into()),
        })
        .unwrap_err();
    assert!(refused.to_string().contains("being worked on"), "{refused}");

    let run = previz_in(tmp.path(), &["shared", "team.previz", "--json"]);
    assert_eq!(run.status, 1, "conflicts to look at: {}", run.stderr);
    let status = run.json();
    assert_eq!(status["leases"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["leases"][0][1], false, "Anna's lease is live");
    let conflict = &status["conflicts"][0][1]["conflicts"][0];
    assert_eq!(conflict["theirs"], "wide, then push in", "{status}");
    assert_eq!(conflict["mine"], "handheld", "{status}");
    let text = previz_in(tmp.path(), &["shared", "team.previz"]);
    assert!(
        text.stdout.contains("LEASE scene") && text.stdout.contains("CONFLICT"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("\"handheld\""), "{}", text.stdout);
    // Commands edit a shared project as one more editor: ingest registers the rushes with a
    // save that merges, and everyone's work stays.
    std::fs::create_dir_all(tmp.path().join("rushes")).unwrap();
    std::fs::write(tmp.path().join("rushes/take.wav"), wav(1.0, 7)).unwrap();
    let run = previz_in(tmp.path(), &["ingest", "rushes", "--into", "team.previz"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let (after, _) =
        previz_storage::Session::open(&dir, previz_storage::OpenMode::ReadOnly).unwrap();
    assert_eq!(after.project().assets.len(), 1, "the rush is registered");
    assert_eq!(
        after.project().shot(shot).unwrap().notes,
        "wide, then push in"
    );
    drop(after);
    // Dealt with: the records move aside and `previz shared` is clean again.
    let run = previz_in(tmp.path(), &["shared", "team.previz", "--resolve-all"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("1 conflict record(s) marked"),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_dir(dir.join("conflicts-resolved"))
            .unwrap()
            .count(),
        1
    );
    let info = previz_in(tmp.path(), &["info", "team.previz", "--json"]);
    assert_eq!(info.status, 0, "reading is fine: {}", info.stderr);
    anna.release_all().unwrap();
}
