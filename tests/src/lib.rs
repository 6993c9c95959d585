//! Support for the end-to-end tests: run the real `previz` binary, find the samples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
#[must_use]
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A sample screenplay from assets/screenplays.
#[must_use]
pub fn sample(name: &str) -> PathBuf {
    root().join("assets/screenplays").join(name)
}

/// The `previz` binary cargo built next to this test (cargo builds it for previz-cli's own
/// integration tests in the same run).
#[must_use]
pub fn previz_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows where it is");
    // target/<profile>/deps/<test> -> target/<profile>/previz
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let binary = profile_dir.join(format!("previz{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo test --workspace` (or `cargo build -p previz-cli`) first",
        binary.display()
    );
    binary
}

/// What a run of `previz` did.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout as JSON (panics with the output if it is not).
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs `previz` with these arguments in `dir`.
#[must_use]
pub fn previz_in(dir: &Path, args: &[&str]) -> Run {
    previz_in_env(dir, args, &[])
}

/// [`previz_in`] with extra environment variables.
pub fn previz_in_env(dir: &Path, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(previz_binary())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .current_dir(dir)
        .output()
        .expect("previz runs");
    Run {
        status: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A JSON value with every uuid replaced by its order of first appearance, so two imports of
/// the same text compare equal.
#[must_use]
pub fn without_ids(mut value: serde_json::Value) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value, seen: &mut std::collections::HashMap<String, usize>) {
        match v {
            serde_json::Value::String(s)
                if s.len() == 36 && s.parse::<previz_core::SceneId>().is_ok() =>
            {
                let next = seen.len();
                let n = *seen.entry(s.clone()).or_insert(next);
                *s = format!("id-{n}");
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, seen)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|i| walk(i, seen)),
            _ => {}
        }
    }
    walk(&mut value, &mut std::collections::HashMap::new());
    value
}

/// Copies a folder (a project) recursively, for tests that run one project two ways.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for e in std::fs::read_dir(from).expect("read the folder").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy a file");
        }
    }
}
