//! A small JSON-over-HTTP client shared by the REST sources (Heimdall, beacon API), mapping
//! transport failures and status codes to [`SourceError`] kinds, plus strict JSON field readers.

use crate::error::{SourceError, SourceResult};
use alloy_primitives::{Address, B256};
use base64::Engine;
use hypasis_primitives::{Fault, FaultClass};
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

/// A source URL as it may be logged: scheme, host and port only. Provider URLs often carry an
/// API key in the path, the query or the user part (`https://…/v3/KEY`), so those are replaced
/// by `…`.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) if u.has_host() => {
            let mut out = format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default());
            if let Some(port) = u.port() {
                out.push_str(&format!(":{port}"));
            }
            let hidden = !u.username().is_empty()
                || u.password().is_some()
                || !u.path().trim_matches('/').is_empty()
                || u.query().is_some()
                || u.fragment().is_some();
            if hidden {
                out.push_str("/…");
            }
            out
        }
        _ => "<unparsable URL>".into(),
    }
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
        let mut resp = self.client.get(&url).send().await.map_err(|e| {
            SourceError::transient(&self.origin, format!("GET {path}: {}", describe(&e)))
        })?;
        let status = resp.status();
        // Read in chunks and stop past MAX_BODY: a huge (or endless) answer is refused without
        // being held in memory first. A declared length over the cap is refused at once.
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(SourceError::invalid(
                &self.origin,
                format!(
                    "GET {path}: body of {} bytes is too large (at most {MAX_BODY})",
                    resp.content_length().unwrap_or_default()
                ),
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            SourceError::transient(
                &self.origin,
                format!("GET {path}: reading body: {}", describe(&e)),
            )
        })? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(SourceError::invalid(
                    &self.origin,
                    format!("GET {path}: body is larger than {MAX_BODY} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
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

/// Why a JSON document from a source (or a static checkpoint given by the operator) does not
/// have the shape it must have. The caller decides the class by where the document came from:
/// a remote answer is the source's fault ([`ParseError::fault`] is `Peer`), a static file or
/// flag is bad configuration (the static source maps it to `Config`, fatal).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// A required field is absent or null.
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A field of the wrong JSON type.
    #[error("field `{field}`: expected {expected}, got {got}")]
    WrongType {
        /// Field path.
        field: String,
        /// What the field must be.
        expected: &'static str,
        /// The JSON type found.
        got: &'static str,
    },
    /// The document itself is of the wrong JSON type.
    #[error("expected {expected}, got {got}")]
    WrongDocument {
        /// What the document must be.
        expected: &'static str,
        /// The JSON type found.
        got: &'static str,
    },
    /// A JSON number that is not an unsigned 64-bit integer.
    #[error("field `{field}`: {value} is not an unsigned 64-bit integer")]
    NotU64 {
        /// Field path.
        field: String,
        /// The number as given.
        value: String,
    },
    /// A string that is not a decimal unsigned integer.
    #[error("field `{field}`: \"{value}\" is not a decimal unsigned integer")]
    NotDecimal {
        /// Field path.
        field: String,
        /// The string as given.
        value: String,
    },
    /// A decimal string that does not fit in 64 bits.
    #[error("field `{field}`: \"{value}\": {source}")]
    U64Overflow {
        /// Field path.
        field: String,
        /// The string as given.
        value: String,
        /// The parser's reason.
        source: std::num::ParseIntError,
    },
    /// A decimal string that is not a 256-bit unsigned integer.
    #[error("field `{field}`: \"{value}\": {source}")]
    NotU256 {
        /// Field path.
        field: String,
        /// The string as given.
        value: String,
        /// The parser's reason.
        source: alloy_primitives::ruint::ParseError,
    },
    /// A string without the `0x` prefix where hex is required.
    #[error("field `{field}`: \"{value}\" is not 0x-prefixed hex")]
    NotHexPrefixed {
        /// Field path.
        field: String,
        /// The string as given.
        value: String,
    },
    /// `0x`-prefixed text that is not hex.
    #[error("field `{field}`: bad hex: {source}")]
    BadHex {
        /// Field path.
        field: String,
        /// The decoder's reason.
        source: hex::FromHexError,
    },
    /// Text that is neither `0x`-hex nor base64.
    #[error("field `{field}`: \"{value}\" is neither 0x-hex nor base64: {source}")]
    NotHexOrBase64 {
        /// Field path.
        field: String,
        /// The string as given.
        value: String,
        /// The base64 decoder's reason.
        source: base64::DecodeError,
    },
    /// Bytes of the wrong length.
    #[error("field `{field}`: expected {expected} bytes, got {got}")]
    Length {
        /// Field path.
        field: String,
        /// Required length.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// Bytes longer than the field allows.
    #[error("field `{field}`: {got} bytes > {max}")]
    TooLong {
        /// Field path.
        field: String,
        /// Largest length allowed.
        max: usize,
        /// Length found.
        got: usize,
    },
    /// A list with the wrong number of elements.
    #[error("{field}: {got} keys, expected {expected}")]
    Count {
        /// Field path.
        field: String,
        /// Required count.
        expected: usize,
        /// Count found.
        got: usize,
    },
    /// A block range whose start is after its end.
    #[error("{start_name} {start} is after {end_name} {end}")]
    InvertedRange {
        /// Name of the start field.
        start_name: &'static str,
        /// The start.
        start: u64,
        /// Name of the end field.
        end_name: &'static str,
        /// The end.
        end: u64,
    },
    /// A value that does not fit its type.
    #[error("{field} {value} does not fit in 64 bits")]
    TooLarge {
        /// What the value is.
        field: String,
        /// The value.
        value: String,
    },
    /// Not a valid BLS public key.
    #[error("{field}: not a valid BLS public key ({code:?})")]
    BlsKey {
        /// Field path.
        field: String,
        /// The BLS library's error code.
        code: blst::BLST_ERROR,
    },
    /// A flag value that is not the hex value it must be.
    #[error("`{value}` is not {expected}: {source}")]
    FlagHex {
        /// The flag value.
        value: String,
        /// What it must be.
        expected: &'static str,
        /// The decoder's reason.
        source: alloy_primitives::hex::FromHexError,
    },
    /// The Heimdall response is an error object.
    #[error("Heimdall error: {message}")]
    Remote {
        /// The source's own message.
        message: String,
    },
    /// A Heimdall response in neither the v1 nor the v2 envelope.
    #[error("neither a heimdall-v2 `{v2_key}` nor a heimdall-v1 `result` in the response")]
    NoEnvelope {
        /// The v2 key looked for.
        v2_key: String,
    },
    /// A static checkpoint flag in none of the accepted forms.
    #[error("`{given}`: expected NUMBER:0xHASH or ID:START:END:0xROOT")]
    FlagForm {
        /// The flag as given.
        given: String,
    },
    /// A static checkpoint flag with a number that does not parse.
    #[error("`{given}`: {what} `{value}`: {source}")]
    FlagNumber {
        /// The flag as given.
        given: String,
        /// Which number.
        what: &'static str,
        /// The text.
        value: String,
        /// The parser's reason.
        source: std::num::ParseIntError,
    },
    /// An error inside a named part of the document (`attested_header`, `entry 3`, a flag).
    #[error("{at}: {source}")]
    In {
        /// Where.
        at: String,
        /// What.
        source: Box<ParseError>,
    },
    /// An error with a trailing note (why the field is required).
    #[error("{source} ({note})")]
    Note {
        /// What.
        source: Box<ParseError>,
        /// The note.
        note: &'static str,
    },
}

impl ParseError {
    /// This error located inside `at` (a field path, an entry index, a flag).
    pub fn at(self, at: impl Into<String>) -> Self {
        Self::In {
            at: at.into(),
            source: Box::new(self),
        }
    }

    /// This error with a trailing note.
    pub fn note(self, note: &'static str) -> Self {
        Self::Note {
            source: Box::new(self),
            note,
        }
    }
}

impl Fault for ParseError {
    /// A document that does not parse was served that way: the source's fault. (The static
    /// source, whose documents come from the operator, reports them as configuration errors.)
    fn fault(&self) -> FaultClass {
        FaultClass::Peer
    }
}

/// Result alias for the JSON readers.
pub type ParseResult<T> = Result<T, ParseError>;

/// `obj[name]`, which must exist and not be null.
pub fn field<'a>(obj: &'a Value, name: &str) -> ParseResult<&'a Value> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(ParseError::MissingField(name.to_string())),
        Some(v) => Ok(v),
    }
}

/// An unsigned integer given as a JSON number or a decimal string (heimdall-v2 and the beacon
/// API encode 64-bit numbers as strings).
pub fn u64_of(v: &Value, name: &str) -> ParseResult<u64> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| ParseError::NotU64 {
            field: name.to_string(),
            value: n.to_string(),
        }),
        Value::String(s) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::NotDecimal {
                    field: name.to_string(),
                    value: s.clone(),
                });
            }
            s.parse::<u64>().map_err(|source| ParseError::U64Overflow {
                field: name.to_string(),
                value: s.clone(),
                source,
            })
        }
        other => Err(ParseError::WrongType {
            field: name.to_string(),
            expected: "an unsigned integer (number or decimal string)",
            got: type_name(other),
        }),
    }
}

/// `obj[name]` as a u64.
pub fn u64_field(obj: &Value, name: &str) -> ParseResult<u64> {
    u64_of(field(obj, name)?, name)
}

/// `obj[name]` as a string.
pub fn str_field<'a>(obj: &'a Value, name: &str) -> ParseResult<&'a str> {
    match field(obj, name)? {
        Value::String(s) => Ok(s),
        other => Err(ParseError::WrongType {
            field: name.to_string(),
            expected: "a string",
            got: type_name(other),
        }),
    }
}

/// Exactly `len` bytes from `0x`-hex.
pub fn hex_bytes(s: &str, name: &str, len: Option<usize>) -> ParseResult<Vec<u8>> {
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| ParseError::NotHexPrefixed {
            field: name.to_string(),
            value: s.to_string(),
        })?;
    let bytes = hex::decode(h).map_err(|source| ParseError::BadHex {
        field: name.to_string(),
        source,
    })?;
    if let Some(len) = len
        && bytes.len() != len
    {
        return Err(ParseError::Length {
            field: name.to_string(),
            expected: len,
            got: bytes.len(),
        });
    }
    Ok(bytes)
}

/// A 32-byte hash given as `0x`-hex (heimdall v1, beacon API) or base64 (heimdall-v2 `bytes`).
pub fn b256_hex_or_base64(s: &str, name: &str) -> ParseResult<B256> {
    let bytes = if s.starts_with("0x") {
        hex_bytes(s, name, None)?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|source| ParseError::NotHexOrBase64 {
                field: name.to_string(),
                value: s.to_string(),
                source,
            })?
    };
    if bytes.len() != 32 {
        return Err(ParseError::Length {
            field: name.to_string(),
            expected: 32,
            got: bytes.len(),
        });
    }
    Ok(B256::from_slice(&bytes))
}

/// A 32-byte `0x`-hex hash.
pub fn b256_hex(s: &str, name: &str) -> ParseResult<B256> {
    Ok(B256::from_slice(&hex_bytes(s, name, Some(32))?))
}

/// A 20-byte `0x`-hex address.
pub fn address_hex(s: &str, name: &str) -> ParseResult<Address> {
    Ok(Address::from_slice(&hex_bytes(s, name, Some(20))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers every request with `head` and then, when `chunks`, 64 KiB chunks
    /// without end; returns its URL and a counter of the body bytes it managed to send.
    async fn endless_server(
        head: &'static str,
        chunks: bool,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = sent.clone();
        tokio::spawn(async move {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut req = [0u8; 4096];
            let _ = sock.read(&mut req).await;
            if sock.write_all(head.as_bytes()).await.is_err() || !chunks {
                return;
            }
            let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
            while sock.write_all(chunk.as_bytes()).await.is_ok() {
                counter.fetch_add(65536, std::sync::atomic::Ordering::Relaxed);
            }
        });
        (format!("http://{addr}"), sent)
    }

    #[tokio::test]
    async fn huge_or_endless_bodies_are_refused_without_being_read_whole() {
        let (url, sent) = endless_server(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            true,
        )
        .await;
        let client = RestClient::new(&url, "test".into(), Duration::from_secs(30)).unwrap();
        let err = match client.get("/x").await {
            Err(e) => e,
            Ok(_) => panic!("an endless body was accepted"),
        };
        assert!(err.to_string().contains("larger than"), "{err}");
        assert!(!err.is_transient(), "{err}");
        // The client stopped near the cap instead of reading on.
        let n = sent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            n < 4 * MAX_BODY,
            "{n} bytes were sent before the client stopped"
        );

        let (url, _) = endless_server(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n",
            false,
        )
        .await;
        let client = RestClient::new(&url, "test".into(), Duration::from_secs(30)).unwrap();
        let err = match client.get("/x").await {
            Err(e) => e,
            Ok(_) => panic!("a 1 GB body was accepted"),
        };
        assert!(err.to_string().contains("too large"), "{err}");
    }

    #[test]
    fn api_keys_in_urls_are_not_logged() {
        assert_eq!(
            redact_url("https://mainnet.infura.io/v3/0123abcd"),
            "https://mainnet.infura.io/…"
        );
        assert_eq!(
            redact_url("wss://eth.example:8546/?key=s3cret"),
            "wss://eth.example:8546/…"
        );
        assert_eq!(
            redact_url("https://user:pw@rpc.example/"),
            "https://rpc.example/…"
        );
        assert_eq!(redact_url("http://127.0.0.1:1317"), "http://127.0.0.1:1317");
        assert_eq!(
            redact_url("http://127.0.0.1:1317/"),
            "http://127.0.0.1:1317"
        );
        assert_eq!(redact_url("not a url"), "<unparsable URL>");
    }
    use serde_json::json;

    #[test]
    fn readers_report_typed_errors_with_the_old_messages() {
        let obj = json!({"n": "12", "big": "99999999999999999999", "s": 5, "h": "zz"});
        assert_eq!(u64_field(&obj, "n"), Ok(12));
        assert_eq!(
            u64_field(&obj, "x"),
            Err(ParseError::MissingField("x".into()))
        );
        assert!(matches!(
            u64_field(&obj, "big"),
            Err(ParseError::U64Overflow { .. })
        ));
        let e = str_field(&obj, "s").unwrap_err();
        assert_eq!(e.to_string(), "field `s`: expected a string, got a number");
        assert!(matches!(
            hex_bytes("zz", "h", None),
            Err(ParseError::NotHexPrefixed { .. })
        ));
        assert_eq!(
            hex_bytes("0x0102", "h", Some(3)).unwrap_err().to_string(),
            "field `h`: expected 3 bytes, got 2"
        );
        let nested = ParseError::MissingField("slot".into()).at("attested_header");
        assert_eq!(nested.to_string(), "attested_header: missing field `slot`");
        assert_eq!(nested.fault(), FaultClass::Peer);
    }
}
