//! `previz batch` and `previz farm` end to end, through the binary: a run killed with SIGKILL
//! midway resumes without redoing finished units; SIGTERM stops cleanly (exit 130); on a real
//! single-node Slurm (tests/farm/slurm.sh, started by scripts/test.sh) a job array of shards
//! and a dependent gather give the same units and the same project as one process.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use previz_e2e::{copy_dir, previz_binary, previz_in, root, sample};

const STEPS: &str = "breakdown,frames,voices,exports";

fn import(dir: &Path, name: &str) {
    let run = previz_in(
        dir,
        &[
            "import",
            sample("every-feature.fountain").to_str().unwrap(),
            "-o",
            name,
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
}

/// `--progress json` events of a finished run: (status of each unit by key, the summary).
fn units_of(stdout: &str) -> (Vec<(String, String)>, serde_json::Value) {
    let mut units = Vec::new();
    let mut summary = serde_json::Value::Null;
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        match v["event"].as_str() {
            Some("unit") => units.push((
                v["key"].as_str().unwrap().to_owned(),
                v["status"].as_str().unwrap().to_owned(),
            )),
            Some("summary") => summary = v,
            _ => {}
        }
    }
    (units, summary)
}

fn made(units: &[(String, String)]) -> BTreeSet<String> {
    units
        .iter()
        .filter(|(_, s)| s == "done")
        .map(|(k, _)| k.clone())
        .collect()
}

fn batch_args<'a>(project: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "batch",
        project,
        "--steps",
        STEPS,
        "--exports",
        "otio,csv",
        "--progress",
        "json",
    ];
    args.extend_from_slice(extra);
    args
}

/// Every published unit (kind/key) with the media it made.
fn published(project: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for kind in ["breakdown", "frames", "voice"] {
        let dir = project.join("batch/units").join(kind);
        let Ok(fans) = std::fs::read_dir(&dir) else {
            continue;
        };
        // units/<kind>/<first two characters of the key>/<key>.json
        let records = fans
            .flatten()
            .flat_map(|fan| std::fs::read_dir(fan.path()).unwrap().flatten());
        for e in records {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            let assets = v["assets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            out.insert(
                format!("{kind}/{}", e.file_name().to_string_lossy()),
                assets,
            );
        }
    }
    out
}

/// The project's content without ids and times: each shot's fields and its takes' media, each
/// line's voice take, the timeline's item lengths.
fn content(project: &Path) -> serde_json::Value {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.join("project.json")).unwrap()).unwrap();
    let shots: Vec<serde_json::Value> = doc["shots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let takes: Vec<&serde_json::Value> = s["takes"]
                .as_array()
                .map(|t| t.iter().map(|t| &t["asset"]).collect())
                .unwrap_or_default();
            serde_json::json!([s["size"], s["angle"], s["action"], s["duration"], takes])
        })
        .collect();
    let voices: BTreeSet<String> = doc["voices"]
        .as_object()
        .map(|m| {
            m.values()
                .flat_map(|v| v["takes"].as_array().cloned().unwrap_or_default())
                .map(|t| t["asset"].to_string())
                .collect()
        })
        .unwrap_or_default();
    let tracks: Vec<serde_json::Value> = doc["timeline"]["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            serde_json::json!(
                t["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["duration_frames"].clone())
                    .collect::<Vec<_>>()
            )
        })
        .collect();
    serde_json::json!({"shots": shots, "voices": voices, "tracks": tracks})
}

#[test]
fn a_killed_batch_resumes_without_redoing_finished_units() {
    let tmp = tempfile::tempdir().unwrap();
    import(tmp.path(), "film.previz");
    copy_dir(
        &tmp.path().join("film.previz"),
        &tmp.path().join("whole.previz"),
    );

    // Kill -9 after the eighth unit is published.
    let mut child = Command::new(previz_binary())
        .args(batch_args("film.previz", &[]))
        .current_dir(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    let mut done = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        first.push_str(&line);
        first.push('\n');
        if line.contains(r#""event":"unit""#) && line.contains(r#""status":"done""#) {
            done += 1;
            if done == 8 {
                child.kill().unwrap();
                break;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run was killed before it ended");
    let (u1, _) = units_of(&first);
    let reported = made(&u1);
    assert_eq!(reported.len(), 8);
    // What the killed run finished is what it published (it may have published a unit or two
    // after the line we read, or just before it could report one).
    let d1: BTreeSet<String> = published(&tmp.path().join("film.previz"))
        .keys()
        .map(|k| {
            k.rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".json")
                .to_owned()
        })
        .collect();
    assert!(reported.is_subset(&d1), "{reported:?} {d1:?}");
    // SIGKILL mid-run leaves every medium the project names intact.
    let fsck = previz_in(tmp.path(), &["fsck", "film.previz", "--json"]);
    assert_eq!(fsck.status, 0, "{}{}", fsck.stdout, fsck.stderr);
    assert!(fsck.json()["problems"].as_array().unwrap().is_empty());
    let status = previz_in(tmp.path(), &["farm", "status", "film.previz", "--json"]);
    assert_eq!(status.status, 0, "{}", status.stderr);
    let counts = &status.json()["published"];
    let total: u64 = ["breakdown", "frames", "voice"]
        .iter()
        .map(|k| counts[k].as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, d1.len());

    // The rerun takes the dead run's lock and claim back and makes only what is missing.
    let rerun = previz_in(tmp.path(), &batch_args("film.previz", &[]));
    assert_eq!(rerun.status, 0, "{}", rerun.stderr);
    let (u2, summary) = units_of(&rerun.stdout);
    let d2 = made(&u2);
    assert!(d1.is_disjoint(&d2), "finished units were made again");
    // What the killed run finished is reused: found published (cached), or already landed in
    // the project when the kill came after its gather of a scene (up to date); which one
    // depends on where the kill lands.
    let reused = summary["cached"].as_u64().unwrap() + summary["up_to_date"].as_u64().unwrap();
    assert!(reused >= 1, "{summary}");

    let whole = previz_in(tmp.path(), &batch_args("whole.previz", &[]));
    assert_eq!(whole.status, 0, "{}", whole.stderr);
    let (u3, _) = units_of(&whole.stdout);
    let d3 = made(&u3);
    assert_eq!(
        d1.len() + d2.len(),
        d3.len(),
        "killed + resumed made as many units as one whole run"
    );
    let film = tmp.path().join("film.previz");
    let reference = tmp.path().join("whole.previz");
    assert_eq!(published(&film), published(&reference));
    assert_eq!(content(&film), content(&reference));
    let fsck = previz_in(tmp.path(), &["fsck", "film.previz"]);
    assert_eq!(fsck.status, 0, "{}{}", fsck.stdout, fsck.stderr);
    assert!(fsck.stdout.contains("clean"), "{}", fsck.stdout);
    // A third run has nothing to do.
    let again = previz_in(tmp.path(), &batch_args("film.previz", &[]));
    let (u4, _) = units_of(&again.stdout);
    assert!(made(&u4).is_empty());
}

#[test]
fn sigterm_stops_cleanly_with_exit_130() {
    let tmp = tempfile::tempdir().unwrap();
    import(tmp.path(), "film.previz");
    let mut child = Command::new(previz_binary())
        .args(batch_args("film.previz", &[]))
        .current_dir(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains(r#""status":"done""#) {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    let summary = rest
        .iter()
        .find(|l| l.contains(r#""event":"summary""#))
        .unwrap();
    assert!(summary.contains(r#""cancelled":true"#), "{summary}");
    // No claim is left behind, and the project's lock is released.
    let claims = tmp.path().join("film.previz/batch/claims");
    let left: Vec<_> = std::fs::read_dir(&claims)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".claim"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "claims left: {left:?}");
    assert!(!tmp.path().join("film.previz/project.lock").exists());
    let rerun = previz_in(tmp.path(), &batch_args("film.previz", &[]));
    assert_eq!(rerun.status, 0, "{}", rerun.stderr);
}

#[test]
fn bad_input_and_usage_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let run = previz_in(tmp.path(), &["batch", "nothing.fountain"]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("nothing.fountain"), "{}", run.stderr);
    import(tmp.path(), "film.previz");
    for (args, needle) in [
        (
            vec!["batch", "film.previz", "--steps", "frames,sound"],
            "'sound'",
        ),
        (vec!["batch", "film.previz", "--shard", "2/2"], "shard"),
        (vec!["batch", "film.previz", "--exports", "mov"], "'mov'"),
    ] {
        let run = previz_in(tmp.path(), &args);
        assert_eq!(run.status, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    let run = previz_in(
        tmp.path(),
        &[
            "farm",
            "submit",
            "--slurm",
            "film.previz",
            "--dry-run",
            "--workers",
            "3",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.contains("work.sbatch"), "{}", run.stdout);
}

/// Runs `squeue` until the job has left the queue; then its tasks' states from `scontrol`.
fn wait_for_job(id: &str, timeout: Duration) -> String {
    let script = root().join("tests/farm/slurm.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["wait", id, &timeout.as_secs().to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "job {id}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn slurm_array_and_gather_equal_one_process() {
    if std::env::var("PREVIZ_SLURM").as_deref() != Ok("1") {
        eprintln!(
            "skipped: no Slurm here (scripts/test.sh starts one with tests/farm/slurm.sh and sets PREVIZ_SLURM=1)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    import(tmp.path(), "single.previz");
    copy_dir(
        &tmp.path().join("single.previz"),
        &tmp.path().join("farm.previz"),
    );
    let single = previz_in(tmp.path(), &batch_args("single.previz", &[]));
    assert_eq!(single.status, 0, "{}", single.stderr);

    let started = Instant::now();
    let previz = previz_binary();
    let submit = previz_in(
        tmp.path(),
        &[
            "farm",
            "submit",
            "--slurm",
            "farm.previz",
            "--workers",
            "2",
            "--gpus",
            "0",
            "--cpus",
            "1",
            "--mem",
            "1G",
            "--time",
            "00:15:00",
            "--steps",
            STEPS,
            "--previz",
            previz.to_str().unwrap(),
            "--batch-args",
            "--exports otio,csv",
            "--json",
        ],
    );
    assert_eq!(submit.status, 0, "{}", submit.stderr);
    let report = submit.json();
    let work = report["work_job"].as_str().unwrap().to_owned();
    let gather = report["gather_job"].as_str().unwrap().to_owned();
    let tasks = wait_for_job(&work, Duration::from_secs(600));
    assert_eq!(tasks.lines().count(), 2, "{tasks}");
    assert!(tasks.lines().all(|l| l.contains("COMPLETED")), "{tasks}");
    let gathered = wait_for_job(&gather, Duration::from_secs(600));
    assert!(gathered.contains("COMPLETED"), "{gathered}");
    eprintln!(
        "slurm: 2 shard tasks and the gather in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Logs on the share: both shards made units, the gather made only the exports.
    let folder = Path::new(report["folder"].as_str().unwrap());
    let logs: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert_eq!(logs.len(), 3, "{logs:?}");
    for name in logs.iter().filter(|n| n.starts_with("work-")) {
        let log = std::fs::read_to_string(folder.join(name)).unwrap();
        assert!(log.contains(": done in"), "{name} made no unit:\n{log}");
    }
    let gather_log = logs.iter().find(|n| n.starts_with("gather-")).unwrap();
    let log = std::fs::read_to_string(folder.join(gather_log)).unwrap();
    assert!(log.contains("2 units made"), "{log}");
    assert!(log.contains("0 failed"), "{log}");

    let farm = tmp.path().join("farm.previz");
    let one = tmp.path().join("single.previz");
    assert_eq!(published(&farm), published(&one), "unit for unit");
    assert_eq!(content(&farm), content(&one));
    for ext in ["otio", "csv"] {
        assert!(
            tmp.path()
                .join(format!("farm_exports/farm.{ext}"))
                .is_file()
        );
    }
}

#[test]
fn kubernetes_manifest_is_an_indexed_job_and_a_gather() {
    let tmp = tempfile::tempdir().unwrap();
    import(tmp.path(), "film.previz");
    let mount = tmp.path().to_str().unwrap();
    let run = previz_in(
        tmp.path(),
        &[
            "farm",
            "submit",
            "--k8s",
            "film.previz",
            "--workers",
            "6",
            "--parallel",
            "3",
            "--mount",
            mount,
            "--pvc",
            "nas",
            "--image",
            "registry.local/previz:0.1",
            "--json",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let report = run.json();
    let file = report["files"][0].as_str().unwrap();
    // Read back by an independent YAML parser (PyYAML), as kubectl would.
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            file,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["ServiceAccount", "Role", "RoleBinding", "Job", "Job"]
    );
    let work = &docs[3];
    assert_eq!(work["spec"]["completionMode"], "Indexed");
    assert_eq!(work["spec"]["completions"], 6);
    assert_eq!(work["spec"]["parallelism"], 3);
    let pod = &work["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "registry.local/previz:0.1");
    assert_eq!(container["env"][0]["name"], "PREVIZ_SHARDS");
    assert_eq!(container["env"][0]["value"], "6");
    assert_eq!(container["resources"]["limits"]["nvidia.com/gpu"], 1);
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[1], "batch");
    assert!(args[2].ends_with("film.previz"), "{args:?}");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "nas"
    );
    assert_eq!(container["volumeMounts"][0]["mountPath"], mount);
    let gather = &docs[4]["spec"]["template"]["spec"];
    assert!(
        gather["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--gather")
    );
    assert!(
        gather["initContainers"][0]["command"][2]
            .as_str()
            .unwrap()
            .contains("Complete|Failed")
    );
    // A project outside the share the pods mount is refused with what to do.
    let run = previz_in(
        tmp.path(),
        &[
            "farm",
            "submit",
            "--k8s",
            "film.previz",
            "--mount",
            "/elsewhere",
        ],
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--mount"), "{}", run.stderr);
}

#[test]
fn an_ingest_killed_midway_leaves_the_store_clean_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let rushes = tmp.path().join("rushes");
    std::fs::create_dir_all(&rushes).unwrap();
    // Incompressible bytes, so copying takes a moment.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..6 {
        let mut bytes = vec![0u8; 24 << 20];
        for chunk in bytes.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(rushes.join(format!("take{i}.wav")), bytes).unwrap();
    }
    let run = previz_in(tmp.path(), &["new", "film.previz"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    // Kills at several moments: in the copy, and (on a fast disk) while the assets are
    // registered and the project saved. After each, whatever was copied is whole, nothing
    // half-written is visible and the project is intact; the next run takes over the lock a
    // killed ingest of this machine left.
    for delay in [60, 150, 300, 600] {
        let mut child = Command::new(previz_binary())
            .args([
                "ingest",
                "rushes",
                "--into",
                "film.previz",
                "--threads",
                "1",
            ])
            .current_dir(tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        let fsck = previz_in(tmp.path(), &["fsck", "film.previz", "--json"]);
        assert_eq!(
            fsck.status, 0,
            "killed after {delay} ms: {}{}",
            fsck.stdout, fsck.stderr
        );
    }
    // The lock an ingest killed while registering leaves: its process is gone on this host.
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let mut info =
        previz_storage::LockInfo::for_this_process("Previz test", jiff::Timestamp::now());
    info.pid = pid;
    std::fs::write(
        tmp.path().join("film.previz/project.lock"),
        serde_json::to_vec(&info).unwrap(),
    )
    .unwrap();
    let run = previz_in(
        tmp.path(),
        &["ingest", "rushes", "--into", "film.previz", "--json"],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["files"].as_array().unwrap().len(), 6);
    let again = previz_in(
        tmp.path(),
        &["ingest", "rushes", "--into", "film.previz", "--json"],
    );
    assert_eq!(again.json()["bytes_read"], 0, "nothing is read twice");
    let fsck = previz_in(tmp.path(), &["fsck", "film.previz", "--json"]);
    assert_eq!(fsck.status, 0, "{}", fsck.stdout);
    assert_eq!(fsck.json()["checked"], 6);
}
