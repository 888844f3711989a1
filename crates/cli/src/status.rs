//! `hypasis status`: the cluster's sync status, from the scheduler's admin API.
//!
//! ```text
//! hypasis status --scheduler HOST:PORT (--tls-dir DIR | --insecure) [--store HOST:PORT] [--json]
//! ```
//!
//! Calls `hypasis.v1.Scheduler/GetStatus` and `ListUnits` (units in `NO_PEER` and `BACKOFF`)
//! over mTLS as the `admin` identity that `hypasis certs generate` creates (`ca.pem`,
//! `admin.pem`, `admin.key` in `--tls-dir`), and prints per direction: done, in flight,
//! remaining, blocks/s, ETA, paused; the anchor, the tip, the gaps the scheduler works on.
//! With `--store`, the store's own present ranges and gaps (`Store/GetRanges`) are added.
//! `--json` prints one JSON object instead, for scripts.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Args;
use hypasis_config::TlsMode;
use hypasis_proto::v1::{self, scheduler_client::SchedulerClient, store_client::StoreClient};
use serde_json::{Value, json};
use tonic::transport::Channel;

/// `hypasis status ...`
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The scheduler's gRPC address, `HOST:PORT` (or a full `https://` / `http://` URL).
    #[arg(long, value_name = "HOST:PORT")]
    scheduler: String,
    /// Directory with `ca.pem`, `admin.pem` and `admin.key` (from `hypasis certs generate`).
    #[arg(
        long,
        value_name = "DIR",
        env = "HYPASIS_TLS_DIR",
        required_unless_present = "insecure"
    )]
    tls_dir: Option<PathBuf>,
    /// Plaintext gRPC (only against services started with `--insecure`).
    #[arg(long, conflicts_with = "tls_dir")]
    insecure: bool,
    /// The store's gRPC address, `HOST:PORT`: also print its present ranges and gaps.
    #[arg(long, value_name = "HOST:PORT")]
    store: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// List at most this many units in NO_PEER and in BACKOFF state (0: none).
    #[arg(long, default_value_t = 20)]
    units: u32,
    /// Timeout of each call, in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// Why `hypasis status` failed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The service could not be reached (address, TLS files, certificates).
    #[error("cannot connect to the {service} at {url}: {reason}{hint}")]
    Connect {
        /// `scheduler` or `store`.
        service: &'static str,
        /// URL dialed.
        url: String,
        /// The innermost cause (the transport errors repeat themselves along the chain).
        reason: String,
        /// Extra advice.
        hint: &'static str,
    },
    /// A call failed.
    #[error("{service} {call} at {url} failed: {code:?}: {message}{hint}")]
    Rpc {
        /// `scheduler` or `store`.
        service: &'static str,
        /// RPC name.
        call: &'static str,
        /// URL.
        url: String,
        /// gRPC status code.
        code: tonic::Code,
        /// gRPC message.
        message: String,
        /// Extra advice.
        hint: &'static str,
    },
    /// A call did not answer in time.
    #[error("{service} {call} at {url}: no answer within {secs} s")]
    Timeout {
        /// `scheduler` or `store`.
        service: &'static str,
        /// RPC name.
        call: &'static str,
        /// URL.
        url: String,
        /// The timeout.
        secs: u64,
    },
}

const TLS_HINT: &str = " (check --tls-dir: ca.pem, admin.pem and admin.key must be this cluster's, from `hypasis certs generate`)";
const INSECURE_HINT: &str = " (without --insecure the services speak mTLS: pass --tls-dir)";

fn hint(tls: &TlsMode) -> &'static str {
    match tls {
        TlsMode::Mutual(_) => TLS_HINT,
        TlsMode::Insecure => INSECURE_HINT,
    }
}

/// The deepest error of a source chain: its most specific message (e.g. `invalid peer
/// certificate: UnknownIssuer`, `Connection refused`).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

struct Target {
    service: &'static str,
    url: String,
    timeout: Duration,
}

impl Target {
    fn new(service: &'static str, addr: &str, tls: &TlsMode, timeout: u64) -> Self {
        let url = if addr.contains("://") {
            addr.to_string()
        } else {
            let scheme = match tls {
                TlsMode::Mutual(_) => "https",
                TlsMode::Insecure => "http",
            };
            format!("{scheme}://{addr}")
        };
        Self {
            service,
            url,
            timeout: Duration::from_secs(timeout.max(1)),
        }
    }

    async fn connect(&self, tls: &TlsMode) -> Result<Channel, StatusError> {
        // The certificates carry the service name as a SAN, whatever host the service runs on.
        let dial = hypasis_server::client_channel(&self.url, tls, "admin", self.service);
        match tokio::time::timeout(self.timeout, dial).await {
            Ok(r) => r.map_err(|e| StatusError::Connect {
                service: self.service,
                url: self.url.clone(),
                reason: root_cause(&e),
                hint: match e {
                    hypasis_server::ServerError::Endpoint { .. } => "",
                    _ => hint(tls),
                },
            }),
            Err(_) => Err(StatusError::Timeout {
                service: self.service,
                call: "connect",
                url: self.url.clone(),
                secs: self.timeout.as_secs(),
            }),
        }
    }

    async fn call<T>(
        &self,
        tls: &TlsMode,
        call: &'static str,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, StatusError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) => {
                let hint = match s.code() {
                    // A refused client certificate (or plaintext against TLS) shows up on the
                    // first call as a broken connection.
                    tonic::Code::Unknown
                    | tonic::Code::Unavailable
                    | tonic::Code::Internal
                    | tonic::Code::Cancelled
                        if !s.message().contains("leader") =>
                    {
                        hint(tls)
                    }
                    _ => "",
                };
                let mut message = s.message().to_string();
                if let Some(src) = std::error::Error::source(&s) {
                    let cause = root_cause(src);
                    if !message.contains(&cause) {
                        message = format!("{message}: {cause}");
                    }
                }
                Err(StatusError::Rpc {
                    service: self.service,
                    call,
                    url: self.url.clone(),
                    code: s.code(),
                    message,
                    hint,
                })
            }
            Err(_) => Err(StatusError::Timeout {
                service: self.service,
                call,
                url: self.url.clone(),
                secs: self.timeout.as_secs(),
            }),
        }
    }
}

/// What was collected, before printing.
struct Report {
    scheduler: String,
    status: v1::SchedulerStatus,
    no_peer: Vec<v1::WorkUnit>,
    backoff: Vec<v1::WorkUnit>,
    store: Option<(String, v1::GetRangesResponse)>,
}

/// Runs `hypasis status`.
pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = rt.block_on(collect(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&report))?);
    } else {
        print_text(&report);
    }
    Ok(())
}

async fn collect(args: &StatusArgs) -> Result<Report, StatusError> {
    let tls = match &args.tls_dir {
        Some(d) if !args.insecure => TlsMode::Mutual(d.clone()),
        _ => TlsMode::Insecure,
    };
    let sched = Target::new("scheduler", &args.scheduler, &tls, args.timeout);
    let mut client = SchedulerClient::new(sched.connect(&tls).await?);
    let status = sched
        .call(
            &tls,
            "GetStatus",
            client.get_status(v1::GetSchedulerStatusRequest {}),
        )
        .await?;
    let units = |state: v1::WorkUnitState| {
        let req = v1::ListUnitsRequest {
            direction: None,
            state: Some(state as i32),
            limit: args.units,
        };
        let mut client = client.clone();
        async move { client.list_units(req).await }
    };
    let (no_peer, backoff) = if args.units == 0 {
        (Vec::new(), Vec::new())
    } else {
        let n = sched
            .call(&tls, "ListUnits", units(v1::WorkUnitState::NoPeer))
            .await?
            .units;
        let b = sched
            .call(&tls, "ListUnits", units(v1::WorkUnitState::Backoff))
            .await?
            .units;
        (n, b)
    };
    let store = match &args.store {
        Some(addr) => {
            let target = Target::new("store", addr, &tls, args.timeout);
            let mut client = StoreClient::new(target.connect(&tls).await?);
            let ranges = target
                .call(
                    &tls,
                    "GetRanges",
                    client.get_ranges(v1::GetRangesRequest { within: None }),
                )
                .await?;
            Some((target.url, ranges))
        }
        None => None,
    };
    Ok(Report {
        scheduler: sched.url,
        status,
        no_peer,
        backoff,
        store,
    })
}

fn direction_name(d: i32) -> &'static str {
    match v1::Direction::try_from(d) {
        Ok(v1::Direction::Forward) => "forward",
        Ok(v1::Direction::Backward) => "backward",
        _ => "unspecified",
    }
}

fn eta_secs(d: &v1::DirectionStatus) -> Option<f64> {
    d.eta
        .as_ref()
        .map(|e| e.seconds as f64 + f64::from(e.nanos) / 1e9)
}

fn fmt_eta(secs: Option<f64>) -> String {
    let Some(s) = secs else {
        return "-".into();
    };
    let s = s.max(0.0).round() as u64;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h:02}h{m:02}m")
    } else if h > 0 {
        format!("{h}h{m:02}m{sec:02}s")
    } else if m > 0 {
        format!("{m}m{sec:02}s")
    } else {
        format!("{sec}s")
    }
}

fn range_str(r: Option<&v1::BlockRange>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{}..={}", r.start, r.end))
}

fn range_len(r: &v1::BlockRange) -> u64 {
    r.end.saturating_sub(r.start).saturating_add(1)
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

fn anchor_text(a: &v1::Checkpoint) -> String {
    let static_anchor = a.source == v1::CheckpointSource::Static as i32 && a.root_hash.is_empty();
    let hash = a
        .end_block_hash
        .as_deref()
        .map(|h| format!(" hash {}", hex0x(h)))
        .unwrap_or_default();
    match &a.range {
        Some(r) if static_anchor => format!("block {}{hash}", r.end),
        r => format!(
            "checkpoint {} ({}, root {}){hash}",
            a.id,
            range_str(r.as_ref()),
            hex0x(&a.root_hash)
        ),
    }
}

/// The trusted head as a line: what it is, its age, and how far above the stored head it is.
fn trusted_head_text(st: &v1::SchedulerStatus) -> String {
    let Some(head) = &st.trusted_head else {
        return "none (no checkpoint source gives a trusted head)".into();
    };
    let block = hypasis_checkpoint_api::TrustedBlock::try_from(head.clone())
        .map_or_else(|e| format!("unreadable ({e})"), |b| b.to_string());
    let age = st.trusted_head_age.as_ref().map(|d| d.seconds as f64);
    format!(
        "{block}, seen {} ago, {} blocks above the stored head",
        fmt_eta(age),
        st.trusted_head_distance
    )
}

fn list_ranges(ranges: &[v1::BlockRange], max: usize) -> String {
    let mut s: Vec<String> = ranges
        .iter()
        .take(max)
        .map(|r| range_str(Some(r)))
        .collect();
    if ranges.len() > max {
        s.push(format!("... {} more", ranges.len() - max));
    }
    s.join(", ")
}

fn unit_line(u: &v1::WorkUnit) -> String {
    let wait = u
        .not_before
        .as_ref()
        .and_then(|t| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_secs_f64();
            let at = t.seconds as f64 + f64::from(t.nanos) / 1e9;
            Some(format!(", retry in {}", fmt_eta(Some(at - now))))
        })
        .unwrap_or_default();
    let err = if u.last_error.is_empty() {
        String::new()
    } else {
        format!(": {}", u.last_error)
    };
    format!(
        "  unit {} {} {}, {} attempts{wait}{err}",
        u.id,
        direction_name(u.direction),
        range_str(u.range.as_ref()),
        u.attempts
    )
}

fn print_text(r: &Report) {
    let st = &r.status;
    let chain = st.chain.as_ref().map_or_else(
        || "unknown chain".to_string(),
        |c| format!("chain {} (chain id {})", c.name, c.chain_id),
    );
    println!(
        "scheduler {}: {}, term {}, {chain}",
        r.scheduler,
        if st.leader { "leader" } else { "not leader" },
        st.term
    );
    println!(
        "anchor:    {}",
        st.anchor
            .as_ref()
            .map_or_else(|| "none yet".to_string(), anchor_text)
    );
    println!("trusted:   {}", trusted_head_text(st));
    println!("tip:       {}", st.tip);
    println!("fetchers:  {} ({} peers)", st.fetchers, st.peers);
    println!();
    println!(
        "{:<10} {:>14} {:>12} {:>14} {:>10} {:>10} {:>7} {:>8} {:>8}",
        "direction",
        "done",
        "in flight",
        "remaining",
        "blocks/s",
        "eta",
        "paused",
        "no peer",
        "backoff"
    );
    for d in &st.directions {
        println!(
            "{:<10} {:>14} {:>12} {:>14} {:>10.1} {:>10} {:>7} {:>8} {:>8}",
            direction_name(d.direction),
            d.done_blocks,
            d.in_flight_blocks,
            d.remaining_blocks,
            d.blocks_per_second,
            fmt_eta(eta_secs(d)),
            if d.paused { "PAUSED" } else { "no" },
            d.units_no_peer,
            d.units_backoff
        );
    }
    println!();
    let missing: u64 = st.gaps.iter().map(range_len).sum();
    if st.gaps.is_empty() {
        println!("gaps:      none");
    } else {
        println!(
            "gaps:      {} ({missing} blocks): {}",
            st.gaps.len(),
            list_ranges(&st.gaps, 10)
        );
    }
    for (title, units) in [("NO_PEER", &r.no_peer), ("BACKOFF", &r.backoff)] {
        if !units.is_empty() {
            println!("units in {title} (first {}):", units.len());
            for u in units {
                println!("{}", unit_line(u));
            }
        }
    }
    if let Some((url, g)) = &r.store {
        println!();
        println!(
            "store {url}: {} blocks present, {} missing within {}",
            g.present_blocks,
            g.missing_blocks,
            range_str(g.within.as_ref())
        );
        println!(
            "  present: {}",
            if g.present.is_empty() {
                "none".to_string()
            } else {
                list_ranges(&g.present, 10)
            }
        );
        println!(
            "  gaps:    {}",
            if g.gaps.is_empty() {
                "none".to_string()
            } else {
                list_ranges(&g.gaps, 10)
            }
        );
    }
}

fn range_json(r: &v1::BlockRange) -> Value {
    json!({ "start": r.start, "end": r.end })
}

fn ranges_json(rs: &[v1::BlockRange]) -> Value {
    Value::Array(rs.iter().map(range_json).collect())
}

fn unit_json(u: &v1::WorkUnit) -> Value {
    json!({
        "id": u.id,
        "direction": direction_name(u.direction),
        "range": u.range.as_ref().map(range_json),
        "attempts": u.attempts,
        "not_before_unix": u.not_before.as_ref().map(|t| t.seconds),
        "last_error": u.last_error,
    })
}

fn to_json(r: &Report) -> Value {
    let st = &r.status;
    let directions: Vec<Value> = st
        .directions
        .iter()
        .map(|d| {
            json!({
                "direction": direction_name(d.direction),
                "paused": d.paused,
                "done_blocks": d.done_blocks,
                "in_flight_blocks": d.in_flight_blocks,
                "remaining_blocks": d.remaining_blocks,
                "blocks_per_second": d.blocks_per_second,
                "eta_seconds": eta_secs(d),
                "units_no_peer": d.units_no_peer,
                "units_backoff": d.units_backoff,
            })
        })
        .collect();
    let anchor = st.anchor.as_ref().map(|a| {
        json!({
            "checkpoint_id": a.id,
            "source": v1::CheckpointSource::try_from(a.source)
                .map_or("unknown", |s| s.as_str_name()),
            "range": a.range.as_ref().map(range_json),
            "root_hash": (!a.root_hash.is_empty()).then(|| hex0x(&a.root_hash)),
            "end_block_hash": a.end_block_hash.as_deref().map(hex0x),
        })
    });
    let mut out = json!({
        "scheduler": r.scheduler,
        "chain": st.chain.as_ref().map(|c| json!({
            "name": c.name,
            "chain_id": c.chain_id,
            "genesis_hash": hex0x(&c.genesis_hash),
        })),
        "leader": st.leader,
        "term": st.term,
        "anchor": anchor,
        "trusted_head": st.trusted_head.as_ref().map(|h| json!({
            "number": h.number,
            "hash": hex0x(&h.hash),
            "origin": v1::TrustOrigin::try_from(h.origin).map_or("unknown", |o| o.as_str_name()),
            "label": (!h.label.is_empty()).then(|| h.label.clone()),
            "age_seconds": st.trusted_head_age.as_ref().map(|d| d.seconds),
            "distance": st.trusted_head_distance,
        })),
        "tip": st.tip,
        "fetchers": st.fetchers,
        "peers": st.peers,
        "directions": directions,
        "gaps": ranges_json(&st.gaps),
        "units_no_peer": r.no_peer.iter().map(unit_json).collect::<Vec<_>>(),
        "units_backoff": r.backoff.iter().map(unit_json).collect::<Vec<_>>(),
    });
    if let Some((url, g)) = &r.store {
        out["store"] = json!({
            "url": url,
            "within": g.within.as_ref().map(range_json),
            "present_blocks": g.present_blocks,
            "missing_blocks": g.missing_blocks,
            "present": ranges_json(&g.present),
            "gaps": ranges_json(&g.gaps),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_formatting() {
        assert_eq!(fmt_eta(None), "-");
        assert_eq!(fmt_eta(Some(5.4)), "5s");
        assert_eq!(fmt_eta(Some(125.0)), "2m05s");
        assert_eq!(fmt_eta(Some(3.0 * 3600.0 + 61.0)), "3h01m01s");
        assert_eq!(fmt_eta(Some(2.0 * 86_400.0 + 3600.0)), "2d01h00m");
    }

    #[test]
    fn addresses_get_the_scheme_of_the_tls_mode() {
        let t = Target::new("scheduler", "127.0.0.1:7002", &TlsMode::Insecure, 1);
        assert_eq!(t.url, "http://127.0.0.1:7002");
        let t = Target::new("scheduler", "h:1", &TlsMode::Mutual("/x".into()), 1);
        assert_eq!(t.url, "https://h:1");
        let t = Target::new("store", "https://h:1", &TlsMode::Insecure, 1);
        assert_eq!(t.url, "https://h:1");
    }
}
