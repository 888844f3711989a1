//! A small JSON-over-HTTP client shared by the REST sources (Heimdall, beacon API), mapping
//! transport failures and status codes to [`SourceError`] kinds, plus strict JSON field readers.

use crate::error::{SourceError, SourceResult};
use alloy_primitives::{Address, B256};
use base64::Engine;
use serde_json::Value;
use std::time::Duration;

/// Installs the ring rustls provider as the process default (idempotent), so HTTPS and WSS work
/// with `reqwest`'s `rustls-no-provider` build.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Largest response body accepted (the beacon bootstrap is ~55 KB; updates ~60 KB each).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// A JSON REST endpoint.
#[derive(Clone, Debug)]
pub struct RestClient {
    base: String,
    origin: String,
    client: reqwest::Client,
}

/// Outcome of a GET that may legitimately be "not found".
#[derive(Debug)]
pub enum Fetched {
    /// 2xx with a JSON body.
    Json(Value),
    /// 404.
    NotFound(String),
}

impl RestClient {
    /// A client for `base` (e.g. `http://127.0.0.1:1317`), naming itself `origin` in errors.
    pub fn new(base: &str, origin: String, timeout: Duration) -> SourceResult<Self> {
        ensure_crypto_provider();
        let url = reqwest::Url::parse(base)
            .map_err(|e| SourceError::config(&origin, format!("invalid URL `{base}`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SourceError::config(
                &origin,
                format!("URL `{base}` must be http:// or https://"),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| SourceError::config(&origin, format!("HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            origin,
            client,
        })
    }

    /// The source name used in errors.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// GET `path`, decoding a JSON body. 5xx, 429, timeouts and connection failures are transient;
    /// 404 is [`Fetched::NotFound`]; other statuses and undecodable bodies are invalid.
    pub async fn get(&self, path: &str) -> SourceResult<Fetched> {
        let url = format!("{}{}", self.base, path);
        let resp = self.client.get(&url).send().await.map_err(|e| {
            SourceError::transient(&self.origin, format!("GET {path}: {}", describe(&e)))
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| {
            SourceError::transient(
                &self.origin,
                format!("GET {path}: reading body: {}", describe(&e)),
            )
        })?;
        if body.len() > MAX_BODY {
            return Err(SourceError::invalid(
                &self.origin,
                format!("GET {path}: body of {} bytes is too large", body.len()),
            ));
        }
        let snippet = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        if status.as_u16() == 404 {
            return Ok(Fetched::NotFound(snippet()));
        }
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            return Err(SourceError::transient(
                &self.origin,
                format!("GET {path}: HTTP {status}: {}", snippet()),
            ));
        }
        if !status.is_success() {
            return Err(SourceError::invalid(
                &self.origin,
                format!("GET {path}: HTTP {status}: {}", snippet()),
            ));
        }
        let value: Value = serde_json::from_slice(&body).map_err(|e| {
            SourceError::invalid(
                &self.origin,
                format!("GET {path}: malformed JSON ({e}): {}", snippet()),
            )
        })?;
        Ok(Fetched::Json(value))
    }

    /// GET `path`, treating 404 as [`crate::ErrorKind::NotFound`].
    pub async fn get_json(&self, path: &str) -> SourceResult<Value> {
        match self.get(path).await? {
            Fetched::Json(v) => Ok(v),
            Fetched::NotFound(body) => Err(SourceError::not_found(
                &self.origin,
                format!("GET {path}: HTTP 404: {body}"),
            )),
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        e.to_string()
    };
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// JSON type name for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `obj[name]`, which must exist and not be null.
pub fn field<'a>(obj: &'a Value, name: &str) -> Result<&'a Value, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(format!("missing field `{name}`")),
        Some(v) => Ok(v),
    }
}

/// An unsigned integer given as a JSON number or a decimal string (heimdall-v2 and the beacon
/// API encode 64-bit numbers as strings).
pub fn u64_of(v: &Value, name: &str) -> Result<u64, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("field `{name}`: {n} is not an unsigned 64-bit integer")),
        Value::String(s) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "field `{name}`: \"{s}\" is not a decimal unsigned integer"
                ));
            }
            s.parse::<u64>()
                .map_err(|e| format!("field `{name}`: \"{s}\": {e}"))
        }
        other => Err(format!(
            "field `{name}`: expected an unsigned integer (number or decimal string), got {}",
            type_name(other)
        )),
    }
}

/// `obj[name]` as a u64.
pub fn u64_field(obj: &Value, name: &str) -> Result<u64, String> {
    u64_of(field(obj, name)?, name)
}

/// `obj[name]` as a string.
pub fn str_field<'a>(obj: &'a Value, name: &str) -> Result<&'a str, String> {
    match field(obj, name)? {
        Value::String(s) => Ok(s),
        other => Err(format!(
            "field `{name}`: expected a string, got {}",
            type_name(other)
        )),
    }
}

/// Exactly `len` bytes from `0x`-hex.
pub fn hex_bytes(s: &str, name: &str, len: Option<usize>) -> Result<Vec<u8>, String> {
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("field `{name}`: \"{s}\" is not 0x-prefixed hex"))?;
    let bytes = hex::decode(h).map_err(|e| format!("field `{name}`: bad hex: {e}"))?;
    if let Some(len) = len
        && bytes.len() != len
    {
        return Err(format!(
            "field `{name}`: expected {len} bytes, got {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// A 32-byte hash given as `0x`-hex (heimdall v1, beacon API) or base64 (heimdall-v2 `bytes`).
pub fn b256_hex_or_base64(s: &str, name: &str) -> Result<B256, String> {
    let bytes = if s.starts_with("0x") {
        hex_bytes(s, name, None)?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("field `{name}`: \"{s}\" is neither 0x-hex nor base64: {e}"))?
    };
    if bytes.len() != 32 {
        return Err(format!(
            "field `{name}`: expected 32 bytes, got {}",
            bytes.len()
        ));
    }
    Ok(B256::from_slice(&bytes))
}

/// A 32-byte `0x`-hex hash.
pub fn b256_hex(s: &str, name: &str) -> Result<B256, String> {
    Ok(B256::from_slice(&hex_bytes(s, name, Some(32))?))
}

/// A 20-byte `0x`-hex address.
pub fn address_hex(s: &str, name: &str) -> Result<Address, String> {
    Ok(Address::from_slice(&hex_bytes(s, name, Some(20))?))
}
