//! Writes the man pages of `previz`, generated from its clap definition: `previz.1` and one page
//! per subcommand, nested ones included (`previz-import.1`, `previz-script-run.1`...), each with
//! a SEE ALSO section naming the top page, its parent, its subcommands and previz-studio(1).
//!
//! ```text
//! cargo run -p previz-cli --example manpages -- OUT_DIR
//! ```
//!
//! packaging/build.sh runs it and gzips the pages into the .deb and the tarball. The date in the
//! pages' title line is `SOURCE_DATE_EPOCH`'s when set (reproducible builds; build.sh sets it to
//! the commit's time), else today's.

#![allow(clippy::print_stdout, reason = "lists the pages it wrote")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory as _;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

const MANUAL: &str = "Previz Studio Manual";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out_dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: manpages OUT_DIR");
        return ExitCode::from(2);
    };
    match write_all(Path::new(&out_dir)) {
        Ok(pages) => {
            for page in pages {
                println!("{}", page.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("manpages: {}: {e}", Path::new(&out_dir).display());
            ExitCode::FAILURE
        }
    }
}

/// Writes every page into `out_dir` (created if missing); returns their paths.
fn write_all(out_dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir)?;
    // As clap_mangen::generate_to does: no page for the `help` subcommand, and the command
    // built so that every subcommand knows its display name (`previz-script-run`).
    let mut cmd = previz_cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let date = page_date();
    let mut written = Vec::new();
    write_page(&cmd, None, out_dir, &date, &mut written)?;
    Ok(written)
}

/// Writes `cmd`'s page, then its subcommands' pages.
fn write_page(
    cmd: &clap::Command,
    parent: Option<&str>,
    out_dir: &Path,
    date: &str,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let name = page_name(cmd);
    let children: Vec<&clap::Command> =
        cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();

    // Every page's footer names the program and its version (clap_mangen's default would say
    // `run 0.1.0` for `previz script run`).
    let man = Man::new(cmd.clone())
        .title(name.to_uppercase())
        .date(date)
        .source(format!("previz {}", cmd.get_version().unwrap_or_default()))
        .manual(MANUAL);
    let mut page = Vec::new();
    man.render(&mut page)?;

    // SEE ALSO, the last section: the top page, the parent, the subcommands, the studio.
    let mut see_also: Vec<String> = Vec::new();
    if let Some(parent) = parent {
        see_also.push("previz".to_owned());
        if parent != "previz" {
            see_also.push(parent.to_owned());
        }
    }
    see_also.extend(children.iter().map(|c| page_name(c)));
    see_also.push("previz-studio".to_owned());
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    // Page names are not to be hyphenated at line ends.
    roff.control("nh", []);
    let last = see_also.len() - 1;
    let inlines: Vec<_> = see_also
        .iter()
        .enumerate()
        .flat_map(|(i, page)| {
            let sep = if i == last { "(1)" } else { "(1), " };
            [bold(page.clone()), roman(sep)]
        })
        .collect();
    roff.text(inlines);
    page.write_all(roff.to_roff().as_bytes())?;

    let path = out_dir.join(format!("{name}.1"));
    std::fs::write(&path, page)?;
    written.push(path);

    for child in children {
        write_page(child, Some(&name), out_dir, date, written)?;
    }
    Ok(())
}

/// `previz-script-run` for `previz script run` (set by `Command::build`).
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned()
}

/// The date in the title line, YYYY-MM-DD (UTC): `SOURCE_DATE_EPOCH`'s when set and valid, else
/// today's. Never empty: clap_mangen writes an empty date as nothing, which moves the source
/// and the manual's name into the wrong fields of `.TH`.
fn page_date() -> String {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
        .unwrap_or_else(jiff::Timestamp::now)
        .strftime("%Y-%m-%d")
        .to_string()
}
