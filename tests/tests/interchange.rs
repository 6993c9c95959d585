//! Exports read back by the tools editors' pipelines use: the real OpenTimelineIO package and
//! its CMX3600, FCP 7 XML and FCPXML adapters (PyPI, installed by tests/interchange/setup.sh).
//! Each export of a real project (imported, broken down, drawn, voiced by the CLI) must come
//! back with the project's tracks, clip names, record positions, durations and source ranges;
//! a cut edited with opentimelineio (reorder, trim, delete) and written by each adapter must
//! conform the project to exactly that cut.
//!
//! Needs tests/interchange/.venv; without it the tests say so and pass, unless
//! `PREVIZ_DIFFERENTIAL=1` (README's test command sets it), when a missing tool fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use previz_core::timeline::{Item, TrackKind};
use previz_e2e::{previz_in, root, sample};
use previz_storage::{OpenMode, Session};
use serde_json::Value;

fn python() -> Option<PathBuf> {
    let venv = root().join("tests/interchange/.venv/bin/python");
    if venv.is_file() {
        return Some(venv);
    }
    assert!(
        std::env::var("PREVIZ_DIFFERENTIAL").as_deref() != Ok("1"),
        "{} is missing: run tests/interchange/setup.sh",
        venv.display()
    );
    eprintln!("skipped: tests/interchange/.venv is missing (run tests/interchange/setup.sh)");
    None
}

fn tool(python: &Path, args: &[&str]) -> Value {
    let out = Command::new(python)
        .arg(root().join("tests/interchange/otio_tool.py"))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "otio_tool {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("otio_tool prints JSON")
}

/// A project with frames, voices and a multi-track timeline, made by the CLI.
fn film(dir: &Path) -> PathBuf {
    let project = dir.join("film.previz");
    let p = project.to_str().unwrap();
    for args in [
        vec![
            "import",
            sample("every-feature.fountain").to_str().unwrap(),
            "-o",
            p,
        ],
        vec!["breakdown", p],
        vec!["frames", p, "--model", "sketch"],
        vec!["voices", p],
    ] {
        let run = previz_in(dir, &args);
        assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
    }
    project
}

/// (name, record start, duration, source start) of each clip of a track, as the project has it.
type Row = (String, i64, i64, i64);

fn project_tracks(project: &Path) -> Vec<(TrackKind, Vec<Row>)> {
    let (session, _) = Session::open(project, OpenMode::ReadOnly).unwrap();
    let doc = session.project();
    doc.timeline
        .tracks
        .iter()
        .map(|t| {
            let rows = t
                .items_with_start()
                .filter_map(|(start, item)| match item {
                    Item::Clip(c) => {
                        Some((c.name.clone(), start, c.duration_frames, c.source_in_frames))
                    }
                    Item::Gap(_) => None,
                })
                .collect();
            (t.kind, rows)
        })
        .collect()
}

fn summary_tracks(summary: &Value) -> Vec<(TrackKind, Vec<Row>)> {
    summary["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let kind = if t["kind"] == "Audio" {
                TrackKind::Audio
            } else {
                TrackKind::Video
            };
            let rows = t["clips"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap().to_owned(),
                        c["start"].as_i64().unwrap(),
                        c["duration"].as_i64().unwrap(),
                        c["source_start"].as_i64().unwrap(),
                    )
                })
                .collect();
            (kind, rows)
        })
        .collect()
}

/// Tracks with clips, video first then audio, each list sorted by record start: the FCPXML
/// adapter orders lanes its own way and drops empty tracks.
fn canonical(mut tracks: Vec<(TrackKind, Vec<Row>)>) -> Vec<(TrackKind, Vec<Row>)> {
    tracks.retain(|(_, rows)| !rows.is_empty());
    for (_, rows) in &mut tracks {
        rows.sort_by_key(|r| r.1);
    }
    tracks.sort_by_key(|(kind, rows)| (*kind == TrackKind::Audio, rows.first().map(|r| r.1)));
    tracks
}

#[test]
fn exports_read_back_with_opentimelineio_and_its_adapters() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let project = film(tmp.path());
    let expected = project_tracks(&project);
    assert!(expected.len() >= 3, "a multi-track timeline: {expected:?}");
    let duration: i64 = {
        let (session, _) = Session::open(&project, OpenMode::ReadOnly).unwrap();
        session.project().timeline.duration_frames()
    };
    let out = tmp.path().join("out");
    for (file, format) in [
        ("cut.otio", "otio"),
        ("cut.xml", "xmeml"),
        ("cut.fcpxml", "fcpxml"),
        ("cut.edl", "edl"),
    ] {
        let path = out.join(file);
        let run = previz_in(
            tmp.path(),
            &[
                "--json",
                "export",
                project.to_str().unwrap(),
                "--format",
                format,
                "-o",
                path.to_str().unwrap(),
            ],
        );
        assert_eq!(run.status, 0, "{format}: {}", run.stderr);
        let report = run.json();
        assert!(report["media_files"].as_u64().unwrap() > 0, "{report}");
        let summary = tool(&python, &["summary", path.to_str().unwrap()]);
        let got = summary_tracks(&summary);
        match format {
            "otio" | "xmeml" => {
                // Every track, in order, clip for clip.
                assert_eq!(got, expected, "{format}");
                assert_eq!(summary["duration"], duration, "{format}");
            }
            "fcpxml" => assert_eq!(canonical(got), canonical(expected.clone()), "{format}"),
            _ => {
                // The EDL carries the picture track.
                assert_eq!(got.len(), 1, "{format}");
                assert_eq!(got[0], expected[0], "{format}");
            }
        }
        // Media links resolve to files that exist, with extensions editors import by.
        for track in summary["tracks"].as_array().unwrap() {
            for clip in track["clips"].as_array().unwrap() {
                if let Some(url) = clip["url"].as_str() {
                    let path = url.strip_prefix("file://").unwrap_or(url);
                    assert!(Path::new(path).is_file(), "{format}: {url} is missing");
                    assert!(
                        path.ends_with(".png") || path.ends_with(".wav"),
                        "{format}: {url}"
                    );
                }
            }
        }
    }
    // Our metadata rides along in OTIO: every clip names its project item.
    let summary = tool(
        &python,
        &["summary", out.join("cut.otio").to_str().unwrap()],
    );
    assert!(
        summary["tracks"][0]["clips"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["item"].is_string())
    );
}

#[test]
fn a_cut_edited_in_editorial_conforms_the_project() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let original = film(tmp.path());
    let out = tmp.path().join("out");
    for ext in ["otio", "edl", "fcpxml"] {
        let project = tmp.path().join(format!("conform-{ext}.previz"));
        copy_dir(&original, &project);
        let exported = out.join(format!("cut.{ext}"));
        let run = previz_in(
            tmp.path(),
            &[
                "export",
                project.to_str().unwrap(),
                "-o",
                exported.to_str().unwrap(),
            ],
        );
        assert_eq!(run.status, 0, "{ext}: {}", run.stderr);
        // Editorial: swap the first two shots, trim the third, delete the fourth; the
        // adapter writes the file back in the same format.
        let edited = out.join(format!("edited.{ext}"));
        let summary = tool(
            &python,
            &["edit", exported.to_str().unwrap(), edited.to_str().unwrap()],
        );
        let before = project_tracks(&project);
        let run = previz_in(
            tmp.path(),
            &[
                "--json",
                "conform",
                project.to_str().unwrap(),
                edited.to_str().unwrap(),
            ],
        );
        assert_eq!(run.status, 0, "{ext}: {}", run.stderr);
        let report = run.json();
        assert_eq!(report["applied"], true, "{ext}: {report}");
        assert_eq!(
            report["removed"].as_array().unwrap().len(),
            1,
            "{ext}: {report}"
        );
        assert_eq!(
            report["trimmed"].as_array().unwrap().len(),
            1,
            "{ext}: {report}"
        );
        assert!(
            report["not_applied"].as_array().unwrap().is_empty(),
            "{ext}: {report}"
        );
        let after = project_tracks(&project);
        let video = |tracks: &[(TrackKind, Vec<Row>)]| {
            tracks
                .iter()
                .find(|(k, rows)| *k == TrackKind::Video && !rows.is_empty())
                .map(|(_, rows)| rows.clone())
                .unwrap()
        };
        // The picture track is now exactly the edited cut.
        assert_eq!(video(&after), video(&summary_tracks(&summary)), "{ext}");
        let (b, a) = (video(&before), video(&after));
        assert_eq!(
            (a[0].0.as_str(), a[1].0.as_str()),
            (b[1].0.as_str(), b[0].0.as_str())
        );
        assert_eq!(
            a[2].2,
            b[2].2 - 5,
            "{ext}: the third shot is 5 frames shorter"
        );
        assert!(
            !a.iter().any(|r| r.0 == b[3].0),
            "{ext}: the fourth shot is out"
        );
        // Sound the cut did not change stayed where it was.
        let audio = |tracks: &[(TrackKind, Vec<Row>)]| {
            tracks
                .iter()
                .filter(|(k, _)| *k == TrackKind::Audio)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(audio(&after), audio(&before), "{ext}");
        // Conforming again to the same cut changes nothing.
        let run = previz_in(
            tmp.path(),
            &[
                "--json",
                "conform",
                project.to_str().unwrap(),
                edited.to_str().unwrap(),
            ],
        );
        assert_eq!(run.json()["applied"], false, "{ext}");
    }
}

#[test]
fn a_damaged_cut_names_the_file_and_line_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p.previz");
    let run = previz_in(tmp.path(), &["new", project.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let edl = tmp.path().join("bad.edl");
    std::fs::write(
        &edl,
        "TITLE: x\nFCM: NON-DROP FRAME\n\n001  AX V C 00:00:00:00 00:00:01:00 01:00:00:00 01:00:0x:00\n",
    )
    .unwrap();
    let run = previz_in(
        tmp.path(),
        &["conform", project.to_str().unwrap(), edl.to_str().unwrap()],
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("bad.edl:4:"), "{}", run.stderr);
    assert!(run.stderr.contains("not a timecode"), "{}", run.stderr);
    let otio = tmp.path().join("bad.otio");
    std::fs::write(&otio, "{\"OTIO_SCHEMA\": \"Timeline.1\",\n \"tracks\": 3}").unwrap();
    let run = previz_in(
        tmp.path(),
        &["conform", project.to_str().unwrap(), otio.to_str().unwrap()],
    );
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("bad.otio"), "{}", run.stderr);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "project.lock" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The animatic, the storyboard and the shot list from the CLI, read back by ffprobe,
/// pdfinfo / pdftoppm and a CSV reader. Needs ffmpeg and poppler-utils (scripts/setup-apt.sh).
#[test]
fn the_animatic_storyboard_and_shot_list_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let project = film(tmp.path());
    let p = project.to_str().unwrap();
    let (frames, rate, shots) = {
        let (session, _) = Session::open(&project, OpenMode::ReadOnly).unwrap();
        let doc = session.project();
        (
            doc.timeline.duration_frames(),
            doc.timeline.rate,
            doc.shots.len(),
        )
    };
    let out = tmp.path().join("out");

    let mp4 = out.join("film.mp4");
    let run = previz_in(
        tmp.path(),
        &[
            "--json",
            "export",
            p,
            "-o",
            mp4.to_str().unwrap(),
            "--burn-in",
            "all",
            "--max-height",
            "360",
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.json()["count"].as_i64(), Some(frames));
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type,codec_name,r_frame_rate,height",
            "-of",
            "json",
        ])
        .arg(&mp4)
        .output()
        .expect("ffprobe (Debian: apt-get install ffmpeg)");
    let probe: Value = serde_json::from_slice(&probe.stdout).unwrap();
    let streams = probe["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["height"], 360);
    assert_eq!(
        video["r_frame_rate"],
        format!("{}/{}", rate.numerator(), rate.denominator())
    );
    assert!(
        streams
            .iter()
            .any(|s| s["codec_type"] == "audio" && s["codec_name"] == "aac")
    );
    let seconds: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    #[allow(clippy::cast_precision_loss)]
    let expected = frames as f64 / rate.as_f64();
    assert!(
        (seconds - expected).abs() <= 1.0 / rate.as_f64(),
        "{seconds} vs {expected}"
    );

    let pdf = out.join("board.pdf");
    let run = previz_in(
        tmp.path(),
        &["export", p, "-o", pdf.to_str().unwrap(), "--panels", "4"],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let info = Command::new("pdfinfo")
        .arg(&pdf)
        .output()
        .expect("pdfinfo (poppler-utils)");
    let info = String::from_utf8_lossy(&info.stdout);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pages, shots.div_ceil(4), "{info}");
    let png = out.join("page");
    let status = Command::new("pdftoppm")
        .args(["-r", "30", "-f", "1", "-l", "1", "-png"])
        .arg(&pdf)
        .arg(&png)
        .status()
        .unwrap();
    assert!(status.success());
    let rendered = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|x| x.file_name().unwrap().to_string_lossy().starts_with("page"))
        .unwrap();
    let image = std::fs::read(&rendered).unwrap();
    assert!(
        image.len() > 2000,
        "a non-blank page renders to more than a blank one"
    );

    let csv = out.join("shots.csv");
    let run = previz_in(tmp.path(), &["export", p, "-o", csv.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("Shot,Scene,Scene heading,Size,Angle,Movement"),
        "{text}"
    );
    // A quoted field may hold line breaks; count records by the shot ids' column instead.
    let python = python();
    if let Some(python) = python {
        let out = Command::new(python)
            .args([
                "-c",
                "import csv,sys; print(len(list(csv.DictReader(open(sys.argv[1], newline='')))))",
            ])
            .arg(&csv)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            shots.to_string()
        );
    }
}
