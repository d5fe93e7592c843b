//! Key pairs and certificate signing requests: a merchant terminal or a device generates its
//! key locally; only the CSR leaves the machine.

use crate::ClientError;

/// A fresh key pair and a CSR for it.
#[derive(Debug)]
pub struct KeyAndCsr {
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The DER PKCS#10 request.
    pub csr_der: Vec<u8>,
}

/// Generates an ECDSA P-256 key and a CSR with common name `name` (the operator replaces the
/// subject with its own identity when it signs).
pub fn key_and_csr(name: &str) -> Result<KeyAndCsr, ClientError> {
    let key = rcgen::KeyPair::generate().map_err(|e| ClientError::Keys(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| ClientError::Keys(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let csr = params
        .serialize_request(&key)
        .map_err(|e| ClientError::Keys(e.to_string()))?;
    Ok(KeyAndCsr {
        key_pem: key.serialize_pem(),
        csr_der: csr.der().to_vec(),
    })
}

/// A DER certificate as PEM.
pub fn cert_pem(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}
