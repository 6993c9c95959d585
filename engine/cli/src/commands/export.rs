//! `previz export fountain`.

use previz_screenplay::convert::to_screenplay;
use previz_screenplay::write_fountain;
use previz_storage::OpenMode;
use serde::Serialize;

use super::{close, open, project_dir};
use crate::args::{ExportFountainArgs, Omitted};
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct Exported<'a> {
    output: &'a std::path::Path,
    bytes: usize,
    scenes: usize,
}

pub fn fountain(args: &ExportFountainArgs, json: bool) -> Result<(), CliError> {
    let dir = project_dir(Some(&args.project))?;
    let (session, _) = open(&dir, OpenMode::ReadOnly, json)?;
    let script = &session.project().script;
    let include = args.omitted == Omitted::Include;
    let text = write_fountain(&to_screenplay(script, include));
    let scenes = script
        .scenes
        .iter()
        .filter(|s| include || !s.omitted)
        .count();
    close(session);
    let Some(output) = &args.output else {
        let mut stdout = std::io::stdout().lock();
        std::io::Write::write_all(&mut stdout, text.as_bytes())?;
        return Ok(());
    };
    previz_storage::atomic::write_atomic(output, text.as_bytes()).map_err(|e| {
        CliError::failure(format!("could not write the Fountain file: {e}")).at(output, None, None)
    })?;
    if json {
        print_json(&Exported {
            output,
            bytes: text.len(),
            scenes,
        })
    } else {
        print_text(&format!(
            "Wrote {} ({scenes} scenes, {} bytes)",
            output.display(),
            text.len()
        ))
    }
}
