//! Node discovery v4 (`discv4.md`): a UDP service answering ping/findnode/ENR requests,
//! bonding with the endpoint proof (a node is only answered `Neighbors` after it answered our
//! ping), a Kademlia [`table::Table`] filled by iterative lookups from the bootnodes and
//! refreshed with random lookups. Static-peer (`--no-discovery`) mode simply does not start
//! this service and gives the pool its peers directly.

mod fault;
pub mod packet;
pub mod table;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy_primitives::B256;
use tokio::{
    net::UdpSocket,
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::{debug, trace};

use hypasis_rlpx::{
    enode::{Enode, Host},
    identity::{NodeId, SecretKey, node_id},
};
use packet::{Endpoint, Enr, Message, NodeRecord, check_expiration, decode, encode, unix_now};
use table::{BUCKET_SIZE, Inserted, Table};

/// How long packets we send stay valid.
const EXPIRATION: u64 = 20;
/// Endpoint proofs are valid this long.
const BOND_EXPIRY: Duration = Duration::from_secs(12 * 3600);
/// Nodes per `Neighbors` packet (keeps packets under 1280 bytes).
const NEIGHBOURS_PER_PACKET: usize = 12;
/// Lookup concurrency.
const ALPHA: usize = 3;

/// Discovery configuration.
#[derive(Debug, Clone)]
pub struct Discv4Config {
    /// Bootnodes to start lookups from.
    pub bootnodes: Vec<Enode>,
    /// TCP (RLPx) port we advertise.
    pub tcp_port: u16,
    /// Interval of random-target refresh lookups.
    pub refresh_interval: Duration,
    /// Time to wait for a pong / neighbours / ENR response.
    pub request_timeout: Duration,
}

impl Default for Discv4Config {
    fn default() -> Self {
        Self {
            bootnodes: Vec::new(),
            tcp_port: 0,
            refresh_interval: Duration::from_secs(30),
            request_timeout: Duration::from_millis(800),
        }
    }
}

impl Discv4Config {
    /// Quick timers for nodes that all run on one machine (loopback tests, local devnets): a
    /// refresh lookup every 300 ms and answers awaited for 500 ms.
    pub fn loopback() -> Self {
        Self {
            request_timeout: Duration::from_millis(500),
            refresh_interval: Duration::from_millis(300),
            ..Self::default()
        }
    }
}

#[derive(Default)]
struct Bond {
    /// They answered our ping (their endpoint is proven to us).
    pong_received: Option<Instant>,
    /// They pinged us and we answered (our endpoint is proven to them).
    ping_received: Option<Instant>,
}

#[derive(Default)]
struct State {
    table: Option<Table>,
    bonds: HashMap<NodeId, Bond>,
    pings: HashMap<B256, (NodeRecord, oneshot::Sender<()>)>,
    finds: HashMap<NodeId, mpsc::UnboundedSender<Vec<NodeRecord>>>,
    enrs: HashMap<B256, oneshot::Sender<Enr>>,
    ping_waiters: HashMap<NodeId, Vec<oneshot::Sender<()>>>,
}

struct Inner {
    secret: SecretKey,
    id: NodeId,
    socket: UdpSocket,
    local: SocketAddr,
    config: Discv4Config,
    enr: Enr,
    state: Mutex<State>,
}

/// A running discv4 node.
pub struct Discv4 {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Discv4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discv4")
            .field("local", &self.inner.local)
            .finish_non_exhaustive()
    }
}

impl Drop for Discv4 {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn endpoint(addr: SocketAddr, tcp: u16) -> Endpoint {
    Endpoint {
        ip: addr.ip(),
        udp_port: addr.port(),
        tcp_port: tcp,
    }
}

fn record_of(enode: &Enode) -> Option<NodeRecord> {
    let Host::Ip(ip) = enode.host else {
        return None;
    };
    Some(NodeRecord {
        endpoint: Endpoint {
            ip,
            udp_port: enode.udp_port,
            tcp_port: enode.tcp_port,
        },
        id: enode.id,
    })
}

impl Discv4 {
    /// Binds the UDP socket at `addr`, starts answering packets and, if bootnodes are given,
    /// bootstraps and refreshes the table in the background.
    pub async fn bind(
        addr: SocketAddr,
        secret: SecretKey,
        config: Discv4Config,
    ) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(addr).await?;
        let local = socket.local_addr()?;
        let id = node_id(&secret);
        let enr = Enr::build(&secret, 1, local.ip(), config.tcp_port, local.port());
        let inner = Arc::new(Inner {
            secret,
            id,
            socket,
            local,
            config,
            enr,
            state: Mutex::new(State {
                table: Some(Table::new(&id)),
                ..State::default()
            }),
        });
        let recv = inner.clone();
        let mut tasks = vec![tokio::spawn(async move { recv.receive_loop().await })];
        let refresh = inner.clone();
        tasks.push(tokio::spawn(async move { refresh.refresh_loop().await }));
        Ok(Self { inner, tasks })
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// The UDP address we listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Our enode URL (TCP port from the config, UDP port from the socket).
    pub fn local_enode(&self) -> Enode {
        Enode::new(
            &self.inner.secret.public_key(),
            self.inner.local.ip(),
            self.inner.config.tcp_port,
            self.inner.local.port(),
        )
    }

    /// Nodes in the table.
    pub fn nodes(&self) -> Vec<NodeRecord> {
        self.inner.with_table(|t| t.nodes()).unwrap_or_default()
    }

    /// Nodes in the table as enodes (for the peer pool).
    pub fn enodes(&self) -> Vec<Enode> {
        self.nodes()
            .into_iter()
            .filter_map(|n| {
                let pk = hypasis_rlpx::identity::id_to_pubkey(&n.id).ok()?;
                Some(Enode::new(
                    &pk,
                    n.endpoint.ip,
                    n.endpoint.tcp_port,
                    n.endpoint.udp_port,
                ))
            })
            .collect()
    }

    /// Pings a node and waits for its pong (bonding).
    pub async fn ping(&self, node: &NodeRecord) -> bool {
        self.inner.ping(node).await
    }

    /// Runs an iterative lookup for `target` and returns the closest nodes found.
    pub async fn lookup(&self, target: NodeId) -> Vec<NodeRecord> {
        self.inner.clone().lookup(target).await
    }

    /// Requests a node's ENR.
    pub async fn request_enr(&self, node: &NodeRecord) -> Option<Enr> {
        self.inner.request_enr(node).await
    }
}

impl Inner {
    fn with_table<T>(&self, f: impl FnOnce(&mut Table) -> T) -> Option<T> {
        let mut st = self.state.lock().ok()?;
        st.table.as_mut().map(f)
    }

    async fn send(&self, to: SocketAddr, message: &Message) -> B256 {
        let (packet, hash) = encode(&self.secret, message);
        if let Err(e) = self.socket.send_to(&packet, to).await {
            debug!(%to, error = %e, "discv4 send failed");
        }
        hash
    }

    fn bonded(&self, id: &NodeId) -> bool {
        self.state.lock().is_ok_and(|st| {
            st.bonds
                .get(id)
                .and_then(|b| b.pong_received)
                .is_some_and(|t| t.elapsed() < BOND_EXPIRY)
        })
    }

    fn proven_to(&self, id: &NodeId) -> bool {
        self.state.lock().is_ok_and(|st| {
            st.bonds
                .get(id)
                .and_then(|b| b.ping_received)
                .is_some_and(|t| t.elapsed() < BOND_EXPIRY)
        })
    }

    async fn ping(&self, node: &NodeRecord) -> bool {
        let (tx, rx) = oneshot::channel();
        let msg = Message::Ping {
            version: 4,
            from: endpoint(self.local, self.config.tcp_port),
            to: node.endpoint,
            expiration: unix_now() + EXPIRATION,
            enr_seq: Some(self.enr.seq),
        };
        let (packet, hash) = encode(&self.secret, &msg);
        if let Ok(mut st) = self.state.lock() {
            st.pings.insert(hash, (*node, tx));
        }
        let to = SocketAddr::new(node.endpoint.ip, node.endpoint.udp_port);
        let _ = self.socket.send_to(&packet, to).await;
        let ok = tokio::time::timeout(self.config.request_timeout, rx)
            .await
            .is_ok_and(|r| r.is_ok());
        if let Ok(mut st) = self.state.lock() {
            st.pings.remove(&hash);
        }
        ok
    }

    /// Makes sure both sides hold an endpoint proof so that `node` answers our findnode.
    async fn ensure_bond(&self, node: &NodeRecord) -> bool {
        if self.bonded(&node.id) && self.proven_to(&node.id) {
            return true;
        }
        let (tx, rx) = oneshot::channel();
        if let Ok(mut st) = self.state.lock() {
            st.ping_waiters.entry(node.id).or_default().push(tx);
        }
        if !self.ping(node).await {
            return false;
        }
        self.add_node(*node).await;
        if !self.proven_to(&node.id) {
            // A node that does not know us yet pings back after our ping; give it the time
            // (we answer automatically). A node that already knows us does not, so go ahead
            // either way.
            let _ = tokio::time::timeout(self.config.request_timeout, rx).await;
        }
        true
    }

    async fn add_node(&self, node: NodeRecord) {
        let full = self.with_table(|t| t.insert(node));
        if let Some(Inserted::Full(oldest)) = full
            && !self.ping(&oldest).await
        {
            self.with_table(|t| {
                t.remove(&oldest.id);
                t.insert(node)
            });
        }
    }

    async fn find_node(&self, node: &NodeRecord, target: NodeId) -> Vec<NodeRecord> {
        if !self.ensure_bond(node).await {
            return Vec::new();
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        if let Ok(mut st) = self.state.lock() {
            st.finds.insert(node.id, tx);
        }
        let to = SocketAddr::new(node.endpoint.ip, node.endpoint.udp_port);
        self.send(
            to,
            &Message::FindNode {
                target,
                expiration: unix_now() + EXPIRATION,
            },
        )
        .await;
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        while out.len() < BUCKET_SIZE {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(nodes)) => out.extend(nodes),
                _ => break,
            }
        }
        if let Ok(mut st) = self.state.lock() {
            st.finds.remove(&node.id);
            if out.is_empty() {
                // No answer: the node may not hold a proof of our endpoint; re-bond next time.
                if let Some(b) = st.bonds.get_mut(&node.id) {
                    b.ping_received = None;
                }
            }
        }
        out.truncate(BUCKET_SIZE);
        out
    }

    async fn request_enr(&self, node: &NodeRecord) -> Option<Enr> {
        for _ in 0..2 {
            if let Some(enr) = self.request_enr_once(node).await {
                return Some(enr);
            }
            // No answer: the node may not hold a proof of our endpoint; re-bond and retry.
            if let Ok(mut st) = self.state.lock()
                && let Some(b) = st.bonds.get_mut(&node.id)
            {
                b.ping_received = None;
            }
        }
        None
    }

    async fn request_enr_once(&self, node: &NodeRecord) -> Option<Enr> {
        if !self.ensure_bond(node).await {
            return None;
        }
        let msg = Message::EnrRequest {
            expiration: unix_now() + EXPIRATION,
        };
        let (packet, hash) = encode(&self.secret, &msg);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut st) = self.state.lock() {
            st.enrs.insert(hash, tx);
        }
        let to = SocketAddr::new(node.endpoint.ip, node.endpoint.udp_port);
        let _ = self.socket.send_to(&packet, to).await;
        let res = tokio::time::timeout(self.config.request_timeout, rx)
            .await
            .ok()
            .and_then(|r| r.ok());
        if let Ok(mut st) = self.state.lock() {
            st.enrs.remove(&hash);
        }
        res.filter(|e| e.id == node.id)
    }

    async fn lookup(self: Arc<Self>, target: NodeId) -> Vec<NodeRecord> {
        let mut candidates = self
            .with_table(|t| t.closest(&target, BUCKET_SIZE))
            .unwrap_or_default();
        if candidates.is_empty() {
            candidates = self.config.bootnodes.iter().filter_map(record_of).collect();
        }
        let mut asked: HashSet<NodeId> = HashSet::new();
        asked.insert(self.id);
        let th = alloy_primitives::keccak256(target);
        loop {
            candidates.sort_by_key(|n| alloy_primitives::keccak256(n.id) ^ th);
            candidates.dedup_by_key(|n| n.id);
            let batch: Vec<NodeRecord> = candidates
                .iter()
                .filter(|n| !asked.contains(&n.id))
                .take(ALPHA)
                .copied()
                .collect();
            if batch.is_empty() {
                break;
            }
            let mut tasks = Vec::new();
            for n in batch {
                asked.insert(n.id);
                let me = self.clone();
                tasks.push(tokio::spawn(async move { me.find_node(&n, target).await }));
            }
            for t in tasks {
                if let Ok(found) = t.await {
                    candidates.extend(found.into_iter().filter(|n| n.id != self.id));
                }
            }
            candidates.sort_by_key(|n| alloy_primitives::keccak256(n.id) ^ th);
            candidates.dedup_by_key(|n| n.id);
            candidates.truncate(BUCKET_SIZE * 2);
        }
        // Bond with what we found so the table fills up.
        for n in candidates.iter().take(BUCKET_SIZE) {
            if !self.bonded(&n.id) && self.ping(n).await {
                self.add_node(*n).await;
            }
        }
        candidates.truncate(BUCKET_SIZE);
        candidates
    }

    async fn refresh_loop(self: Arc<Self>) {
        if self.config.bootnodes.is_empty() {
            return;
        }
        // Bootstrap: bond with the bootnodes and look up ourselves.
        for b in self.config.bootnodes.iter().filter_map(record_of) {
            if self.ping(&b).await {
                self.add_node(b).await;
            }
        }
        self.clone().lookup(self.id).await;
        let mut tick = tokio::time::interval(self.config.refresh_interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            let target =
                hypasis_rlpx::identity::node_id(&hypasis_rlpx::identity::generate_secret_key());
            let found = self.clone().lookup(target).await;
            debug!(
                found = found.len(),
                table = self.with_table(|t| t.len()).unwrap_or(0),
                "discv4 refresh"
            );
        }
    }

    async fn receive_loop(self: Arc<Self>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, from) = match self.socket.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    debug!(error = %e, "discv4 recv failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let packet = match decode(&buf[..n]) {
                Ok(p) => p,
                Err(e) => {
                    trace!(%from, error = %e, "dropping discv4 packet");
                    continue;
                }
            };
            if let Err(e) = check_expiration(&packet.message, unix_now()) {
                trace!(%from, error = %e, "dropping expired discv4 packet");
                continue;
            }
            if packet.node_id == self.id {
                continue;
            }
            self.handle(from, packet).await;
        }
    }

    async fn handle(self: &Arc<Self>, from: SocketAddr, packet: packet::Packet) {
        let id = packet.node_id;
        match packet.message {
            Message::Ping {
                from: their,
                enr_seq: _,
                ..
            } => {
                let pong = Message::Pong {
                    to: endpoint(from, their.tcp_port),
                    ping_hash: packet.hash,
                    expiration: unix_now() + EXPIRATION,
                    enr_seq: Some(self.enr.seq),
                };
                self.send(from, &pong).await;
                let waiters = match self.state.lock() {
                    Ok(mut st) => {
                        st.bonds.entry(id).or_default().ping_received = Some(Instant::now());
                        st.ping_waiters.remove(&id).unwrap_or_default()
                    }
                    Err(_) => Vec::new(),
                };
                for w in waiters {
                    let _ = w.send(());
                }
                // Make sure we hold a proof of their endpoint too.
                if !self.bonded(&id) {
                    let me = self.clone();
                    let node = NodeRecord {
                        endpoint: endpoint(from, their.tcp_port),
                        id,
                    };
                    tokio::spawn(async move {
                        if me.ping(&node).await {
                            me.add_node(node).await;
                        }
                    });
                }
            }
            Message::Pong { ping_hash, .. } => {
                // A pong to one of our pings proves the node's endpoint: it joins the table
                // (or the bucket's replacement list when the bucket is full).
                if let Ok(mut st) = self.state.lock()
                    && let Some((expected, _)) = st.pings.get(&ping_hash)
                    && expected.id == id
                    && let Some((node, tx)) = st.pings.remove(&ping_hash)
                {
                    st.bonds.entry(id).or_default().pong_received = Some(Instant::now());
                    if let Some(t) = st.table.as_mut() {
                        t.insert(node);
                    }
                    let _ = tx.send(());
                }
            }
            Message::FindNode { target, .. } => {
                // Endpoint proof: only answer nodes that answered our ping.
                if !self.bonded(&id) {
                    trace!(%from, "findnode from unbonded node ignored");
                    return;
                }
                let nodes = self
                    .with_table(|t| t.closest(&target, BUCKET_SIZE))
                    .unwrap_or_default();
                for chunk in nodes.chunks(NEIGHBOURS_PER_PACKET) {
                    let msg = Message::Neighbours {
                        nodes: chunk.to_vec(),
                        expiration: unix_now() + EXPIRATION,
                    };
                    self.send(from, &msg).await;
                }
                if nodes.is_empty() {
                    let msg = Message::Neighbours {
                        nodes: Vec::new(),
                        expiration: unix_now() + EXPIRATION,
                    };
                    self.send(from, &msg).await;
                }
            }
            Message::Neighbours { nodes, .. } => {
                // Only accepted while we wait for an answer from this node.
                if let Ok(st) = self.state.lock()
                    && let Some(tx) = st.finds.get(&id)
                {
                    let _ = tx.send(nodes);
                }
            }
            Message::EnrRequest { .. } => {
                if !self.bonded(&id) {
                    return;
                }
                let msg = Message::EnrResponse {
                    request_hash: packet.hash,
                    enr: self.enr.clone(),
                };
                self.send(from, &msg).await;
            }
            Message::EnrResponse { request_hash, enr } => {
                if let Ok(mut st) = self.state.lock()
                    && let Some(tx) = st.enrs.remove(&request_hash)
                {
                    let _ = tx.send(enr);
                }
            }
        }
    }
}
