//! TLS for the relay's one HTTPS port: a certificate from files, or a
//! self-signed one made at start (kept in memory only — the relay writes
//! nothing to disk, docs/design.md §1 "keep history").

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;

/// A ready TLS configuration and the SHA-256 fingerprint of its leaf certificate.
pub struct Tls {
    /// rustls server configuration (HTTP/1.1 only).
    pub config: Arc<ServerConfig>,
    /// `AB:CD:…` SHA-256 of the leaf certificate, for users to compare.
    pub fingerprint: String,
    /// Whether the certificate was generated at start.
    pub self_signed: bool,
}

/// Loads `cert`/`key` PEM files, or generates a self-signed certificate for
/// `localhost` and the given addresses.
pub fn load_or_generate(files: Option<(&Path, &Path)>, names: &[IpAddr]) -> anyhow::Result<Tls> {
    let (chain, key, self_signed) = match files {
        Some((cert, key)) => {
            let (chain, key) = read_pem(cert, key)?;
            (chain, key, false)
        }
        None => {
            let mut sans = vec!["localhost".to_string()];
            sans.extend(names.iter().map(|ip| ip.to_string()));
            let ck = rcgen::generate_simple_self_signed(sans)
                .context("cannot generate a self-signed certificate")?;
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
            (vec![ck.cert.der().clone()], key, true)
        }
    };
    let fingerprint = fingerprint(&chain[0]);
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not form a usable pair")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        config: Arc::new(config),
        fingerprint,
        self_signed,
    })
}

fn read_pem(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let cert_pem = std::fs::read(cert)
        .with_context(|| format!("cannot read certificate {}", cert.display()))?;
    let chain = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    if chain.is_empty() {
        return Err(anyhow!(
            "{} holds no certificate (expected PEM 'BEGIN CERTIFICATE')",
            cert.display()
        ));
    }
    let key_pem =
        std::fs::read(key).with_context(|| format!("cannot read private key {}", key.display()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("{} is not a PEM private key", key.display()))?
        .ok_or_else(|| {
            anyhow!(
                "{} holds no private key (expected PEM 'BEGIN PRIVATE KEY')",
                key.display()
            )
        })?;
    Ok((chain, key))
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_ref());
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    #[test]
    fn generates_a_usable_certificate() {
        let tls = super::load_or_generate(None, &["127.0.0.1".parse().unwrap()]).unwrap();
        assert!(tls.self_signed);
        assert_eq!(tls.fingerprint.len(), 32 * 3 - 1);
    }

    #[test]
    fn missing_files_say_which() {
        let err = super::load_or_generate(
            Some((
                std::path::Path::new("/nonexistent/c.pem"),
                std::path::Path::new("/nonexistent/k.pem"),
            )),
            &[],
        )
        .err()
        .unwrap();
        assert!(format!("{err:#}").contains("/nonexistent/c.pem"));
    }
}
