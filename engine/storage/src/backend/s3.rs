//! The S3 backend (PowerScale S3, ECS, ObjectScale, AWS, any S3 with conditional writes),
//! through object_store on a small tokio runtime so the rest of Previz stays blocking.
//!
//! * [`PutMode::Create`] is `If-None-Match: *`; [`PutMode::Replace`] is `If-Match: <etag>`:
//!   the server decides which of two writers wins, atomically.
//! * Files larger than one part go up as multipart uploads whose upload id and finished parts
//!   are written to a local state file after every part: a killed process, or a server that
//!   went away, resumes where it stopped. An upload the server forgot (restarted, or aborted
//!   by a lifecycle rule) starts over. Nothing is visible under the key until the upload
//!   completes.
//! * Transient failures (refused connections, resets, timeouts, 5xx, 429) are retried with
//!   backoff by object_store for a few seconds and then by [`super::retry`] for longer.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutMode as OsPutMode, PutOptions, PutPayload,
    RetryConfig, UpdateVersion,
};

use super::aws_config::AwsSettings;
use super::retry::{Attempt, RetryPolicy};
use super::{
    Backend, BackendError, Meta, Progress, PutMode, Result, UploadOptions, Uploaded, Version,
    check_key, join_key,
};

/// `bucket` and an optional key prefix (a show's folder in a shared bucket).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    /// Parses `bucket/prefix` (what follows `s3://`).
    pub fn parse(rest: &str) -> Result<Self> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid {
            return Err(BackendError::Config(format!(
                "'s3://{rest}': '{bucket}' is not an S3 bucket name (3 to 63 lowercase letters, digits, '-' or '.'); write s3://BUCKET/PREFIX"
            )));
        }
        let prefix = prefix.trim_matches('/').to_owned();
        if !prefix.is_empty() {
            check_key(&prefix)?;
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix,
        })
    }
}

/// An S3 bucket (and prefix) used as an object store.
pub struct S3Backend {
    store: Arc<AmazonS3>,
    location: S3Location,
    runtime: tokio::runtime::Runtime,
    retry: RetryPolicy,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("bucket", &self.location.bucket)
            .field("prefix", &self.location.prefix)
            .finish_non_exhaustive()
    }
}

impl S3Backend {
    /// Connects with the standard AWS environment and files ([`AwsSettings::load`]).
    pub fn from_aws_config(location: S3Location) -> Result<Self> {
        Self::new(location, &AwsSettings::load()?)
    }

    pub fn new(location: S3Location, settings: &AwsSettings) -> Result<Self> {
        let (Some(key), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key)
        else {
            return Err(BackendError::Config(format!(
                "no S3 credentials for s3://{}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put them in profile '{}' of ~/.aws/credentials (looked in: {})",
                location.bucket,
                settings.profile,
                settings.sources.join(", ")
            )));
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_access_key_id(key)
            .with_secret_access_key(secret)
            .with_region(
                settings
                    .region
                    .clone()
                    .unwrap_or_else(|| "us-east-1".into()),
            )
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(RetryConfig {
                backoff: object_store::BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 3,
                retry_timeout: Duration::from_secs(10),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(300)),
            );
        if let Some(token) = &settings.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder.build().map_err(|e| {
            BackendError::Config(format!(
                "could not set up S3 for s3://{}: {e}",
                location.bucket
            ))
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("previz-s3")
            .enable_all()
            .build()
            .map_err(|e| BackendError::Config(format!("could not start the S3 client: {e}")))?;
        Ok(Self {
            store: Arc::new(store),
            location,
            runtime,
            retry: RetryPolicy::default(),
        })
    }

    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn object_path(&self, key: &str) -> Result<ObjectPath> {
        check_key(key)?;
        ObjectPath::parse(join_key(&self.location.prefix, key)).map_err(|e| BackendError::BadKey {
            key: key.to_owned(),
            why: e.to_string(),
        })
    }

    fn run<T>(
        &self,
        key: &str,
        action: &'static str,
        op: impl FnMut() -> std::result::Result<T, object_store::Error>,
    ) -> Result<T> {
        self.run_with(self.retry, key, action, op)
    }

    fn run_with<T>(
        &self,
        retry: RetryPolicy,
        key: &str,
        action: &'static str,
        mut op: impl FnMut() -> std::result::Result<T, object_store::Error>,
    ) -> Result<T> {
        let location = self.location(key);
        retry.run(&location, action, || {
            op().map_err(|e| classify(&location, action, &e))
        })
    }

    /// Multipart upload with a resumable state file; `Err(Restart)` when the server forgot it.
    fn multipart(
        &self,
        key: &str,
        path: &ObjectPath,
        source: &Path,
        options: &UploadOptions,
        progress: Progress<'_>,
        resumed: &mut u64,
    ) -> Result<Version> {
        let meta = std::fs::metadata(source).map_err(|e| local_error(source, &e))?;
        let size = meta.len();
        let state_path = options.state_dir.join(format!(
            "{}.s3.json",
            super::upload_id(&self.location(key), source, &meta)
        ));
        std::fs::create_dir_all(&options.state_dir)
            .map_err(|e| local_error(&options.state_dir, &e))?;
        let mut state: UploadState = std::fs::read(&state_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|s: &UploadState| s.part_size == options.part_size as u64)
            .unwrap_or_default();
        // A part that keeps failing is given a shorter budget: an upload the server lost in a
        // restart can answer 500 to every part (some servers never say NoSuchUpload), and
        // starting the upload over is then the way through.
        let restarts = 3;
        for attempt in 0..=restarts {
            if state.upload_id.is_empty() {
                let id = self.run(key, "start an upload to", || {
                    self.runtime.block_on(self.store.create_multipart(path))
                })?;
                state = UploadState {
                    upload_id: id,
                    part_size: options.part_size as u64,
                    parts: Vec::new(),
                };
                save_state(&state_path, &state)?;
            } else if *resumed == 0 && attempt == 0 {
                *resumed = (state.parts.len() as u64 * state.part_size).min(size);
            }
            match self.send_parts(key, path, source, size, &mut state, &state_path, progress) {
                Ok(version) => {
                    let _ = std::fs::remove_file(&state_path);
                    return Ok(version);
                }
                Err(Attempt::Transient(detail)) if attempt < restarts => {
                    // The server forgot the upload (restarted, or a lifecycle rule aborted it),
                    // or kept failing its parts: start over with a new upload, once the server
                    // answers again (creating it waits the full retry budget).
                    let old = std::mem::take(&mut state);
                    if !old.upload_id.is_empty() {
                        let _ = self
                            .runtime
                            .block_on(self.store.abort_multipart(path, &old.upload_id));
                    }
                    *resumed = 0;
                    let _ = std::fs::remove_file(&state_path);
                    let _ = detail;
                }
                Err(Attempt::Transient(detail)) => {
                    return Err(BackendError::Unavailable {
                        location: self.location(key),
                        action: "upload to",
                        detail,
                        tries: restarts + 1,
                        waited: Duration::ZERO,
                    });
                }
                Err(Attempt::Fatal(e)) => return Err(e),
            }
        }
        Err(BackendError::Failed {
            location: self.location(key),
            action: "upload to",
            detail: "the server lost the upload again and again".into(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn send_parts(
        &self,
        key: &str,
        path: &ObjectPath,
        source: &Path,
        size: u64,
        state: &mut UploadState,
        state_path: &Path,
        progress: Progress<'_>,
    ) -> std::result::Result<Version, Attempt> {
        let part_size = state.part_size;
        let parts = size.div_ceil(part_size).max(1);
        let mut file = File::open(source).map_err(|e| Attempt::Fatal(local_error(source, &e)))?;
        progress((state.parts.len() as u64 * part_size).min(size));
        for idx in state.parts.len() as u64..parts {
            let start = idx * part_size;
            let len = part_size.min(size - start) as usize;
            let mut chunk = vec![0u8; len];
            file.seek(SeekFrom::Start(start))
                .and_then(|_| file.read_exact(&mut chunk))
                .map_err(|e| Attempt::Fatal(local_error(source, &e)))?;
            let payload = PutPayload::from(chunk);
            let part = self
                .run_with(part_retry(self.retry), key, "upload a part to", || {
                    self.runtime.block_on(self.store.put_part(
                        path,
                        &state.upload_id,
                        idx as usize,
                        payload.clone(),
                    ))
                })
                .map_err(no_such_upload)?;
            state.parts.push(part.content_id);
            save_state(state_path, state).map_err(Attempt::Fatal)?;
            progress((start + len as u64).min(size));
        }
        let parts: Vec<PartId> = state
            .parts
            .iter()
            .map(|c| PartId {
                content_id: c.clone(),
            })
            .collect();
        let result = self
            .run(key, "finish the upload to", || {
                self.runtime.block_on(self.store.complete_multipart(
                    path,
                    &state.upload_id,
                    parts.clone(),
                ))
            })
            .map_err(no_such_upload)?;
        Ok(Version(result.e_tag.unwrap_or_default()))
    }
}

/// Parts get a quarter of the budget before the upload is started over.
fn part_retry(policy: RetryPolicy) -> RetryPolicy {
    RetryPolicy {
        budget: policy.budget / 4,
        ..policy
    }
}

fn no_such_upload(e: BackendError) -> Attempt {
    match &e {
        BackendError::Failed { detail, .. } if detail.contains("NoSuchUpload") => {
            Attempt::Transient("NoSuchUpload".into())
        }
        BackendError::Unavailable { detail, .. } => Attempt::Transient(detail.clone()),
        _ => Attempt::Fatal(e),
    }
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct UploadState {
    upload_id: String,
    part_size: u64,
    /// The ETags of the parts sent so far, in order.
    parts: Vec<String>,
}

fn save_state(path: &Path, state: &UploadState) -> Result<()> {
    let bytes = serde_json::to_vec(state).map_err(|e| BackendError::Config(e.to_string()))?;
    crate::atomic::write_atomic(path, &bytes).map_err(|e| local_error(path, &e))
}

fn local_error(path: &Path, e: &std::io::Error) -> BackendError {
    BackendError::Failed {
        location: path.display().to_string(),
        action: "use",
        detail: super::retry::describe_io(e),
    }
}

/// The whole chain of an error, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

fn classify(location: &str, action: &'static str, e: &object_store::Error) -> Attempt {
    use object_store::Error as E;
    let location = location.to_owned();
    match e {
        E::NotFound { .. } => Attempt::Fatal(BackendError::NotFound { location }),
        E::AlreadyExists { .. } => Attempt::Fatal(BackendError::AlreadyExists { location }),
        E::Precondition { .. } | E::NotModified { .. } => Attempt::Fatal(BackendError::Changed {
            location,
            expected: Version(String::new()),
        }),
        _ => {
            let detail = chain(e);
            let lower = detail.to_ascii_lowercase();
            let client_error = (400..500)
                .filter(|s| *s != 408 && *s != 429)
                .any(|s| lower.contains(&format!("status code: {s}")));
            if lower.contains("nosuchupload") {
                return Attempt::Fatal(BackendError::Failed {
                    location,
                    action,
                    detail: format!("NoSuchUpload: {detail}"),
                });
            }
            if client_error {
                let advice = if lower.contains("403")
                    || lower.contains("accessdenied")
                    || lower.contains("invalidaccesskeyid")
                    || lower.contains("signaturedoesnotmatch")
                {
                    "; check the AWS credentials (AWS_PROFILE, ~/.aws/credentials) and the bucket's policy"
                } else if lower.contains("nosuchbucket") {
                    "; check the bucket name and the endpoint (AWS_ENDPOINT_URL)"
                } else {
                    ""
                };
                return Attempt::Fatal(BackendError::Failed {
                    location,
                    action,
                    detail: format!("{detail}{advice}"),
                });
            }
            Attempt::Transient(detail)
        }
    }
}

fn version_of(e_tag: Option<String>) -> Version {
    Version(e_tag.unwrap_or_default())
}

impl Backend for S3Backend {
    fn location(&self, key: &str) -> String {
        format!(
            "s3://{}/{}",
            self.location.bucket,
            join_key(&self.location.prefix, key)
        )
    }

    fn get(&self, key: &str) -> Result<(Vec<u8>, Version)> {
        let path = self.object_path(key)?;
        self.run(key, "read", || {
            self.runtime.block_on(async {
                let result = self.store.get(&path).await?;
                let version = version_of(result.meta.e_tag.clone());
                let bytes = result.bytes().await?;
                Ok((bytes.to_vec(), version))
            })
        })
    }

    fn head(&self, key: &str) -> Result<Option<Meta>> {
        let path = self.object_path(key)?;
        match self.run(key, "look up", || {
            self.runtime.block_on(self.store.head(&path))
        }) {
            Ok(meta) => Ok(Some(Meta {
                key: key.to_owned(),
                size: meta.size,
                version: version_of(meta.e_tag),
            })),
            Err(BackendError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn put(&self, key: &str, bytes: &[u8], mode: PutMode) -> Result<Version> {
        let path = self.object_path(key)?;
        let payload = PutPayload::from(bytes.to_vec());
        let os_mode = match &mode {
            PutMode::Overwrite => OsPutMode::Overwrite,
            PutMode::Create => OsPutMode::Create,
            PutMode::Replace(v) => OsPutMode::Update(UpdateVersion {
                e_tag: Some(v.0.clone()),
                version: None,
            }),
        };
        let mut tries = 0;
        let result = self.run(key, "write", || {
            tries += 1;
            let opts = PutOptions {
                mode: os_mode.clone(),
                ..PutOptions::default()
            };
            self.runtime
                .block_on(self.store.put_opts(&path, payload.clone(), opts))
        });
        match result {
            Ok(r) => Ok(version_of(r.e_tag)),
            // A conditional put retried after a lost reply finds its own write: same bytes,
            // so it took effect.
            Err(BackendError::Changed { .. } | BackendError::AlreadyExists { .. })
                if tries > 1 && self.get(key).is_ok_and(|(b, _)| b == bytes) =>
            {
                self.head(key)?
                    .map(|m| m.version)
                    .ok_or(BackendError::NotFound {
                        location: self.location(key),
                    })
            }
            Err(BackendError::Changed { location, .. }) => Err(BackendError::Changed {
                location,
                expected: match mode {
                    PutMode::Replace(v) => v,
                    _ => Version(String::new()),
                },
            }),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.object_path(key)?;
        match self.run(key, "delete", || {
            self.runtime.block_on(self.store.delete(&path))
        }) {
            Ok(()) | Err(BackendError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<Meta>> {
        let full = join_key(&self.location.prefix, prefix.trim_end_matches('/'));
        let strip = if self.location.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.location.prefix)
        };
        let list_path = ObjectPath::from(full.as_str());
        let mut out = self.run(prefix, "list", || {
            self.runtime.block_on(async {
                let mut stream = self.store.list(Some(&list_path));
                let mut out = Vec::new();
                while let Some(meta) = stream.next().await {
                    let meta = meta?;
                    let key = meta.location.as_ref().to_owned();
                    let key = key.strip_prefix(&strip).unwrap_or(&key).to_owned();
                    out.push(Meta {
                        key,
                        size: meta.size,
                        version: version_of(meta.e_tag),
                    });
                }
                Ok(out)
            })
        })?;
        out.retain(|m| m.key.starts_with(prefix));
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn upload(
        &self,
        key: &str,
        source: &Path,
        options: &UploadOptions,
        progress: Progress<'_>,
    ) -> Result<Uploaded> {
        let path = self.object_path(key)?;
        let size = std::fs::metadata(source)
            .map_err(|e| local_error(source, &e))?
            .len();
        if options.create_only
            && let Some(meta) = self.head(key)?
        {
            progress(size);
            return Ok(Uploaded {
                version: meta.version,
                bytes: size,
                resumed_bytes: size,
            });
        }
        if size <= options.part_size as u64 {
            let bytes = std::fs::read(source).map_err(|e| local_error(source, &e))?;
            let mode = if options.create_only {
                PutMode::Create
            } else {
                PutMode::Overwrite
            };
            let version = match self.put(key, &bytes, mode) {
                Ok(v) => v,
                Err(BackendError::AlreadyExists { .. }) => {
                    self.head(key)?.map(|m| m.version).unwrap_or_default()
                }
                Err(e) => return Err(e),
            };
            progress(size);
            return Ok(Uploaded {
                version,
                bytes: size,
                resumed_bytes: 0,
            });
        }
        let mut resumed = 0;
        let version = self.multipart(key, &path, source, options, progress, &mut resumed)?;
        Ok(Uploaded {
            version,
            bytes: size,
            resumed_bytes: resumed,
        })
    }

    fn download(&self, key: &str, dest: &Path, progress: Progress<'_>) -> Result<u64> {
        let path = self.object_path(key)?;
        self.run(key, "download", || {
            let result = self.runtime.block_on(self.store.get(&path))?;
            let mut stream = result.into_stream();
            let mut reader = StreamReader {
                runtime: &self.runtime,
                stream: &mut stream,
                pending: bytes_empty(),
                error: None,
            };
            let copied = super::posix::copy_to_file(&mut reader, dest, progress, || Ok(()));
            if let Some(e) = reader.error.take() {
                return Err(e);
            }
            copied.map_err(|e| object_store::Error::Generic {
                store: "local",
                source: Box::new(e),
            })
        })
    }
}

type ByteStream = futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>;

fn bytes_empty() -> bytes::Bytes {
    bytes::Bytes::new()
}

/// Reads a byte stream from the runtime as a blocking reader.
struct StreamReader<'a> {
    runtime: &'a tokio::runtime::Runtime,
    stream: &'a mut ByteStream,
    pending: bytes::Bytes,
    error: Option<object_store::Error>,
}

impl Read for StreamReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(b)) => self.pending = b,
                Some(Err(e)) => {
                    let text = e.to_string();
                    self.error = Some(e);
                    return Err(std::io::Error::other(text));
                }
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending = self.pending.slice(n..);
        Ok(n)
    }
}
