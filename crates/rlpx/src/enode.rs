//! `enode://` URLs: `enode://<128 hex node id>@host:port[?discport=N]`.

use std::{fmt, net::IpAddr, str::FromStr};

use crate::identity::{NodeId, PublicKey, id_to_pubkey, pubkey_to_id};

/// Errors from parsing an `enode://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnodeError {
    /// The URL does not start with `enode://`.
    #[error("enode URL must start with enode://")]
    BadScheme,
    /// There is no `@host:port` part.
    #[error("enode URL is missing the @host:port part")]
    MissingHost,
    /// The node id is not 128 hex characters long.
    #[error("enode node id must be 128 hex characters, found {0}")]
    WrongIdLength(usize),
    /// The node id contains non-hex characters.
    #[error("enode node id is not valid hex")]
    BadHex,
    /// The node id is not a point on the secp256k1 curve.
    #[error("enode node id is not a valid secp256k1 public key")]
    NotOnCurve,
    /// The host part is empty or malformed.
    #[error("enode host is invalid: {0}")]
    BadHost(String),
    /// The TCP port is missing, not a number or out of range.
    #[error("enode TCP port is invalid: {0}")]
    BadPort(String),
    /// The `discport` query parameter is not a valid port.
    #[error("enode discport is invalid: {0}")]
    BadDiscPort(String),
}

/// The host part of an enode: an IP address or (leniently) a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A literal IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A DNS name, resolved when connecting.
    Domain(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Domain(name) => f.write_str(name),
        }
    }
}

/// A parsed `enode://` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Enode {
    /// The node id (uncompressed public key without prefix); guaranteed to be on the curve.
    pub id: NodeId,
    /// Host to connect to.
    pub host: Host,
    /// RLPx TCP port.
    pub tcp_port: u16,
    /// Discovery UDP port (defaults to the TCP port).
    pub udp_port: u16,
}

impl Enode {
    /// Builds an enode from its parts.
    pub fn new(public_key: &PublicKey, ip: IpAddr, tcp_port: u16, udp_port: u16) -> Self {
        Self {
            id: pubkey_to_id(public_key),
            host: Host::Ip(ip),
            tcp_port,
            udp_port,
        }
    }

    /// The node's public key; fails with [`EnodeError::NotOnCurve`] if `id` was set by hand
    /// to a value that is not a curve point (parsed enodes are always valid).
    pub fn public_key(&self) -> Result<PublicKey, EnodeError> {
        id_to_pubkey(&self.id).map_err(|_| EnodeError::NotOnCurve)
    }

    /// The TCP address string `host:port` suitable for `TcpStream::connect`.
    pub fn tcp_addr(&self) -> String {
        format!("{}:{}", self.host, self.tcp_port)
    }
}

impl fmt::Display for Enode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "enode://{}@{}:{}",
            hex::encode(self.id),
            self.host,
            self.tcp_port
        )?;
        if self.udp_port != self.tcp_port {
            write!(f, "?discport={}", self.udp_port)?;
        }
        Ok(())
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FromStr for Enode {
    type Err = EnodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let rest = s.strip_prefix("enode://").ok_or(EnodeError::BadScheme)?;
        let (id_hex, addr) = rest.split_once('@').ok_or(EnodeError::MissingHost)?;
        if id_hex.len() != 128 {
            return Err(EnodeError::WrongIdLength(id_hex.len()));
        }
        let mut id = NodeId::ZERO;
        hex::decode_to_slice(id_hex, &mut id.0).map_err(|_| EnodeError::BadHex)?;
        id_to_pubkey(&id).map_err(|_| EnodeError::NotOnCurve)?;

        let (hostport, query) = match addr.split_once('?') {
            Some((hp, q)) => (hp, Some(q)),
            None => (addr, None),
        };
        let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
            let (ip, tail) = after
                .split_once(']')
                .ok_or_else(|| EnodeError::BadHost(hostport.to_string()))?;
            let port = tail
                .strip_prefix(':')
                .ok_or_else(|| EnodeError::BadPort(tail.to_string()))?;
            let ip: std::net::Ipv6Addr = ip
                .parse()
                .map_err(|_| EnodeError::BadHost(ip.to_string()))?;
            (Host::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = hostport
                .rsplit_once(':')
                .ok_or_else(|| EnodeError::BadPort(String::new()))?;
            if host.is_empty() || host.contains(':') || host.contains('/') {
                return Err(EnodeError::BadHost(host.to_string()));
            }
            let host = match host.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => {
                    let valid = host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                    if !valid {
                        return Err(EnodeError::BadHost(host.to_string()));
                    }
                    Host::Domain(host.to_ascii_lowercase())
                }
            };
            (host, port)
        };
        let tcp_port = parse_port(port).ok_or_else(|| EnodeError::BadPort(port.to_string()))?;
        let mut udp_port = tcp_port;
        if let Some(query) = query {
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                if key == "discport" {
                    udp_port = parse_port(value)
                        .ok_or_else(|| EnodeError::BadDiscPort(value.to_string()))?;
                }
                // Unknown query parameters are ignored for forward compatibility.
            }
        }
        Ok(Self {
            id,
            host,
            tcp_port,
            udp_port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "d860a01f9722d78051619d1e2351aba3f43f943f6f00718d1b9baa4101932a1f5011f16bb2b1bb35db20d6fe28fa0bf09636d26a87d31de9ec6203eeedb1f666";

    #[test]
    fn parse_and_format() {
        let url = format!("enode://{ID}@18.138.108.67:30303");
        let e: Enode = url.parse().unwrap();
        assert_eq!(e.tcp_port, 30303);
        assert_eq!(e.udp_port, 30303);
        assert_eq!(e.host, Host::Ip("18.138.108.67".parse().unwrap()));
        assert_eq!(e.to_string(), url);
        assert_eq!(pubkey_to_id(&e.public_key().unwrap()), e.id);

        let url6 = format!("enode://{ID}@[::1]:30303?discport=30301");
        let e6: Enode = url6.parse().unwrap();
        assert_eq!(e6.udp_port, 30301);
        assert_eq!(e6.to_string(), url6);
        assert_eq!(e6.tcp_addr(), "[::1]:30303");

        let dns: Enode = format!("enode://{ID}@Boot.Example.org:1").parse().unwrap();
        assert_eq!(dns.host, Host::Domain("boot.example.org".into()));
    }

    #[test]
    fn errors() {
        let p = |s: String| s.parse::<Enode>().unwrap_err();
        assert_eq!(p(format!("enr://{ID}@1.2.3.4:1")), EnodeError::BadScheme);
        assert_eq!(p(format!("enode://{ID}")), EnodeError::MissingHost);
        assert_eq!(
            p(format!("enode://{}@1.2.3.4:1", &ID[2..])),
            EnodeError::WrongIdLength(126)
        );
        assert_eq!(
            p(format!("enode://zz{}@1.2.3.4:1", &ID[2..])),
            EnodeError::BadHex
        );
        assert_eq!(
            p(format!("enode://{}@1.2.3.4:1", "00".repeat(64))),
            EnodeError::NotOnCurve
        );
        assert!(matches!(
            p(format!("enode://{ID}@1.2.3.4:70000")),
            EnodeError::BadPort(_)
        ));
        assert!(matches!(
            p(format!("enode://{ID}@1.2.3.4")),
            EnodeError::BadPort(_)
        ));
        assert!(matches!(
            p(format!("enode://{ID}@:30303")),
            EnodeError::BadHost(_)
        ));
        assert!(matches!(
            p(format!("enode://{ID}@[::1:30303")),
            EnodeError::BadHost(_)
        ));
        assert!(matches!(
            p(format!("enode://{ID}@1.2.3.4:1?discport=x")),
            EnodeError::BadDiscPort(_)
        ));
    }
}
