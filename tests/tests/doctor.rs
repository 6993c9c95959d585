//! The model manager and `previz doctor` on this machine: checksums catch a damaged model
//! file; doctor's JSON says what is present and missing, checked against what the system
//! itself reports (/proc, the tools on PATH, findmnt), a real share folder and a real S3
//! server on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;

use previz_e2e::{Run, previz_in_env, root};
use previz_storage::backend::test_server::{BUCKET, S3TestServer};

/// `previz` with its config, data and cache folders inside `tmp`, and models found in the
/// repository's cache (plus `extra` environment).
fn previz(tmp: &Path, args: &[&str], extra: &[(&str, String)]) -> Run {
    let models = root().join("models/cache");
    let mut env: Vec<(&str, std::ffi::OsString)> = vec![
        ("XDG_CONFIG_HOME", tmp.join("config").into()),
        ("XDG_DATA_HOME", tmp.join("data").into()),
        ("XDG_CACHE_HOME", tmp.join("cache").into()),
        ("HF_HUB_CACHE", tmp.join("hf").into()),
        ("PREVIZ_MODELS_DIR", models.into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.into())));
    let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    previz_in_env(tmp, args, &env)
}

/// The SmolLM2 GGUF the tests fetch (models/fetch.py), or `None` (skipped) without it.
fn gguf() -> Option<PathBuf> {
    previz_models::registry::model_for_tests("smollm2-135m-instruct", &root().join("models/cache"))
}

fn flip_byte(path: &Path, at: u64, keep_mtime: bool) {
    use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
    let before = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0xff]).unwrap();
    if keep_mtime {
        f.set_modified(before).unwrap();
    } else {
        f.set_modified(before + std::time::Duration::from_secs(7))
            .unwrap();
    }
}

fn model<'a>(list: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    list["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {list}"))
}

#[test]
fn verification_catches_a_damaged_model_file_and_remembers_good_ones() {
    let Some(gguf) = gguf() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let mine = t.join("Mine.Q4_1.gguf");
    std::fs::copy(&gguf, &mine).unwrap();

    // The shipped manifest's checksum, for the fetched file.
    let run = previz(
        t,
        &["models", "verify", "smollm2-135m-instruct", "--json"],
        &[],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.json()["models"][0]["files"][0]["status"], "verified");

    // Added with --copy: a manifest and a copy in the user's models folder.
    let run = previz(
        t,
        &[
            "models",
            "add",
            mine.to_str().unwrap(),
            "--id",
            "mine",
            "--copy",
            "--json",
        ],
        &[],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let manifest = t.join("data/previz/models/mine.toml");
    assert_eq!(
        PathBuf::from(run.json()["manifest"].as_str().unwrap()),
        manifest
    );
    let copy = t.join("data/previz/models/mine/Mine.Q4_1.gguf");
    assert!(copy.is_file());
    let list = previz(t, &["models", "list", "--json"], &[]).json();
    assert_eq!(
        model(&list, "mine")["verified"],
        "verified",
        "hashed when added"
    );
    assert_eq!(model(&list, "mine")["kind"], "llm");
    // The same id again is refused.
    let run = previz(
        t,
        &["models", "add", mine.to_str().unwrap(), "--id", "mine"],
        &[],
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("already known"), "{}", run.stderr);

    // Verified before and unchanged: not hashed again.
    let run = previz(t, &["models", "verify", "mine", "--json"], &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.json()["models"][0]["files"][0]["remembered"], true);

    // One byte flipped (the file's time changes, as any write does): caught, named, exit 1.
    flip_byte(&copy, 50_000_000, false);
    let run = previz(t, &["models", "verify", "mine"], &[]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("CORRUPT") && run.stdout.contains("Mine.Q4_1.gguf"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("not verified: mine"), "{}", run.stderr);

    // Restored, then damaged behind the ledger's back (same size and time): --force hashes
    // again and catches it.
    flip_byte(&copy, 50_000_000, false);
    assert_eq!(previz(t, &["models", "verify", "mine"], &[]).status, 0);
    flip_byte(&copy, 1234, true);
    assert_eq!(
        previz(t, &["models", "verify", "mine"], &[]).status,
        0,
        "the ledger trusts an unchanged size and time"
    );
    let run = previz(t, &["models", "verify", "mine", "--force", "--json"], &[]);
    assert_eq!(run.status, 1);
    assert_eq!(run.json()["models"][0]["files"][0]["status"], "corrupt");

    // Truncated: seen without hashing, in the listing too.
    let f = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
    f.set_len(1_000_000).unwrap();
    drop(f);
    let list = previz(t, &["models", "list", "--json"], &[]).json();
    assert_eq!(
        model(&list, "mine")["installed"],
        false,
        "a truncated file is not the model"
    );
    let run = previz(t, &["models", "verify", "mine"], &[]);
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("not verified: mine"), "{}", run.stderr);

    // Remove: the manifest and the copy go; the original stays.
    let run = previz(t, &["models", "remove", "mine", "--json"], &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(!manifest.exists() && !copy.exists() && !t.join("data/previz/models/mine").exists());
    assert!(mine.is_file());

    // Added in place: remove keeps the file (it is not in a folder previz owns).
    let run = previz(
        t,
        &["models", "add", mine.to_str().unwrap(), "--id", "inplace"],
        &[],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let run = previz(t, &["models", "remove", "inplace"], &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.contains("kept"), "{}", run.stdout);
    assert!(mine.is_file());

    // Not a model.
    std::fs::write(t.join("notes.txt"), "hello").unwrap();
    let run = previz(t, &["models", "add", "notes.txt"], &[]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("not a model"), "{}", run.stderr);
}

#[test]
fn models_in_the_hugging_face_cache_and_on_the_share_are_found() {
    let Some(gguf) = gguf() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // The Hugging Face layout: blobs, and snapshots of symlinks to them.
    let entry = t.join("hf/models--HuggingFaceTB--SmolLM2-135M-Instruct-GGUF");
    std::fs::create_dir_all(entry.join("blobs")).unwrap();
    std::fs::create_dir_all(entry.join("snapshots/0123abc")).unwrap();
    std::fs::copy(&gguf, entry.join("blobs/b179c952")).unwrap();
    std::os::unix::fs::symlink(
        "../../blobs/b179c952",
        entry.join("snapshots/0123abc/smollm2-hf.Q4_1.gguf"),
    )
    .unwrap();
    // The show's models folder on the share.
    let share = t.join("share");
    std::fs::create_dir_all(share.join("models")).unwrap();
    std::fs::copy(&gguf, share.join("models/show-llm.gguf")).unwrap();
    std::fs::create_dir_all(t.join("config/previz-studio")).unwrap();
    std::fs::write(
        t.join("config/previz-studio/settings.toml"),
        format!("share_root = {:?}\n", share.display().to_string()),
    )
    .unwrap();
    let list = previz(t, &["models", "--json"], &[]).json();
    assert!(
        model(&list, "smollm2-hf.q4_1")["path"]
            .as_str()
            .unwrap()
            .contains("snapshots/0123abc"),
        "{list}"
    );
    assert_eq!(model(&list, "show-llm")["installed"], true);
    let roots: Vec<&str> = list["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        roots.iter().any(|r| r.ends_with("share/models")),
        "{roots:?}"
    );
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn on_path(tool: &str, arg: &str) -> bool {
    Command::new(tool)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn doctor_reports_what_this_machine_has_and_lacks() {
    let Some(_) = gguf() else { return };
    let server = S3TestServer::start_or_skip();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let share = t.join("share");
    std::fs::create_dir_all(&share).unwrap();
    // A model whose manifest is here but whose file is not, and one whose file is damaged.
    let models = t.join("data/previz/models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(
        models.join("absent.toml"),
        "id = \"absent\"\nkind = \"diffusion\"\nname = \"Absent\"\nlicence = \"x\"\n[[files]]\npath = \"absent/model.safetensors\"\nsha256 = \"00\"\nsize = 10\n",
    )
    .unwrap();
    std::fs::write(models.join("broken.gguf"), vec![1u8; 4096]).unwrap();
    std::fs::write(
        models.join("broken.toml"),
        format!(
            "id = \"broken\"\nkind = \"llm\"\nname = \"Broken\"\nlicence = \"x\"\n[[files]]\npath = \"broken.gguf\"\nsha256 = \"{}\"\nsize = 4096\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    std::fs::create_dir_all(t.join("config/previz-studio")).unwrap();
    let s3 = format!("s3://{BUCKET}/show");
    std::fs::write(
        t.join("config/previz-studio/settings.toml"),
        format!(
            "share_root = {:?}\ns3_url = {s3:?}\nllm_model = \"not-installed-here\"\n",
            share.display().to_string()
        ),
    )
    .unwrap();
    let env: Vec<(&str, String)> = match &server {
        Some(s) => s.env(),
        // Nothing listens on port 9 of loopback: S3 fails, and says so.
        None => vec![
            ("AWS_ACCESS_KEY_ID", "K".into()),
            ("AWS_SECRET_ACCESS_KEY", "S".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()),
        ],
    };
    let run = previz(t, &["doctor", "--json"], &env);
    assert_eq!(run.status, 1, "failed checks exit 1: {}", run.stderr);
    let report = run.json();

    // CPU features as /proc/cpuinfo lists them.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let features: Vec<&str> = check(&report, "cpu")["data"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for (ours, linux) in [
        ("avx2", "avx2"),
        ("fma", "fma"),
        ("f16c", "f16c"),
        ("avx512f", "avx512f"),
    ] {
        assert_eq!(
            features.contains(&ours),
            flags.contains(&linux),
            "{ours}: {features:?} vs /proc/cpuinfo"
        );
    }
    assert_eq!(
        check(&report, "cpu")["data"]["threads"],
        std::thread::available_parallelism().unwrap().get()
    );
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kib: u64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        check(&report, "memory")["data"]["total_mib"],
        total_kib / 1024
    );

    // The GPU: this build has no CUDA; nvidia-smi decides whether one is seen.
    let gpu = check(&report, "gpu");
    assert_eq!(gpu["data"]["cuda_built"], false);
    let smi = on_path("nvidia-smi", "-L");
    assert_eq!(gpu["status"], if smi { "warn" } else { "skip" }, "{gpu}");

    // Tools, as PATH has them.
    for (tool, arg) in [("ffmpeg", "-version"), ("espeak-ng", "--version")] {
        let expected = if on_path(tool, arg) { "ok" } else { "warn" };
        assert_eq!(check(&report, tool)["status"], expected, "{tool}");
    }

    // The share: a writable local folder (a warning: not a network mount), with figures, on
    // the file system findmnt names.
    let s = check(&report, "share");
    assert_eq!(s["status"], "warn", "{s}");
    assert_eq!(s["data"]["network"], false);
    assert!(s["data"]["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(s["data"]["write_mb_s"].as_f64().unwrap() > 0.0);
    if let Ok(out) = Command::new("findmnt")
        .args(["-n", "-o", "FSTYPE", "--target"])
        .arg(&share)
        .output()
        && out.status.success()
    {
        assert_eq!(
            s["data"]["fs_type"],
            String::from_utf8_lossy(&out.stdout).trim(),
            "as findmnt says"
        );
    }
    assert_eq!(
        std::fs::read_dir(&share).unwrap().count(),
        0,
        "the probe leaves nothing"
    );

    // S3: a real server answers; a closed port does not.
    let s3 = check(&report, "s3");
    assert_eq!(
        s3["status"],
        if server.is_some() { "ok" } else { "fail" },
        "{s3}"
    );

    // Models: the fetched ones verified, the absent one missing, the damaged one failed, and
    // the settings' default that is not here.
    for id in ["model:smollm2-135m-instruct", "model:en-us-joe-medium"] {
        let m = check(&report, id);
        assert_eq!(m["status"], "ok", "{m}");
        assert_eq!(m["data"]["verified"], true, "{m}");
    }
    let absent = check(&report, "model:absent");
    assert_eq!(absent["status"], "warn");
    assert_eq!(absent["data"]["installed"], false);
    let broken = check(&report, "model:broken");
    assert_eq!(broken["status"], "fail", "{broken}");
    assert!(
        broken["fix"]
            .as_str()
            .unwrap()
            .contains("previz models verify broken")
    );
    assert_eq!(check(&report, "default:llm")["status"], "fail");
    assert_eq!(check(&report, "settings")["status"], "ok");
    assert_eq!(check(&report, "cache")["status"], "ok");
    let failed = report["summary"]["fail"].as_u64().unwrap();
    assert_eq!(failed, 2 + u64::from(server.is_none()));

    // A settings file that does not parse is a failed check naming its line.
    std::fs::write(
        t.join("config/previz-studio/settings.toml"),
        "device = \"cpu\"\ncache_max_gib = \"lots\"\n",
    )
    .unwrap();
    let run = previz(t, &["doctor", "--json", "--quick"], &env);
    let settings = check(&run.json(), "settings").clone();
    assert_eq!(settings["status"], "fail");
    assert!(
        settings["summary"]
            .as_str()
            .unwrap()
            .contains("settings.toml:2:"),
        "{settings}"
    );

    // The IP-Adapter the settings name: found with its image encoder, or a failed check that
    // says what is missing.
    let model = t.join("tiny-sd");
    previz_models::diffusion::tiny::write_tiny_model(
        &model,
        &previz_models::diffusion::tiny::TinySpec::default(),
    )
    .unwrap();
    let adapter =
        previz_models::diffusion::tiny::write_tiny_ip_adapter(&t.join("ip"), &model, 3).unwrap();
    let with_adapter = |file: &Path| {
        std::fs::write(
            t.join("config/previz-studio/settings.toml"),
            format!("ip_adapter = {:?}\n", file.display().to_string()),
        )
        .unwrap();
        let run = previz(t, &["doctor", "--json", "--quick"], &env);
        check(&run.json(), "ip_adapter").clone()
    };
    assert_eq!(with_adapter(&adapter)["status"], "ok");
    std::fs::remove_dir_all(t.join("ip/image_encoder")).unwrap();
    let missing = with_adapter(&adapter);
    assert_eq!(missing["status"], "fail", "{missing}");
    assert!(
        missing["summary"]
            .as_str()
            .unwrap()
            .contains("image_encoder"),
        "{missing}"
    );
    assert_eq!(with_adapter(&t.join("gone.safetensors"))["status"], "fail");
}
