//! Render farm submission: the job files that run `previz batch` shards on a scheduler and the
//! gather after them.
//!
//! * **Slurm**: a job array (`--array=0-(N-1)%P`), one shard per task (the task reads its
//!   index from `SLURM_ARRAY_TASK_ID`), a GPU each (`--gres=gpu:G`), logs on the share; the
//!   gather is a second job with `--dependency=afterany:<array>`: it runs even when tasks
//!   failed and makes their missing units itself, so one bad node never loses the night.
//! * **Kubernetes**: an Indexed Job (`completionMode: Indexed`; the pod's index is
//!   `JOB_COMPLETION_INDEX`, the shard count `PREVIZ_SHARDS`), `nvidia.com/gpu` limits, a
//!   retry budget per index (`backoffLimitPerIndex`), a pod failure policy that fails the
//!   index at once on bad input (exit 2) and ignores pre-emption; the share is a
//!   PersistentVolumeClaim. Kubernetes has no job dependencies, so the gather Job waits for
//!   the work Job to finish (Complete or Failed) through the API with a service account
//!   allowed to read Jobs, then gathers.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What the farm runs, and with what.
#[derive(Clone, Debug)]
pub struct FarmPlan {
    /// The project, by the path every node sees (absolute).
    pub project: PathBuf,
    /// Shard tasks.
    pub workers: usize,
    /// At most this many at once.
    pub parallel: Option<usize>,
    pub steps: String,
    pub gpus: u32,
    pub cpus: u32,
    /// `32G`.
    pub mem: String,
    /// `HH:MM:SS`.
    pub time: String,
    pub partition: Option<String>,
    pub account: Option<String>,
    /// The previz program on the nodes.
    pub previz: PathBuf,
    /// Extra `previz batch` arguments, already split into words.
    pub batch_args: Vec<String>,
    /// Names this submission's files and logs (`20261207T120000Z`).
    pub run_id: String,
}

/// Quotes a word for a POSIX shell.
#[must_use]
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn command_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

impl FarmPlan {
    fn name(&self) -> String {
        let stem = self
            .project
            .file_stem()
            .map_or_else(|| "previz".into(), |s| s.to_string_lossy().into_owned());
        let clean: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let clean = clean.trim_matches('-').to_owned();
        format!(
            "previz-{}",
            if clean.is_empty() { "project" } else { &clean }
        )
    }

    /// Where this submission's job files and logs go: `NAME.previz/batch/farm/<run>/`.
    #[must_use]
    pub fn folder(&self) -> PathBuf {
        self.project.join("batch").join("farm").join(&self.run_id)
    }

    fn batch_words(&self, extra: &[&str]) -> Vec<String> {
        let mut words = vec![
            self.previz.display().to_string(),
            "batch".to_owned(),
            self.project.display().to_string(),
            "--steps".to_owned(),
            self.steps.clone(),
        ];
        words.extend(extra.iter().map(|s| (*s).to_owned()));
        words.extend(self.batch_args.iter().cloned());
        words
    }

    fn sbatch_header(&self, out: &mut String, job: &str, log: &Path) {
        let _ = writeln!(out, "#!/bin/bash");
        let _ = writeln!(out, "#SBATCH --job-name={job}");
        let _ = writeln!(out, "#SBATCH --output={}", log.display());
        let _ = writeln!(out, "#SBATCH --cpus-per-task={}", self.cpus.max(1));
        let _ = writeln!(out, "#SBATCH --mem={}", self.mem);
        let _ = writeln!(out, "#SBATCH --time={}", self.time);
        if self.gpus > 0 {
            let _ = writeln!(out, "#SBATCH --gres=gpu:{}", self.gpus);
        }
        if let Some(p) = &self.partition {
            let _ = writeln!(out, "#SBATCH --partition={p}");
        }
        if let Some(a) = &self.account {
            let _ = writeln!(out, "#SBATCH --account={a}");
        }
        // SIGTERM a minute before the time limit: the unit in flight stops, its claim is
        // released, and the gather (or a rerun) makes it.
        let _ = writeln!(out, "#SBATCH --signal=TERM@60");
    }

    /// The job array script: one shard per task.
    #[must_use]
    pub fn slurm_work_script(&self) -> String {
        let mut out = String::new();
        let n = self.workers.max(1);
        let log = self.folder().join("work-%A_%a.log");
        self.sbatch_header(&mut out, &self.name(), &log);
        let limit = self
            .parallel
            .filter(|p| *p < n)
            .map_or(String::new(), |p| format!("%{p}"));
        let _ = writeln!(out, "#SBATCH --array=0-{}{limit}", n - 1);
        let _ = writeln!(
            out,
            "# previz batch shard $SLURM_ARRAY_TASK_ID of {n}: its scenes' units, then others' unclaimed ones."
        );
        let _ = writeln!(out, "set -euo pipefail");
        let shards = n.to_string();
        let words = self.batch_words(&["--shards", &shards, "--progress", "plain"]);
        let _ = writeln!(out, "exec {}", command_line(&words));
        out
    }

    /// The gather job's script (submitted with `--dependency=afterany:<array>`).
    #[must_use]
    pub fn slurm_gather_script(&self) -> String {
        let mut out = String::new();
        let log = self.folder().join("gather-%j.log");
        self.sbatch_header(&mut out, &format!("{}-gather", self.name()), &log);
        let _ = writeln!(
            out,
            "# Lands every unit in the project, makes any a failed task left, writes the animatic and the exports."
        );
        let _ = writeln!(out, "set -euo pipefail");
        let words = self.batch_words(&["--gather", "--progress", "plain"]);
        let _ = writeln!(out, "exec {}", command_line(&words));
        out
    }

    /// The Kubernetes manifests: a service account that may read Jobs, the Indexed Job of
    /// shards, and the gather Job that waits for it. `mount` is where the PVC `pvc` is mounted
    /// in the pods; the project path must lie under it.
    #[must_use]
    pub fn k8s_manifest(&self, image: &str, namespace: &str, pvc: &str, mount: &Path) -> String {
        let name = format!("{}-{}", self.name(), self.run_id.to_ascii_lowercase());
        let n = self.workers.max(1);
        let parallel = self.parallel.unwrap_or(n).clamp(1, n);
        let yaml_list = |words: &[String]| -> String {
            words
                .iter()
                .map(|w| format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let work = yaml_list(&self.batch_words(&["--progress", "json"]));
        let gather = yaml_list(&self.batch_words(&["--gather", "--progress", "json"]));
        let gpu = if self.gpus > 0 {
            format!("\n              nvidia.com/gpu: {}", self.gpus)
        } else {
            String::new()
        };
        let mem = self.mem.trim_end_matches(['B', 'b']).to_owned() + "i";
        let resources = format!(
            "resources:
            requests:
              cpu: \"{cpus}\"
              memory: {mem}
            limits:
              memory: {mem}{gpu}",
            cpus = self.cpus.max(1)
        );
        let volume = format!(
            "volumeMounts:
            - name: share
              mountPath: {mount}
      volumes:
        - name: share
          persistentVolumeClaim:
            claimName: {pvc}",
            mount = mount.display()
        );
        format!(
            "# Written by previz farm submit; apply with: kubectl apply -f THIS_FILE
# The share ({pvc}) must hold {project} at the same path in every pod.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}-gather
  namespace: {namespace}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {name}-gather
  namespace: {namespace}
rules:
  - apiGroups: [\"batch\"]
    resources: [\"jobs\"]
    verbs: [\"get\", \"list\", \"watch\"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {name}-gather
  namespace: {namespace}
subjects:
  - kind: ServiceAccount
    name: {name}-gather
    namespace: {namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {name}-gather
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}-work
  namespace: {namespace}
  labels:
    app.kubernetes.io/name: previz
    previz/run: \"{run}\"
spec:
  completionMode: Indexed
  completions: {n}
  parallelism: {parallel}
  backoffLimitPerIndex: 2
  maxFailedIndexes: {n}
  podFailurePolicy:
    rules:
      - action: FailIndex
        onExitCodes:
          containerName: previz
          operator: In
          values: [2]
      - action: Ignore
        onPodConditions:
          - type: DisruptionTarget
  template:
    metadata:
      labels:
        app.kubernetes.io/name: previz
        previz/run: \"{run}\"
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 60
      containers:
        - name: previz
          image: {image}
          args: [{work_args}]
          env:
            - name: PREVIZ_SHARDS
              value: \"{n}\"
          {resources}
          {volume}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}-gather
  namespace: {namespace}
  labels:
    app.kubernetes.io/name: previz
    previz/run: \"{run}\"
spec:
  backoffLimit: 2
  template:
    metadata:
      labels:
        app.kubernetes.io/name: previz
        previz/run: \"{run}\"
    spec:
      restartPolicy: Never
      serviceAccountName: {name}-gather
      initContainers:
        - name: wait-for-work
          image: bitnami/kubectl:latest
          command: [\"sh\", \"-c\", \"until kubectl get job {name}-work -n {namespace} -o jsonpath='{{.status.conditions[?(@.status==\\\"True\\\")].type}}' | grep -qE 'Complete|Failed'; do sleep 30; done\"]
      containers:
        - name: previz
          image: {image}
          args: [{gather_args}]
          {resources}
          {volume}
",
            project = self.project.display(),
            run = self.run_id,
            work_args = work,
            gather_args = gather,
        )
    }
}

/// Splits `--batch-args "--takes 4 --seed 7"` into words (quotes group, backslash escapes).
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                word.push(chars.next().ok_or("a trailing backslash")?);
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("--batch-args '{text}': a quote is not closed"));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> FarmPlan {
        FarmPlan {
            project: PathBuf::from("/share/films/Salt Orchard.previz"),
            workers: 8,
            parallel: Some(4),
            steps: "all".into(),
            gpus: 1,
            cpus: 8,
            mem: "32G".into(),
            time: "04:00:00".into(),
            partition: Some("gpu".into()),
            account: None,
            previz: PathBuf::from("/opt/previz/bin/previz"),
            batch_args: vec!["--takes".into(), "4".into()],
            run_id: "20261207T120000Z".into(),
        }
    }

    #[test]
    fn slurm_array_and_gather() {
        let p = plan();
        let work = p.slurm_work_script();
        assert!(work.starts_with("#!/bin/bash\n"));
        assert!(work.contains("#SBATCH --array=0-7%4\n"));
        assert!(work.contains("#SBATCH --gres=gpu:1\n"));
        assert!(work.contains("#SBATCH --partition=gpu\n"));
        assert!(work.contains(
            "#SBATCH --output=/share/films/Salt Orchard.previz/batch/farm/20261207T120000Z/work-%A_%a.log\n"
        ));
        assert!(work.contains(
            "exec /opt/previz/bin/previz batch '/share/films/Salt Orchard.previz' --steps all --shards 8 --progress plain --takes 4\n"
        ));
        let gather = p.slurm_gather_script();
        assert!(gather.contains("--gather"));
        assert!(!gather.contains("--array"));
        let mut cpu = p.clone();
        cpu.gpus = 0;
        assert!(!cpu.slurm_work_script().contains("--gres"));
    }

    #[test]
    fn kubernetes_indexed_job() {
        let yaml = plan().k8s_manifest("registry/previz:1", "films", "nas", Path::new("/share"));
        assert!(yaml.contains("completionMode: Indexed"));
        assert!(yaml.contains("completions: 8"));
        assert!(yaml.contains("parallelism: 4"));
        assert!(yaml.contains("nvidia.com/gpu: 1"));
        assert!(yaml.contains("claimName: nas"));
        assert!(yaml.contains("name: previz-salt-orchard-20261207t120000z-work"));
        assert!(yaml.contains("\"--gather\""));
    }

    #[test]
    fn words_split_and_quote_back() {
        assert_eq!(
            split_words(r#"--takes 4 --look 'MARA=a b.safetensors' "x\"y""#).unwrap(),
            ["--takes", "4", "--look", "MARA=a b.safetensors", "x\"y"]
        );
        assert!(split_words("'open").is_err());
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("/a/b-c.previz"), "/a/b-c.previz");
        assert_eq!(shell_quote(""), "''");
    }
}
