//! The PDF storyboard read back by poppler's tools (Debian poppler-utils): `pdfinfo` counts
//! pages, `pdffonts` shows the font embedded, `pdftoppm` renders a page whose pixels must hold
//! the shots' frames (a known colour) and text (dark pixels) on white paper.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use previz_core::{Extra, Project, Provenance, Take, TakeId};
use previz_render::storyboard::{Paper, StoryboardError, StoryboardOptions, storyboard_pdf};
use previz_storage::{AssetStore, ProjectPaths};

const RED: [u8; 3] = [210, 40, 40];

fn project_with_frames(dir: &Path, shots: usize) -> (Project, AssetStore) {
    let store = AssetStore::new(ProjectPaths::new(dir.join("film.previz")).assets());
    let mut project = previz_core::synth::project(shots, shots);
    let img = image::RgbImage::from_pixel(512, 214, image::Rgb(RED));
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let hash = store.put(&png).unwrap();
    for (i, shot) in project.shots.iter_mut().enumerate() {
        shot.action = format!(
            "Shot {i}: the keeper climbs the spiral stair, lamp in hand, counting the steps aloud."
        );
        // Leave the last shot without a frame: it must still get a panel.
        if i + 1 == shots {
            shot.takes.clear();
            shot.active_take = None;
            continue;
        }
        let take = Take {
            id: TakeId::new(),
            asset: hash,
            provenance: Provenance::default(),
            created: jiff::Timestamp::UNIX_EPOCH,
            note: String::new(),
            extra: Extra::new(),
        };
        shot.active_take = Some(take.id);
        shot.takes = vec![take];
    }
    (project, store)
}

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is needed (Debian: apt-get install poppler-utils): {e}")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_storyboard_prints_every_shot_with_its_frame_and_embedded_font() {
    let tmp = tempfile::tempdir().unwrap();
    let (project, store) = project_with_frames(tmp.path(), 14);
    let options = StoryboardOptions {
        panels_per_page: 6,
        paper: Paper::A4,
        date: "2026-12-07".into(),
        ..StoryboardOptions::default()
    };
    let mut calls = 0;
    let (bytes, report) = storyboard_pdf(&project, &store, &options, &mut |done, total| {
        calls += 1;
        assert!(done <= total);
        true
    })
    .unwrap();
    assert_eq!(report.pages, 3);
    assert_eq!(report.panels, 14);
    assert_eq!(calls, 14);
    assert_eq!(
        report.missing_frames.len(),
        1,
        "{:?}",
        report.missing_frames
    );
    let pdf = tmp.path().join("board.pdf");
    std::fs::write(&pdf, &bytes).unwrap();
    let pdf = pdf.to_str().unwrap();

    let info = tool("pdfinfo", &[pdf]);
    assert!(
        info.lines()
            .any(|l| l.starts_with("Pages:") && l.trim_end().ends_with(" 3")),
        "{info}"
    );
    assert!(info.contains("storyboard"), "the title is set: {info}");
    let fonts = tool("pdffonts", &[pdf]);
    let font_rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!font_rows.is_empty(), "{fonts}");
    // Columns: name type encoding emb sub uni object ID; every font embedded.
    for row in &font_rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        let emb = cols[cols.len() - 5];
        assert_eq!(emb, "yes", "{fonts}");
    }

    let prefix = tmp.path().join("page");
    tool(
        "pdftoppm",
        &[
            "-r",
            "40",
            "-f",
            "1",
            "-l",
            "1",
            "-png",
            pdf,
            prefix.to_str().unwrap(),
        ],
    );
    let rendered = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with("page")
                && p.extension().is_some_and(|x| x == "png")
        })
        .expect("pdftoppm wrote a page");
    let page = image::open(&rendered).unwrap().to_rgb8();
    let total = f64::from(page.width() * page.height());
    let red = page
        .pixels()
        .filter(|p| p[0] > 170 && p[1] < 90 && p[2] < 90)
        .count() as f64
        / total;
    let dark = page
        .pixels()
        .filter(|p| p[0] < 80 && p[1] < 80 && p[2] < 80)
        .count() as f64
        / total;
    let white = page
        .pixels()
        .filter(|p| p[0] > 240 && p[1] > 240 && p[2] > 240)
        .count() as f64
        / total;
    assert!(red > 0.15, "six frames fill part of the page: {red:.3}");
    assert!(dark > 0.003, "captions are printed: {dark:.4}");
    assert!(white > 0.3, "on white paper: {white:.3}");
}

#[test]
fn a_contact_sheet_packs_more_and_cancelling_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let (project, store) = project_with_frames(tmp.path(), 25);
    let options = StoryboardOptions {
        contact_sheet: true,
        paper: Paper::Letter,
        ..StoryboardOptions::default()
    };
    let (bytes, report) = storyboard_pdf(&project, &store, &options, &mut |_, _| true).unwrap();
    assert_eq!(report.pages, 2, "20 a page");
    assert!(bytes.starts_with(b"%PDF-"));
    let err = storyboard_pdf(&project, &store, &options, &mut |done, _| done < 3).unwrap_err();
    assert!(matches!(err, StoryboardError::Cancelled));
    let empty = Project::new("Nothing yet");
    let err = storyboard_pdf(&empty, &store, &options, &mut |_, _| true).unwrap_err();
    assert!(err.to_string().contains("previz breakdown"), "{err}");
}
