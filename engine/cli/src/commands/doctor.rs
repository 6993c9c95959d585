//! `previz doctor`: is this workstation ready? The CPU and its features, memory, the GPU and
//! CUDA, the settings file, the show's share (mounted, writable, latency, throughput), S3,
//! ffmpeg and espeak-ng, the models (present and verified) and the cache. Each problem comes
//! with its fix; `--json` for machines. Exit status 1 when a check failed.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use previz_models::registry::{ModelKind, Registry};
use previz_models::verify::{self, FileStatus, Ledger};
use previz_storage::settings::Settings;
use serde::Serialize;
use serde_json::{Value, json};

use crate::args::DoctorArgs;
use crate::output::{CliError, print_json, print_text};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    Ok,
    Warn,
    Fail,
    /// Not applicable here (not configured, not built in).
    Skip,
}

#[derive(Debug, Serialize)]
struct Check {
    /// Stable identifier: `cpu`, `memory`, `gpu`, `settings`, `share`, `s3`, `ffmpeg`,
    /// `espeak-ng`, `model:<id>`, `cache`.
    id: String,
    status: Status,
    /// One line: what was found.
    summary: String,
    /// What to do about it (warn and fail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
    /// Figures and facts for machines.
    #[serde(skip_serializing_if = "Value::is_null")]
    data: Value,
}

impl Check {
    fn new(id: impl Into<String>, status: Status, summary: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status,
            summary: summary.into(),
            fix: None,
            data: Value::Null,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

pub fn run(args: &DoctorArgs, json: bool) -> Result<(), CliError> {
    let settings_path = Settings::default_path();
    let (settings, settings_check) = settings_check(settings_path.as_deref());
    let mut checks = vec![cpu(), memory(), gpu(), settings_check];
    let share = args.share.clone().or_else(|| settings.share_root.clone());
    checks.push(share_check(share.as_deref(), args.quick));
    let s3 = args.s3.clone().or_else(|| settings.s3_url.clone());
    checks.push(s3_check(s3.as_deref()));
    checks.push(tool(
        "ffmpeg",
        &["-hide_banner", "-version"],
        "writes the animatic movie (MP4 export) and reads rushes",
        "sudo apt install ffmpeg",
    ));
    checks.push(tool(
        "espeak-ng",
        &["--version"],
        "turns dialogue into phonemes for the voices (without it, only the built-in voice speaks)",
        "sudo apt install espeak-ng",
    ));
    checks.extend(model_checks(&settings, args.quick));
    checks.push(cache_check(&settings));

    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let (ok, warn, fail, skip) = (
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skip),
    );
    if json {
        print_json(&json!({
            "checks": checks,
            "summary": { "ok": ok, "warn": warn, "fail": fail, "skip": skip },
            "settings": settings_path,
            "version": env!("CARGO_PKG_VERSION"),
        }))?;
    } else {
        let mut text = String::new();
        for c in &checks {
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Warn => "WARN",
                Status::Fail => "FAIL",
                Status::Skip => "--  ",
            };
            let _ = writeln!(text, "{mark} {:<28} {}", c.id, c.summary);
            if let Some(fix) = &c.fix {
                let _ = writeln!(text, "     {:<28} fix: {fix}", "");
            }
        }
        let _ = writeln!(
            text,
            "\n{ok} ok, {warn} warning(s), {fail} failed, {skip} not applicable"
        );
        print_text(&text)?;
    }
    if fail > 0 {
        return Err(CliError::failure(format!(
            "{fail} check(s) failed: {}",
            checks
                .iter()
                .filter(|c| c.status == Status::Fail)
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

fn cpu_features() -> Vec<&'static str> {
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) {
                    found.push($f);
                }
            )*};
        }
        probe!(
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "avx512f",
            "avx512bw",
            "avx512vnni"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {$(
                if std::arch::is_aarch64_feature_detected!($f) {
                    found.push($f);
                }
            )*};
        }
        probe!("neon", "fp16", "dotprod", "i8mm");
    }
    found
}

fn cpu() -> Check {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let features = cpu_features();
    let data = json!({ "model": model, "threads": cores, "features": features, "arch": std::env::consts::ARCH });
    let summary = format!("{model}, {cores} threads, {}", features.join(" "));
    if cfg!(target_arch = "x86_64") && !(features.contains(&"avx2") && features.contains(&"fma")) {
        return Check::new("cpu", Status::Warn, summary)
            .fix("this CPU lacks AVX2/FMA: models on the CPU run several times slower; use a GPU (--device cuda) or a newer workstation")
            .data(data);
    }
    let status = if cores < 4 { Status::Warn } else { Status::Ok };
    let check = Check::new("cpu", status, summary).data(data);
    if status == Status::Warn {
        check.fix(
            "fewer than 4 threads: breakdowns and frames on the CPU will be slow; a GPU helps most",
        )
    } else {
        check
    }
}

fn meminfo_kib(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn memory() -> Check {
    let (Some(total), available) = (meminfo_kib("MemTotal:"), meminfo_kib("MemAvailable:")) else {
        return Check::new("memory", Status::Skip, "cannot read /proc/meminfo");
    };
    let gib = |kib: u64| kib as f64 / (1024.0 * 1024.0);
    let summary = format!(
        "{:.1} GiB, {:.1} GiB available",
        gib(total),
        gib(available.unwrap_or(0))
    );
    let data = json!({ "total_mib": total / 1024, "available_mib": available.map(|a| a / 1024) });
    if gib(total) < 15.5 {
        Check::new("memory", Status::Warn, summary)
            .fix("under 16 GiB: diffusion on the CPU may run out of memory; close other applications or use a GPU")
            .data(data)
    } else {
        Check::new("memory", Status::Ok, summary).data(data)
    }
}

/// `nvidia-smi`'s view of the GPUs: (name, total MiB, driver).
fn nvidia_smi() -> Option<Vec<(String, u64, String)>> {
    let out = Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total,driver_version",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.split(',').map(str::trim);
                Some((
                    f.next()?.to_owned(),
                    f.next()?.parse().ok()?,
                    f.next()?.to_owned(),
                ))
            })
            .collect(),
    )
}

fn gpu() -> Check {
    let gpus = nvidia_smi().unwrap_or_default();
    let built = previz_models::device::cuda_compiled();
    let data = json!({
        "cuda_built": built,
        "gpus": gpus.iter().map(|(n, m, d)| json!({"name": n, "vram_mib": m, "driver": d})).collect::<Vec<_>>(),
    });
    let listed = gpus
        .iter()
        .map(|(n, m, d)| format!("{n} ({:.0} GiB, driver {d})", *m as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(", ");
    match (built, gpus.is_empty()) {
        (false, true) => Check::new(
            "gpu",
            Status::Skip,
            "no NVIDIA GPU found (nvidia-smi) and this build has no CUDA: models run on the CPU",
        )
        .data(data),
        (false, false) => Check::new(
            "gpu",
            Status::Warn,
            format!("{listed}, but this build has no CUDA: models run on the CPU"),
        )
        .fix("install a build made with `--features cuda` (packaging/INSTALL-ubuntu.md) to use the GPU")
        .data(data),
        (true, _) => match previz_models::device::resolve(previz_models::device::DeviceChoice::Cuda(0)) {
            Ok(_) if !gpus.is_empty() => {
                let small = gpus.iter().any(|(_, m, _)| *m < 12_000);
                let check = Check::new(
                    "gpu",
                    if small { Status::Warn } else { Status::Ok },
                    format!("CUDA works: {listed}"),
                )
                .data(data);
                if small {
                    check.fix("under 12 GiB of VRAM: SDXL does not fit beside the LLM; use SD 1.5 / SD-Turbo or the CPU for the LLM")
                } else {
                    check
                }
            }
            Ok(_) => Check::new("gpu", Status::Ok, "CUDA device 0 answers").data(data),
            Err(e) => Check::new("gpu", Status::Fail, format!("CUDA does not work: {e}"))
                .fix("check `nvidia-smi` and the driver (packaging/INSTALL-ubuntu.md), or set device = \"cpu\" in the settings")
                .data(data),
        },
    }
}

fn settings_check(path: Option<&Path>) -> (Settings, Check) {
    let Some(path) = path else {
        return (
            Settings::default(),
            Check::new(
                "settings",
                Status::Warn,
                "no HOME or XDG_CONFIG_HOME: defaults",
            )
            .fix("set HOME"),
        );
    };
    let data = json!({ "path": path });
    match Settings::read(path) {
        Ok(s) if path.is_file() => (
            s,
            Check::new("settings", Status::Ok, format!("{} reads", path.display())).data(data),
        ),
        Ok(s) => (
            s,
            Check::new(
                "settings",
                Status::Ok,
                format!(
                    "no {} yet: defaults (the studio's Settings window writes it)",
                    path.display()
                ),
            )
            .data(data),
        ),
        Err(e) => (
            Settings::default(),
            Check::new("settings", Status::Fail, e.to_string())
                .fix(format!(
                    "correct {} (or delete it to use defaults)",
                    path.display()
                ))
                .data(data),
        ),
    }
}

fn share_check(root: Option<&Path>, quick: bool) -> Check {
    let Some(root) = root else {
        return Check::new("share", Status::Warn, "no show share configured")
            .fix("set share_root in the settings (File › Settings in the studio) to the show's folder on the NAS, or pass --share");
    };
    if !root.is_dir() {
        return Check::new("share", Status::Fail, format!("{} is not there", root.display()))
            .fix("mount the NAS (see packaging/INSTALL-ubuntu.md: NFS or SMB), or correct share_root in the settings")
            .data(json!({ "path": root }));
    }
    let mount = previz_storage::host::mount_of(root);
    let space = previz_storage::host::disk_space(root).ok();
    let mut data = json!({
        "path": root,
        "mount_point": mount.as_ref().map(|m| &m.mount_point),
        "fs_type": mount.as_ref().map(|m| &m.fs_type),
        "source": mount.as_ref().map(|m| &m.source),
        "network": mount.as_ref().is_some_and(previz_storage::host::Mount::is_network),
        "free_gib": space.map(|(free, _)| free as f64 / f64::from(1u32 << 30)),
    });
    let probe = match probe_share(root, quick) {
        Ok(p) => p,
        Err(e) => {
            return Check::new(
                "share",
                Status::Fail,
                format!("{} is not writable: {e}", root.display()),
            )
            .fix("check the mount is read-write and your user (uid/gid, or the SMB credentials) may write there")
            .data(data);
        }
    };
    data["latency_ms"] = json!(probe.latency_ms);
    data["write_mb_s"] = json!(probe.write_mb_s);
    data["read_mb_s"] = json!(probe.read_mb_s);
    let fs = mount.as_ref().map_or_else(
        || "unknown file system".to_owned(),
        |m| format!("{} on {}", m.fs_type, m.source),
    );
    let mut summary = format!(
        "{} ({fs}): writable, {:.1} ms per file operation",
        root.display(),
        probe.latency_ms
    );
    if let (Some(w), Some(r)) = (probe.write_mb_s, probe.read_mb_s) {
        let _ = write!(summary, ", write {w:.0} MB/s, read {r:.0} MB/s");
    }
    if let Some((free, _)) = space {
        let _ = write!(
            summary,
            ", {:.0} GiB free",
            free as f64 / f64::from(1u32 << 30)
        );
    }
    let network = mount
        .as_ref()
        .is_some_and(previz_storage::host::Mount::is_network);
    if !network {
        return Check::new("share", Status::Warn, summary)
            .fix("this folder is on a local disk, not the NAS: other editors cannot see it; mount the share and point share_root at it")
            .data(data);
    }
    if probe.latency_ms > 50.0 {
        return Check::new("share", Status::Warn, summary)
            .fix("file operations on the share are slow (over 50 ms): check the network link and the mount options (NFS: hard, nconnect; SMB: cache=strict)")
            .data(data);
    }
    Check::new("share", Status::Ok, summary).data(data)
}

struct Probe {
    latency_ms: f64,
    write_mb_s: Option<f64>,
    read_mb_s: Option<f64>,
}

/// Times small file operations (create, write, fsync, stat, delete: the median of 9) and,
/// unless `quick`, writing 64 MiB with fsync and reading it back. Leaves nothing behind.
fn probe_share(root: &Path, quick: bool) -> std::io::Result<Probe> {
    let tag = format!(
        ".previz-doctor-{}-{}",
        previz_storage::host::host_tag(&previz_storage::host::host_name()),
        std::process::id()
    );
    let small = root.join(format!("{tag}.probe"));
    let mut times = Vec::new();
    let result = (|| {
        for _ in 0..9 {
            let start = Instant::now();
            let mut f = std::fs::File::create(&small)?;
            f.write_all(b"previz doctor")?;
            f.sync_all()?;
            drop(f);
            std::fs::metadata(&small)?;
            std::fs::remove_file(&small)?;
            times.push(start.elapsed());
        }
        times.sort();
        let latency_ms = times[times.len() / 2].as_secs_f64() * 1e3;
        if quick {
            return Ok(Probe {
                latency_ms,
                write_mb_s: None,
                read_mb_s: None,
            });
        }
        let big = root.join(format!("{tag}.throughput"));
        let chunk = vec![0x5au8; 1 << 20];
        let total = 64usize;
        let start = Instant::now();
        let mut f = std::fs::File::create(&big)?;
        for _ in 0..total {
            f.write_all(&chunk)?;
        }
        f.sync_all()?;
        drop(f);
        let write = start.elapsed();
        let start = Instant::now();
        let mut f = std::fs::File::open(&big)?;
        let mut buf = vec![0u8; 1 << 20];
        while f.read(&mut buf)? > 0 {}
        let read = start.elapsed();
        std::fs::remove_file(&big)?;
        let mb = (total << 20) as f64 / 1e6;
        Ok(Probe {
            latency_ms,
            write_mb_s: Some(mb / write.as_secs_f64().max(1e-6)),
            read_mb_s: Some(mb / read.as_secs_f64().max(1e-6)),
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&small);
        let _ = std::fs::remove_file(root.join(format!("{tag}.throughput")));
    }
    result
}

fn s3_check(url: Option<&str>) -> Check {
    let Some(url) = url else {
        return Check::new(
            "s3",
            Status::Skip,
            "no S3 location configured (s3_url in the settings, or --s3)",
        );
    };
    let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|_| "AWS".to_owned());
    let data = json!({ "url": url, "endpoint": endpoint });
    let owned = url.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let answer =
            previz_storage::backend::open(&owned).and_then(|b| b.head("previz-doctor-probe"));
        let _ = tx.send(answer.map(|_| ()));
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(())) => Check::new(
            "s3",
            Status::Ok,
            format!("{url} answers ({:.0} ms, endpoint {endpoint})", start.elapsed().as_secs_f64() * 1e3),
        )
        .data(data),
        Ok(Err(e)) => Check::new("s3", Status::Fail, format!("{url}: {e}"))
            .fix("check the endpoint (AWS_ENDPOINT_URL), the bucket name and the credentials (AWS_ACCESS_KEY_ID / ~/.aws/credentials)")
            .data(data),
        Err(_) => Check::new("s3", Status::Fail, format!("{url}: no answer in 20 s from {endpoint}"))
            .fix("check the network path to the S3 endpoint (AWS_ENDPOINT_URL) and any proxy settings")
            .data(data),
    }
}

fn tool(name: &str, args: &[&str], why: &str, install: &str) -> Check {
    match Command::new(name).args(args).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text.lines().next().unwrap_or("").trim().to_owned();
            Check::new(name, Status::Ok, first.clone()).data(json!({ "version": first }))
        }
        Ok(out) => Check::new(
            name,
            Status::Warn,
            format!("{name} is installed but fails ({}); it {why}", out.status),
        )
        .fix(format!("reinstall it: {install}")),
        Err(_) => Check::new(
            name,
            Status::Warn,
            format!("{name} is not installed; it {why}"),
        )
        .fix(install.to_owned()),
    }
}

fn model_checks(settings: &Settings, quick: bool) -> Vec<Check> {
    let registry = Registry::discover(&Registry::roots_for(settings));
    let mut ledger = Ledger::open(settings.cache_root().as_deref());
    let mut checks = Vec::new();
    for e in &registry.entries {
        let id = format!("model:{}", e.id);
        let kind = format!("{:?}", e.kind).to_lowercase();
        let Some(path) = &e.path else {
            let fix = e.install_hint();
            checks.push(
                Check::new(&id, Status::Warn, format!("{kind} model not installed"))
                    .fix(fix)
                    .data(json!({ "kind": e.kind, "installed": false })),
            );
            continue;
        };
        let data = |verified: Value| json!({ "kind": e.kind, "installed": true, "path": path, "verified": verified });
        if e.manifest.is_none() {
            checks.push(
                Check::new(
                    &id,
                    Status::Ok,
                    format!(
                        "{kind} model at {} (no checksums on record)",
                        path.display()
                    ),
                )
                .data(data(Value::Null)),
            );
            continue;
        }
        if quick {
            let known = verify::known(e, &ledger);
            let status = match known {
                verify::Known::Damaged => Status::Fail,
                _ => Status::Ok,
            };
            let check = Check::new(
                &id,
                status,
                format!("{kind} model at {} ({known:?})", path.display()).to_lowercase(),
            )
            .data(data(json!(known)));
            checks.push(if status == Status::Fail {
                check.fix(format!(
                    "`previz models verify {}`, then fetch or copy the damaged file again",
                    e.id
                ))
            } else {
                check
            });
            continue;
        }
        let report = verify::verify(e, &mut ledger, false, &mut |_, _, _| {});
        if report.ok() {
            checks.push(
                Check::new(
                    &id,
                    Status::Ok,
                    format!("{kind} model at {}, checksums verified", path.display()),
                )
                .data(data(json!(true))),
            );
        } else {
            let bad: Vec<String> = report
                .files
                .iter()
                .filter(|f| f.status != FileStatus::Verified)
                .map(|f| {
                    let what = match &f.status {
                        FileStatus::Missing => "missing".to_owned(),
                        FileStatus::WrongSize { expected, actual } => {
                            format!("{actual} bytes, expected {expected}")
                        }
                        FileStatus::Corrupt { .. } => "sha256 does not match".to_owned(),
                        FileStatus::Unreadable { message } => message.clone(),
                        FileStatus::Verified => String::new(),
                    };
                    format!("{}: {what}", f.path.display())
                })
                .collect();
            checks.push(
                Check::new(&id, Status::Fail, format!("{kind} model damaged: {}", bad.join("; ")))
                    .fix(format!("fetch or copy the model's files again, then `previz models verify {}`", e.id))
                    .data(json!({ "kind": e.kind, "installed": true, "path": path, "verified": false, "files": report.files })),
            );
        }
    }
    let _ = ledger.save();
    // The settings' default models must be ones this machine has.
    for (kind, chosen) in [
        (ModelKind::Llm, &settings.llm_model),
        (ModelKind::Diffusion, &settings.diffusion_model),
        (ModelKind::Tts, &settings.voice_model),
    ] {
        if let Some(id) = chosen
            && registry.resolve(id).is_err()
        {
            checks.push(
                Check::new(
                    format!("default:{kind:?}").to_lowercase(),
                    Status::Fail,
                    format!("the settings choose {id}, which is not installed here"),
                )
                .fix("install it (`previz models add PATH`) or choose another in the studio's Settings"),
            );
        }
    }
    // The IP-Adapter the settings name: its file, its image encoder, their headers (cheap:
    // nothing is loaded).
    if let Some(file) = &settings.ip_adapter {
        checks.push(ip_adapter_check(file));
    }
    for p in &registry.problems {
        checks.push(
            Check::new("models", Status::Warn, p.to_string())
                .fix("correct or remove that manifest"),
        );
    }
    checks
}

fn ip_adapter_check(file: &Path) -> Check {
    use previz_models::diffusion::ip_adapter::IpAdapter;
    use previz_models::diffusion::layout;
    let fail = |what: String| {
        Check::new("ip_adapter", Status::Fail, what).fix(
            "point ip_adapter in the settings at an IP-Adapter .safetensors with its image_encoder/ folder beside it, or remove the key",
        )
    };
    if !file.is_file() {
        return fail(format!("ip_adapter {}: no such file", file.display()));
    }
    if let Err(e) = layout::check_safetensors(file) {
        return fail(format!("ip_adapter: {e}"));
    }
    let encoder = match IpAdapter::find_encoder(file) {
        Ok(dir) => dir,
        Err(e) => return fail(format!("ip_adapter: {e}")),
    };
    let weights = layout::weight_files(&encoder, "model").and_then(|files| {
        files
            .iter()
            .try_for_each(|f| layout::check_safetensors(f).map(|_| ()))
    });
    match weights {
        Ok(()) => Check::new(
            "ip_adapter",
            Status::Ok,
            format!("IP-Adapter {} with {}", file.display(), encoder.display()),
        )
        .data(json!({ "file": file, "image_encoder": encoder })),
        Err(e) => fail(format!("ip_adapter's image encoder: {e}")),
    }
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in read.filter_map(Result::ok) {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

fn cache_check(settings: &Settings) -> Check {
    let Some(root) = settings.cache_root() else {
        return Check::new("cache", Status::Warn, "no cache folder (HOME unset)")
            .fix("set HOME or cache_dir in the settings");
    };
    let size = dir_size(&root);
    let gib = size as f64 / f64::from(1u32 << 30);
    let free = previz_storage::host::disk_space(
        root.ancestors()
            .find(|a| a.exists())
            .unwrap_or(Path::new("/")),
    )
    .ok()
    .map(|(f, _)| f as f64 / f64::from(1u32 << 30));
    let data = json!({ "path": root, "used_gib": gib, "limit_gib": settings.cache_max_gib, "free_gib": free });
    let summary = format!(
        "{}: {gib:.2} GiB of {:.0} GiB{}",
        root.display(),
        settings.cache_max_gib,
        free.map_or_else(String::new, |f| format!(", {f:.0} GiB free on its disk"))
    );
    if gib > settings.cache_max_gib {
        return Check::new("cache", Status::Warn, summary)
            .fix("the cache is over its limit: raise cache_max_gib or delete old items under it (the shared-journal folder holds unsaved shared edits: keep it)")
            .data(data);
    }
    if free.is_some_and(|f| f < 5.0) {
        return Check::new("cache", Status::Warn, summary)
            .fix("under 5 GiB free on the cache's disk: free space or move cache_dir")
            .data(data);
    }
    Check::new("cache", Status::Ok, summary).data(data)
}
