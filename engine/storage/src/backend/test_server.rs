//! A real S3 server on loopback for tests and drills: moto's S3, served one request at a time
//! by `tests/s3/moto_serial.py` (see there why), on a free port, with the test bucket created
//! before the first request is answered. Killed when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::aws_config::AwsSettings;
use super::{RetryPolicy, S3Backend, S3Location};

/// The bucket every test server has.
pub const BUCKET: &str = "previz-test";

/// A moto S3 server process.
#[derive(Debug)]
pub struct S3TestServer {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    script: PathBuf,
}

/// Whether python3 can run moto's server here.
#[must_use]
pub fn moto_available() -> bool {
    Command::new("python3")
        .args(["-c", "import moto, werkzeug"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl S3TestServer {
    /// Starts one, or returns `None` (the caller skips) when moto is not installed; with
    /// `PREVIZ_REQUIRE_S3` set (CI) a missing moto is a panic instead.
    ///
    /// # Panics
    /// When moto is required but missing, or the server does not start within 30 s.
    #[must_use]
    pub fn start_or_skip() -> Option<Self> {
        if !moto_available() {
            assert!(
                std::env::var_os("PREVIZ_REQUIRE_S3").is_none(),
                "PREVIZ_REQUIRE_S3 is set but python3 cannot import moto: run scripts/test.sh (it installs moto[server])"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_or(0, |a| a.port());
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/s3/moto_serial.py");
        let mut server = Self {
            child: None,
            port,
            log: std::env::temp_dir().join(format!("previz-moto-{port}.log")),
            script,
        };
        server.start();
        Some(server)
    }

    /// (Re)starts the server on its port: a restarted server has lost every object but the
    /// bucket, as moto keeps them in memory.
    ///
    /// # Panics
    /// When the server does not answer within 30 s.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the moto log opens");
        let child = Command::new("python3")
            .arg(&self.script)
            .args(["--port", &self.port.to_string(), "--bucket", BUCKET])
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("moto starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.head_bucket().is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server (mid-transfer, in the tests).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A bare request (moto does not check signatures; the header names the service).
    fn head_bucket(&self) -> std::io::Result<()> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        write!(
            stream,
            "HEAD /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        if reply.starts_with("HTTP/1.1 2") || reply.starts_with("HTTP/1.0 2") {
            Ok(())
        } else {
            Err(std::io::Error::other(reply))
        }
    }

    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Credentials and endpoint for it, as the AWS environment would give them.
    #[must_use]
    pub fn settings(&self) -> AwsSettings {
        AwsSettings {
            access_key_id: Some("K".into()),
            secret_access_key: Some("S".into()),
            region: Some("us-east-1".into()),
            endpoint: Some(self.endpoint()),
            ..AwsSettings::default()
        }
    }

    /// The environment variables that point the AWS settings (and so `previz`) at it.
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "K".into()),
            ("AWS_SECRET_ACCESS_KEY", "S".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
        ]
    }

    /// A backend on the test bucket under `prefix`.
    ///
    /// # Panics
    /// Never for a running server (the client is only configured here).
    #[must_use]
    pub fn backend(&self, prefix: &str, retry: RetryPolicy) -> S3Backend {
        S3Backend::new(
            S3Location {
                bucket: BUCKET.into(),
                prefix: prefix.into(),
            },
            &self.settings(),
        )
        .expect("an S3 client for the test server")
        .with_retry(retry)
    }
}

impl Drop for S3TestServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}
