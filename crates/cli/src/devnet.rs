//! `hypasis devnet`: generates a local Bor-style chain, serves it from several devp2p peers
//! and its checkpoints from a Heimdall-format endpoint, until Ctrl-C.
//!
//! The first lines on stdout are one `enode://...` per peer and `heimdall http://...`.
//!
//! With `--grow-every-ms` the peers follow the growing chain: new sessions get the new head
//! in `Status`, established ones are told with `BlockRangeUpdate` (eth/69) or
//! `NewBlockHashes` (eth/68) every 32 blocks or `--head-update-ms`, whichever comes first.

use std::{
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use alloy_primitives::{B256, Bytes};
use anyhow::Context;
use clap::Args;
use hypasis_devnet::{CheckpointFeed, DevBlock, Devnet, DevnetParams, serve_heimdall};
use hypasis_network::{
    BlockSource, MemoryBlockSource,
    chain::{Head, local_status, session_config},
    server::Server,
};
use hypasis_primitives::chain::ChainSpec;
use hypasis_rlpx::identity::generate_secret_key;

/// `hypasis devnet ...`
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Blocks to generate after genesis.
    #[arg(long, default_value_t = 50_000)]
    blocks: u64,
    /// Signed transactions per block from the funded dev accounts (value transfers; every
    /// third a token `transfer` call whose receipt carries a `Transfer` log).
    #[arg(long, default_value_t = 4)]
    txs_per_block: usize,
    /// Bor validators (keys derived from --seed).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Seed of the validator keys.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serving devp2p peers.
    #[arg(long, default_value_t = 3)]
    peers: usize,
    /// Address of the first peer; the others listen on the following ports (port 0: each
    /// peer picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:30400")]
    listen_base: SocketAddr,
    /// Address of the Heimdall-format checkpoint endpoint (port 0: a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:1317")]
    heimdall_listen: SocketAddr,
    /// Blocks per checkpoint.
    #[arg(long, default_value_t = 256)]
    checkpoint_len: u64,
    /// Per-connection outbound bandwidth cap of each peer, in megabits per second.
    #[arg(long, value_name = "MBPS")]
    peer_rate_mbps: Option<f64>,
    /// Keep growing the chain: one new block every MS milliseconds (served by the peers;
    /// checkpoints and the milestone are published as they complete).
    #[arg(long, value_name = "MS")]
    grow_every_ms: Option<u64>,
    /// With --grow-every-ms: announce a new head to connected peers at least this often
    /// (besides every 32 blocks).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    head_update_ms: u64,
    /// Publish a checkpoint, and the milestone, only this many blocks behind the head
    /// (Heimdall's checkpoints trail the tip; a large lag puts the newest anchor mid-chain).
    #[arg(long, value_name = "BLOCKS", default_value_t = 0)]
    checkpoint_lag: u64,
    /// Directory for chain.rlp, receipts.rlp and checkpoints.json (created).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// A block source the growing chain appends to.
#[derive(Debug, Default)]
struct SharedSource(RwLock<MemoryBlockSource>);

impl SharedSource {
    fn insert(&self, b: &DevBlock) {
        self.0.write().expect("source lock").insert(
            b.raw.number,
            b.raw.header.clone(),
            b.raw.body.clone(),
            b.receipts.clone(),
        );
    }
}

impl BlockSource for SharedSource {
    fn header_by_number(&self, number: u64) -> Option<Bytes> {
        self.0.read().ok()?.header_by_number(number)
    }
    fn header_by_hash(&self, hash: &B256) -> Option<(u64, Bytes)> {
        self.0.read().ok()?.header_by_hash(hash)
    }
    fn body_by_hash(&self, hash: &B256) -> Option<Bytes> {
        self.0.read().ok()?.body_by_hash(hash)
    }
    fn receipts_by_hash(&self, hash: &B256) -> Option<Vec<Bytes>> {
        self.0.read().ok()?.receipts_by_hash(hash)
    }
}

fn write_files(dir: &std::path::Path, net: &Devnet) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (chain, receipts) = net.export();
    let write = |name: &str, data: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))
    };
    write("chain.rlp", &chain)?;
    write("receipts.rlp", &receipts)?;
    write(
        "checkpoints.json",
        serde_json::to_string_pretty(&net.checkpoints)?.as_bytes(),
    )?;
    Ok(())
}

/// Runs `hypasis devnet`.
pub fn run(args: DevnetArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(serve(args))
}

async fn serve(args: DevnetArgs) -> anyhow::Result<()> {
    let spec = ChainSpec::devnet();
    let started = Instant::now();
    let params = DevnetParams {
        blocks: args.blocks,
        txs_per_block: args.txs_per_block,
        validators: args.validators,
        checkpoint_len: args.checkpoint_len,
        seed: args.seed,
    };
    let net = tokio::task::block_in_place(|| hypasis_devnet::generate(&spec, params))?;
    eprintln!(
        "devnet: generated {} blocks and {} checkpoints in {:.1?}",
        net.blocks.len(),
        net.checkpoints.len(),
        started.elapsed()
    );
    if let Some(dir) = &args.out {
        write_files(dir, &net)?;
        eprintln!(
            "devnet: wrote chain.rlp, receipts.rlp, checkpoints.json to {}",
            dir.display()
        );
    }
    let source = Arc::new(SharedSource::default());
    for b in &net.blocks {
        source.insert(b);
    }
    let total_difficulty = net
        .blocks
        .iter()
        .fold(spec.genesis_header.difficulty, |td, b| {
            td + b.header.difficulty
        });
    let head = Head {
        number: net.head().number,
        timestamp: net.head().timestamp,
        hash: net.head_hash(),
        total_difficulty,
        earliest: 0,
    };
    let (head_tx, head_rx) = tokio::sync::watch::channel(local_status(&spec, &head));
    let mut config = session_config(&spec, &head).with_live_status(head_rx);
    // Versions and dialect come from the chain (the devnet is a Bor chain: Bor's eth/69
    // and eth/68, see `SessionConfig::for_chain`).
    // Bor peers announce new blocks on eth/68 too.
    config.announce_block_hashes = true;
    config.head_update_interval = Duration::from_millis(args.head_update_ms.max(1));
    config.block_source = Some(source.clone() as Arc<dyn BlockSource>);
    config.outbound_rate = args
        .peer_rate_mbps
        .filter(|r| *r > 0.0)
        .map(|mbps| (mbps * 1e6 / 8.0) as u64);

    let mut servers = Vec::with_capacity(args.peers);
    for i in 0..args.peers {
        let mut addr = args.listen_base;
        if addr.port() != 0 {
            let port = u16::try_from(i)
                .ok()
                .and_then(|i| addr.port().checked_add(i))
                .with_context(|| format!("peer {i}: no port after {}", args.listen_base))?;
            addr.set_port(port);
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("peer {i}: listening on {addr}"))?;
        servers.push(
            Server::spawn(listener, generate_secret_key(), config.clone(), 64)
                .with_context(|| format!("starting peer {i}"))?,
        );
    }
    let lag = args.checkpoint_lag;
    let due = move |net: &Devnet, from: usize| -> Vec<_> {
        let head = net.head().number;
        net.checkpoints[from..]
            .iter()
            .take_while(|c| c.range.end.saturating_add(lag) <= head)
            .cloned()
            .collect()
    };
    let initial = due(&net, 0);
    let mut published = initial.len();
    // Spans as long as mainnet's first ones (6,400 blocks), every validator a producer.
    let feed =
        CheckpointFeed::new(spec.chain_id, initial).with_spans(6400, net.validator_addresses());
    // The milestone trails the head like the checkpoints.
    let milestone = move |net: &Devnet| {
        let n = net.head().number.saturating_sub(lag);
        net.blocks
            .iter()
            .rev()
            .find(|b| b.raw.number == n)
            .map(|b| (b.raw.number, b.raw.hash, b.header.timestamp))
    };
    if let Some((n, h, t)) = milestone(&net) {
        feed.set_milestone(n, h, t);
    }
    let listener = tokio::net::TcpListener::bind(args.heimdall_listen)
        .await
        .with_context(|| format!("heimdall endpoint: listening on {}", args.heimdall_listen))?;
    let heimdall_addr = listener.local_addr()?;
    let heimdall = serve_heimdall(listener, feed.clone());
    {
        let mut out = std::io::stdout().lock();
        for s in &servers {
            writeln!(out, "{}", s.enode())?;
        }
        writeln!(out, "heimdall http://{heimdall_addr}")?;
        out.flush()?;
    }
    eprintln!(
        "devnet: serving blocks 1..={} (head {}) from {} peers; validators {:?}",
        head.number,
        head.hash,
        servers.len(),
        net.validator_addresses()
    );

    let grow = args.grow_every_ms.filter(|ms| *ms > 0).map(|ms| {
        let source = source.clone();
        let feed = feed.clone();
        let spec = spec.clone();
        let mut head = head;
        let mut net = net;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(ms));
            tick.tick().await;
            loop {
                tick.tick().await;
                net.extend(1);
                let Some(b) = net.blocks.last() else { continue };
                source.insert(b);
                // The peers serve the block before they announce it.
                head.number = b.raw.number;
                head.hash = b.raw.hash;
                head.timestamp = b.header.timestamp;
                head.total_difficulty += b.header.difficulty;
                head_tx.send_replace(local_status(&spec, &head));
                let new = due(&net, published);
                published += new.len();
                feed.publish(new);
                if let Some((n, h, t)) = milestone(&net) {
                    feed.set_milestone(n, h, t);
                }
            }
        })
    });
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    if let Some(g) = grow {
        g.abort();
    }
    heimdall.abort();
    drop(servers);
    Ok(())
}
