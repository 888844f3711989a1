//! `fleet`: the fleet-scaling benchmark.
//!
//! Syncs the same `hypasis devnet` chain with 1, 2, 4, ... fetchers (real `hypasis-store`,
//! `hypasis-scheduler` and `hypasis-fetcher` processes over mTLS) and prints the end-to-end
//! blocks/s of each fleet beside the raw decode + validate rate of the same blocks, measured in
//! this process on one core in the same run.
//!
//! Each fetcher gets its own `--peers-per-fetcher` devnet peers (disjoint `--peer` sets, no
//! discovery), each peer capped at `--peer-rate-mbps` per connection, so the aggregate bandwidth
//! grows with the fleet as it does when every fetcher pod has its own peers. With a cap low
//! enough that bandwidth, not CPU, is the bottleneck, the speed-up is measurable on a 2-core
//! machine.
//!
//! Per fleet size: a fresh store (`--data-dir`), the devnet's checkpoints put into it, one
//! scheduler anchored at the devnet's tip (`--anchor TIP:HASH --tip TIP --genesis 1`), then N
//! fetchers; the clock runs from spawning the fetchers until the store's `GetRanges` reports no
//! gap in `[1, blocks]`. Every child process is killed when the benchmark ends, fails, panics
//! or gets Ctrl-C / SIGTERM.
//!
//! ```sh
//! cargo build --release -p hypasis-cli -p hypasis-store-service -p hypasis-scheduler-service -p hypasis-fetcher-service
//! cargo run --release -p hypasis-bench --bin fleet -- --blocks 20000 --fetchers 1,2,4
//! ```

use std::{
    fmt::Write as _,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use hypasis_primitives::{ChainSpec, Checkpoint};
use hypasis_proto::v1;
use hypasis_proto::v1::scheduler_client::SchedulerClient;
use hypasis_proto::v1::store_client::StoreClient;
use hypasis_validation::{
    Anchors, CheckpointAnchor, SealedHeader, Validator, input::blocks_from_chain_rlp,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// Fleet-scaling benchmark: the same devnet chain synced by 1, 2, 4, ... fetchers.
#[derive(Debug, Parser)]
#[command(name = "fleet")]
struct Args {
    /// Blocks of the devnet chain (all synced, backward from the tip, on every run).
    #[arg(long, default_value_t = 20_000)]
    blocks: u64,
    /// Fleet sizes to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    fetchers: Vec<usize>,
    /// Outbound cap per devnet peer connection, Mbit/s (0: uncapped). The default keeps the
    /// 4-fetcher fleet bandwidth-bound on a 2-core machine (see docs/PERFORMANCE.md).
    #[arg(long, default_value_t = 1.0)]
    peer_rate_mbps: f64,
    /// Devnet peers per fetcher; each fetcher dials only its own.
    #[arg(long, default_value_t = 2)]
    peers_per_fetcher: usize,
    /// Transactions per devnet block.
    #[arg(long, default_value_t = 4)]
    txs_per_block: usize,
    /// Blocks per devnet checkpoint (the scheduler's work units follow them).
    #[arg(long, default_value_t = 256)]
    checkpoint_len: u64,
    /// Each fetcher's `--memory-budget-mb`.
    #[arg(long, default_value_t = 64)]
    memory_budget_mb: u64,
    /// Each fetcher's `--parallel-units`.
    #[arg(long, default_value_t = 4)]
    parallel_units: u32,
    /// Repetitions per fleet size (the table gives the median and the range).
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Directory of the `hypasis`, `hypasis-store`, `hypasis-scheduler` and
    /// `hypasis-fetcher` binaries (default: the directory of this executable, i.e.
    /// `target/release` under `cargo run --release`).
    #[arg(long, value_name = "DIR")]
    release_binaries: Option<PathBuf>,
    /// Keep certificates, data and logs here (default: a temporary directory, removed).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Give up on one sync after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
}

// ---------------------------------------------------------------------------------------------
// Child processes: killed on drop, on panic (unwinding drops them) and on Ctrl-C / SIGTERM.

/// Pids of the running children, for the signal handler.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// The temporary work directory, removed by the signal handler too.
static TEMP_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

fn kill_pid(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Kills every registered child (the signal path; normal exits drop the guards).
fn kill_all_children() {
    let pids = std::mem::take(&mut *CHILDREN.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in pids {
        kill_pid(pid);
    }
}

/// A child process with its output in a log file; killed and reaped on drop.
#[derive(Debug)]
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Spawns `cmd` with stderr (and stdout, unless `stdout` is given) to `log`.
    fn spawn(
        name: &str,
        mut cmd: Command,
        log: &Path,
        stdout: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let err = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
        let out = match stdout {
            Some(p) => std::fs::File::create(p).with_context(|| format!("{}", p.display()))?,
            None => err.try_clone()?,
        };
        cmd.stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .stdin(Stdio::null());
        let mut registry = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {name}: {cmd:?}"))?;
        registry.push(child.id());
        Ok(Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    /// An error with the end of the log when the process has exited.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited with {status}; end of {}:\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log, 40)
            );
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let pid = self.child.id();
        CHILDREN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != pid);
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A free local TCP address (bound and released; the child binds it right after).
fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

// ---------------------------------------------------------------------------------------------

/// Where the service binaries are.
#[derive(Debug)]
struct Bins {
    dir: PathBuf,
}

impl Bins {
    fn find(arg: Option<PathBuf>) -> anyhow::Result<Self> {
        let dir = match arg {
            Some(d) => d,
            None => std::env::current_exe()?
                .parent()
                .context("executable without a directory")?
                .to_path_buf(),
        };
        let bins = Self { dir };
        for b in [
            "hypasis",
            "hypasis-store",
            "hypasis-scheduler",
            "hypasis-fetcher",
        ] {
            ensure!(
                bins.path(b).is_file(),
                "{} not found; build the binaries first: cargo build --release -p hypasis-cli \
                 -p hypasis-store-service -p hypasis-scheduler-service -p hypasis-fetcher-service (or pass \
                 --release-binaries DIR)",
                bins.path(b).display()
            );
        }
        Ok(bins)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn cmd(&self, name: &str) -> Command {
        Command::new(self.path(name))
    }
}

/// The devnet: its files and its peers.
#[derive(Debug)]
struct Devnet {
    proc: Proc,
    enodes: Vec<String>,
    chain: Vec<u8>,
    receipts: Vec<u8>,
    checkpoints: Vec<Checkpoint>,
    tip_hash: String,
}

fn start_devnet(
    args: &Args,
    bins: &Bins,
    work: &Path,
    peers: usize,
) -> anyhow::Result<(Devnet, Duration)> {
    let out_dir = work.join("devnet");
    let mut cmd = bins.cmd("hypasis");
    cmd.args(["devnet", "--blocks", &args.blocks.to_string()])
        .args(["--peers", &peers.to_string()])
        .args(["--txs-per-block", &args.txs_per_block.to_string()])
        .args(["--checkpoint-len", &args.checkpoint_len.to_string()])
        .args([
            "--listen-base",
            "127.0.0.1:0",
            "--heimdall-listen",
            "127.0.0.1:0",
        ])
        .arg("--out")
        .arg(&out_dir);
    if args.peer_rate_mbps > 0.0 {
        cmd.args(["--peer-rate-mbps", &args.peer_rate_mbps.to_string()]);
    }
    let stdout = work.join("devnet.stdout");
    let started = Instant::now();
    let mut proc = Proc::spawn(
        "hypasis devnet",
        cmd,
        &work.join("devnet.log"),
        Some(&stdout),
    )?;
    let deadline = started + Duration::from_secs(600);
    let enodes = loop {
        let text = std::fs::read_to_string(&stdout).unwrap_or_default();
        if text.lines().any(|l| l.starts_with("heimdall ")) {
            break text
                .lines()
                .filter(|l| l.starts_with("enode://"))
                .map(str::to_string)
                .collect::<Vec<_>>();
        }
        proc.check_alive()?;
        ensure!(Instant::now() < deadline, "devnet did not come up in 600 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    let generated = started.elapsed();
    ensure!(
        enodes.len() == peers,
        "devnet printed {} enodes, expected {peers}",
        enodes.len()
    );
    let chain = std::fs::read(out_dir.join("chain.rlp")).context("devnet chain.rlp")?;
    let receipts = std::fs::read(out_dir.join("receipts.rlp")).context("devnet receipts.rlp")?;
    let checkpoints: Vec<Checkpoint> = serde_json::from_slice(
        &std::fs::read(out_dir.join("checkpoints.json")).context("devnet checkpoints.json")?,
    )
    .context("parsing checkpoints.json")?;
    let blocks = blocks_from_chain_rlp(&chain, None).context("devnet chain.rlp")?;
    let last = blocks.last().context("empty devnet chain")?;
    let tip = SealedHeader::decode(&last.header).map_err(anyhow::Error::msg)?;
    ensure!(
        tip.number() == args.blocks,
        "devnet tip is {}, expected {}",
        tip.number(),
        args.blocks
    );
    Ok((
        Devnet {
            proc,
            enodes,
            chain,
            receipts,
            checkpoints,
            tip_hash: tip.hash.to_string(),
        },
        generated,
    ))
}

/// Raw rate: decode `chain.rlp` + `receipts.rlp` and validate every block (header rules, Bor
/// seal, bodies, receipts, linkage, checkpoint roots) with the fetchers' `Validator`, on a
/// rayon pool of one thread. Returns the best of `reps` wall times.
fn raw_validate(net: &Devnet, reps: usize) -> anyhow::Result<Duration> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let validator = Validator::new(ChainSpec::devnet());
    let anchors = Anchors {
        checkpoints: net.checkpoints.iter().map(CheckpointAnchor::from).collect(),
        ..Default::default()
    };
    let mut best = Duration::MAX;
    for _ in 0..reps.max(1) {
        let took = pool.install(|| -> anyhow::Result<Duration> {
            let start = Instant::now();
            let blocks = blocks_from_chain_rlp(&net.chain, Some(&net.receipts))?;
            validator
                .validate_range(&blocks, &anchors)
                .map_err(|e| anyhow::anyhow!("devnet chain does not validate: {e}"))?;
            Ok(start.elapsed())
        })?;
        best = best.min(took);
    }
    Ok(best)
}

/// Bytes per block on the wire, approximately: eth messages are snappy-compressed, so
/// compress `chain.rlp` and `receipts.rlp` in 1 MiB pieces (about the size of a response).
fn wire_bytes_per_block(net: &Devnet, blocks: u64) -> anyhow::Result<f64> {
    let mut enc = snap::raw::Encoder::new();
    let mut total = 0usize;
    for file in [&net.chain, &net.receipts] {
        for piece in file.chunks(1 << 20) {
            total += enc.compress_vec(piece)?.len();
        }
    }
    Ok(total as f64 / blocks as f64)
}

/// A gRPC channel with the operator's client certificate.
async fn channel(url: &str, tls: &Path, domain: &str) -> anyhow::Result<Channel> {
    let ca = Certificate::from_pem(std::fs::read(tls.join("ca.pem"))?);
    let id = Identity::from_pem(
        std::fs::read(tls.join("admin.pem"))?,
        std::fs::read(tls.join("admin.key"))?,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ep = Channel::from_shared(url.to_string())?.tls_config(
            ClientTlsConfig::new()
                .ca_certificate(ca.clone())
                .identity(id.clone())
                .domain_name(domain),
        )?;
        match ep.connect().await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => bail!("{domain} at {url} not reachable: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// One sync's result.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// Spawning the fetchers → no gap left.
    wall: Duration,
    /// Spawning the fetchers → the first block stored.
    first_block: Duration,
}

fn common_args(cmd: &mut Command, listen: SocketAddr, tls: &Path) -> anyhow::Result<()> {
    cmd.arg("--listen")
        .arg(listen.to_string())
        .arg("--metrics-listen")
        .arg(free_addr()?.to_string())
        .arg("--tls-dir")
        .arg(tls);
    Ok(())
}

/// Syncs the devnet with `n` fetchers from scratch.
async fn sync_once(
    args: &Args,
    bins: &Bins,
    net: &mut Devnet,
    tls: &Path,
    dir: &Path,
    n: usize,
) -> anyhow::Result<Run> {
    std::fs::create_dir_all(dir)?;
    let store_addr = free_addr()?;
    let sched_addr = free_addr()?;
    let store_url = format!("https://{store_addr}");

    let mut cmd = bins.cmd("hypasis-store");
    common_args(&mut cmd, store_addr, tls)?;
    cmd.arg("--data-dir").arg(dir.join("data"));
    let mut store = Proc::spawn("hypasis-store", cmd, &dir.join("store.log"), None)?;
    let mut client = StoreClient::new(channel(&store_url, tls, "store").await?);
    for c in &net.checkpoints {
        client
            .put_checkpoint(v1::PutCheckpointRequest {
                checkpoint: Some(c.into()),
            })
            .await
            .with_context(|| format!("PutCheckpoint {}", c.id))?;
    }

    let mut cmd = bins.cmd("hypasis-scheduler");
    common_args(&mut cmd, sched_addr, tls)?;
    cmd.args(["--store", &store_url, "--chain", "devnet"])
        .args(["--anchor", &format!("{}:{}", args.blocks, net.tip_hash)])
        .args(["--tip", &args.blocks.to_string(), "--genesis", "1"]);
    let mut sched = Proc::spawn("hypasis-scheduler", cmd, &dir.join("scheduler.log"), None)?;
    // Ready: leader, with the schedule made.
    let mut sc =
        SchedulerClient::new(channel(&format!("https://{sched_addr}"), tls, "scheduler").await?);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(s) = sc.get_status(v1::GetSchedulerStatusRequest {}).await {
            let s = s.into_inner();
            let remaining: u64 = s.directions.iter().map(|d| d.remaining_blocks).sum();
            if s.leader && remaining > 0 {
                break;
            }
        }
        sched.check_alive()?;
        store.check_alive()?;
        ensure!(Instant::now() < deadline, "scheduler not ready after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let started = Instant::now();
    let mut fetchers = Vec::with_capacity(n);
    for i in 0..n {
        let mut cmd = bins.cmd("hypasis-fetcher");
        common_args(&mut cmd, free_addr()?, tls)?;
        cmd.args(["--scheduler", &format!("https://{sched_addr}")])
            .args(["--store", &store_url, "--chain", "devnet", "--no-discovery"])
            .args(["--memory-budget-mb", &args.memory_budget_mb.to_string()])
            .args(["--parallel-units", &args.parallel_units.to_string()])
            .args(["--id", &format!("fleet-{i}")]);
        let ppf = args.peers_per_fetcher;
        for e in &net.enodes[i * ppf..(i + 1) * ppf] {
            cmd.args(["--peer", e]);
        }
        fetchers.push(Proc::spawn(
            &format!("hypasis-fetcher {i}"),
            cmd,
            &dir.join(format!("fetcher-{i}.log")),
            None,
        )?);
    }

    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut first_block = None;
    let mut last_report = Instant::now();
    loop {
        let r = client
            .get_ranges(v1::GetRangesRequest {
                within: Some(v1::BlockRange {
                    start: 1,
                    end: args.blocks,
                }),
            })
            .await
            .context("GetRanges")?
            .into_inner();
        if r.present_blocks > 0 && first_block.is_none() {
            first_block = Some(started.elapsed());
        }
        if r.missing_blocks == 0 && r.gaps.is_empty() && r.present_blocks >= args.blocks {
            return Ok(Run {
                wall: started.elapsed(),
                first_block: first_block.unwrap_or_default(),
            });
        }
        for p in fetchers
            .iter_mut()
            .chain([&mut sched, &mut store, &mut net.proc])
        {
            p.check_alive()?;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "fleet:   {n} fetcher(s): {}/{} blocks after {:.0?}",
                r.present_blocks,
                args.blocks,
                started.elapsed()
            );
        }
        ensure!(
            Instant::now() < deadline,
            "not synced after {} s ({} of {} blocks); logs in {}",
            args.timeout_secs,
            r.present_blocks,
            args.blocks,
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.blocks > 0, "--blocks must be positive");
    ensure!(
        !args.fetchers.is_empty() && args.fetchers.iter().all(|n| *n > 0),
        "--fetchers needs positive fleet sizes"
    );
    ensure!(
        args.peers_per_fetcher > 0,
        "--peers-per-fetcher must be positive"
    );
    let bins = Bins::find(args.release_binaries.clone())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.spawn(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
        eprintln!("fleet: interrupted; stopping the child processes");
        kill_all_children();
        if let Some(dir) = TEMP_DIR.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::process::exit(130);
    });
    let result = rt.block_on(run(&args, &bins));
    kill_all_children();
    result
}

async fn run(args: &Args, bins: &Bins) -> anyhow::Result<()> {
    let tmp;
    let work = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir()?;
            *TEMP_DIR.lock().unwrap_or_else(|e| e.into_inner()) = Some(tmp.path().to_path_buf());
            tmp.path().to_path_buf()
        }
    };
    let tls = work.join("tls");
    let status = bins
        .cmd("hypasis")
        .args(["certs", "generate", "--out"])
        .arg(&tls)
        .stdout(Stdio::null())
        .status()?;
    ensure!(status.success(), "hypasis certs generate failed");

    let max_n = *args.fetchers.iter().max().unwrap_or(&1);
    let peers = max_n * args.peers_per_fetcher;
    let load_before = load_avg();
    eprintln!(
        "fleet: generating a {}-block devnet served by {peers} peers ({}) ...",
        args.blocks,
        if args.peer_rate_mbps > 0.0 {
            format!("{} Mbit/s per connection", args.peer_rate_mbps)
        } else {
            "uncapped".into()
        }
    );
    let (mut net, gen_time) =
        tokio::task::block_in_place(|| start_devnet(args, bins, &work, peers))?;
    let bytes = net.chain.len() + net.receipts.len();
    let bytes_per_block = bytes as f64 / args.blocks as f64;
    let wire_per_block = wire_bytes_per_block(&net, args.blocks)?;
    eprintln!(
        "fleet: devnet up after {gen_time:.1?}: {} checkpoints, {bytes_per_block:.0} bytes per \
         block (chain.rlp + receipts.rlp), ~{wire_per_block:.0} snappy-compressed; measuring the \
         raw rate ...",
        net.checkpoints.len(),
    );
    let raw_before = tokio::task::block_in_place(|| raw_validate(&net, 3))?;
    eprintln!(
        "fleet: raw decode + validate, 1 core: {:.0} blocks/s ({raw_before:.2?})",
        args.blocks as f64 / raw_before.as_secs_f64()
    );

    let mut results: Vec<(usize, Vec<Run>)> = Vec::new();
    for &n in &args.fetchers {
        let mut runs = Vec::new();
        for r in 0..args.runs.max(1) {
            eprintln!("fleet: syncing with {n} fetcher(s), run {} ...", r + 1);
            let dir = work.join(format!("fleet-{n}-run-{}", r + 1));
            let run = sync_once(args, bins, &mut net, &tls, &dir, n).await?;
            eprintln!(
                "fleet: {n} fetcher(s): {} blocks in {:.2?} = {:.0} blocks/s (first block after \
                 {:.2?})",
                args.blocks,
                run.wall,
                args.blocks as f64 / run.wall.as_secs_f64(),
                run.first_block
            );
            runs.push(run);
            if args.work_dir.is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        results.push((n, runs));
    }
    let load_after = load_avg();
    // Again after the fleets (the machine may be shared): the table uses the faster one.
    let raw_after = tokio::task::block_in_place(|| raw_validate(&net, 3))?;
    let raw = raw_before.min(raw_after);
    let raw_rate = args.blocks as f64 / raw.as_secs_f64();
    let rate_of = |d: Duration| args.blocks as f64 / d.as_secs_f64();
    eprintln!(
        "fleet: raw decode + validate, 1 core: {:.0} blocks/s before the fleets, {:.0} after",
        rate_of(raw_before),
        rate_of(raw_after)
    );

    let rate = |runs: &[Run]| -> Vec<f64> {
        runs.iter()
            .map(|r| args.blocks as f64 / r.wall.as_secs_f64())
            .collect()
    };
    let base = results
        .iter()
        .find(|(n, _)| *n == 1)
        .map(|(_, runs)| median(rate(runs)));
    let mut out = String::new();
    let cap = |peers: usize| {
        if args.peer_rate_mbps > 0.0 {
            let mbps = peers as f64 * args.peer_rate_mbps;
            let ceiling = mbps * 1e6 / 8.0 / wire_per_block;
            format!("{mbps:.1} Mbit/s (≈{ceiling:.0} blocks/s)")
        } else {
            "uncapped".into()
        }
    };
    writeln!(
        out,
        "\nFleet scaling: {} devnet blocks ({} txs each, {bytes_per_block:.0} B/block in chain.rlp \
         + receipts.rlp, ~{wire_per_block:.0} B snappy-compressed), {} peer(s) per fetcher, {}",
        args.blocks,
        args.txs_per_block,
        args.peers_per_fetcher,
        if args.peer_rate_mbps > 0.0 {
            format!("{} Mbit/s per peer connection", args.peer_rate_mbps)
        } else {
            "peers uncapped".into()
        }
    )?;
    writeln!(
        out,
        "Machine: {} × {}; load average before {load_before}, after {load_after}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    )?;
    writeln!(
        out,
        "| fetchers | peers | aggregate peer cap (≈ ceiling) | wall time | first block | \
         end-to-end blocks/s | speed-up vs 1 | vs raw 1-core rate |"
    )?;
    writeln!(out, "|---:|---:|---|---:|---:|---:|---:|---:|")?;
    for (n, runs) in &results {
        let rates = rate(runs);
        let med = median(rates.clone());
        let walls: Vec<f64> = runs.iter().map(|r| r.wall.as_secs_f64()).collect();
        let firsts: Vec<f64> = runs.iter().map(|r| r.first_block.as_secs_f64()).collect();
        let range = if rates.len() > 1 {
            let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rates.iter().copied().fold(0.0, f64::max);
            format!(" ({lo:.0}–{hi:.0})")
        } else {
            String::new()
        };
        let speedup = base.map_or_else(|| "—".to_string(), |b| format!("{:.2}×", med / b));
        writeln!(
            out,
            "| {n} | {} | {} | {:.1} s | {:.1} s | {med:.0}{range} | {speedup} | {:.1}% |",
            n * args.peers_per_fetcher,
            cap(n * args.peers_per_fetcher),
            median(walls),
            median(firsts),
            100.0 * med / raw_rate
        )?;
    }
    writeln!(
        out,
        "| raw decode + validate (same blocks, in process, 1 core; best of 3 before and 3 \
         after the fleets: {:.0} / {:.0}) | — | — | {:.2} s | — | {raw_rate:.0} | — | 100% |",
        rate_of(raw_before),
        rate_of(raw_after),
        raw.as_secs_f64()
    )?;
    println!("{out}");
    Ok(())
}
