//! `hypasis standalone`: the whole product in one process on the embedded store (no etcd):
//! checkpoint, scheduler, fetcher, validator and store, with progress bars per direction and a
//! summary at the end.

use crate::chains::ChainArg;
use anyhow::Context;
use clap::{Args, Parser};
use hypasis_checkpoint::config::SourceArgs;
use hypasis_config::TlsMode;
use hypasis_node::p2p::P2pArgs;
use hypasis_node::{AnchorChoice, Progress, Standalone, StandaloneConfig, Summary, parse_trusted};
use hypasis_primitives::VerificationLevel;
use hypasis_scheduler::Direction;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `hypasis standalone ...`: every flag is also a key of the `--config` TOML file and a
/// `HYPASIS_*` variable (flag > variable > file > default; see `hypasis_config::layered`).
#[derive(Debug, Parser)]
#[command(
    name = "hypasis standalone",
    about = "Sync a chain in one process: all five services on the embedded store, no etcd"
)]
pub struct StandaloneCli {
    #[command(flatten)]
    args: StandaloneArgs,
}

impl StandaloneCli {
    /// The parsed arguments.
    pub fn into_args(self) -> StandaloneArgs {
        self.args
    }
}

/// The flags of `hypasis standalone`.
#[derive(Debug, Args)]
pub struct StandaloneArgs {
    /// TOML config file: every flag's key (`--foo-bar` is `foo_bar`); flags and `HYPASIS_*`
    /// variables override its values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    chain: ChainArg,
    /// Data directory (the embedded database `blocks.redb`, and `certs/` unless --tls-dir).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    #[command(flatten)]
    p2p: P2pArgs,
    /// A trusted head given by the operator, `NUMBER:0xHASH` (any chain): followed beside the
    /// checkpoint sources' (the higher one counts) and shown in the status.
    #[arg(long, value_name = "NUMBER:HASH")]
    trusted_head: Option<String>,
    /// Anchor and checkpoint sources. `--trusted NUMBER:0xHASH` anchors on that block; with
    /// `--heimdall` on the checkpoint follower's trusted head (Heimdall's latest milestone); with
    /// only `--l1-rpc` or `--beacon` on the newest agreed checkpoint.
    #[command(flatten)]
    sources: SourceArgs,
    /// How often the checkpoint sources are polled, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    checkpoint_poll_ms: u64,
    /// Fetch checkpoints from this id up (default: from the newest one on); older
    /// checkpoints raise the history they cover to checkpoint-root.
    #[arg(long, value_name = "ID")]
    checkpoints_from: Option<u64>,
    /// gRPC address of the five services (`hypasis status --scheduler` works against it).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7000")]
    listen: SocketAddr,
    /// Prometheus metrics address.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9100")]
    metrics_listen: SocketAddr,
    /// mTLS certificates (default: DATA_DIR/certs, generated when missing).
    #[arg(long, value_name = "DIR", conflicts_with = "insecure")]
    tls_dir: Option<PathBuf>,
    /// Serve gRPC in plaintext (local experiments only).
    #[arg(long)]
    insecure: bool,
    /// Units fetched at once.
    #[arg(long, default_value_t = 8)]
    parallel_units: u32,
    /// Memory budget for blocks in flight, MiB.
    #[arg(long, default_value_t = 256)]
    memory_budget_mb: u64,
    /// Unit size in blocks where no checkpoint applies.
    #[arg(long, default_value_t = 1024)]
    unit_size: u64,
    /// Lease TTL in seconds.
    #[arg(long, default_value_t = 30)]
    lease_ttl_secs: u64,
    /// Cap on backward (history) blocks leased per second.
    #[arg(long, value_name = "N")]
    backward_max_blocks_per_second: Option<f64>,
    /// How many blocks past trusted information (anchor, newest checkpoint, highest stored
    /// block) the scheduler cuts units; the peers' claimed head is bounded by it, so a long
    /// forward sync proceeds in waves.
    #[arg(long, value_name = "BLOCKS", default_value_t = hypasis_scheduler::DEFAULT_TIP_MARGIN)]
    tip_margin: u64,
    /// Exit 0 once the peers' head seen at start is reached and no gap remains down to
    /// genesis.
    #[arg(long)]
    exit_when_synced: bool,
    /// Give up (exit 1) when not synced after this many seconds (with --exit-when-synced).
    #[arg(long, value_name = "SECS")]
    timeout_secs: Option<u64>,
    /// No progress bars (a progress line every few seconds instead).
    #[arg(long)]
    no_progress: bool,
    /// devp2p node key file (64 hex characters, geth's format), created when missing
    /// (default: DATA_DIR/nodekey, so the enode survives restarts).
    #[arg(long, value_name = "FILE")]
    nodekey: Option<PathBuf>,
}

/// Runs `hypasis standalone`.
pub fn run(args: StandaloneArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(main(args))
}

async fn main(args: StandaloneArgs) -> anyhow::Result<()> {
    let spec = args.chain.spec()?;
    // Logs: warnings by default so that the bars stay readable (RUST_LOG overrides).
    let default_filter = if std::env::var_os("RUST_LOG").is_some() {
        None
    } else {
        Some("warn")
    };
    let _telemetry = hypasis_telemetry::init_with_default(
        "hypasis-standalone",
        hypasis_telemetry::LogFormat::Text,
        default_filter,
    )?;

    let mut sources = args.sources.clone();
    // `--trusted NUMBER:HASH` is the anchor; other `--trusted` forms are static checkpoints.
    let mut anchor = AnchorChoice::LatestCheckpoint;
    let mut rest = Vec::new();
    for t in &sources.trusted {
        if t.split(':').count() == 2 {
            if matches!(anchor, AnchorChoice::Trusted(_)) {
                anyhow::bail!("--trusted NUMBER:HASH given twice: one anchor only");
            }
            anchor = AnchorChoice::Trusted(parse_trusted(t)?);
        } else {
            rest.push(t.clone());
        }
    }
    sources.trusted = rest;
    // Polygon: without a trusted block, anchor on the follower's trusted head, Heimdall's
    // latest milestone (a finalized number and hash); checkpoints then raise the ranges they
    // cover to checkpoint-root.
    if matches!(anchor, AnchorChoice::LatestCheckpoint) && sources.heimdall.is_some() {
        anchor = AnchorChoice::TrustedHead;
    }

    let tls = if args.insecure {
        TlsMode::Insecure
    } else {
        let dir = args
            .tls_dir
            .clone()
            .unwrap_or_else(|| args.data_dir.join("certs"));
        if !dir.join("ca.pem").exists() {
            if args.tls_dir.is_some() {
                anyhow::bail!(
                    "--tls-dir {}: no ca.pem (run `hypasis certs generate --out {}`)",
                    dir.display(),
                    dir.display()
                );
            }
            hypasis_tls::generate(&dir, &[])
                .with_context(|| format!("generating certificates in {}", dir.display()))?;
        }
        TlsMode::Mutual(dir)
    };
    let tls_dir = match &tls {
        TlsMode::Mutual(d) => Some(d.clone()),
        TlsMode::Insecure => None,
    };

    let mut cfg = StandaloneConfig::new(spec.clone(), args.data_dir.clone());
    cfg.p2p = args.p2p.config()?;
    cfg.trusted_head = args
        .trusted_head
        .as_deref()
        .map(|h| hypasis_node::scheduler::parse_anchor("--trusted-head", h, true))
        .transpose()?;
    cfg.anchor = anchor;
    cfg.sources = sources;
    cfg.checkpoint_poll = Duration::from_millis(args.checkpoint_poll_ms.max(50));
    cfg.checkpoints_from = args.checkpoints_from;
    cfg.listen = args.listen;
    cfg.metrics_listen = args.metrics_listen;
    cfg.tls = tls;
    cfg.parallel_units = args.parallel_units.max(1);
    cfg.memory_budget = args.memory_budget_mb.max(1) * 1024 * 1024;
    cfg.unit_size = args.unit_size.max(1);
    cfg.lease_ttl = Duration::from_secs(args.lease_ttl_secs.max(2));
    cfg.backward_max_blocks_per_second = args.backward_max_blocks_per_second;
    cfg.tip_margin = args.tip_margin;
    cfg.nodekey = args.nodekey.clone();
    if !cfg.p2p.has_peer_source() {
        anyhow::bail!("no peers: give --peer ENODE, --bootnode ENODE, or allow discovery");
    }

    let node = Standalone::start(cfg).await?;
    eprintln!(
        "hypasis standalone: chain {} ({}), data {}, enode id {:x}, gRPC {} ({}), metrics http://{}/metrics",
        spec.name,
        spec.chain_id,
        args.data_dir.display(),
        node.node_id(),
        node.grpc_addr(),
        match &tls_dir {
            Some(d) => format!("mTLS, certs in {}", d.display()),
            None => "plaintext".into(),
        },
        args.metrics_listen,
    );

    let bars = Bars::new(args.no_progress || !std::io::stderr().is_terminal());
    let started = Instant::now();
    let mut target: Option<u64> = None;
    let mut last_line = Instant::now();
    let deadline = args
        .timeout_secs
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut ctrl_c = Box::pin(hypasis_server::shutdown_signal());
    let outcome = loop {
        tokio::select! {
            _ = &mut ctrl_c => break Outcome::Interrupted,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        if node.server_finished() {
            break Outcome::Failed(
                "the gRPC server stopped (is the --listen address in use?)".into(),
            );
        }
        let p = node.progress().await;
        bars.update(&p);
        if bars.hidden && last_line.elapsed() >= Duration::from_secs(5) {
            last_line = Instant::now();
            eprintln!("{}", progress_line(&p, started.elapsed()));
        }
        if !args.exit_when_synced {
            continue;
        }
        if let Some(d) = deadline
            && Instant::now() >= d
        {
            break Outcome::Failed(format!(
                "not synced after {}s (--timeout-secs)",
                args.timeout_secs.unwrap_or(0)
            ));
        }
        // The target: the peers' head seen at start (their plausible claim, once the schedule
        // is anchored), not the scheduler's tip, which is bounded by what is trusted and only
        // ratchets up as blocks are stored. Reached when nothing is missing in [0, target].
        if target.is_none()
            && let Some(st) = &p.status
            && let Some(a) = st.anchor
            && let Some(t) = sync_target(&p)
        {
            target = Some(t.max(a.number));
        }
        if let Some(t) = target {
            let range = hypasis_gaps::Range::new(0, t).expect("0 <= t");
            if node.storage().gaps(range).await?.is_empty() {
                break Outcome::Synced(t);
            }
        }
    };
    bars.finish();
    let summary = node
        .summary(match outcome {
            Outcome::Synced(t) => Some(t),
            _ => None,
        })
        .await?;
    node.shutdown().await;
    print_summary(&summary);
    match outcome {
        Outcome::Synced(_) | Outcome::Interrupted => Ok(()),
        Outcome::Failed(m) => anyhow::bail!(m),
    }
}

enum Outcome {
    Synced(u64),
    Interrupted,
    Failed(String),
}

struct Bars {
    _multi: MultiProgress,
    bars: [ProgressBar; 2],
    hidden: bool,
}

impl Bars {
    fn new(hidden: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if hidden {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let style = ProgressStyle::with_template(
            "{prefix:>8} [{bar:40.cyan/blue}] {pos:>9}/{len:<9} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let make = |name: &str| {
            let b = multi.add(ProgressBar::new(0));
            b.set_style(style.clone());
            b.set_prefix(name.to_string());
            b.set_message("waiting for the anchor");
            b
        };
        let bars = [make("forward"), make("backward")];
        Self {
            _multi: multi,
            bars,
            hidden,
        }
    }

    fn update(&self, p: &Progress) {
        let Some(st) = &p.status else {
            for b in &self.bars {
                b.set_message(format!("waiting for the scheduler ({} peers)", p.peers));
            }
            return;
        };
        for d in Direction::ALL {
            let s = &st.directions[d.index()];
            let b = &self.bars[d.index()];
            b.set_length(s.done_blocks + s.remaining_blocks);
            b.set_position(s.done_blocks);
            let eta = match s.eta {
                Some(e) if s.remaining_blocks > 0 => format!("ETA {}", human(e)),
                _ if s.remaining_blocks == 0 && st.anchor.is_some() => "done".into(),
                _ => "ETA -".into(),
            };
            let mut msg = format!("{:>8.0} blk/s  {eta}", s.blocks_per_second);
            if s.paused {
                msg.push_str("  PAUSED");
            }
            if s.units_no_peer > 0 {
                msg.push_str(&format!("  {} units no peer", s.units_no_peer));
            }
            if d == Direction::Forward {
                msg.push_str(&format!(
                    "  {}{}  peers {}",
                    tip_text(p),
                    trusted_text(p),
                    p.peers
                ));
            }
            b.set_message(msg);
        }
    }

    fn finish(&self) {
        for b in &self.bars {
            b.abandon();
        }
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn progress_line(p: &Progress, elapsed: Duration) -> String {
    let Some(st) = &p.status else {
        return format!(
            "[{}] waiting for the scheduler ({} peers)",
            human(elapsed),
            p.peers
        );
    };
    let dir = |d: Direction| {
        let s = &st.directions[d.index()];
        format!(
            "{} {}/{} ({:.0} blk/s, ETA {})",
            d.name(),
            s.done_blocks,
            s.done_blocks + s.remaining_blocks,
            s.blocks_per_second,
            s.eta.map_or("-".into(), human)
        )
    };
    format!(
        "[{}] {}  {}  {}{}  peers {}",
        human(elapsed),
        dir(Direction::Forward),
        dir(Direction::Backward),
        tip_text(p),
        trusted_text(p),
        p.peers
    )
}

/// `  trusted N (+D)`: the trusted head and how far above the stored head it is; nothing
/// while no source gives one.
fn trusted_text(p: &Progress) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.trusted_head.as_ref())
        .map(|h| format!("  trusted {} (+{})", h.block.number, h.distance))
        .unwrap_or_default()
}

/// The peers' head as the scheduler last received it, else as the fetcher sees it now.
fn sync_target(p: &Progress) -> Option<u64> {
    p.status.as_ref().and_then(|s| s.peer_tip).or(p.peer_tip)
}

/// `tip N` (the peers' head; `scheduled to M` when the scheduler's bounded tip is behind it),
/// or that no peer's head is known yet.
fn tip_text(p: &Progress) -> String {
    let Some(tip) = sync_target(p) else {
        return "waiting for a peer head".into();
    };
    match p.status.as_ref().and_then(|s| s.tip) {
        Some(cut) if cut < tip => format!("tip {tip} (scheduled to {cut})"),
        _ => format!("tip {tip}"),
    }
}

fn print_summary(s: &Summary) {
    let secs = s.elapsed.as_secs_f64().max(0.001);
    println!("summary:");
    if let Some(r) = s.range {
        println!("  range:    {}..={}", r.start, r.end);
    }
    if let Some(a) = s.anchor {
        println!(
            "  anchor:   block {}{}",
            a.number,
            a.hash.map(|h| format!(" ({h})")).unwrap_or_default()
        );
    }
    println!("  blocks:   {}", s.blocks);
    println!(
        "  bytes:    {} ({:.1} MiB)",
        s.bytes,
        s.bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  time:     {:.1}s ({:.0} blocks/s)",
        secs,
        s.blocks as f64 / secs
    );
    if s.gaps.is_empty() {
        println!("  gaps:     none");
    } else {
        let shown: Vec<String> = s
            .gaps
            .iter()
            .take(10)
            .map(|g| format!("{}..={}", g.start, g.end))
            .collect();
        println!(
            "  gaps:     {} ({}{})",
            s.gaps.len(),
            shown.join(", "),
            if s.gaps.len() > 10 { ", ..." } else { "" }
        );
    }
    if s.levels.is_empty() {
        println!("  verified: nothing stored");
    } else {
        let levels: Vec<String> = s
            .levels
            .iter()
            .map(|(l, n): (&VerificationLevel, &u64)| format!("{l} {n}"))
            .collect();
        println!("  verified: {}", levels.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(peer_tip: Option<u64>) -> Progress {
        Progress {
            status: None,
            peer_tip,
            peers: 3,
            rates: [0.0; 2],
        }
    }

    #[test]
    fn the_progress_says_when_no_peer_head_is_known() {
        assert_eq!(tip_text(&progress(None)), "waiting for a peer head");
        assert_eq!(tip_text(&progress(Some(400))), "tip 400");
        assert_eq!(sync_target(&progress(Some(400))), Some(400));
        let line = progress_line(&progress(None), Duration::from_secs(3));
        assert!(line.contains("waiting for the scheduler"), "{line}");
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    /// Every flag of `hypasis standalone` is settable from the TOML file and from `HYPASIS_*`.
    #[test]
    fn every_flag_is_configurable() {
        hypasis_config::harness::assert_every_arg_configurable::<StandaloneCli>(&[
            ("chain", "devnet"),
            ("data-dir", "/tmp/hypasis-standalone-test"),
        ]);
    }
}
