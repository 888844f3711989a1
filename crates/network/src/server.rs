//! A listening devp2p node that accepts inbound sessions and serves them from the
//! configured [`crate::BlockSource`] until they close.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::{net::TcpListener, task::JoinHandle};
use tracing::{debug, info};

use crate::{
    enode::Enode,
    identity::SecretKey,
    session::{SessionConfig, accept},
};

/// A running server; aborts its accept loop when dropped.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    enode: Enode,
    sessions: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Server {
    /// Starts accepting on `listener` with at most `max_sessions` concurrent sessions.
    pub fn spawn(
        listener: TcpListener,
        secret: SecretKey,
        mut config: SessionConfig,
        max_sessions: usize,
    ) -> std::io::Result<Self> {
        let local_addr = listener.local_addr()?;
        config.listen_port = local_addr.port();
        let enode = Enode::new(
            &secret.public_key(),
            local_addr.ip(),
            local_addr.port(),
            local_addr.port(),
        );
        let sessions = Arc::new(AtomicUsize::new(0));
        let count = sessions.clone();
        let task = tokio::spawn(async move {
            loop {
                let (stream, addr) = match listener.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        debug!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if count.load(Ordering::Relaxed) >= max_sessions {
                    debug!(%addr, "too many sessions; dropping inbound connection");
                    drop(stream);
                    continue;
                }
                count.fetch_add(1, Ordering::Relaxed);
                let config = config.clone();
                let count = count.clone();
                tokio::spawn(async move {
                    match accept(stream, &secret, config).await {
                        Ok(session) => {
                            let info = session.info().clone();
                            info!(
                                peer = %info.remote_id,
                                %addr,
                                client = %info.remote_hello.client_id,
                                eth = info.eth_version.number(),
                                "peer connected"
                            );
                            let reason = session.closed().await;
                            info!(peer = %info.remote_id, %addr, reason = %reason, "peer disconnected");
                        }
                        Err(e) => info!(%addr, error = %e, "inbound handshake failed"),
                    }
                    count.fetch_sub(1, Ordering::Relaxed);
                });
            }
        });
        Ok(Self {
            local_addr,
            enode,
            sessions,
            task,
        })
    }

    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Our `enode://` URL.
    pub fn enode(&self) -> &Enode {
        &self.enode
    }

    /// Number of open sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Stops accepting (open sessions end when their tasks notice the peer is gone).
    pub fn shutdown(&self) {
        self.task.abort();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
