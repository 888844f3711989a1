//! `hypasis p2p fetch | serve | ping | discover | bench`: probe and exercise devp2p peers.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::U256;
use anyhow::Context;
use clap::{Args, Subcommand};
use hypasis_downloader::fetch::{FetchConfig, FetchError, FetchedBlock, Progress, fetch_range};
use hypasis_eth_wire::EthVersion;
use hypasis_network::{
    BlockSource,
    blockfile::{self, BlockFileError},
    chain::{Head, session_config},
    server::Server,
    session::{SessionConfig, SessionError, connect},
};
use hypasis_primitives::chain::ChainSpec;
use hypasis_rlpx::{
    Enode, SecretKey,
    identity::{generate_secret_key, load_or_generate_secret_key},
};

use crate::chains::ChainArg;

/// `hypasis p2p ...`
#[derive(Debug, Args)]
pub struct P2pArgs {
    #[command(subcommand)]
    command: P2pCommand,
}

#[derive(Debug, Subcommand)]
enum P2pCommand {
    /// Downloads and checks blocks N..=M from one peer into DIR/chain.rlp and
    /// DIR/receipts.rlp.
    Fetch(FetchArgs),
    /// Serves blocks from a chain.rlp (and receipts.rlp) to any devp2p peer.
    Serve(ServeArgs),
    /// Handshakes with a peer and prints its Hello and Status.
    Ping(PingArgs),
    /// Runs discv4 from the given bootnodes for a while and prints the nodes found, one
    /// enode URL per line (the first line is our own enode, so another `discover` can use it
    /// as its bootnode).
    Discover(DiscoverArgs),
    /// Measures headers/s and bodies/s over loopback from 1 and 4 local serving peers, next
    /// to the raw decode+keccak rate of the same data.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Blocks in the synthetic chain.
    #[arg(long, default_value_t = 20_000)]
    blocks: u64,
    /// Transactions per block.
    #[arg(long, default_value_t = 20)]
    txs: usize,
    /// Serving-peer counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    peers: Vec<usize>,
    /// Per-connection outbound cap of the serving peers (Mbit/s); unlimited by default.
    #[arg(long)]
    peer_rate_mbps: Option<f64>,
    /// Requests in flight per peer.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
}

/// Options shared by commands that dial.
#[derive(Debug, Clone, Args)]
struct DialOpts {
    /// Node key file (created if missing); a fresh key is used when absent.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Offer only this eth version (68, 69 or 70); default offers the chain's versions
    /// (Ethereum: 70, 69, 68; Bor chains: 69, 68).
    #[arg(long, value_name = "VERSION")]
    eth: Option<u32>,
    /// Handshake timeout in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct FetchArgs {
    /// The peer's enode:// URL.
    #[arg(long)]
    peer: String,
    #[command(flatten)]
    chain: ChainArg,
    /// First block.
    #[arg(long)]
    from: u64,
    /// Last block (inclusive).
    #[arg(long)]
    to: u64,
    /// Output directory (created).
    #[arg(long)]
    out: PathBuf,
    /// Requests in flight per kind.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Headers per request.
    #[arg(long, default_value_t = 512)]
    headers_per_request: u64,
    /// Bodies / receipt lists per request.
    #[arg(long, default_value_t = 128)]
    bodies_per_request: usize,
    /// Skip receipts (receipts.rlp is not written).
    #[arg(long)]
    no_receipts: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    dial: DialOpts,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    chain: ChainArg,
    /// Blocks to serve, in geth export format.
    #[arg(long, value_name = "FILE")]
    blocks: PathBuf,
    /// Receipts to serve (one eth/68 receipt list per block).
    #[arg(long, value_name = "FILE")]
    receipts: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:30303")]
    listen: String,
    /// Node key file (created if missing); a fresh key is used when absent.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Per-connection outbound bandwidth cap in megabits per second.
    #[arg(long, value_name = "MBPS")]
    peer_rate_mbps: Option<f64>,
    /// Maximum concurrent peers.
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Offer only this eth version (68, 69 or 70); default offers the chain's versions
    /// (Ethereum: 70, 69, 68; Bor chains: 69, 68).
    #[arg(long, value_name = "VERSION")]
    eth: Option<u32>,
}

#[derive(Debug, Args)]
struct PingArgs {
    /// The peer's enode:// URL.
    enode: String,
    #[command(flatten)]
    chain: ChainArg,
    #[command(flatten)]
    dial: DialOpts,
}

#[derive(Debug, Args)]
struct DiscoverArgs {
    /// Bootnode enode:// URL (repeatable). Without any, this node only answers others.
    #[arg(long = "bootnode", value_name = "ENODE")]
    bootnodes: Vec<String>,
    /// UDP address to listen on.
    #[arg(long, default_value = "0.0.0.0:30301")]
    listen: std::net::SocketAddr,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Node key file (created if missing); a fresh key is used when absent.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

/// Errors of the p2p commands (printed with their context chain by `main`).
#[derive(Debug, thiserror::Error)]
enum P2pError {
    #[error("invalid enode URL `{url}`: {source}")]
    Enode {
        url: String,
        source: hypasis_rlpx::EnodeError,
    },
    #[error("--from {from} is above --to {to}")]
    EmptyRange { from: u64, to: u64 },
    #[error("unsupported eth version {0} (use 68, 69 or 70)")]
    EthVersion(u32),
    #[error("connecting to {peer}: {source}")]
    Connect { peer: String, source: SessionError },
    #[error("download failed: {0}")]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    BlockFile(#[from] BlockFileError),
    #[error("{0}")]
    Io(String),
    #[error("{what}: {reason}")]
    Data { what: String, reason: String },
}

/// Runs `hypasis p2p`.
pub fn run(args: P2pArgs) -> anyhow::Result<()> {
    init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        match args.command {
            P2pCommand::Fetch(a) => fetch(a).await,
            P2pCommand::Serve(a) => serve(a).await,
            P2pCommand::Ping(a) => ping(a).await,
            P2pCommand::Bench(a) => bench(a).await,
            P2pCommand::Discover(a) => discover(a).await,
        }
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn parse_enode(url: &str) -> Result<Enode, P2pError> {
    url.parse().map_err(|source| P2pError::Enode {
        url: url.to_string(),
        source,
    })
}

/// `--eth N` restricts the offer to eth/N; without it the chain's versions (already in
/// `config`, see `SessionConfig::for_chain`) stay.
fn restrict_eth_version(config: &mut SessionConfig, v: Option<u32>) -> Result<(), P2pError> {
    if let Some(n) = v {
        config.eth_versions = vec![EthVersion::from_number(n).ok_or(P2pError::EthVersion(n))?];
    }
    Ok(())
}

fn secret(key_file: Option<&Path>) -> anyhow::Result<SecretKey> {
    match key_file {
        Some(p) => load_or_generate_secret_key(p)
            .with_context(|| format!("loading node key {}", p.display())),
        None => Ok(generate_secret_key()),
    }
}

async fn dial(
    spec: &ChainSpec,
    url: &str,
    opts: &DialOpts,
) -> anyhow::Result<hypasis_network::Session> {
    let enode = parse_enode(url)?;
    let key = secret(opts.key_file.as_deref())?;
    let mut config: SessionConfig = session_config(spec, &Head::genesis(spec));
    restrict_eth_version(&mut config, opts.eth)?;
    config.handshake_timeout = Duration::from_secs(opts.timeout.max(1));
    let session = connect(&key, &enode, config)
        .await
        .map_err(|source| P2pError::Connect {
            peer: url.to_string(),
            source,
        })?;
    Ok(session)
}

async fn discover(args: DiscoverArgs) -> anyhow::Result<()> {
    use hypasis_discv4::{Discv4, Discv4Config};
    let bootnodes = args
        .bootnodes
        .iter()
        .map(|url| {
            url.parse::<Enode>().map_err(|source| P2pError::Enode {
                url: url.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let secret = match &args.key_file {
        Some(path) => load_or_generate_secret_key(path)
            .with_context(|| format!("node key {}", path.display()))?,
        None => generate_secret_key(),
    };
    let config = Discv4Config {
        bootnodes,
        refresh_interval: Duration::from_secs(5),
        ..Discv4Config::default()
    };
    let disc = Discv4::bind(args.listen, secret, config)
        .await
        .with_context(|| format!("binding UDP {}", args.listen))?;
    println!("{}", disc.local_enode());
    std::io::stdout().flush()?;
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    let found = disc.enodes();
    eprintln!("found {} nodes", found.len());
    for enode in found {
        println!("{enode}");
    }
    Ok(())
}

async fn ping(args: PingArgs) -> anyhow::Result<()> {
    let spec = args.chain.spec()?;
    let started = Instant::now();
    let session = dial(&spec, &args.enode, &args.dial).await?;
    let info = session.info();
    let hello = &info.remote_hello;
    println!(
        "handshake:     {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    println!("node id:       {}", info.remote_id);
    if let Some(addr) = info.remote_addr {
        println!("address:       {addr}");
    }
    println!("client:        {}", hello.client_id);
    println!("p2p version:   {}", hello.protocol_version);
    let caps: Vec<String> = hello.capabilities.iter().map(|c| c.to_string()).collect();
    println!("capabilities:  {}", caps.join(", "));
    println!("listen port:   {}", hello.listen_port);
    println!("eth version:   {}", info.eth_version.number());
    println!("dialect:       {}", info.dialect);
    println!("snappy:        {}", info.snappy);
    let st = &info.remote_status;
    println!("network id:    {}", st.network_id());
    println!("genesis:       {}", st.genesis());
    let fork = st.fork_id();
    println!(
        "fork id:       0x{} (next {})",
        hex::encode(fork.hash.0),
        fork.next
    );
    match st {
        hypasis_eth_wire::Status::Eth68(s) => {
            println!("head:          {}", s.head_hash);
            println!("total diff.:   {}", s.total_difficulty);
        }
        hypasis_eth_wire::Status::Eth69(s) => {
            println!("block range:   {}..={}", s.earliest_block, s.latest_block);
            println!("latest hash:   {}", s.latest_hash);
            if let Some(td) = s.total_difficulty {
                println!("total diff.:   {td}");
            }
        }
    }
    session
        .disconnect(hypasis_rlpx::p2p::DisconnectReason::ClientQuitting)
        .await;
    Ok(())
}

struct Writer {
    chain: std::io::BufWriter<std::fs::File>,
    receipts: Option<std::io::BufWriter<std::fs::File>>,
}

impl Writer {
    fn create(dir: &Path, receipts: bool) -> Result<Self, P2pError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| P2pError::Io(format!("creating {}: {e}", dir.display())))?;
        let open = |name: &str| {
            let path = dir.join(name);
            std::fs::File::create(&path)
                .map(std::io::BufWriter::new)
                .map_err(|e| P2pError::Io(format!("creating {}: {e}", path.display())))
        };
        Ok(Self {
            chain: open("chain.rlp")?,
            receipts: if receipts {
                Some(open("receipts.rlp")?)
            } else {
                None
            },
        })
    }

    fn write(&mut self, blocks: &[FetchedBlock]) -> Result<(), P2pError> {
        for b in blocks {
            let block = blockfile::block_rlp(&b.header, &b.body).map_err(|e| P2pError::Data {
                what: format!("block {}", b.number),
                reason: e.to_string(),
            })?;
            self.chain
                .write_all(&block)
                .map_err(|e| P2pError::Io(format!("writing chain.rlp: {e}")))?;
            if let Some(r) = &mut self.receipts {
                r.write_all(&blockfile::receipts_file_item(&b.receipts))
                    .map_err(|e| P2pError::Io(format!("writing receipts.rlp: {e}")))?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), P2pError> {
        self.chain
            .flush()
            .map_err(|e| P2pError::Io(format!("writing chain.rlp: {e}")))?;
        if let Some(r) = &mut self.receipts {
            r.flush()
                .map_err(|e| P2pError::Io(format!("writing receipts.rlp: {e}")))?;
        }
        Ok(())
    }
}

async fn fetch(args: FetchArgs) -> anyhow::Result<()> {
    if args.from > args.to {
        return Err(P2pError::EmptyRange {
            from: args.from,
            to: args.to,
        }
        .into());
    }
    let spec = args.chain.spec()?;
    let session = dial(&spec, &args.peer, &args.dial).await?;
    let info = session.info().clone();
    tracing::info!(
        peer = %info.remote_id,
        client = %info.remote_hello.client_id,
        eth = info.eth_version.number(),
        "connected"
    );
    let mut writer = Writer::create(&args.out, !args.no_receipts)?;
    let total = args.to - args.from + 1;
    let bar = crate::progress::blocks_bar(total, args.quiet);
    let config = FetchConfig {
        headers_per_request: args.headers_per_request.clamp(1, 1024),
        bodies_per_request: args.bodies_per_request.max(1),
        receipts_per_request: args.bodies_per_request.max(1),
        in_flight: args.in_flight.max(1),
        receipts: !args.no_receipts,
        ..FetchConfig::for_chain(&spec)
    };
    let handle = session.handle();
    let started = Instant::now();
    let bytes = std::sync::atomic::AtomicU64::new(0);
    let result = fetch_range(
        &handle,
        args.from,
        args.to,
        config,
        |blocks| {
            writer
                .write(&blocks)
                .map_err(|e| FetchError::NoPeers(e.to_string()))
        },
        |p: Progress| {
            bytes.fetch_add(p.bytes, std::sync::atomic::Ordering::Relaxed);
            if p.blocks > 0 {
                bar.inc(p.blocks);
            }
            if p.headers > 0 {
                bar.set_message(format!("+{} headers", p.headers));
            }
        },
    )
    .await;
    bar.finish_and_clear();
    session
        .disconnect(hypasis_rlpx::p2p::DisconnectReason::ClientQuitting)
        .await;
    result.map_err(P2pError::from)?;
    writer.finish()?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mb = bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6;
    println!(
        "fetched {total} blocks ({}..={}) from {} in {secs:.2} s: {:.0} blocks/s, {:.1} MB/s",
        args.from,
        args.to,
        info.remote_hello.client_id,
        total as f64 / secs,
        mb / secs
    );
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let spec = args.chain.spec()?;
    let (source, blocks) = blockfile::load_source(&args.blocks, args.receipts.as_deref())?;
    let Some(last) = blocks.last() else {
        anyhow::bail!("{} contains no blocks", args.blocks.display());
    };
    // Total difficulty of the head: genesis difficulty plus every served block's (exact when
    // the file starts at block 0 or 1).
    let mut td = if blocks.first().is_some_and(|b| b.number == 0) {
        U256::ZERO
    } else {
        spec.genesis_header.difficulty
    };
    let mut last_ts = 0;
    for b in &blocks {
        let h =
            hypasis_downloader::verify::CheckedHeader::decode(b.header.clone()).map_err(|e| {
                P2pError::Data {
                    what: format!("block {}", b.number),
                    reason: e.to_string(),
                }
            })?;
        td += h.header.difficulty;
        last_ts = h.header.timestamp;
    }
    if let Some(first) = blocks.first()
        && first.number == 0
        && first.hash != spec.genesis_hash
    {
        anyhow::bail!(
            "block 0 in {} has hash {} but the chain's genesis is {}",
            args.blocks.display(),
            first.hash,
            spec.genesis_hash
        );
    }
    let head = Head {
        number: last.number,
        timestamp: last_ts,
        hash: last.hash,
        total_difficulty: td,
        earliest: blocks.first().map_or(0, |b| b.number),
    };
    let key = secret(args.key_file.as_deref())?;
    let mut config = session_config(&spec, &head);
    restrict_eth_version(&mut config, args.eth)?;
    let source: Arc<dyn BlockSource> = Arc::new(source);
    config.block_source = Some(source);
    config.outbound_rate = args
        .peer_rate_mbps
        .filter(|r| *r > 0.0)
        .map(|mbps| (mbps * 1e6 / 8.0) as u64);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let server = Server::spawn(listener, key, config, args.max_peers)
        .context("starting the devp2p server")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", server.enode())?;
        out.flush()?;
    }
    tracing::info!(
        blocks = blocks.len(),
        first = blocks.first().map_or(0, |b| b.number),
        last = last.number,
        head = %last.hash,
        listen = %server.local_addr(),
        "serving"
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("shutting down");
    Ok(())
}

/// One measurement of the bench.
struct Rate {
    items: u64,
    secs: f64,
}

/// Runs the jobs `in_flight` at a time and rates the items they report done.
async fn rate_of<J>(in_flight: usize, jobs: impl futures::Stream<Item = J>) -> anyhow::Result<Rate>
where
    J: std::future::Future<Output = anyhow::Result<usize>>,
{
    use futures::StreamExt;
    let t = Instant::now();
    let done: Vec<anyhow::Result<usize>> = jobs.buffer_unordered(in_flight).collect().await;
    let mut items = 0u64;
    for d in done {
        items += d? as u64;
    }
    Ok(Rate {
        items,
        secs: t.elapsed().as_secs_f64(),
    })
}

impl Rate {
    fn per_sec(&self) -> f64 {
        self.items as f64 / self.secs.max(1e-9)
    }
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    use alloy_primitives::{B256, Bytes};
    use futures::{StreamExt, stream};
    use hypasis_downloader::verify::{check_body, check_header_chain};
    use hypasis_network::{
        pool::{Pool, PoolConfig},
        testchain,
    };

    let n = args.blocks.max(1);
    eprintln!("generating {n} blocks with {} txs each ...", args.txs);
    let blocks = testchain::generate(n, args.txs, Some(n / 2));
    let headers: Vec<Bytes> = blocks.iter().map(|b| b.header.clone()).collect();
    let hashes: Vec<B256> = blocks.iter().map(|b| b.hash).collect();
    let header_bytes: usize = headers.iter().map(|h| h.len()).sum();
    let body_bytes: usize = blocks.iter().map(|b| b.body.len()).sum();

    // Raw rate: decode + keccak (+ link check / transactions trie) of the same data.
    let t = Instant::now();
    let checked = check_header_chain(0, None, &headers)?;
    let raw_headers = Rate {
        items: n,
        secs: t.elapsed().as_secs_f64(),
    };
    let t = Instant::now();
    for (h, b) in checked.iter().zip(&blocks) {
        check_body(&h.header, &b.body)?;
    }
    let raw_bodies = Rate {
        items: n,
        secs: t.elapsed().as_secs_f64(),
    };

    let source: Arc<dyn BlockSource> = Arc::new(testchain::source(&blocks));
    let status = hypasis_network::LocalStatus {
        network_id: 9_999_999,
        genesis: blocks[0].hash,
        fork_id: hypasis_eth_wire::ForkId {
            hash: hypasis_eth_wire::eth::ForkHash([1, 2, 3, 4]),
            next: 0,
        },
        total_difficulty: U256::from(n),
        head_hash: blocks[blocks.len() - 1].hash,
        earliest_block: 0,
        latest_block: n - 1,
    };
    let mut results = Vec::new();
    for &peers in &args.peers {
        let peers = peers.max(1);
        let mut servers = Vec::new();
        for _ in 0..peers {
            let mut cfg = SessionConfig::new(status.clone());
            cfg.block_source = Some(source.clone());
            cfg.outbound_rate = args
                .peer_rate_mbps
                .filter(|r| *r > 0.0)
                .map(|mbps| (mbps * 1e6 / 8.0) as u64);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            servers.push(Server::spawn(listener, generate_secret_key(), cfg, 4)?);
        }
        let mut pc = PoolConfig::new(SessionConfig::new(status.clone()));
        pc.static_peers = servers.iter().map(|s| s.enode().clone()).collect();
        pc.max_in_flight_per_peer = args.in_flight.max(1);
        pc.target_rtt = Duration::from_millis(300);
        pc.min_timeout = Duration::from_secs(5);
        pc.initial_capacity = [512, 128, 128];
        let pool = Pool::start(pc, generate_secret_key(), None);
        if !pool.wait_for_peers(peers, Duration::from_secs(10)).await {
            anyhow::bail!(
                "only {} of {peers} bench peers connected",
                pool.peer_count()
            );
        }
        let in_flight = peers * args.in_flight.max(1);

        // Headers: 1024-block chunks, each completed (partial answers re-requested) and
        // checked (decode, keccak, parent links).
        let chunks: Vec<(u64, u64)> = (0..n)
            .step_by(1024)
            .map(|s| (s, (s + 1023).min(n - 1)))
            .collect();
        let net_headers = rate_of(
            in_flight,
            stream::iter(chunks).map(|(s, e)| {
                let pool = &pool;
                async move {
                    let mut next = s;
                    let mut parent = None;
                    while next <= e {
                        let r = pool.request_headers(next, e - next + 1).await?;
                        anyhow::ensure!(!r.data.is_empty(), "empty header answer");
                        let hs = check_header_chain(next, parent, &r.data)?;
                        parent = hs.last().map(|h| h.hash);
                        next += hs.len() as u64;
                    }
                    Ok((e - s + 1) as usize)
                }
            }),
        )
        .await?;

        // Bodies: 128-hash chunks, checked against the transactions root.
        let idx: Vec<usize> = (0..n as usize).collect();
        let net_bodies = rate_of(
            in_flight,
            stream::iter(idx.chunks(128)).map(|chunk| {
                let pool = &pool;
                let hashes = &hashes;
                let checked = &checked;
                async move {
                    let mut done = 0;
                    while done < chunk.len() {
                        let want: Vec<B256> = chunk[done..].iter().map(|i| hashes[*i]).collect();
                        let r = pool.request_bodies(&want).await?;
                        anyhow::ensure!(!r.data.is_empty(), "empty body answer");
                        for (i, body) in chunk[done..].iter().zip(&r.data) {
                            check_body(&checked[*i].header, body)?;
                        }
                        done += r.data.len();
                    }
                    Ok(chunk.len())
                }
            }),
        )
        .await?;
        pool.shutdown().await;
        results.push((peers, net_headers, net_bodies));
    }

    println!(
        "devp2p loopback bench: {n} blocks, {} txs/block, headers {:.1} MB, bodies {:.1} MB, \
         {} requests in flight per peer{}",
        args.txs,
        header_bytes as f64 / 1e6,
        body_bytes as f64 / 1e6,
        args.in_flight,
        args.peer_rate_mbps
            .map(|r| format!(", {r} Mbit/s per peer"))
            .unwrap_or_default()
    );
    println!(
        "raw decode+keccak (1 core): headers {:>10.0}/s   bodies {:>10.0}/s",
        raw_headers.per_sec(),
        raw_bodies.per_sec()
    );
    for (peers, h, b) in &results {
        println!(
            "loopback, {peers} peer(s):       headers {:>10.0}/s ({:>5.1}% of raw)   bodies {:>10.0}/s ({:>5.1}% of raw)",
            h.per_sec(),
            100.0 * h.per_sec() / raw_headers.per_sec(),
            b.per_sec(),
            100.0 * b.per_sec() / raw_bodies.per_sec()
        );
    }
    Ok(())
}
