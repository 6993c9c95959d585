//! The share backends against real servers, and many editors on one project.
//!
//! * Every backend test runs on a folder and on a real S3 server on loopback (moto's, served
//!   one request at a time by `tests/s3/moto_serial.py`, started by the test). Without moto
//!   the S3 half is skipped, unless `PREVIZ_REQUIRE_S3=1` (CI) makes that a failure.
//! * Children (a killed upload, the eight editors) are this same test binary re-executed with
//!   `PREVIZ_SHARE_CHILD` set, running only the `child` test.

#![cfg(unix)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use previz_core::*;
use previz_storage::backend::aws_config::AwsSettings;
use previz_storage::backend::test_server::{BUCKET, S3TestServer};
use previz_storage::backend::{
    self, Backend, BackendError, Fault, FaultPlan, PosixBackend, PutMode, RetryPolicy, S3Backend,
    S3Location, UploadOptions,
};
use previz_storage::{LeaseOutcome, SharedOptions, SharedProject};

const CHILD: &str = "PREVIZ_SHARE_CHILD";

// ---------------------------------------------------------------------------------------------
// A real S3 server on loopback (previz_storage::backend::test_server).

fn s3_server() -> Option<S3TestServer> {
    let server = S3TestServer::start_or_skip();
    if server.is_none() {
        eprintln!("skipping the S3 half: moto is not installed (pip install 'moto[server]')");
    }
    server
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        first_wait: Duration::from_millis(20),
        max_wait: Duration::from_millis(500),
        budget: Duration::from_secs(60),
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

fn no_progress(_: u64) {}

// ---------------------------------------------------------------------------------------------
// The backend contract, on both backends.

fn contract(b: &dyn Backend, state: &Path) {
    // put, get, head, list.
    let v1 = b.put("show/a.txt", b"one", PutMode::Overwrite).unwrap();
    let (bytes, got) = b.get("show/a.txt").unwrap();
    assert_eq!(bytes, b"one");
    assert_eq!(got, v1);
    assert_eq!(b.head("show/a.txt").unwrap().unwrap().size, 3);
    assert!(b.head("show/none").unwrap().is_none());
    assert!(matches!(
        b.get("show/none"),
        Err(BackendError::NotFound { .. })
    ));
    b.put("show/deep/b.txt", b"two", PutMode::Overwrite)
        .unwrap();
    b.put("other/c.txt", b"three", PutMode::Overwrite).unwrap();
    let keys: Vec<String> = b
        .list("show/")
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(keys, ["show/a.txt", "show/deep/b.txt"]);

    // Create: only once.
    let c1 = b.put("show/lease.json", b"first", PutMode::Create).unwrap();
    assert!(matches!(
        b.put("show/lease.json", b"second", PutMode::Create),
        Err(BackendError::AlreadyExists { .. })
    ));
    // Replace: only on the version read; the loser of a race is told.
    let c2 = b
        .put("show/lease.json", b"renewed", PutMode::Replace(c1.clone()))
        .unwrap();
    assert_ne!(c1, c2);
    assert!(matches!(
        b.put("show/lease.json", b"stale", PutMode::Replace(c1)),
        Err(BackendError::Changed { .. })
    ));
    assert_eq!(
        b.get("show/lease.json").unwrap(),
        (b"renewed".to_vec(), c2.clone())
    );
    // A plain object becomes conditional.
    let (_, va) = b.get("show/a.txt").unwrap();
    let va2 = b
        .put("show/a.txt", b"one+", PutMode::Replace(va.clone()))
        .unwrap();
    assert!(matches!(
        b.put("show/a.txt", b"lost", PutMode::Replace(va)),
        Err(BackendError::Changed { .. })
    ));
    assert_eq!(b.get("show/a.txt").unwrap(), (b"one+".to_vec(), va2));
    // Delete, then create again.
    b.delete("show/lease.json").unwrap();
    assert!(b.head("show/lease.json").unwrap().is_none());
    b.delete("show/lease.json").unwrap();
    b.put("show/lease.json", b"again", PutMode::Create).unwrap();
    let keys: Vec<String> = b
        .list("show/")
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(keys, ["show/a.txt", "show/deep/b.txt", "show/lease.json"]);
    assert_eq!(b.list("").unwrap().len(), 4, "everything, from the root");

    // Multipart upload and streamed download.
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("rush.mov");
    std::fs::write(&source, pattern(12 << 20 | 12345, 7)).unwrap();
    let options = UploadOptions {
        part_size: 5 << 20,
        ..UploadOptions::new(state)
    };
    let up = b
        .upload("show/rushes/rush.mov", &source, &options, &no_progress)
        .unwrap();
    assert_eq!(up.bytes, 12 << 20 | 12345);
    assert_eq!(up.resumed_bytes, 0);
    let dest = tmp.path().join("back/rush.mov");
    let n = b
        .download("show/rushes/rush.mov", &dest, &no_progress)
        .unwrap();
    assert_eq!(n, up.bytes);
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(&source).unwrap()
    );

    // Unsafe keys never reach the store.
    for bad in ["../escape", "/abs", "a//b", "show/../../x"] {
        assert!(
            matches!(
                b.put(bad, b"x", PutMode::Overwrite),
                Err(BackendError::BadKey { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn posix_backend_keeps_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let b = PosixBackend::new(tmp.path().join("share"));
    contract(&b, &tmp.path().join("state"));
    // Versioned objects are also published as plain files for tools reading the folder.
    assert_eq!(
        std::fs::read(tmp.path().join("share/show/lease.json")).unwrap(),
        b"again"
    );
    // .nfsXXXX files and temp files are not objects.
    std::fs::write(tmp.path().join("share/show/.nfs000000001234"), b"x").unwrap();
    assert_eq!(b.list("show/").unwrap().len(), 4);
    // A symlink that leads outside the root is refused.
    std::fs::create_dir_all(tmp.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("elsewhere"), tmp.path().join("share/out")).unwrap();
    let err = b.put("out/x", b"x", PutMode::Overwrite).unwrap_err();
    assert!(matches!(err, BackendError::BadKey { .. }), "{err}");
    assert!(!tmp.path().join("elsewhere/x").exists());
}

#[test]
fn s3_backend_keeps_the_contract() {
    let Some(server) = s3_server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let b = server.backend("studio", quick_retry());
    contract(&b, &tmp.path().join("state"));
    // The prefix is the show's folder in the bucket.
    assert_eq!(b.location("x"), format!("s3://{BUCKET}/studio/x"));
    let opened = backend::open(&format!("s3://{BUCKET}/studio"));
    // Without AWS credentials in the environment the error says where it looked.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        let err = opened.unwrap_err().to_string();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// A share that goes away.

#[test]
fn posix_retries_eio_and_estale_and_never_shows_a_partial_object() {
    let tmp = tempfile::tempdir().unwrap();
    let faults = Arc::new(FaultPlan::new(vec![
        Fault {
            op: "write",
            after: 0,
            times: 2,
            errno: 5,
        }, // EIO
        Fault {
            op: "rename",
            after: 0,
            times: 1,
            errno: 116,
        }, // ESTALE
        Fault {
            op: "read",
            after: 0,
            times: 2,
            errno: 116,
        },
        Fault {
            op: "link",
            after: 0,
            times: 1,
            errno: 5,
        },
    ]));
    let b = PosixBackend::new(tmp.path().join("share"))
        .with_retry(quick_retry())
        .with_faults(faults.clone());
    b.put("p/project.json", b"{\"v\":1}", PutMode::Overwrite)
        .unwrap();
    let (bytes, v) = b.get("p/project.json").unwrap();
    assert_eq!(bytes, b"{\"v\":1}");
    b.put("p/project.json", b"{\"v\":2}", PutMode::Replace(v))
        .unwrap();
    let source = tmp.path().join("big.wav");
    std::fs::write(&source, pattern(3 << 20, 1)).unwrap();
    let faults2 = Arc::new(FaultPlan::new(vec![Fault {
        op: "write",
        after: 2,
        times: 3,
        errno: 5,
    }]));
    let b2 = b.clone().with_faults(faults2.clone());
    let options = UploadOptions {
        part_size: 1 << 20,
        ..UploadOptions::new(tmp.path().join("state"))
    };
    let up = b2
        .upload("p/big.wav", &source, &options, &no_progress)
        .unwrap();
    assert_eq!(up.bytes, 3 << 20);
    assert!(
        up.resumed_bytes > 0,
        "a retry resumes from the last fsync point"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("share/p/big.wav")).unwrap(),
        std::fs::read(&source).unwrap()
    );
    assert_eq!(
        faults.remaining() + faults2.remaining(),
        0,
        "every fault was hit"
    );

    // A share that stays away: a clear error, the old object intact, nothing partial listed.
    let dead = Arc::new(FaultPlan::new(vec![Fault {
        op: "write",
        after: 0,
        times: 1000,
        errno: 5,
    }]));
    let b3 = PosixBackend::new(tmp.path().join("share"))
        .with_retry(RetryPolicy {
            first_wait: Duration::from_millis(5),
            max_wait: Duration::from_millis(20),
            budget: Duration::from_millis(200),
        })
        .with_faults(dead);
    let (_, v) = b3.get("p/project.json").unwrap();
    let err = b3
        .put("p/project.json", b"{\"v\":3}", PutMode::Replace(v))
        .unwrap_err();
    let text = err.to_string();
    assert!(err.is_transient(), "{text}");
    assert!(
        text.contains("EIO") && text.contains("p/project.json") && text.contains("tries"),
        "{text}"
    );
    assert_eq!(b.get("p/project.json").unwrap().0, b"{\"v\":2}");
    let keys: Vec<String> = b.list("p/").unwrap().into_iter().map(|m| m.key).collect();
    assert_eq!(keys, ["p/big.wav", "p/project.json"]);
}

#[test]
fn s3_server_killed_mid_transfer_is_retried_and_no_partial_object_is_visible() {
    let Some(mut server) = s3_server() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("rush.mov");
    std::fs::write(&source, pattern(30 << 20, 3)).unwrap();
    let state = tmp.path().join("state");
    let b = Arc::new(server.backend("show", quick_retry()));
    let parts_done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let uploader = {
        let b = b.clone();
        let source = source.clone();
        let state = state.clone();
        let parts_done = parts_done.clone();
        std::thread::spawn(move || {
            let options = UploadOptions {
                part_size: 5 << 20,
                ..UploadOptions::new(state)
            };
            let slow = move |done: u64| {
                parts_done.store(done, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
            };
            b.upload("rushes/rush.mov", &source, &options, &slow)
        })
    };
    while parts_done.load(std::sync::atomic::Ordering::SeqCst) < 10 << 20 {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    std::thread::sleep(Duration::from_millis(1500));
    server.start();
    let check = server.backend("show", quick_retry());
    let mut seen_partial = false;
    while !uploader.is_finished() {
        if let Ok(Some(meta)) = check.head("rushes/rush.mov") {
            seen_partial |= meta.size != 30 << 20;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let up = uploader
        .join()
        .unwrap()
        .expect("the upload survives a server restart");
    assert!(!seen_partial, "never a partial object under the final key");
    assert_eq!(up.bytes, 30 << 20);
    let dest = tmp.path().join("back.mov");
    check
        .download("rushes/rush.mov", &dest, &no_progress)
        .unwrap();
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(&source).unwrap()
    );
    // A server that stays down: a clear error within the budget.
    server.kill();
    let b = server.backend(
        "show",
        RetryPolicy {
            first_wait: Duration::from_millis(10),
            max_wait: Duration::from_millis(50),
            budget: Duration::from_millis(300),
        },
    );
    let err = b.get("rushes/rush.mov").unwrap_err();
    assert!(
        err.is_transient() && err.to_string().contains("s3://"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// An upload killed halfway, then resumed.

fn spawn_child(mode: &str, env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn child_backend() -> Arc<dyn Backend> {
    let location = std::env::var("PREVIZ_SHARE_LOCATION").unwrap();
    if let Some(endpoint) = location.strip_prefix("moto:") {
        let (endpoint, prefix) = endpoint.split_once('|').unwrap();
        let settings = AwsSettings {
            access_key_id: Some("K".into()),
            secret_access_key: Some("S".into()),
            region: Some("us-east-1".into()),
            endpoint: Some(endpoint.into()),
            ..AwsSettings::default()
        };
        Arc::new(
            S3Backend::new(
                S3Location {
                    bucket: BUCKET.into(),
                    prefix: prefix.into(),
                },
                &settings,
            )
            .unwrap()
            .with_retry(quick_retry()),
        )
    } else {
        Arc::new(PosixBackend::new(location).with_retry(quick_retry()))
    }
}

/// Runs only as a child (see the module docs).
#[test]
fn child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    match mode.as_str() {
        "upload" => {
            let b = child_backend();
            let source = PathBuf::from(std::env::var("PREVIZ_SHARE_SOURCE").unwrap());
            let options = UploadOptions {
                part_size: 5 << 20,
                ..UploadOptions::new(std::env::var("PREVIZ_SHARE_STATE").unwrap())
            };
            let report = |done: u64| {
                let mut out = std::io::stdout().lock();
                writeln!(out, "done {done}").unwrap();
                std::thread::sleep(Duration::from_millis(200));
            };
            b.upload("rushes/big.mov", &source, &options, &report)
                .unwrap();
            writeln!(std::io::stdout(), "finished").unwrap();
        }
        "editor" => editor_child(),
        "unsaved" => unsaved_child(),
        other => panic!("unknown child mode {other}"),
    }
}

fn kill_upload_halfway_then_resume(location: String, b: &dyn Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("big.mov");
    std::fs::write(&source, pattern(26 << 20, 9)).unwrap();
    let state = tmp.path().join("state");
    let mut child = spawn_child(
        "upload",
        &[
            ("PREVIZ_SHARE_LOCATION", location),
            ("PREVIZ_SHARE_SOURCE", source.display().to_string()),
            ("PREVIZ_SHARE_STATE", state.display().to_string()),
        ],
    );
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "child ended early"
        );
        if let Some(n) = line.trim().strip_prefix("done ")
            && n.parse::<u64>().unwrap() >= 12 << 20
        {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        b.head("rushes/big.mov").unwrap().is_none(),
        "nothing visible after the kill"
    );
    let options = UploadOptions {
        part_size: 5 << 20,
        ..UploadOptions::new(&state)
    };
    let up = b
        .upload("rushes/big.mov", &source, &options, &no_progress)
        .unwrap();
    assert!(
        up.resumed_bytes >= 10 << 20,
        "the upload resumed where the killed one stopped ({} bytes resumed)",
        up.resumed_bytes
    );
    let dest = tmp.path().join("back.mov");
    b.download("rushes/big.mov", &dest, &no_progress).unwrap();
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(&source).unwrap()
    );
}

#[test]
fn upload_killed_halfway_resumes_on_a_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("share");
    let b = PosixBackend::new(&root);
    kill_upload_halfway_then_resume(root.display().to_string(), &b);
}

#[test]
fn upload_killed_halfway_resumes_on_s3() {
    let Some(server) = s3_server() else { return };
    let b = server.backend("show", quick_retry());
    kill_upload_halfway_then_resume(format!("moto:{}|show", server.endpoint()), &b);
}

// ---------------------------------------------------------------------------------------------
// Eight editors on one project.

const EDITORS: usize = 8;
const SCENES: usize = 8;

/// A project with a common scene nobody leases (shot 0) and `SCENES` scenes of two shots.
fn team_project() -> Project {
    let mut p = Project::new("Team");
    for i in 0..=SCENES {
        p.script.scenes.push(Scene::new(SceneHeading::parse(
            &format!("INT. ROOM {i} - DAY"),
            false,
        )));
    }
    let rate = p.settings.frame_rate;
    for (i, scene) in p.script.scenes.iter().enumerate() {
        for _ in 0..if i == 0 { 1 } else { 2 } {
            p.shots
                .push(Shot::new(scene.id, RationalTime::new(24, rate)));
        }
    }
    p
}

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One editor: for a few seconds, takes scene leases and appends tokens to shot notes and
/// prompts, adds shots, and appends to the common shot without a lease (where conflicts
/// happen). Prints `saved TOKEN` or `conflict TOKEN` for every edit.
fn editor_child() {
    let who: usize = std::env::var("PREVIZ_EDITOR").unwrap().parse().unwrap();
    let secs: f64 = std::env::var("PREVIZ_EDIT_SECS").unwrap().parse().unwrap();
    let prefix = std::env::var("PREVIZ_SHARE_PREFIX").unwrap();
    let b = child_backend();
    let mut p = SharedProject::open(b, &prefix, child_options()).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((who as u64 + 1) * 0x1234_5678_9abc));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut n = 0u32;
    let mut stdout = std::io::stdout().lock();
    while Instant::now() < deadline {
        let _ = p.reload().unwrap();
        let mut tokens: Vec<String> = Vec::new();
        let mut token = || {
            n += 1;
            format!("p{who}e{n}x")
        };
        let leased = if rng.next(3) == 0 {
            None
        } else {
            let scene = p.doc().script.scenes[1 + rng.next(SCENES)].id;
            match p.acquire(scene).unwrap() {
                LeaseOutcome::Acquired | LeaseOutcome::TookOver { .. } => Some(scene),
                LeaseOutcome::Held { .. } => {
                    writeln!(stdout, "held").unwrap();
                    continue;
                }
            }
        };
        // The lease may have let others' saves in: start from the newest document.
        let _ = p.reload().unwrap();
        match leased {
            Some(scene) => {
                let shots: Vec<ShotId> = p
                    .doc()
                    .shots
                    .iter()
                    .filter(|s| s.scene == scene)
                    .map(|s| s.id)
                    .collect();
                for _ in 0..1 + rng.next(3) {
                    let t = token();
                    let shot = shots[rng.next(shots.len())];
                    let old = p.doc().shot(shot).unwrap().notes.clone();
                    p.apply(&EditCommand::EditShot {
                        shot,
                        field: ShotField::Notes(format!("{old} {t}")),
                    })
                    .unwrap();
                    tokens.push(t);
                }
                if rng.next(4) == 0 {
                    let t = token();
                    let mut shot = Shot::new(scene, RationalTime::new(12, Rate::FPS_24));
                    shot.prompt = t.clone();
                    p.apply(&EditCommand::AddShot {
                        shot: Box::new(shot),
                        after: shots.last().copied(),
                    })
                    .unwrap();
                    tokens.push(t);
                }
            }
            None => {
                let t = token();
                let common = p.doc().shots[0].id;
                let old = p.doc().shot(common).unwrap().notes.clone();
                p.apply(&EditCommand::EditShot {
                    shot: common,
                    field: ShotField::Notes(format!("{old} {t}")),
                })
                .unwrap();
                tokens.push(t);
                // Give a rival a moment to save first.
                std::thread::sleep(Duration::from_millis(rng.next(30) as u64));
            }
        }
        let saved = p.save().unwrap();
        if saved.merges > 0 && saved.conflicts.is_empty() {
            writeln!(stdout, "merged").unwrap();
        }
        let dropped = serde_json::to_string(&saved.conflicts).unwrap();
        for t in tokens {
            let verdict = if dropped.contains(&t) {
                "conflict"
            } else {
                "saved"
            };
            writeln!(stdout, "{verdict} {t}").unwrap();
        }
        if let Some(scene) = leased {
            p.release(scene).unwrap();
        }
    }
    writeln!(stdout, "finished").unwrap();
}

/// Children journal their unsaved edits where the parent says.
fn child_options() -> SharedOptions {
    SharedOptions {
        journal_dir: std::env::var_os("PREVIZ_SHARE_JOURNAL").map(PathBuf::from),
        ..SharedOptions::default()
    }
}

/// Edits and never saves: the parent kills it.
fn unsaved_child() {
    let prefix = std::env::var("PREVIZ_SHARE_PREFIX").unwrap();
    let mut p = SharedProject::open(child_backend(), &prefix, child_options()).unwrap();
    let shots: Vec<ShotId> = p.doc().shots.iter().map(|s| s.id).collect();
    for (i, shot) in shots.iter().enumerate() {
        p.apply(&EditCommand::EditShot {
            shot: *shot,
            field: ShotField::Notes(format!("unsaved {i}")),
        })
        .unwrap();
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "edited {}", shots.len()).unwrap();
    drop(out);
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn unsaved_edits_of_a_killed_editor_come_back_on_the_next_open() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("share");
    let journal = tmp.path().join("journal");
    let b: Arc<dyn Backend> = Arc::new(PosixBackend::new(&root));
    let options = SharedOptions {
        journal_dir: Some(journal.clone()),
        ..SharedOptions::default()
    };
    let project = team_project();
    SharedProject::create(b.clone(), "T.previz", &project, options.clone()).unwrap();
    let mut child = spawn_child(
        "unsaved",
        &[
            ("PREVIZ_SHARE_LOCATION", root.display().to_string()),
            ("PREVIZ_SHARE_PREFIX", "T.previz".into()),
            ("PREVIZ_SHARE_JOURNAL", journal.display().to_string()),
        ],
    );
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("edited ") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "child ended early"
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Meanwhile someone else saved a different field of the first shot.
    let mut other = SharedProject::open(
        b.clone(),
        "T.previz",
        SharedOptions {
            journal_dir: None,
            ..SharedOptions::default()
        },
    )
    .unwrap();
    let first = project.shots[0].id;
    other
        .apply(&EditCommand::EditShot {
            shot: first,
            field: ShotField::Subject("Mara".into()),
        })
        .unwrap();
    other.save().unwrap();

    let mut back = SharedProject::open(b.clone(), "T.previz", options.clone()).unwrap();
    let recovered = back
        .recovered()
        .expect("the killed session's journal is found");
    assert_eq!(recovered.edits, project.shots.len());
    assert!(recovered.conflicts.is_empty());
    assert_eq!(back.doc().shot(first).unwrap().notes, "unsaved 0");
    assert_eq!(
        back.doc().shot(first).unwrap().subject,
        "Mara",
        "merged onto the newer save"
    );
    back.save().unwrap();
    let (bytes, _) = b.get("T.previz/project.json").unwrap();
    let saved = format::from_json(&bytes).unwrap();
    for (i, shot) in saved.shots.iter().enumerate() {
        assert_eq!(shot.notes, format!("unsaved {i}"));
    }
    // Replayed once: the next open finds nothing more.
    let again = SharedProject::open(b, "T.previz", options).unwrap();
    assert!(again.recovered().is_none());
    assert!(
        std::fs::read_dir(&journal)
            .unwrap()
            .flatten()
            .all(|e| e.file_name().to_string_lossy().ends_with(".recovered"))
    );
}

fn eight_editors(location: &str, prefix: &str, b: &Arc<dyn Backend>) {
    let project = team_project();
    SharedProject::create(b.clone(), prefix, &project, SharedOptions::default()).unwrap();
    let journal = tempfile::tempdir().unwrap();
    let secs = std::env::var("PREVIZ_EDIT_SECS").unwrap_or_else(|_| "10".into());
    let children: Vec<Child> = (0..EDITORS)
        .map(|i| {
            spawn_child(
                "editor",
                &[
                    ("PREVIZ_SHARE_LOCATION", location.to_owned()),
                    ("PREVIZ_SHARE_PREFIX", prefix.to_owned()),
                    ("PREVIZ_EDITOR", i.to_string()),
                    ("PREVIZ_SHARE_JOURNAL", journal.path().display().to_string()),
                    ("PREVIZ_EDIT_SECS", secs.clone()),
                ],
            )
        })
        .collect();
    let mut saved = BTreeSet::new();
    let mut conflicts = BTreeSet::new();
    let mut held = 0;
    let mut merged = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("finished"),
            "an editor failed:\n{text}"
        );
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("saved", t)) => {
                    saved.insert(t.to_owned());
                }
                Some(("conflict", t)) => {
                    conflicts.insert(t.to_owned());
                }
                _ if line == "held" => held += 1,
                _ if line == "merged" => merged += 1,
                _ => {}
            }
        }
    }
    let (bytes, _) = b.get(&format!("{prefix}/project.json")).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let doc = format::from_json(text.as_bytes()).unwrap();
    assert!(doc.validate().is_empty(), "{:?}", doc.validate());
    let mut present = BTreeSet::new();
    for shot in &doc.shots {
        for word in shot
            .notes
            .split_whitespace()
            .chain(std::iter::once(shot.prompt.as_str()))
        {
            present.insert(word.to_owned());
        }
    }
    let lost: Vec<&String> = saved.iter().filter(|t| !present.contains(*t)).collect();
    eprintln!(
        "{location}: {} edits saved, {} reported as conflicts, {merged} saves merged others' edits cleanly, {} lease refusals, {} in the final document",
        saved.len(),
        conflicts.len(),
        held,
        present.len()
    );
    assert!(lost.is_empty(), "edits lost without a conflict: {lost:?}");
    assert!(saved.len() > 40, "the editors got work done");
    assert!(
        !conflicts.is_empty(),
        "unleased edits of one shot must collide at least once"
    );
    assert!(
        merged > 0,
        "saves that found someone else's save merged it without conflict"
    );
    // Every conflict is on record in the project.
    let records = b.list(&format!("{prefix}/conflicts/")).unwrap();
    let mut recorded = String::new();
    for r in &records {
        recorded.push_str(&String::from_utf8_lossy(&b.get(&r.key).unwrap().0));
    }
    for t in &conflicts {
        assert!(
            recorded.contains(t.as_str()),
            "conflict {t} is not on record"
        );
    }
    // No lease is left behind.
    assert!(b.list(&format!("{prefix}/leases/")).unwrap().is_empty());
}

#[test]
fn eight_editors_on_one_folder_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("share");
    let b: Arc<dyn Backend> = Arc::new(PosixBackend::new(&root));
    eight_editors(&root.display().to_string(), "Team.previz", &b);
}

#[test]
fn eight_editors_on_s3_lose_nothing() {
    let Some(server) = s3_server() else { return };
    let b: Arc<dyn Backend> = Arc::new(server.backend("", quick_retry()));
    eight_editors(&format!("moto:{}|", server.endpoint()), "Team.previz", &b);
}

// ---------------------------------------------------------------------------------------------
// The show's store: stored once, verified on read, cached by last use.

#[test]
fn show_store_on_a_folder_stores_once_for_every_project() {
    use previz_storage::{AssetStore, ShowStore};
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    let show = || {
        ShowStore::new(
            Arc::new(PosixBackend::new(share.join("store"))),
            Some(share.join("store")),
            None,
            tmp.path().join("state"),
        )
    };
    let rush = tmp.path().join("A001_C003.mov");
    std::fs::write(&rush, pattern(3 << 20, 5)).unwrap();
    let a = AssetStore::new(share.join("A.previz/assets")).with_show(show());
    let b = AssetStore::new(share.join("B.previz/assets")).with_show(show());
    let h = a.put_file(&rush).unwrap();
    assert_eq!(b.put_file(&rush).unwrap(), h);
    let objects = show().backend().list("objects/").unwrap();
    assert_eq!(objects.len(), 1, "stored once in the show store");
    // A third project that never saw the file reads it from the show store.
    let c = AssetStore::new(share.join("C.previz/assets")).with_show(show());
    assert_eq!(c.read(&h).unwrap(), std::fs::read(&rush).unwrap());
    {
        use std::os::unix::fs::MetadataExt;
        let object = share.join("store").join(ShowStore::key_of(&h));
        let inode = std::fs::metadata(&object).unwrap().ino();
        for project in [&a, &b, &c] {
            assert_eq!(
                std::fs::metadata(project.path_of(&h)).unwrap().ino(),
                inode,
                "the project's asset is a hard link: the bytes exist once"
            );
        }
    }
    // A damaged object is reported, never used.
    let d = AssetStore::new(share.join("D.previz/assets")).with_show(show());
    let object = share.join("store").join(ShowStore::key_of(&h));
    std::fs::remove_file(&object).unwrap();
    std::fs::write(&object, b"bit rot").unwrap();
    let err = d.read(&h).unwrap_err().to_string();
    assert!(err.contains("damaged"), "{err}");
    assert!(!d.path_of(&h).exists());
}

#[test]
fn show_store_on_s3_caches_reads_by_last_use_within_its_budget() {
    use previz_storage::{ReadCache, ShowStore};
    let Some(server) = s3_server() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cache = Arc::new(ReadCache::new(tmp.path().join("cache"), 2_500_000));
    let store = ShowStore::new(
        Arc::new(server.backend("show-store", quick_retry())),
        None,
        Some(cache.clone()),
        tmp.path().join("state"),
    );
    let mut hashes = Vec::new();
    for i in 0..3u8 {
        let f = tmp.path().join(format!("frame{i}.png"));
        std::fs::write(&f, pattern(1_000_000, i)).unwrap();
        let (h, sent) = store.put_file(&f, &no_progress).unwrap();
        assert!(sent);
        assert!(
            !store.put_file(&f, &no_progress).unwrap().1,
            "already stored: not sent again"
        );
        hashes.push(h);
    }
    let pause = || std::thread::sleep(Duration::from_millis(30));
    for h in &hashes {
        assert_eq!(
            std::fs::read(store.local_path(h).unwrap()).unwrap().len(),
            1_000_000
        );
        pause();
    }
    // Three objects of 1 MB in a 2.5 MB cache: the least recently used (frame 0) went.
    assert!(cache.size().unwrap() <= 2_500_000);
    assert!(cache.get(&hashes[0]).is_none());
    pause();
    assert!(cache.get(&hashes[1]).is_some(), "frame 1 used again");
    pause();
    store.local_path(&hashes[0]).unwrap();
    // Frame 2 was used least recently now.
    assert!(cache.get(&hashes[2]).is_none());
    assert!(cache.get(&hashes[1]).is_some() && cache.get(&hashes[0]).is_some());
    // A damaged object on the server is caught on the way in.
    let key = ShowStore::key_of(&hashes[2]);
    store
        .backend()
        .put(&key, b"bit rot", PutMode::Overwrite)
        .unwrap();
    let err = store.read(&hashes[2]).unwrap_err().to_string();
    assert!(err.contains("damaged"), "{err}");
}
