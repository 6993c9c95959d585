//! S3 credentials and endpoint from where every AWS tool looks, never from a project file:
//! the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`) first, then
//! the profile (`AWS_PROFILE`, else `default`) in the shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`) and the config file
//! (`AWS_CONFIG_FILE`, else `~/.aws/config`, where profiles are `[profile NAME]`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::BackendError;

/// What an S3 client needs to connect.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    /// A non-AWS endpoint (PowerScale, ECS, ObjectScale, a test server): `http(s)://host:port`.
    pub endpoint: Option<String>,
    /// The profile read, and the files it came from (for error messages).
    pub profile: String,
    pub sources: Vec<String>,
}

impl AwsSettings {
    /// Reads the process environment and the AWS files.
    pub fn load() -> Result<Self, BackendError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::from_parts(&env, home.as_deref())
    }

    /// Reads `env` (the `AWS_*` variables) and the files under `home`.
    pub fn from_parts(
        env: &HashMap<String, String>,
        home: Option<&Path>,
    ) -> Result<Self, BackendError> {
        let var = |k: &str| env.get(k).filter(|v| !v.trim().is_empty()).cloned();
        let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
        let mut s = AwsSettings {
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            endpoint: var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")),
            profile: profile.clone(),
            sources: vec!["environment".to_owned()],
        };
        let credentials = var("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".aws/credentials")));
        let config = var("AWS_CONFIG_FILE")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".aws/config")));
        if let Some(path) = credentials
            && let Some(section) = read_section(&path, std::slice::from_ref(&profile))?
        {
            s.sources.push(path.display().to_string());
            s.fill(&section);
        }
        if let Some(path) = config {
            let names = if profile == "default" {
                vec!["default".to_owned(), "profile default".to_owned()]
            } else {
                vec![format!("profile {profile}")]
            };
            if let Some(section) = read_section(&path, &names)? {
                s.sources.push(path.display().to_string());
                s.fill(&section);
            }
        }
        Ok(s)
    }

    fn fill(&mut self, section: &HashMap<String, String>) {
        let get = |k: &str| section.get(k).filter(|v| !v.is_empty()).cloned();
        if self.access_key_id.is_none() {
            self.access_key_id = get("aws_access_key_id");
        }
        if self.secret_access_key.is_none() {
            self.secret_access_key = get("aws_secret_access_key");
        }
        if self.session_token.is_none() {
            self.session_token = get("aws_session_token");
        }
        if self.region.is_none() {
            self.region = get("region");
        }
        if self.endpoint.is_none() {
            self.endpoint = get("endpoint_url");
        }
    }
}

/// One `[section]` of an INI file, by the first of `names` present; `None` when the file or the
/// section is absent. A file that is there but does not parse is an error naming it.
fn read_section(
    path: &Path,
    names: &[String],
) -> Result<Option<HashMap<String, String>>, BackendError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(BackendError::Config(format!(
                "could not read the AWS file {}: {e}",
                path.display()
            )));
        }
    };
    let ini = ini::Ini::load_from_str(&text).map_err(|e| {
        BackendError::Config(format!(
            "{}:{}: the AWS file does not parse ({}); expected `[profile]` sections of `key = value` lines: fix the line or point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE elsewhere",
            path.display(),
            e.line,
            e.msg
        ))
    })?;
    for name in names {
        if let Some(section) = ini.section(Some(name.as_str())) {
            return Ok(Some(
                section
                    .iter()
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect(),
            ));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_first_then_profile_files() {
        let tmp = tempfile::tempdir().unwrap();
        let aws = tmp.path().join(".aws");
        std::fs::create_dir_all(&aws).unwrap();
        std::fs::write(
            aws.join("credentials"),
            "[default]\naws_access_key_id = DEF\naws_secret_access_key = DEFSECRET\n\n[studio]\naws_access_key_id = STUDIO\naws_secret_access_key = S2\n",
        )
        .unwrap();
        std::fs::write(
            aws.join("config"),
            "[default]\nregion = eu-west-1\n\n[profile studio]\nregion = us-east-2\nendpoint_url = http://powerscale:9020\n",
        )
        .unwrap();
        let mut env = HashMap::new();
        let s = AwsSettings::from_parts(&env, Some(tmp.path())).unwrap();
        assert_eq!(s.access_key_id.as_deref(), Some("DEF"));
        assert_eq!(s.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s.endpoint, None);
        env.insert("AWS_PROFILE".into(), "studio".into());
        env.insert("AWS_REGION".into(), "ap-south-1".into());
        let s = AwsSettings::from_parts(&env, Some(tmp.path())).unwrap();
        assert_eq!(s.access_key_id.as_deref(), Some("STUDIO"));
        assert_eq!(s.region.as_deref(), Some("ap-south-1"));
        assert_eq!(s.endpoint.as_deref(), Some("http://powerscale:9020"));
        std::fs::write(aws.join("config"), "[profile studio\nregion = x\n").unwrap();
        let err = AwsSettings::from_parts(&env, Some(tmp.path())).unwrap_err();
        assert!(
            err.to_string().contains("config:") && err.to_string().contains("does not parse"),
            "{err}"
        );
    }
}
