//! Command-line syntax (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use previz_storage::settings::Settings;

// The defaults of `--device` and `--model` come from this user's settings (read once).
fn settings_device() -> &'static str {
    Settings::user().device.as_str()
}

fn settings_llm() -> Option<&'static str> {
    Settings::user().llm_model.as_deref()
}

fn settings_diffusion() -> Option<&'static str> {
    Settings::user().diffusion_model.as_deref()
}

fn settings_ip_adapter() -> Option<&'static str> {
    Settings::user()
        .ip_adapter
        .as_deref()
        .and_then(std::path::Path::to_str)
}

/// Previz Studio, headless: screenplays in, projects out, no display needed.
///
/// Exit status: 0 success, 1 failure (I/O, a locked project...), 2 bad input or usage
/// (a screenplay or project file that cannot be read, an invalid project, a wrong flag).
#[derive(Debug, Parser)]
#[command(name = "previz", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Machine-readable output: JSON on stdout, errors as JSON on stderr.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an empty project folder (NAME.previz).
    New(NewArgs),
    /// Read a screenplay (Fountain or Final Draft FDX): print it as JSON, create a project from
    /// it, or bring a revised draft into an existing project.
    Import(ImportArgs),
    /// Summarise a project: script, shots, takes, timeline, lock, unsaved edits, backups.
    Info(InfoArgs),
    /// Check a project (every cross-reference) or a screenplay (parses, with warnings).
    Validate(ValidateArgs),
    /// Break the script down into shots, scene by scene (rule-based unless a model is named);
    /// re-running skips scenes already done, so an interrupted run continues.
    Breakdown(BreakdownArgs),
    /// Speak every line of dialogue with its character's voice (cast automatically when
    /// none is set): a WAV take per line, the edit re-timed to the measured lengths, scene by
    /// scene; re-running keeps lines already voiced with their current words and voice.
    Voices(VoicesArgs),
    /// Draw storyboard frames: a new take per shot (or --takes N) from a diffusion model, or
    /// the built-in storyboard sketch when none is installed; scene by scene, each scene saved
    /// as it lands; re-running keeps shots whose active take is up to date.
    Frames(FramesArgs),
    /// Write a project out for editorial and the departments: OTIO, CMX3600 EDL, FCP 7 XML,
    /// FCPXML, a CSV shot list, or the script as Fountain.
    Export(ExportArgs),
    /// Apply a cut edited in editorial (OTIO, EDL or FCPXML) back to the project: removed,
    /// reordered and trimmed clips become edits (one undo step), with a report.
    Conform(ConformArgs),
    /// The models this machine knows (shipped manifests, models folders, the show's share, the
    /// Hugging Face cache): list, add, verify checksums, remove. Nothing is downloaded.
    Models(ModelsArgs),
    /// Is this workstation ready? CPU features, memory, GPU and CUDA, the settings file, the
    /// show's share (mounted, writable, latency, throughput), S3, ffmpeg and espeak-ng, the
    /// models (present, checksums verified) and the cache; each problem with its fix.
    ///
    /// Exit status: 0 nothing failed (warnings allowed); 1 a check failed.
    Doctor(DoctorArgs),
    /// The whole pipeline without a display: breakdown, frames, voices, the animatic and the
    /// exports, as work units keyed by their inputs (a rerun skips finished units, a killed run
    /// resumes). Shard it across a farm with --shard (or a scheduler's array index), then
    /// --gather.
    ///
    /// Exit status: 0 done; 1 a unit failed (the rest went on; run again to retry it) or I/O;
    /// 2 bad input; 75 units are still held by other workers (gather later); 130 cancelled
    /// (SIGINT/SIGTERM: finished units are kept, claims released).
    Batch(BatchArgs),
    /// Bring a folder of rushes (images, audio, video) into a project: hashed while copied into
    /// its content-addressed store on every core, probed (size, duration, rate; ffprobe for
    /// video), registered as assets; files already brought in are not read again; a manifest
    /// of each ingest is kept in NAME.previz/ingest/. Killed midway, run it again.
    Ingest(IngestArgs),
    /// Check a project's media: every asset it names is in the store and hashes to its name;
    /// missing and damaged ones are named with what uses them, orphans listed. --repair moves
    /// damaged files aside, plays intact takes instead of broken ones and replaces an
    /// unreadable project file by its newest readable backup.
    ///
    /// Exit status: 0 clean, 1 problems remain, 2 not a project (or no readable backup).
    Fsck(FsckArgs),
    /// Share a project's media through the show's store (a folder on the share, or
    /// s3://bucket/prefix): writes NAME.previz/store.json and copies the project's assets there
    /// (what the store has is not sent again). From then on new takes and rushes go there too,
    /// and assets missing from the project folder are fetched from it (via this workstation's
    /// cache: PREVIZ_CACHE_DIR, PREVIZ_CACHE_GB).
    Store(StoreArgs),
    /// Who is working on which scene of a shared project (leases: holder, host, until when,
    /// stale or not) and the edits that could not be merged (conflict records: who, when, what
    /// they wanted and what the project kept). PROJECT is a folder or s3://bucket/prefix.
    ///
    /// Exit status: 0 no conflicts on record, 1 conflicts to look at, 2 not readable.
    Shared(SharedArgs),
    /// Render farm: write (and submit) a Slurm job array or a Kubernetes Indexed Job that runs
    /// `previz batch` shards, with the gather as a dependent job.
    Farm(FarmArgs),
    /// Plugin scripts (Rhai): list the ones found (shipped, yours, the show's), or run one on a
    /// project. A plugin changes the project only through edits, all landed as one undo step
    /// when it finishes, or none if it fails.
    Script(ScriptArgs),
}

#[derive(Debug, Args)]
pub struct ScriptArgs {
    #[command(subcommand)]
    pub command: ScriptCommand,
}

#[derive(Debug, Subcommand)]
pub enum ScriptCommand {
    /// The plugins found for a project: assets/plugins, ~/.config/previz-studio/plugins, and
    /// the show's plugins/ folder next to the project; what each one serves.
    List(ScriptListArgs),
    /// Run a plugin on a project: its `fn run()` (a macro), else its `fn export_files()`, else its
    /// prompt template (`fn prompt`) over every shot; the edits land as one undo step and the
    /// project is saved; exports go to exports/<plugin>/. With --preset, set a style preset.
    Run(ScriptRunArgs),
}

#[derive(Debug, Args)]
pub struct ScriptListArgs {
    /// The project whose show folder is searched too.
    pub project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ScriptRunArgs {
    /// The plugin: a name from `previz script list`, or a path to a .rhai file.
    pub plugin: String,
    /// The project folder (default: the only *.previz folder here, or the current folder).
    pub project: Option<PathBuf>,
    /// Stop the plugin after this many seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Make one of the plugin's style presets (`fn style_presets()`) the project's storyboard
    /// style, instead of running it.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// List the jobs the plugin queues (`queue_job`) instead of running them after its edits
    /// are saved.
    #[arg(long)]
    pub no_jobs: bool,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The folder of rushes (on the share or a local disk), or `s3://bucket/prefix` (S3
    /// credentials and endpoint from the AWS environment and ~/.aws files).
    pub folder: PathBuf,
    /// The project they go into.
    #[arg(long)]
    pub into: PathBuf,
    /// Threads hashing and copying (default: every core, at least four: fsyncs and the share's
    /// latency overlap).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Take over the project's lock if the session holding it is gone.
    #[arg(long)]
    pub take_over: bool,
}

#[derive(Debug, Args)]
pub struct SharedArgs {
    /// The shared project: a folder, or s3://bucket/prefix.
    pub project: String,
    /// Make a project folder shared: from then on the studio and every command edit it as one
    /// of many editors (scene leases; saves that merge). The project must be saved and closed.
    #[arg(long, conflicts_with_all = ["resolve", "resolve_all"])]
    pub enable: bool,
    /// Mark a conflict record as dealt with (the key `previz shared` prints in brackets); it
    /// moves to conflicts-resolved/. Repeatable.
    #[arg(long, value_name = "KEY")]
    pub resolve: Vec<String>,
    /// Mark every conflict record as dealt with.
    #[arg(long, conflicts_with = "resolve")]
    pub resolve_all: bool,
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The project folder.
    pub project: PathBuf,
    /// The show store: a folder, or s3://bucket/prefix.
    pub location: String,
}

#[derive(Debug, Args)]
pub struct FsckArgs {
    /// The project folder (default: the only *.previz folder here, or the current folder).
    pub project: Option<PathBuf>,
    /// Fix what can be fixed (nothing is deleted: damaged files and project files are moved
    /// aside).
    #[arg(long)]
    pub repair: bool,
}

/// How `previz batch` shows progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// A bar on a terminal, else one line per unit (farm logs).
    Auto,
    Bar,
    /// One line per unit on stderr.
    Plain,
    /// One JSON object per line on stdout (for farm managers).
    Json,
    None,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// A project folder (NAME.previz) or a screenplay (.fountain, .fdx). A screenplay is
    /// imported into NAME.previz beside it (or --project) the first time; later runs bring a
    /// changed screenplay in as a revised draft.
    pub input: PathBuf,
    /// The project a screenplay goes into (default: NAME.previz beside it).
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// Which steps: breakdown,frames,voices,animatic,exports (or all).
    #[arg(long, default_value = "all")]
    pub steps: String,
    /// Which scenes, by position in the script: 3, 2-5, 4- (default: all).
    #[arg(long)]
    pub scenes: Option<String>,
    /// Which shots get frames, by label or position: 3,5A,7-9 (default: all).
    #[arg(long)]
    pub shots: Option<String>,
    /// Be worker INDEX of COUNT (0-based), e.g. 2/8: make this shard's units, then others'
    /// unclaimed ones, and leave the gather to `--gather`. Default: from SLURM_ARRAY_TASK_ID
    /// or JOB_COMPLETION_INDEX when set, else the whole run in this process.
    #[arg(long)]
    pub shard: Option<String>,
    /// The number of shards when a scheduler gives only the index (Kubernetes'
    /// JOB_COMPLETION_INDEX; also read from PREVIZ_SHARDS).
    #[arg(long)]
    pub shards: Option<usize>,
    /// Only gather: land every published unit in the project (making any still missing, and
    /// waiting for those other workers hold), then write the animatic and the exports.
    #[arg(long, conflicts_with = "shard")]
    pub gather: bool,
    /// With --gather: do not wait for units other live workers hold (exit 75 instead).
    #[arg(long)]
    pub no_wait: bool,
    /// As a shard, stop after this shard's own scenes (do not take others' unclaimed units).
    #[arg(long)]
    pub no_steal: bool,
    /// Progress: auto (a bar on a terminal, else a line per unit), bar, plain, json (one
    /// object per line on stdout, for farm managers) or none.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Where the animatic and the exports go (default: NAME_exports beside the project).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Which exports: otio,edl,xmeml,fcpxml,csv,pdf,frames (default: all but frames).
    #[arg(long)]
    pub exports: Option<String>,
    /// The breakdown's model: `rules` (built in, the default) or an installed LLM's id.
    #[arg(long)]
    pub breakdown_model: Option<String>,
    /// The frames' model: `sketch` (built in) or an installed diffusion model (default: the
    /// first installed, else the sketch).
    #[arg(long)]
    pub frames_model: Option<String>,
    /// New takes per shot.
    #[arg(long, default_value_t = 1)]
    pub takes: usize,
    /// Seed of the breakdown, the frames and the voices (part of every unit's key).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where models run: cpu, cuda, cuda:N or auto (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = settings_device())]
    pub device: String,
    /// A claim from another host counts as abandoned after this many seconds without a
    /// heartbeat (workers refresh theirs every 30 s).
    #[arg(long, default_value_t = 600)]
    pub claim_timeout: u64,
    /// Take over the project's lock (gather) if the session holding it is gone.
    #[arg(long)]
    pub take_over: bool,
}

/// Which scheduler `previz farm submit` writes for.
#[derive(Debug, Subcommand)]
pub enum FarmCommand {
    /// Write the job scripts for a project and (Slurm) submit them.
    Submit(Box<FarmSubmitArgs>),
    /// What the share says of a project's batch: units published by kind, units being made
    /// now (by whom, since when, alive or stale), the latest submissions and their logs.
    Status(FarmStatusArgs),
}

#[derive(Debug, Args)]
pub struct FarmStatusArgs {
    /// The project folder (default: the only *.previz folder here, or the current folder).
    pub project: Option<PathBuf>,
    /// A claim from another host counts as abandoned after this many seconds without a
    /// heartbeat.
    #[arg(long, default_value_t = 600)]
    pub claim_timeout: u64,
}

#[derive(Debug, Args)]
pub struct FarmArgs {
    #[command(subcommand)]
    pub command: FarmCommand,
}

#[derive(Debug, Args)]
pub struct FarmSubmitArgs {
    /// The project folder, on a share every worker mounts at the same path.
    pub project: PathBuf,
    /// A Slurm job array of shard tasks and a dependent gather job, submitted with sbatch.
    #[arg(long, conflicts_with = "k8s", required_unless_present = "k8s")]
    pub slurm: bool,
    /// A Kubernetes Indexed Job of shard pods and a gather Job (written; apply them with
    /// kubectl apply -f).
    #[arg(long)]
    pub k8s: bool,
    /// Shard tasks.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// At most this many shard tasks at once (Slurm's %N; Kubernetes' parallelism).
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Steps, as for `previz batch`.
    #[arg(long, default_value = "all")]
    pub steps: String,
    /// GPUs per shard task (0 for CPU-only nodes).
    #[arg(long, default_value_t = 1)]
    pub gpus: u32,
    /// CPU cores per task.
    #[arg(long, default_value_t = 8)]
    pub cpus: u32,
    /// Memory per task, e.g. 32G.
    #[arg(long, default_value = "32G")]
    pub mem: String,
    /// Time limit per task (Slurm HH:MM:SS).
    #[arg(long, default_value = "04:00:00")]
    pub time: String,
    /// Slurm partition (default: the cluster's default).
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm account.
    #[arg(long)]
    pub account: Option<String>,
    /// The previz program the tasks run (default: this one's path).
    #[arg(long)]
    pub previz: Option<PathBuf>,
    /// Kubernetes: the container image with previz.
    #[arg(long, default_value = "previz:latest")]
    pub image: String,
    /// Kubernetes: namespace.
    #[arg(long, default_value = "previz")]
    pub namespace: String,
    /// Kubernetes: the PersistentVolumeClaim of the share, mounted at --mount.
    #[arg(long, default_value = "previz-share")]
    pub pvc: String,
    /// Kubernetes: where the share is mounted in the pods (the project must be under it).
    #[arg(long, default_value = "/share")]
    pub mount: PathBuf,
    /// Extra flags passed to every `previz batch` (quoted), e.g. "--takes 4 --seed 7".
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub batch_args: String,
    /// Write the job files and print what would be submitted, without submitting.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Also read each installed model's header (architecture, context, tokenizer) to check it
    /// loads (for `previz models` without a subcommand, which lists).
    #[arg(long)]
    pub check: bool,
    #[command(subcommand)]
    pub command: Option<ModelsCommand>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check this folder as the show's share (default: share_root from the settings).
    #[arg(long)]
    pub share: Option<PathBuf>,
    /// Check this S3 location (default: s3_url from the settings).
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub s3: Option<String>,
    /// Skip the slow parts: the share's throughput, and hashing models not verified before.
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every model known here (shipped manifests, the models folders, the show's share, the
    /// Hugging Face cache), whether it is installed and whether its checksums were verified.
    List {
        /// Also read each installed model's header to check it loads.
        #[arg(long)]
        check: bool,
    },
    /// Take a model file or folder in: a .gguf, a Piper .onnx (with its .onnx.json), a Stable
    /// Diffusion .safetensors checkpoint, a diffusers folder or a Hugging Face cache entry.
    /// Writes a manifest with every file's SHA-256 into the user's models folder, so `verify`
    /// can later tell a damaged file.
    Add {
        /// The model's file or folder.
        path: PathBuf,
        /// Its id (default: from the file or folder name).
        #[arg(long)]
        id: Option<String>,
        /// Its licence, as recorded in the manifest.
        #[arg(long)]
        licence: Option<String>,
        /// Copy the files into the models folder (default: use them where they are).
        #[arg(long)]
        copy: bool,
        /// The models folder to add it to (default: ~/.local/share/previz/models; the show's
        /// `<share_root>/models` shares it with every workstation).
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Check installed models' files against their manifests' SHA-256 and size. A file that
    /// matched is remembered (path, size, time) and not hashed again until it changes.
    ///
    /// Exit status: 0 all verified; 1 a file is missing, truncated or corrupt.
    Verify {
        /// Which models (default: every installed one with a manifest).
        ids: Vec<String>,
        /// Hash every file again, even those verified before.
        #[arg(long)]
        force: bool,
    },
    /// Remove a model: its manifest if it was added, and its files where they live in this
    /// workstation's models folders (files elsewhere, and on the show's share, are left and
    /// listed).
    Remove {
        /// The model's id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The project folder to create (".previz" is added when missing).
    pub project: PathBuf,
    /// Title of the film (default: the folder's name).
    #[arg(long)]
    pub title: Option<String>,
    /// Frame rate of the edit: 24, 25, 30, 24000/1001, 30000/1001...
    #[arg(long, default_value = "24")]
    pub fps: String,
    /// Storyboard frame size in pixels, WIDTHxHEIGHT; its ratio is the project's aspect ratio.
    #[arg(long, default_value = "2048x858")]
    pub frame_size: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The screenplay: .fountain (or any text) or .fdx.
    pub script: PathBuf,
    /// Bring the screenplay into this existing project as a revised draft: scenes and lines
    /// are matched to the old ones and keep their shots and takes.
    #[arg(long, conflicts_with = "output")]
    pub into: Option<PathBuf>,
    /// Create a new project here (default: <script name>.previz in the current folder).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Print the parsed screenplay as JSON and stop (also implied by --json without
    /// --into or --output).
    #[arg(long)]
    pub print: bool,
    /// With --into: take over the project's lock if another session holds it (only when that
    /// session is gone, e.g. after a crash).
    #[arg(long)]
    pub take_over: bool,
    /// With --into: show what the revision would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The project folder (default: the only *.previz folder here, or the current folder).
    pub project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A project folder, or a screenplay file.
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct BreakdownArgs {
    /// The project folder (default: the only *.previz folder here, or the current folder).
    pub project: Option<PathBuf>,
    /// The model that plans shots: `rules` (built in) or an installed model's id (default:
    /// llm_model in the settings, else `rules`).
    #[arg(long, default_value = settings_llm())]
    pub model: Option<String>,
    /// Which scenes, by position in the script: 3, 2-5, 4- (default: all).
    #[arg(long)]
    pub scenes: Option<String>,
    /// Seed of the model's sampling (recorded on each shot; part of what resume compares).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the model runs: cpu, cuda, cuda:N or auto (CUDA needs a build with `--features
    /// cuda`).
    #[arg(long, default_value = settings_device())]
    pub device: String,
    /// Redo scenes already broken down with these settings (shots made or edited by hand are
    /// still never replaced).
    #[arg(long)]
    pub force: bool,
    /// Take over the project's lock if another session holds it (only when that session is
    /// gone, e.g. after a crash).
    #[arg(long)]
    pub take_over: bool,
}

#[derive(Debug, Args)]
pub struct VoicesArgs {
    /// The project folder (default: the only *.previz folder here, or the current folder).
    pub project: Option<PathBuf>,
    /// Which scenes, by position in the script: 3, 2-5, 4- (default: all).
    #[arg(long)]
    pub scenes: Option<String>,
    /// Seed of the voices' variation (recorded on each take).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where neural voices run: cpu, cuda, cuda:N or auto (CUDA needs a build with
    /// `--features cuda`).
    #[arg(long, default_value = settings_device())]
    pub device: String,
    /// Re-voice lines even when their take is up to date.
    #[arg(long)]
    pub force: bool,
    /// Take over the project's lock if another session holds it (only when that session is
    /// gone, e.g. after a crash).
    #[arg(long)]
    pub take_over: bool,
    /// List the voices that can be cast on this machine (what a character's voice may say)
    /// and exit; no project is opened.
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct FramesArgs {
    /// The project folder (default: the only *.previz folder here, or the current folder).
    pub project: Option<PathBuf>,
    /// Which scenes, by position in the script: 3, 2-5, 4- (default: all).
    #[arg(long)]
    pub scenes: Option<String>,
    /// Which shots, by label or by position in the project (1-based): 3,5A,7-9 (default: all
    /// in the selected scenes).
    #[arg(long)]
    pub shots: Option<String>,
    /// New takes per shot.
    #[arg(long, default_value_t = 1)]
    pub takes: usize,
    /// The diffusion model: a registry id (`previz models`), a diffusers folder or a Hugging
    /// Face cache entry; `sketch` draws the built-in storyboard sketch. Default: the first
    /// installed diffusion model, else `sketch` (diffusion_model in the settings, when set).
    #[arg(long, default_value = settings_diffusion())]
    pub model: Option<String>,
    /// LoRA adapters merged into the model: FILE or FILE:SCALE (repeatable).
    #[arg(long = "lora")]
    pub loras: Vec<String>,
    /// A character's look, kept in the character bible and merged into the model for the shots
    /// that show them: NAME=FILE[:SCALE][@TRIGGER WORDS] (FILE relative to the project folder;
    /// NAME= clears it). Repeatable.
    #[arg(long = "look")]
    pub looks: Vec<String>,
    /// A character's reference picture, kept in the character bible and shown to the model
    /// through the IP-Adapter for the shots that show them: NAME=PICTURE[:PERCENT] (PICTURE
    /// relative to the project folder; strength in percent, default 60; NAME= clears it).
    /// Repeatable.
    #[arg(long = "reference")]
    pub references: Vec<String>,
    /// The IP-Adapter that shows reference pictures to the model (.safetensors, its
    /// image_encoder/ folder beside it; ip_adapter in the settings, when set).
    #[arg(long = "ip-adapter", default_value = settings_ip_adapter())]
    pub ip_adapter: Option<PathBuf>,
    /// Denoising steps (default: 25, or 4 for turbo models).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Classifier-free guidance (default: 7.5, or 0 for turbo models).
    #[arg(long)]
    pub guidance: Option<f32>,
    /// Sampler: euler_a, ddim or dpmpp_2m.
    #[arg(long, default_value = "euler_a")]
    pub scheduler: String,
    /// Base seed (each shot and take adds its own offset; recorded on every take).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Redraw from each shot's active take (img2img) at this strength, 0-1: variations.
    #[arg(long)]
    pub from_active: Option<f32>,
    /// Where the model runs: cpu, cuda, cuda:N or auto (CUDA needs `--features cuda`).
    #[arg(long, default_value = settings_device())]
    pub device: String,
    /// Draw shots even when their active take is up to date.
    #[arg(long)]
    pub force: bool,
    /// Take over the project's lock if another session holds it (only when that session is
    /// gone, e.g. after a crash).
    #[arg(long)]
    pub take_over: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The project folder (default: the only *.previz folder here, or the current folder).
    pub project: Option<PathBuf>,
    /// What to write (default: from the output's extension: .mp4, .otio, .edl, .xml (FCP 7),
    /// .fcpxml, .pdf, .csv, .fountain).
    #[arg(short, long, value_enum)]
    pub format: Option<ExportFormat>,
    /// Write here (a file; a folder for `frames`). Fountain and CSV go to standard output
    /// without it.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Edits: where the media they point at is placed, as readable file names linked (or
    /// copied) from the project's asset store (default: OUTPUT's name + `_media`, next to it).
    #[arg(long)]
    pub media: Option<PathBuf>,
    /// EDL: the video track to write, by name or 1-based number among video tracks (default:
    /// the first).
    #[arg(long)]
    pub track: Option<String>,
    /// EDL and timecode burn-ins at 29.97 / 59.94: drop-frame timecode.
    #[arg(long)]
    pub drop_frame: bool,
    /// MP4 and frames: text burnt into the picture, comma-separated: shot, scene, timecode,
    /// subtitles, all.
    #[arg(long, value_delimiter = ',')]
    pub burn_in: Vec<BurnIn>,
    /// MP4 and frames: the largest picture height (the project's frame size, scaled down).
    #[arg(long, default_value_t = 1080)]
    pub max_height: u32,
    /// Frames: one image per picture change (and a CSV of when each holds) instead of one per
    /// frame.
    #[arg(long)]
    pub changes_only: bool,
    /// PDF: panels per page.
    #[arg(long, default_value_t = 6)]
    pub panels: usize,
    /// PDF: a contact sheet (small frames, number and length only).
    #[arg(long)]
    pub contact_sheet: bool,
    /// PDF: paper size (landscape).
    #[arg(long, value_enum, default_value_t = PaperArg::A4)]
    pub paper: PaperArg,
    /// Fountain: keep scenes cut from the draft (written as "OMITTED" headings).
    #[arg(long, value_enum, default_value_t = Omitted::Skip)]
    pub omitted: Omitted,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// The animatic movie: H.264 + AAC through ffmpeg (.mp4).
    Mp4,
    /// OpenTimelineIO (.otio).
    Otio,
    /// CMX3600 EDL of one video track (.edl).
    Edl,
    /// Final Cut Pro 7 XML, what Premiere Pro imports (.xml).
    Xmeml,
    /// FCPXML 1.10 for Final Cut Pro and DaVinci Resolve (.fcpxml).
    Fcpxml,
    /// The storyboard as PDF (.pdf).
    Pdf,
    /// The shot list as CSV for the AD department (.csv).
    Csv,
    /// An image sequence with WAV stems (a folder).
    Frames,
    /// The script as Fountain (.fountain).
    Fountain,
}

/// Burn-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BurnIn {
    Shot,
    Scene,
    Timecode,
    Subtitles,
    All,
}

/// Paper sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PaperArg {
    A4,
    Letter,
    Tabloid,
}

#[derive(Debug, Args)]
pub struct ConformArgs {
    /// The project folder.
    pub project: PathBuf,
    /// The cut edited in editorial: .otio, .edl or .fcpxml.
    pub cut: PathBuf,
    /// How to read the cut (default: from its extension).
    #[arg(long, value_enum)]
    pub format: Option<ConformFormat>,
    /// EDL: the project's video track the EDL's picture events are (name; default: the first
    /// video track).
    #[arg(long)]
    pub track: Option<String>,
    /// Show what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take over the project's lock if another session holds it (only when that session is
    /// gone, e.g. after a crash).
    #[arg(long)]
    pub take_over: bool,
}

/// Formats a cut can be conformed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConformFormat {
    Otio,
    Edl,
    Fcpxml,
}

/// What to do with omitted scenes on export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Omitted {
    Skip,
    Include,
}
