//! TLS both ways, with rustls (ring as the crypto provider).
//!
//! - To the upstream: the system's trust store plus an optional PEM file of private CAs, the
//!   certificate checked against the upstream's host name (SNI names it too). There is no way
//!   to turn verification off.
//! - On the listener: one or more certificate chains, the one served chosen by the client's
//!   SNI name (the first one when none matches or none is sent), TLS 1.2 and 1.3, ALPN h2 and
//!   http/1.1. The chains live behind a swap, so a reload changes them for new handshakes
//!   while open connections go on with theirs.

use crate::config::CertificateFiles;
use anyhow::{Context as _, bail};
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::Path;
use std::sync::Arc;

/// The crypto provider for every TLS configuration: ring builds with a C compiler alone.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file; an error when it cannot be read or holds none.
fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: not a PEM certificate file", path.display()))?;
    if certificates.is_empty() {
        bail!("{}: holds no PEM certificate", path.display());
    }
    Ok(certificates)
}

/// The roots every upstream connection is verified against, loaded once per configuration:
/// the system's trust store (which may be empty on a minimal machine: then only `ca_file`s
/// are trusted).
pub struct Trust {
    system: Vec<CertificateDer<'static>>,
}

impl Trust {
    /// Reads the system's trust store.
    pub fn load() -> Trust {
        let found = rustls_native_certs::load_native_certs();
        Trust {
            system: found.certs,
        }
    }

    /// A client configuration trusting the system's roots and, when given, the CAs of
    /// `ca_file`. ALPN is set by the connector (h2 and http/1.1).
    pub fn client_config(&self, ca_file: Option<&Path>) -> anyhow::Result<ClientConfig> {
        let mut roots = RootCertStore::empty();
        // A malformed certificate in the system's store is skipped, as every TLS client does.
        let _ = roots.add_parsable_certificates(self.system.iter().cloned());
        if let Some(path) = ca_file {
            for certificate in read_certificates(path)? {
                roots
                    .add(certificate)
                    .with_context(|| format!("{}: not a usable CA certificate", path.display()))?;
            }
        }
        if roots.is_empty() {
            bail!("no trusted CA: the system's trust store is empty and no ca_file is set");
        }
        Ok(ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth())
    }
}

/// Whether a chain's leaf certificate is valid for this SNI name (wildcards as TLS clients
/// read them).
fn is_for(key: &CertifiedKey, name: &ServerName<'_>) -> bool {
    key.end_entity_cert()
        .ok()
        .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
        .is_some_and(|leaf| leaf.verify_is_valid_for_subject_name(name).is_ok())
}

/// The listener's certificates, swapped whole on reload.
#[derive(Debug)]
pub struct Certificates {
    current: ArcSwap<Vec<Arc<CertifiedKey>>>,
}

impl Certificates {
    /// Loads every chain and key; an error names the file.
    pub fn load(files: &[CertificateFiles]) -> anyhow::Result<Certificates> {
        Ok(Certificates {
            current: ArcSwap::from_pointee(load_keys(files)?),
        })
    }

    /// Re-reads the files; on an error the certificates in use stay.
    pub fn reload(&self, files: &[CertificateFiles]) -> anyhow::Result<()> {
        self.current.store(Arc::new(load_keys(files)?));
        Ok(())
    }

    /// The TLS server configuration serving these certificates (and any reloaded later).
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<Arc<ServerConfig>> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn load_keys(files: &[CertificateFiles]) -> anyhow::Result<Vec<Arc<CertifiedKey>>> {
    let provider = provider();
    files
        .iter()
        .enumerate()
        .map(|(i, files)| {
            let at = format!("serve.tls.certificates[{i}]");
            let chain = read_certificates(&files.cert_file).with_context(|| at.clone())?;
            let key = PrivateKeyDer::from_pem_file(&files.key_file).with_context(|| {
                format!(
                    "{at}.key_file: reading a PEM private key from {}",
                    files.key_file.display()
                )
            })?;
            let key = CertifiedKey::from_der(chain, key, &provider).with_context(|| {
                format!("{at}: the key does not fit the certificate, or is of an unsupported type")
            })?;
            Ok(Arc::new(key))
        })
        .collect()
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let keys = self.current.load();
        let requested = hello
            .server_name()
            .and_then(|name| ServerName::try_from(name).ok());
        requested
            .and_then(|name| keys.iter().find(|key| is_for(key, &name)).cloned())
            .or_else(|| keys.first().cloned())
    }
}
