//! `previz farm submit`: job files for Slurm or Kubernetes, and (Slurm) their submission.

use std::path::{Path, PathBuf};
use std::process::Command;

use previz_batch::Steps;
use previz_batch::farm::{FarmPlan, split_words};
use serde::Serialize;

use super::project_dir;
use crate::args::{FarmArgs, FarmCommand, FarmStatusArgs, FarmSubmitArgs};
use crate::output::{CliError, print_json, print_text};

#[derive(Serialize)]
struct Submitted {
    scheduler: &'static str,
    folder: PathBuf,
    files: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    work_job: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gather_job: Option<String>,
    submitted: bool,
}

pub fn run(args: &FarmArgs, json: bool) -> Result<(), CliError> {
    match &args.command {
        FarmCommand::Submit(submit) => run_submit(submit, json),
        FarmCommand::Status(status) => run_status(status, json),
    }
}

fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(path).map_err(|e| CliError::failure(format!("{}: {e}", path.display())))
}

/// `sbatch --parsable` prints `JOBID` or `JOBID;CLUSTER`.
fn sbatch(args: &[String], script: &Path) -> Result<String, CliError> {
    let program = std::env::var("PREVIZ_SBATCH").unwrap_or_else(|_| "sbatch".into());
    let out = Command::new(&program)
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .map_err(|e| {
            CliError::failure(format!(
                "{program}: {e}; is this a Slurm login node (slurm-client installed, SLURM_CONF set)? --dry-run writes the scripts without submitting"
            ))
        })?;
    if !out.status.success() {
        return Err(CliError::failure(format!(
            "{program} {} refused {}: {}",
            args.join(" "),
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CliError::failure(format!(
            "{program} answered '{}' where a job id was expected",
            text.trim()
        )));
    }
    Ok(id)
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    previz_storage::atomic::write_atomic(path, text.as_bytes())
        .map_err(|e| CliError::failure(format!("writing {}: {e}", path.display())))
}

fn run_submit(args: &FarmSubmitArgs, json: bool) -> Result<(), CliError> {
    let dir = absolute(&project_dir(Some(&args.project))?)?;
    if !dir.join("project.json").is_file() {
        return Err(CliError::bad_input(format!(
            "{}: not a project (no project.json); `previz batch SCRIPT` or `previz import` makes one",
            dir.display()
        )));
    }
    if args.workers == 0 {
        return Err(CliError::bad_input("--workers: at least one"));
    }
    let steps: Steps = args.steps.parse().map_err(CliError::bad_input)?;
    let previz = match &args.previz {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| CliError::failure(format!("where is this program? {e}; pass --previz")))?,
    };
    let plan = FarmPlan {
        project: dir.clone(),
        workers: args.workers,
        parallel: args.parallel,
        steps: steps.to_string(),
        gpus: args.gpus,
        cpus: args.cpus,
        mem: args.mem.clone(),
        time: args.time.clone(),
        partition: args.partition.clone(),
        account: args.account.clone(),
        previz,
        batch_args: split_words(&args.batch_args).map_err(CliError::bad_input)?,
        run_id: jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string(),
    };
    let folder = plan.folder();
    std::fs::create_dir_all(&folder)
        .map_err(|e| CliError::failure(format!("creating {}: {e}", folder.display())))?;
    let mut report = Submitted {
        scheduler: if args.slurm { "slurm" } else { "kubernetes" },
        folder: folder.clone(),
        files: Vec::new(),
        work_job: None,
        gather_job: None,
        submitted: false,
    };
    if args.k8s {
        if !dir.starts_with(&args.mount) {
            return Err(CliError::bad_input(format!(
                "{} is not under --mount {}: the pods see the share there; pass the project by its path under the mount",
                dir.display(),
                args.mount.display()
            )));
        }
        let file = folder.join("previz-job.yaml");
        write(
            &file,
            &plan.k8s_manifest(&args.image, &args.namespace, &args.pvc, &args.mount),
        )?;
        report.files.push(file);
    } else {
        let work = folder.join("work.sbatch");
        let gather = folder.join("gather.sbatch");
        write(&work, &plan.slurm_work_script())?;
        write(&gather, &plan.slurm_gather_script())?;
        report.files.extend([work.clone(), gather.clone()]);
        if !args.dry_run {
            let id = sbatch(&[], &work)?;
            // afterany: the gather runs even when a task failed, and makes what it left.
            let gather_id = sbatch(
                &[
                    format!("--dependency=afterany:{id}"),
                    "--kill-on-invalid-dep=yes".into(),
                ],
                &gather,
            )?;
            report.work_job = Some(id);
            report.gather_job = Some(gather_id);
            report.submitted = true;
        }
    }
    if json {
        return print_json(&report);
    }
    let mut text = format!("Wrote {}", folder.display());
    for f in &report.files {
        text.push_str(&format!("\n  {}", f.display()));
    }
    match (&report.work_job, &report.gather_job) {
        (Some(w), Some(g)) => text.push_str(&format!(
            "\nSubmitted job array {w} ({} shard tasks) and gather job {g} (after it); logs in {}",
            plan.workers,
            folder.display()
        )),
        _ if args.k8s => text.push_str("\nApply it with: kubectl apply -f previz-job.yaml"),
        _ => text.push_str(&format!(
            "\nDry run: submit with  sbatch {}  then  sbatch --dependency=afterany:<ID> {}",
            folder.join("work.sbatch").display(),
            folder.join("gather.sbatch").display()
        )),
    }
    print_text(&text)
}

#[derive(Serialize)]
struct Working {
    key: String,
    holder: String,
    since: Option<String>,
    heartbeat: Option<String>,
    stale: bool,
    why: String,
}

#[derive(Serialize)]
struct Status {
    project: PathBuf,
    /// Published units by kind.
    published: std::collections::BTreeMap<String, usize>,
    working: Vec<Working>,
    /// Submissions, newest last: their folders (job scripts and logs).
    submissions: Vec<PathBuf>,
}

fn run_status(args: &FarmStatusArgs, json: bool) -> Result<(), CliError> {
    let dir = project_dir(args.project.as_deref())?;
    if !dir.join("project.json").is_file() {
        return Err(CliError::bad_input(format!(
            "{}: not a project (no project.json)",
            dir.display()
        )));
    }
    let area = previz_storage::WorkArea::of_project(&dir);
    let io =
        |e: std::io::Error| CliError::failure(format!("reading {}: {e}", area.root().display()));
    let mut published = std::collections::BTreeMap::new();
    for kind in ["breakdown", "frames", "voice", "export"] {
        published.insert(
            kind.to_owned(),
            area.published_keys(kind).map_err(io)?.len(),
        );
    }
    let now = jiff::Timestamp::now();
    let stale_after = std::time::Duration::from_secs(args.claim_timeout.max(1));
    let working = area
        .claims()
        .map_err(io)?
        .into_iter()
        .map(|(key, read)| {
            let staleness = read.staleness(now, stale_after);
            let holder = read.holder();
            Working {
                key,
                holder: holder.map_or_else(|| "unreadable claim".to_owned(), |h| h.app.clone()),
                since: holder.map(|h| h.started.to_string()),
                heartbeat: holder.map(|h| h.heartbeat.to_string()),
                stale: staleness.stale,
                why: staleness.reason,
            }
        })
        .collect();
    let mut submissions: Vec<PathBuf> = std::fs::read_dir(area.root().join("farm"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    submissions.sort();
    let status = Status {
        project: dir,
        published,
        working,
        submissions,
    };
    if json {
        return print_json(&status);
    }
    let mut text = format!("Batch of {}", status.project.display());
    text.push_str("\nPublished units:");
    for (kind, n) in &status.published {
        text.push_str(&format!(" {kind} {n},"));
    }
    text.pop();
    if status.working.is_empty() {
        text.push_str("\nNobody is making a unit now.");
    }
    for w in &status.working {
        text.push_str(&format!(
            "\n  {} by {} since {}: {}{}",
            &w.key[..w.key.len().min(12)],
            w.holder,
            w.since.as_deref().unwrap_or("?"),
            if w.stale { "STALE, " } else { "" },
            w.why
        ));
    }
    if let Some(last) = status.submissions.last() {
        text.push_str(&format!(
            "\nLatest submission: {} ({} in all)",
            last.display(),
            status.submissions.len()
        ));
    }
    print_text(&text)
}
