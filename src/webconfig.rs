//! `--web.config.file`: TLS and basic authentication in the YAML format of the Prometheus
//! exporter-toolkit (`tls_server_config`, `http_server_config`, `basic_auth_users` with bcrypt
//! hashes), so existing files work unchanged. Relative paths are relative to the file's
//! directory, as in the toolkit. Unknown keys are an error; settings that rustls decides for
//! itself (cipher suites, curves) are accepted and ignored with a warning.

use base64::Engine;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why a web config cannot be used: printed as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    /// The file cannot be read.
    #[error("cannot read web config {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid YAML for this format.
    #[error("invalid web config {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<String>,
    key_file: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_ca: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// The TLS settings of a web config: certificates, key and client verification.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert_pem: Vec<u8>,
    /// PEM private key.
    pub key_pem: Vec<u8>,
    /// PEM CA bundle for client certificates, when they are verified.
    pub client_ca_pem: Option<Vec<u8>>,
    /// Whether a client certificate is required (else optional when a CA is set).
    pub require_client_cert: bool,
    /// Lowest protocol version: 12 or 13.
    pub min_version: u8,
    /// Highest protocol version: 12 or 13.
    pub max_version: u8,
}

/// A validated web config.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// TLS, when the file asks for it.
    pub tls: Option<TlsSettings>,
    /// Basic authentication, when users are listed.
    pub auth: Option<BasicAuth>,
    /// Extra response headers from `http_server_config.headers`.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl WebConfig {
    /// Read and validate the file at `path`.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| WebConfigError::Read { path: shown.clone(), source })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &dir).map_err(|reason| WebConfigError::Invalid { path: shown, reason })
    }

    /// Parse the YAML `text`; relative file names are resolved against `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, String> {
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string().replace('\n', " "))?
        };
        let mut cfg = WebConfig::default();
        if let Some(t) = file.tls_server_config {
            cfg.tls = tls_settings(t, dir)?;
        }
        if let Some(h) = file.http_server_config {
            if h.http2.is_some() {
                tracing::warn!("web config: http_server_config.http2 is ignored: the exporter speaks HTTP/1.1");
            }
            for (k, v) in h.headers.unwrap_or_default() {
                let name =
                    http::HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid header name {k:?}"))?;
                let value = http::HeaderValue::from_str(&v).map_err(|_| format!("invalid value for header {k:?}"))?;
                cfg.headers.push((name, value));
            }
        }
        if let Some(users) = file.basic_auth_users.filter(|u| !u.is_empty()) {
            for (user, hash) in &users {
                hash.parse::<bcrypt::HashParts>()
                    .map_err(|e| format!("basic_auth_users.{user}: not a bcrypt hash ({e})"))?;
            }
            cfg.auth = Some(BasicAuth::new(users));
        }
        Ok(cfg)
    }
}

fn tls_settings(t: TlsFile, dir: &Path) -> Result<Option<TlsSettings>, String> {
    let read = |name: &str, f: &str| -> Result<Vec<u8>, String> {
        let p: PathBuf = if Path::new(f).is_absolute() { PathBuf::from(f) } else { dir.join(f) };
        std::fs::read(&p).map_err(|e| format!("tls_server_config.{name} {}: {e}", p.display()))
    };
    let cert = match (&t.cert_file, &t.cert) {
        (Some(f), None) if !f.is_empty() => Some(read("cert_file", f)?),
        (None, Some(c)) if !c.is_empty() => Some(c.clone().into_bytes()),
        (Some(_), Some(_)) => return Err("tls_server_config: set cert_file or cert, not both".into()),
        _ => None,
    };
    let key = match (&t.key_file, &t.key) {
        (Some(f), None) if !f.is_empty() => Some(read("key_file", f)?),
        (None, Some(k)) if !k.is_empty() => Some(k.clone().into_bytes()),
        (Some(_), Some(_)) => return Err("tls_server_config: set key_file or key, not both".into()),
        _ => None,
    };
    let (cert_pem, key_pem) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        (Some(_), None) => return Err("tls_server_config: a certificate needs a key (key_file)".into()),
        (None, Some(_)) => return Err("tls_server_config: a key needs a certificate (cert_file)".into()),
    };
    let client_ca_pem = match (&t.client_ca_file, &t.client_ca) {
        (Some(f), _) if !f.is_empty() => Some(read("client_ca_file", f)?),
        (_, Some(c)) if !c.is_empty() => Some(c.clone().into_bytes()),
        _ => None,
    };
    let auth_type = t.client_auth_type.as_deref().unwrap_or("");
    let require_client_cert = match auth_type {
        "" | "NoClientCert" => false,
        "RequireAndVerifyClientCert" => true,
        "VerifyClientCertIfGiven" => false,
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type {other:?} is not supported (use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
            ))
        }
    };
    let verifies = matches!(auth_type, "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven");
    if verifies && client_ca_pem.is_none() {
        return Err(format!("tls_server_config.client_auth_type {auth_type} needs client_ca_file"));
    }
    if t.client_allowed_sans.is_some_and(|s| !s.is_empty()) {
        return Err("tls_server_config.client_allowed_sans is not supported".into());
    }
    if t.cipher_suites.is_some() || t.curve_preferences.is_some() || t.prefer_server_cipher_suites.is_some() {
        tracing::warn!(
            "web config: cipher_suites, curve_preferences and prefer_server_cipher_suites are ignored: rustls offers only modern suites"
        );
    }
    let version = |v: &Option<String>, default: u8| -> Result<u8, String> {
        match v.as_deref() {
            None | Some("") => Ok(default),
            Some("TLS10" | "TLS11") => {
                tracing::warn!("web config: TLS 1.0 and 1.1 are not offered; TLS 1.2 is the lowest version");
                Ok(12)
            }
            Some("TLS12") => Ok(12),
            Some("TLS13") => Ok(13),
            Some(o) => Err(format!("unknown TLS version {o:?} (TLS12 or TLS13)")),
        }
    };
    let (min_version, max_version) = (version(&t.min_version, 12)?, version(&t.max_version, 13)?);
    if min_version > max_version {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    Ok(Some(TlsSettings {
        cert_pem,
        key_pem,
        client_ca_pem: if verifies { client_ca_pem } else { None },
        require_client_cert,
        min_version,
        max_version,
    }))
}

/// Basic authentication against bcrypt hashes. Verifying a bcrypt hash costs tens of
/// milliseconds by design, so credentials that verified are remembered (at most
/// [`BasicAuth::CACHE_LIMIT`] pairs) and later scrapes skip the hash.
#[derive(Debug)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verified: Mutex<HashSet<(String, String)>>,
}

/// A bcrypt hash (cost 10) of a random string, checked against when the user is unknown so the
/// answer takes as long as for a known user.
const DUMMY_HASH: &str = "$2b$10$1Sty4WwGKrz5yzx4NWcs8.zz2y2Tz8IV.RbrfwFNYpW/1QlOi42kK";

/// The outcome of [`BasicAuth::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthResult {
    /// The credentials are valid.
    Allowed,
    /// No or malformed `Authorization` header, unknown user or wrong password.
    Denied,
}

impl BasicAuth {
    /// Remembered credential pairs at most; the memory is cleared when full.
    pub const CACHE_LIMIT: usize = 64;

    /// Authentication for `users` (name → bcrypt hash).
    pub fn new(users: BTreeMap<String, String>) -> Self {
        BasicAuth { users, verified: Mutex::new(HashSet::new()) }
    }

    /// Check an `Authorization` header value. Runs bcrypt on a blocking thread when needed.
    pub async fn check(self: &Arc<Self>, header: Option<&str>) -> AuthResult {
        let Some((user, pass)) = header.and_then(parse_basic) else { return AuthResult::Denied };
        let key = (user, pass);
        if self.verified.lock().is_ok_and(|v| v.contains(&key)) {
            return AuthResult::Allowed;
        }
        let me = self.clone();
        let (user, pass) = key;
        let ok = tokio::task::spawn_blocking(move || {
            let hash = me.users.get(&user).map(String::as_str);
            let ok = bcrypt::verify(&pass, hash.unwrap_or(DUMMY_HASH)).unwrap_or(false) && hash.is_some();
            if ok {
                if let Ok(mut v) = me.verified.lock() {
                    if v.len() >= Self::CACHE_LIMIT {
                        v.clear();
                    }
                    v.insert((user, pass));
                }
            }
            ok
        })
        .await
        .unwrap_or(false);
        if ok {
            AuthResult::Allowed
        } else {
            AuthResult::Denied
        }
    }
}

/// `Basic base64(user:pass)` → `(user, pass)`.
fn parse_basic(h: &str) -> Option<(String, String)> {
    let (scheme, rest) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolkit_format_parses() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let cfg = WebConfig::parse(
            &format!(
                "basic_auth_users:\n  alice: {hash}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
            ),
            Path::new("."),
        )
        .unwrap();
        assert!(cfg.tls.is_none());
        assert!(cfg.auth.is_some());
        assert_eq!(cfg.headers.len(), 1);
        assert!(WebConfig::parse("", Path::new(".")).unwrap().auth.is_none());
    }

    #[test]
    fn mistakes_are_errors() {
        for bad in [
            "basic_auth_user:\n  a: b\n",
            "basic_auth_users:\n  alice: plaintext\n",
            "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n",
            "tls_server_config:\n  cert: x\n",
            "tls_server_config:\n  cert: x\n  key: y\n  client_auth_type: RequireAndVerifyClientCert\n",
            "tls_server_config:\n  cert: x\n  key: y\n  min_version: TLS14\n",
            "[not, a, map]",
        ] {
            assert!(WebConfig::parse(bad, Path::new(".")).is_err(), "{bad}");
        }
    }

    #[test]
    fn basic_header_parsing() {
        assert_eq!(parse_basic("Basic YWxpY2U6czpl"), Some(("alice".into(), "s:e".into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn check_allows_only_the_right_password() {
        let mut users = BTreeMap::new();
        users.insert("alice".to_owned(), bcrypt::hash("secret", 4).unwrap());
        let auth = Arc::new(BasicAuth::new(users));
        let b64 = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        assert_eq!(auth.check(Some(&b64("alice:secret"))).await, AuthResult::Allowed);
        assert_eq!(auth.check(Some(&b64("alice:secret"))).await, AuthResult::Allowed);
        assert_eq!(auth.check(Some(&b64("alice:wrong"))).await, AuthResult::Denied);
        assert_eq!(auth.check(Some(&b64("bob:secret"))).await, AuthResult::Denied);
        assert_eq!(auth.check(None).await, AuthResult::Denied);
    }
}
