//! Wall time of `previz batch` with one worker and with two on this machine, work and gather
//! timed apart, with the speed-up printed. Run:
//!
//! ```text
//! cargo build -p previz-cli && cargo bench -p previz-e2e --bench farm --profile dev
//! ```
//!
//! A synthetic film (FARM_BENCH_SCENES scenes, default 24, each with eight speeches) is
//! broken down by the rules, drawn by the sketch (FARM_BENCH_TAKES takes per shot, default 2)
//! and voiced by espeak-ng when installed (else silent takes). No assertion on time: the
//! figures are printed for people to compare.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use previz_e2e::{copy_dir, previz_binary};

fn screenplay(scenes: usize) -> String {
    let places = [
        "KITCHEN",
        "FERRY DECK",
        "ORCHARD",
        "WAREHOUSE",
        "ROOFTOP",
        "CAR",
    ];
    let mut text = String::from("Title: Farm Bench\nAuthor: previz\n\n");
    for s in 0..scenes {
        let place = places[s % places.len()];
        let _ = write!(
            text,
            "INT. {place} {s} - NIGHT\n\nMARA crosses to the window. JONAH follows, keeping his distance.\n\n"
        );
        for line in 0..8 {
            let (who, said) = if line % 2 == 0 {
                (
                    "MARA",
                    "We leave before the tide turns, or we do not leave at all.",
                )
            } else {
                (
                    "JONAH",
                    "Then tell me what you saw on the water last night.",
                )
            };
            let _ = write!(text, "{who}\n{said}\n\n");
        }
        text.push_str("She turns away. The lights go out.\n\n");
    }
    text
}

fn previz(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(previz_binary())
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("previz runs")
}

fn finish(child: std::process::Child, what: &str) {
    let out = child.wait_with_output().expect("previz ends");
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn units(project: &Path) -> usize {
    ["breakdown", "frames", "voice"]
        .iter()
        .map(|k| {
            // units/<kind>/<first two characters of the key>/<key>.json
            std::fs::read_dir(project.join("batch/units").join(k))
                .map(|fans| {
                    fans.flatten()
                        .map(|f| std::fs::read_dir(f.path()).map_or(0, Iterator::count))
                        .sum::<usize>()
                })
                .unwrap_or(0)
        })
        .sum()
}

/// Runs `workers` shards at once, then the gather; returns (work seconds, gather seconds).
fn run(dir: &Path, project: &str, workers: usize, takes: &str) -> (f64, f64) {
    let start = Instant::now();
    let children: Vec<_> = (0..workers)
        .map(|i| {
            let shard = format!("{i}/{workers}");
            previz(
                dir,
                &[
                    "batch",
                    project,
                    "--steps",
                    "breakdown,frames,voices",
                    "--takes",
                    takes,
                    "--shard",
                    &shard,
                    "--progress",
                    "none",
                ],
            )
        })
        .collect();
    for c in children {
        finish(c, "a shard");
    }
    let work = start.elapsed().as_secs_f64();
    let start = Instant::now();
    finish(
        previz(
            dir,
            &[
                "batch",
                project,
                "--steps",
                "breakdown,frames,voices",
                "--takes",
                takes,
                "--gather",
                "--progress",
                "none",
            ],
        ),
        "the gather",
    );
    (work, start.elapsed().as_secs_f64())
}

#[allow(clippy::print_stdout)] // a benchmark prints its figures
fn main() {
    let scenes: usize = std::env::var("FARM_BENCH_SCENES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let takes = std::env::var("FARM_BENCH_TAKES").unwrap_or_else(|_| "2".into());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("bench.fountain"), screenplay(scenes)).unwrap();
    let out = Command::new(previz_binary())
        .args(["import", "bench.fountain", "-o", "base.previz"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    copy_dir(&dir.join("base.previz"), &dir.join("one.previz"));
    copy_dir(&dir.join("base.previz"), &dir.join("two.previz"));

    let (w1, g1) = run(dir, "one.previz", 1, &takes);
    let (w2, g2) = run(dir, "two.previz", 2, &takes);
    let n1 = units(&dir.join("one.previz"));
    let n2 = units(&dir.join("two.previz"));
    assert_eq!(n1, n2, "both runs made the same units");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "farm bench: {scenes} scenes, {takes} takes per shot, {n1} units (breakdown, frames, voices), {cores} cores"
    );
    println!("  workers  work (s)  gather (s)  total (s)  units/s");
    for (n, w, g) in [(1, w1, g1), (2, w2, g2)] {
        #[allow(clippy::cast_precision_loss)]
        let rate = n1 as f64 / w;
        println!("  {n:>7}  {w:>8.2}  {g:>10.2}  {:>9.2}  {rate:>7.1}", w + g);
    }
    println!(
        "  speed-up with 2 workers: {:.2}x on the work, {:.2}x end to end",
        w1 / w2,
        (w1 + g1) / (w2 + g2)
    );
}
