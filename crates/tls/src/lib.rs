//! mTLS for Hypasis services.
//!
//! Every server requires a client certificate signed by the cluster CA; every client presents
//! its own. [`generate`] writes a development CA and one certificate per service (plus `admin`, the
//! operator's client certificate) in the layout every service expects from `--tls-dir DIR`:
//! `DIR/ca.pem`, `DIR/ca.key`, `DIR/<name>.pem`, `DIR/<name>.key`.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// Names of the certificates [`generate`] writes besides the CA.
pub const CERT_NAMES: [&str; 6] = [
    "store",
    "scheduler",
    "fetcher",
    "validator",
    "checkpoint",
    "admin",
];

/// TLS set-up failures. All are local configuration faults: fix the files or flags.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A file is not a PEM certificate or key.
    #[error("{path}: not a PEM {what}")]
    NotPem {
        /// File concerned.
        path: PathBuf,
        /// Expected content.
        what: &'static str,
    },
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A SAN is neither an IP address nor a valid DNS name.
    #[error("invalid subject alternative name `{0}`")]
    BadSan(String),
}

impl hypasis_primitives::Fault for TlsError {
    /// Unreadable or non-PEM files, failed generation and bad SANs are configuration:
    /// fatal.
    fn fault(&self) -> hypasis_primitives::FaultClass {
        match self {
            Self::Io { .. } | Self::NotPem { .. } | Self::Generate(_) | Self::BadSan(_) => {
                hypasis_primitives::FaultClass::Fatal
            }
        }
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    let data = std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.into(),
        source,
    })?;
    if !data.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(TlsError::NotPem {
            path: path.into(),
            what,
        });
    }
    Ok(data)
}

fn write(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.into(),
        source,
    };
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        // Created 0600, never readable by others, not even for a moment.
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    #[cfg(unix)]
    if private {
        // A file that was there before keeps no wider mode: tightened before the key is in it.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    file.write_all(data).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(())
}

fn san(name: &str) -> Result<SanType, TlsError> {
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let valid_dns = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && (label == "*"
                    || label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        });
    if !valid_dns {
        return Err(TlsError::BadSan(name.into()));
    }
    Ok(SanType::DnsName(
        name.try_into().map_err(|_| TlsError::BadSan(name.into()))?,
    ))
}

/// Paths of what [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The CA certificate.
    pub ca: PathBuf,
    /// `(name, cert, key)` for each of [`CERT_NAMES`].
    pub certs: Vec<(String, PathBuf, PathBuf)>,
}

/// Generates a development CA and a certificate for every service and `admin` in `out`.
///
/// Service certificates are valid for both server and client authentication (services call each
/// other) and carry SANs `localhost`, `127.0.0.1`, `::1`, the service name and `extra_sans`; the
/// `admin` certificate is a client certificate. Keys are written with mode 0600.
pub fn generate(out: &Path, extra_sans: &[String]) -> Result<Generated, TlsError> {
    std::fs::create_dir_all(out).map_err(|source| TlsError::Io {
        path: out.into(),
        source,
    })?;
    let now = time::OffsetDateTime::now_utc();

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Hypasis Sync development CA");
    dn.push(DnType::OrganizationName, "Hypasis Sync");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = now - time::Duration::hours(1);
    ca_params.not_after = now + time::Duration::days(3650);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca_path = out.join("ca.pem");
    write(&ca_path, ca_cert.pem().as_bytes(), false)?;
    write(&out.join("ca.key"), ca_key.serialize_pem().as_bytes(), true)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut certs = Vec::new();
    for name in CERT_NAMES {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "Hypasis Sync");
        params.distinguished_name = dn;
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(825);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let mut names: Vec<String> = vec![
            "localhost".into(),
            "127.0.0.1".into(),
            "::1".into(),
            name.into(),
        ];
        names.extend(extra_sans.iter().cloned());
        params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
        params.extended_key_usages = if name == "admin" {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        } else {
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ]
        };
        let cert = params.signed_by(&key, &issuer)?;
        let cert_path = out.join(format!("{name}.pem"));
        let key_path = out.join(format!("{name}.key"));
        write(&cert_path, cert.pem().as_bytes(), false)?;
        write(&key_path, key.serialize_pem().as_bytes(), true)?;
        certs.push((name.to_string(), cert_path, key_path));
    }
    Ok(Generated { ca: ca_path, certs })
}

/// The files a service named `name` uses from `--tls-dir dir`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// `dir/ca.pem`.
    pub ca: PathBuf,
    /// `dir/<name>.pem`.
    pub cert: PathBuf,
    /// `dir/<name>.key`.
    pub key: PathBuf,
}

impl TlsFiles {
    /// The layout written by [`generate`].
    pub fn in_dir(dir: &Path, name: &str) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        }
    }

    fn load(&self) -> Result<(Certificate, Identity), TlsError> {
        let ca = Certificate::from_pem(read(&self.ca, "certificate")?);
        let identity = Identity::from_pem(
            read(&self.cert, "certificate")?,
            read(&self.key, "private key")?,
        );
        Ok((ca, identity))
    }

    /// Server config: presents this identity and **requires** a client certificate signed by the CA.
    pub fn server_config(&self) -> Result<ServerTlsConfig, TlsError> {
        let (ca, identity) = self.load()?;
        Ok(ServerTlsConfig::new()
            .identity(identity)
            .client_ca_root(ca)
            .client_auth_optional(false))
    }

    /// Client config: trusts the CA, presents this identity, and expects the server certificate
    /// to name `server_name` (e.g. `localhost` or the service name).
    pub fn client_config(&self, server_name: &str) -> Result<ClientTlsConfig, TlsError> {
        let (ca, identity) = self.load()?;
        Ok(ClientTlsConfig::new()
            .ca_certificate(ca)
            .identity(identity)
            .domain_name(server_name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_all_files() {
        let dir = tempfile::tempdir().unwrap();
        let g = generate(
            dir.path(),
            &["store.example.internal".into(), "10.1.2.3".into()],
        )
        .unwrap();
        assert_eq!(g.certs.len(), CERT_NAMES.len());
        for name in CERT_NAMES {
            let files = TlsFiles::in_dir(dir.path(), name);
            files.server_config().unwrap();
            files.client_config("localhost").unwrap();
        }
        assert!(dir.path().join("ca.key").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("store.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o077,
                0,
                "private keys must not be group/world readable"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_0600_even_when_they_existed_wider() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.key");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, b"secret", true).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        let fresh = dir.path().join("new.key");
        write(&fresh, b"secret", true).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::in_dir(dir.path(), "store");
        assert!(matches!(files.server_config(), Err(TlsError::Io { .. })));
        std::fs::write(dir.path().join("ca.pem"), "not a cert").unwrap();
        assert!(matches!(
            files.server_config(),
            Err(TlsError::NotPem { .. })
        ));
        assert!(matches!(
            generate(dir.path(), &["bad name!".into()]),
            Err(TlsError::BadSan(_))
        ));
    }
}
