//! The `hypasis.v1.Fetcher` gRPC service over a [`Fetcher`]: status, peers, bans.

use crate::Fetcher;
use hypasis_network::pool::Fault;
use hypasis_proto::v1;
use hypasis_proto::v1::fetcher_server::{Fetcher as FetcherRpc, FetcherServer};
use hypasis_rlpx::Enode;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// The service implementation.
#[derive(Debug, Clone)]
pub struct FetcherGrpc {
    fetcher: Fetcher,
    id: String,
    chain: v1::ChainId,
}

impl FetcherGrpc {
    /// The service for `fetcher` (id `id`) on `chain`.
    pub fn new(fetcher: Fetcher, id: String, chain: v1::ChainId) -> Self {
        Self { fetcher, id, chain }
    }

    /// The tonic server.
    pub fn into_server(self) -> FetcherServer<Self> {
        FetcherServer::new(self)
    }
}

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

#[tonic::async_trait]
impl FetcherRpc for FetcherGrpc {
    async fn get_status(
        &self,
        _: Request<v1::GetFetcherStatusRequest>,
    ) -> Result<Response<v1::FetcherStatus>, Status> {
        let f = &self.fetcher;
        let rates = f.rates();
        let leases = f
            .active()
            .into_iter()
            .map(|a| v1::Lease {
                lease_id: a.lease.lease_id.clone(),
                unit: Some(v1::WorkUnit {
                    id: a.lease.unit_id,
                    range: Some(v1::BlockRange {
                        start: a.lease.start,
                        end: a.lease.end,
                    }),
                    direction: a.lease.direction.to_proto() as i32,
                    checkpoint_id: a.lease.checkpoint_id,
                    ..Default::default()
                }),
                fetcher_id: self.id.clone(),
                expires_at: Some(prost_types::Timestamp {
                    seconds: i64::try_from(a.lease.expires_at_ms / 1000).unwrap_or(0),
                    nanos: i32::try_from((a.lease.expires_at_ms % 1000) * 1_000_000).unwrap_or(0),
                }),
                fencing_token: a.lease.token,
            })
            .collect();
        Ok(Response::new(v1::FetcherStatus {
            fetcher_id: self.id.clone(),
            chain: Some(self.chain.clone()),
            tip: f.tip().map(|n| v1::BlockRef {
                number: n,
                hash: Vec::new(),
            }),
            peers: u32::try_from(f.pool().peer_count()).unwrap_or(u32::MAX),
            leases,
            forward_blocks_per_second: rates[0],
            backward_blocks_per_second: rates[1],
            bytes_in_flight: f.budget().in_flight(),
            bytes_in_flight_limit: f.budget().limit(),
        }))
    }

    async fn list_peers(
        &self,
        _: Request<v1::ListPeersRequest>,
    ) -> Result<Response<v1::ListPeersResponse>, Status> {
        let peers = self
            .fetcher
            .pool()
            .stats()
            .into_iter()
            .map(|p| v1::PeerInfo {
                node_id: format!("{:x}", p.node_id),
                enode: p.enode,
                client: p.client,
                remote_addr: p.addr.map(|a| a.to_string()).unwrap_or_default(),
                eth_version: p.eth_version,
                head: Some(v1::BlockRef {
                    number: p.head_number.unwrap_or(0),
                    hash: p.head_hash.to_vec(),
                }),
                served: p
                    .served_range
                    .map(|(s, e)| v1::BlockRange { start: s, end: e }),
                score: p.score,
                rtt: Some(duration(p.rtt)),
                headers_per_second: p.rates[0],
                bodies_per_second: p.rates[1],
                in_flight: u32::try_from(p.in_flight).unwrap_or(u32::MAX),
                inbound: p.inbound,
            })
            .collect();
        Ok(Response::new(v1::ListPeersResponse { peers }))
    }

    async fn ban_peer(
        &self,
        request: Request<v1::BanPeerRequest>,
    ) -> Result<Response<v1::BanPeerResponse>, Status> {
        let r = request.into_inner();
        let text = r.peer.trim();
        let id = match text.parse::<Enode>() {
            Ok(e) => e.id,
            Err(_) => text
                .trim_start_matches("0x")
                .parse::<hypasis_rlpx::NodeId>()
                .map_err(|_| {
                    Status::invalid_argument(format!(
                        "`peer`: expected a node id (128 hex digits) or an enode URL, got `{text}`"
                    ))
                })?,
        };
        let pool = self.fetcher.pool();
        let was_connected = pool.stats().iter().any(|p| p.node_id == id);
        tracing::warn!(peer = %id, reason = %r.reason, "banning peer on request");
        match r.duration {
            Some(d) => {
                let secs = u64::try_from(d.seconds)
                    .map_err(|_| Status::invalid_argument("`duration`: must not be negative"))?;
                let nanos = u32::try_from(d.nanos)
                    .ok()
                    .filter(|n| *n < 1_000_000_000)
                    .ok_or_else(|| {
                        Status::invalid_argument("`duration`: nanos must be within 0..1e9")
                    })?;
                // Any length is accepted; the pool cuts it to its longest ban.
                pool.ban_for(id, Duration::new(secs, nanos));
            }
            // The pool bans protocol violators for its configured ban duration.
            None => pool.report(id, Fault::ProtocolViolation),
        }
        Ok(Response::new(v1::BanPeerResponse { was_connected }))
    }
}
