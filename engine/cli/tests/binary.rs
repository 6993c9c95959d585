//! The binary starts, prints help and version, and exits 2 on usage errors. (Having an
//! integration test here also makes `cargo test --workspace` build the binary that the
//! end-to-end tests in tests/ drive.)

use std::process::Command;

fn previz(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_previz"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn help_version_and_usage_errors() {
    let help = previz(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["new", "import", "info", "validate", "export"] {
        assert!(text.contains(command), "{text}");
    }
    assert!(previz(&["--version"]).status.success());
    assert_eq!(previz(&["--no-such-flag"]).status.code(), Some(2));
    assert_eq!(previz(&["export", "pdf"]).status.code(), Some(2));
}
