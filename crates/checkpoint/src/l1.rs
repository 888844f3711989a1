//! The Polygon RootChain contract on Ethereum L1, read through an alloy provider over JSON-RPC
//! (HTTP or WebSocket).
//!
//! - `currentHeaderBlock()` is the newest header-block id; ids step by 10,000 (header block
//!   `n · 10,000` is Heimdall checkpoint `n`).
//! - `headerBlocks(id)` → `(root, start, end, createdAt, proposer)`.
//! - `NewHeaderBlock(proposer, headerBlockId, reward, start, end, root)` is emitted per
//!   checkpoint; [`RootChainSource::watch`] follows it (subscription over WebSocket, `eth_getLogs`
//!   over HTTP) to learn the submitting transaction.
//!
//! **Finality.** Every read is made *at* the finality block: the L1 `finalized` block
//! ([`L1Finality::Finalized`], the default) or `latest − N` ([`L1Finality::Confirmations`]).
//! A checkpoint submitted after that block does not exist for this source yet.

use crate::error::{ErrorKind, SourceError, SourceResult};
use crate::http::{ParseError, ensure_crypto_provider, redact_url};
use crate::retry::{RetryPolicy, retry};
use crate::source::CheckpointSource;
use alloy_primitives::{Address, B256, U256};
use alloy_provider::{DynProvider, Provider, ProviderBuilder};
use alloy_rpc_types_eth::{BlockId, BlockNumberOrTag, Filter, Log, TransactionRequest};
use alloy_sol_types::{SolCall, SolEvent, sol};
use alloy_transport::{RpcError, TransportError};
use futures::StreamExt;
use futures::stream::BoxStream;
use hypasis_gaps::Range;
use hypasis_primitives::{Checkpoint, CheckpointSource as SourceKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Polygon PoS mainnet RootChain proxy on Ethereum mainnet.
pub const POLYGON_MAINNET_ROOT_CHAIN: Address =
    alloy_primitives::address!("86E4Dc95c7FBdBf52e33D563BbDB00823894C287");

/// Header-block ids step by this much per checkpoint.
pub const HEADER_BLOCK_STEP: u64 = 10_000;

sol! {
    /// The read side of the RootChain ABI.
    interface IRootChain {
        /// Emitted for every submitted checkpoint.
        event NewHeaderBlock(
            address indexed proposer,
            uint256 indexed headerBlockId,
            uint256 indexed reward,
            uint256 start,
            uint256 end,
            bytes32 root
        );
        /// The newest header-block id.
        function currentHeaderBlock() external view returns (uint256);
        /// A stored header block.
        function headerBlocks(uint256 headerBlockId) external view returns (
            bytes32 root,
            uint256 start,
            uint256 end,
            uint256 createdAt,
            address proposer
        );
    }
}

/// Which L1 blocks count as final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L1Finality {
    /// The block the node reports as `finalized` (Casper FFG finality).
    Finalized,
    /// `latest − N`: a checkpoint needs `N` blocks on top of the one that included it.
    Confirmations(u64),
}

/// Submission details learnt from a `NewHeaderBlock` log.
#[derive(Clone, Copy, Debug)]
struct Submission {
    tx_hash: Option<B256>,
    block: Option<u64>,
    start: u64,
    end: u64,
    root: B256,
}

/// The RootChain contract source.
#[derive(Debug, Clone)]
pub struct RootChainSource {
    /// Connected on first use (WebSocket), so a node that is down at start-up is a transient
    /// error, not a start-up failure.
    provider: Arc<tokio::sync::OnceCell<DynProvider>>,
    contract: Address,
    finality: L1Finality,
    url: String,
    ws: bool,
    retry: RetryPolicy,
}

fn u256_to_u64(v: U256, what: &str) -> Result<u64, ParseError> {
    u64::try_from(v).map_err(|_| ParseError::TooLarge {
        field: what.to_string(),
        value: v.to_string(),
    })
}

impl RootChainSource {
    /// A source reading the RootChain at `contract` through `url` (`http(s)://` or
    /// `ws(s)://`). HTTP needs no connection; a WebSocket is connected on first use (and
    /// reconnected by the transport).
    pub async fn connect(url: &str, contract: Address, finality: L1Finality) -> SourceResult<Self> {
        ensure_crypto_provider();
        let origin = format!("l1 {}", redact_url(url));
        let ws = url.starts_with("ws://") || url.starts_with("wss://");
        let cell = tokio::sync::OnceCell::new();
        if ws {
            reqwest::Url::parse(url)
                .map_err(|e| SourceError::config(&origin, format!("invalid URL: {e}")))?;
        } else if url.starts_with("http://") || url.starts_with("https://") {
            let parsed = reqwest::Url::parse(url)
                .map_err(|e| SourceError::config(&origin, format!("invalid URL: {e}")))?;
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| SourceError::config(&origin, format!("HTTP client: {e}")))?;
            let provider = ProviderBuilder::new()
                .disable_recommended_fillers()
                .connect_reqwest(client, parsed)
                .erased();
            let _ = cell.set(provider);
        } else {
            return Err(SourceError::config(
                &origin,
                "the L1 RPC URL must be http(s):// or ws(s)://",
            ));
        }
        Ok(Self {
            provider: Arc::new(cell),
            contract,
            finality,
            url: url.to_string(),
            ws,
            retry: RetryPolicy::default(),
        })
    }

    /// Per-request retry policy for transient failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The provider (for callers that need other L1 reads); connects a WebSocket on first use.
    pub async fn provider(&self) -> SourceResult<DynProvider> {
        self.provider
            .get_or_try_init(|| async {
                ProviderBuilder::new()
                    .disable_recommended_fillers()
                    .connect(&self.url)
                    .await
                    .map(|p| p.erased())
                    .map_err(|e| SourceError::transient(self.origin(), format!("connecting: {e}")))
            })
            .await
            .cloned()
    }

    fn origin(&self) -> String {
        format!("l1 {}", redact_url(&self.url))
    }

    fn rpc_err(&self, what: &str, e: TransportError) -> SourceError {
        match &e {
            RpcError::ErrorResp(payload) => {
                let msg = payload.message.to_lowercase();
                if payload.code == 3 || msg.contains("revert") {
                    SourceError::config(
                        self.origin(),
                        format!(
                            "{what}: call reverted ({e}); is {} the RootChain contract?",
                            self.contract
                        ),
                    )
                } else if msg.contains("finalized") || msg.contains("unknown block") {
                    SourceError::transient(
                        self.origin(),
                        format!("{what}: {e} (does the node support the `finalized` tag?)"),
                    )
                } else {
                    SourceError::transient(self.origin(), format!("{what}: {e}"))
                }
            }
            RpcError::DeserError { .. } => {
                SourceError::invalid(self.origin(), format!("{what}: malformed response: {e}"))
            }
            _ => SourceError::transient(self.origin(), format!("{what}: {e}")),
        }
    }

    /// The newest block that counts as final.
    pub async fn finality_block(&self) -> SourceResult<u64> {
        match self.finality {
            L1Finality::Finalized => {
                let block = self
                    .provider()
                    .await?
                    .get_block_by_number(BlockNumberOrTag::Finalized)
                    .await
                    .map_err(|e| self.rpc_err("eth_getBlockByNumber(finalized)", e))?;
                let block = block.ok_or_else(|| {
                    SourceError::transient(self.origin(), "the node has no finalized block yet")
                })?;
                Ok(block.header.number)
            }
            L1Finality::Confirmations(n) => {
                let latest = self
                    .provider()
                    .await?
                    .get_block_number()
                    .await
                    .map_err(|e| self.rpc_err("eth_blockNumber", e))?;
                latest.checked_sub(n).ok_or_else(|| {
                    SourceError::not_found(
                        self.origin(),
                        format!("L1 head {latest} has fewer than {n} confirmations"),
                    )
                })
            }
        }
    }

    async fn call<C: SolCall>(&self, call: C, block: u64, what: &str) -> SourceResult<C::Return> {
        let tx = TransactionRequest::default()
            .to(self.contract)
            .input(call.abi_encode().into());
        let out = self
            .provider()
            .await?
            .call(tx)
            .block(BlockId::number(block))
            .await
            .map_err(|e| self.rpc_err(what, e))?;
        if out.is_empty() {
            return Err(SourceError::config(
                self.origin(),
                format!(
                    "{what}: empty result at L1 block {block}; is there a RootChain contract at {}?",
                    self.contract
                ),
            ));
        }
        C::abi_decode_returns(&out).map_err(|e| {
            SourceError::invalid(self.origin(), format!("{what}: undecodable result: {e}"))
        })
    }

    /// `currentHeaderBlock()` at L1 block `block`.
    pub async fn current_header_block(&self, block: u64) -> SourceResult<u64> {
        let v = self
            .call(
                IRootChain::currentHeaderBlockCall {},
                block,
                "currentHeaderBlock()",
            )
            .await?;
        u256_to_u64(v, "currentHeaderBlock")
            .map_err(|m| SourceError::invalid(self.origin(), m.to_string()))
    }

    /// Checkpoint `id` (header block `id · 10,000`) as stored at L1 block `block`.
    pub async fn header_block(&self, id: u64, block: u64) -> SourceResult<Checkpoint> {
        let header_id = id.checked_mul(HEADER_BLOCK_STEP).ok_or_else(|| {
            SourceError::not_found(self.origin(), format!("checkpoint {id} is out of range"))
        })?;
        let r = self
            .call(
                IRootChain::headerBlocksCall {
                    headerBlockId: U256::from(header_id),
                },
                block,
                "headerBlocks()",
            )
            .await?;
        if r.root.is_zero() && r.start.is_zero() && r.end.is_zero() && r.proposer.is_zero() {
            return Err(SourceError::not_found(
                self.origin(),
                format!(
                    "header block {header_id} (checkpoint {id}) is not on L1 at final block {block}"
                ),
            ));
        }
        let invalid = |m: ParseError| SourceError::invalid(self.origin(), m.to_string());
        let start = u256_to_u64(r.start, "start").map_err(invalid)?;
        let end = u256_to_u64(r.end, "end").map_err(invalid)?;
        let created = u256_to_u64(r.createdAt, "createdAt").map_err(invalid)?;
        let range = Range::new(start, end).map_err(|_| {
            SourceError::invalid(
                self.origin(),
                format!("header block {header_id}: start {start} > end {end}"),
            )
        })?;
        Ok(Checkpoint {
            source: SourceKind::L1RootChain,
            id,
            range,
            root: r.root,
            end_block_hash: None,
            l1_tx_hash: None,
            l1_block: None,
            proposer: Some(r.proposer),
            created_at: Some(created),
            verified_by: vec![SourceKind::L1RootChain],
        })
    }

    /// The newest final checkpoint id (0 when none is final yet) and the finality block.
    pub async fn latest_id(&self) -> SourceResult<(u64, u64)> {
        let block = self.finality_block().await?;
        let current = self.current_header_block(block).await?;
        if current % HEADER_BLOCK_STEP != 0 {
            return Err(SourceError::invalid(
                self.origin(),
                format!("currentHeaderBlock {current} is not a multiple of {HEADER_BLOCK_STEP}"),
            ));
        }
        Ok((current / HEADER_BLOCK_STEP, block))
    }

    fn event_filter(&self) -> Filter {
        Filter::new()
            .address(self.contract)
            .event_signature(IRootChain::NewHeaderBlock::SIGNATURE_HASH)
    }

    fn decode_log(&self, log: &Log) -> Option<(u64, Submission)> {
        let ev = IRootChain::NewHeaderBlock::decode_log_data(log.data()).ok()?;
        let header_id = u64::try_from(ev.headerBlockId).ok()?;
        if header_id % HEADER_BLOCK_STEP != 0 {
            return None;
        }
        Some((
            header_id / HEADER_BLOCK_STEP,
            Submission {
                tx_hash: log.transaction_hash,
                block: log.block_number,
                start: u64::try_from(ev.start).ok()?,
                end: u64::try_from(ev.end).ok()?,
                root: ev.root,
            },
        ))
    }

    /// `NewHeaderBlock` logs in L1 blocks `from..=to`.
    async fn scan(&self, from: u64, to: u64) -> SourceResult<Vec<(u64, Submission)>> {
        let filter = self.event_filter().from_block(from).to_block(to);
        let logs = self
            .provider()
            .await?
            .get_logs(&filter)
            .await
            .map_err(|e| self.rpc_err("eth_getLogs(NewHeaderBlock)", e))?;
        Ok(logs.iter().filter_map(|l| self.decode_log(l)).collect())
    }
}

fn attach(mut cp: Checkpoint, pending: &HashMap<u64, Submission>) -> Checkpoint {
    if let Some(s) = pending.get(&cp.id)
        && s.start == cp.range.start
        && s.end == cp.range.end
        && s.root == cp.root
    {
        cp.l1_tx_hash = s.tx_hash;
        cp.l1_block = s.block;
    }
    cp
}

#[async_trait::async_trait]
impl CheckpointSource for RootChainSource {
    fn kind(&self) -> SourceKind {
        SourceKind::L1RootChain
    }

    fn name(&self) -> String {
        self.origin()
    }

    async fn latest(&self) -> SourceResult<Checkpoint> {
        retry(&self.retry, || async {
            let (id, block) = self.latest_id().await?;
            if id == 0 {
                return Err(SourceError::not_found(
                    self.origin(),
                    format!("no checkpoint is final on L1 yet (final block {block})"),
                ));
            }
            self.header_block(id, block).await
        })
        .await
    }

    async fn by_id(&self, id: u64) -> SourceResult<Checkpoint> {
        retry(&self.retry, || async {
            let (latest, block) = self.latest_id().await?;
            if id == 0 || id > latest {
                return Err(SourceError::not_found(
                    self.origin(),
                    format!(
                        "checkpoint {id} is not final on L1 (newest final is {latest} at block {block})"
                    ),
                ));
            }
            self.header_block(id, block).await
        })
        .await
    }

    /// Follows `NewHeaderBlock` (a log subscription and new-head wake-ups over WebSocket,
    /// `eth_getLogs` polling over HTTP) and emits each checkpoint once it is final, with the
    /// submitting transaction and L1 block when its log was seen. Starts with the newest final
    /// checkpoint.
    fn watch(self: Arc<Self>, poll: Duration) -> BoxStream<'static, SourceResult<Checkpoint>> {
        let (tx, rx) = tokio::sync::mpsc::channel::<SourceResult<Checkpoint>>(16);
        tokio::spawn(async move {
            let mut pending: HashMap<u64, Submission> = HashMap::new();
            let mut last: Option<u64> = None;
            let mut scanned: Option<u64> = None;
            // Push notifications over WebSocket; they only wake the loop up, the reads below
            // are authoritative.
            let mut logs: Option<BoxStream<'static, Log>> = None;
            let mut heads: Option<BoxStream<'static, ()>> = None;
            let mut warned = false;
            loop {
                if self.ws && (logs.is_none() || heads.is_none()) {
                    match self.provider().await {
                        Ok(p) => {
                            if logs.is_none() {
                                match p.subscribe_logs(&self.event_filter()).await {
                                    Ok(sub) => logs = Some(Box::pin(sub.into_stream())),
                                    Err(e) if !warned => {
                                        tracing::warn!(error = %e, "NewHeaderBlock subscription failed; polling");
                                        warned = true;
                                    }
                                    Err(_) => {}
                                }
                            }
                            if heads.is_none() {
                                match p.subscribe_blocks().await {
                                    Ok(sub) => {
                                        heads = Some(Box::pin(sub.into_stream().map(|_| ())))
                                    }
                                    Err(e) if !warned => {
                                        tracing::warn!(error = %e, "newHeads subscription failed; polling");
                                        warned = true;
                                    }
                                    Err(_) => {}
                                }
                            }
                        }
                        Err(e) => {
                            if tx.send(Err(e)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                let step: SourceResult<Vec<Checkpoint>> = async {
                    let head = self
                        .provider()
                        .await?
                        .get_block_number()
                        .await
                        .map_err(|e| self.rpc_err("eth_blockNumber", e))?;
                    let from = match scanned {
                        Some(s) => s + 1,
                        None => head.saturating_sub(1024),
                    };
                    if from <= head {
                        for (id, s) in self.scan(from, head).await? {
                            pending.insert(id, s);
                        }
                    }
                    scanned = Some(head);
                    let (latest, block) = match self.latest_id().await {
                        Ok(v) => v,
                        Err(e) if e.kind == ErrorKind::NotFound => return Ok(Vec::new()),
                        Err(e) => return Err(e),
                    };
                    let mut out = Vec::new();
                    let from = match last {
                        Some(l) => l + 1,
                        None => latest.max(1),
                    };
                    if latest >= from {
                        let from = from.max(latest.saturating_sub(crate::source::MAX_RANGE - 1));
                        for id in from..=latest {
                            out.push(attach(self.header_block(id, block).await?, &pending));
                        }
                    }
                    Ok(out)
                }
                .await;
                match step {
                    Ok(cps) => {
                        for cp in cps {
                            last = Some(cp.id);
                            pending.remove(&cp.id);
                            if tx.send(Ok(cp)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        if tx.send(Err(e)).await.is_err() {
                            return;
                        }
                    }
                }
                let sleep = tokio::time::sleep(poll);
                tokio::select! {
                    _ = sleep => {}
                    _ = tx.closed() => return,
                    item = async { match logs.as_mut() { Some(s) => s.next().await, None => futures::future::pending().await } } => {
                        match item {
                            Some(log) => {
                                if let Some((id, s)) = self.decode_log(&log) {
                                    tracing::debug!(checkpoint = id, "NewHeaderBlock seen; waiting for finality");
                                    pending.insert(id, s);
                                }
                            }
                            None => logs = None,
                        }
                    }
                    item = async { match heads.as_mut() { Some(s) => s.next().await, None => futures::future::pending().await } } => {
                        if item.is_none() {
                            heads = None;
                        }
                    }
                }
            }
        });
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_matches_the_deployed_rootchain() {
        // Topic of NewHeaderBlock as deployed (Polygon's contracts / Heimdall's bindings).
        assert_eq!(
            IRootChain::NewHeaderBlock::SIGNATURE_HASH,
            alloy_primitives::b256!(
                "ba5de06d22af2685c6c7765f60067f7d2b08c2d29f53cdf14d67f6d1c9bfb527"
            )
        );
        assert_eq!(
            IRootChain::currentHeaderBlockCall::SIGNATURE,
            "currentHeaderBlock()"
        );
        assert_eq!(
            IRootChain::headerBlocksCall::SIGNATURE,
            "headerBlocks(uint256)"
        );
    }
}
