//! `previz fsck`: every medium a project names, there and intact (see previz-storage's fsck).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{project_dir, storage_error};
use crate::args::FsckArgs;
use crate::output::{CliError, print_json, print_text};

pub fn run(args: &FsckArgs, json: bool) -> Result<(), CliError> {
    let dir = project_dir(args.project.as_deref())?;
    let bar = ProgressBar::new(0);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} assets checked")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = previz_storage::fsck(&dir, args.repair, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .map_err(|e| storage_error(&e));
    bar.finish_and_clear();
    let report = report?;
    if json {
        print_json(&report)?;
    } else {
        let mut text = format!(
            "{}: {} assets checked ({:.1} MB)",
            dir.display(),
            report.checked,
            report.bytes as f64 / 1e6
        );
        if let Some(b) = &report.restored_from {
            text.push_str(&format!(
                "\nproject.json does not read; {} {}",
                if args.repair {
                    "put in its place:"
                } else {
                    "--repair would put in its place:"
                },
                b.display()
            ));
        }
        if let Some(why) = &report.store_problem {
            text.push_str(&format!(
                "\nthe show store named in store.json cannot be used: {why}"
            ));
        }
        for p in &report.unsafe_paths {
            text.push_str(&format!("\nUNSAFE PATH {p}"));
        }
        for p in &report.problems {
            text.push_str(&format!(
                "\n{} {}: used by {}{}",
                p.problem.to_uppercase(),
                p.path.display(),
                if p.used_by.is_empty() {
                    "the asset list only".to_owned()
                } else {
                    p.used_by.join(", ")
                },
                if p.in_show_store {
                    " (the show store has it: --repair fetches it)"
                } else {
                    ""
                }
            ));
        }
        for r in &report.repaired {
            text.push_str(&format!("\nrepaired: {r}"));
        }
        if !report.orphans.is_empty() {
            text.push_str(&format!(
                "\n{} file{} in the store no take names (kept)",
                report.orphans.len(),
                if report.orphans.len() == 1 { "" } else { "s" }
            ));
        }
        text.push_str(if report.problems.is_empty() {
            "\nclean"
        } else if args.repair {
            "\nproblems remain: redraw or re-voice the takes named above, or restore their files"
        } else {
            "\nrun `previz fsck --repair` to play intact takes instead and set damaged files aside"
        });
        print_text(&text)?;
    }
    // Problems left after the repair (a restored project file counts as repaired).
    let left = !report.problems.is_empty()
        || (report.restored_from.is_some() && !args.repair)
        || report.store_problem.is_some()
        || !report.unsafe_paths.is_empty();
    if left {
        return Err(CliError::failure(format!(
            "{}: {} asset problem{}",
            dir.display(),
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}
