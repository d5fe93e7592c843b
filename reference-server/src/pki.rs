//! The development PKI: an operator CA, a separate link CA, party certificates, CSR signing.
//!
//! Every OMPP certificate carries its holder's identity as a single URI SAN
//! `ompp://<role>/<id>` ([`PartyIdentity`]). The operator CA certifies merchants, devices, the
//! network and mobile servers, bank processors and SMS centers; the link CA certifies only the
//! two ends of the NS <-> MS secure link, so that link can be pinned to its own CA.
//!
//! Keys are ECDSA P-256, stored as PKCS#8 PEM. [`DevPki`] is what
//! `ompp-server pki init --dir DIR` writes: fine for development and conformance runs, not a
//! substitute for an operator's real PKI.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ompp::types::{PartyIdentity, Role};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::time::ASN1Time;

/// Validity of a CA made by [`Ca::generate`], in days.
const CA_VALIDITY_DAYS: u32 = 3650;
/// Validity of the leaves made by [`DevPki::generate`], in days.
const LEAF_VALIDITY_DAYS: u32 = 825;
/// How far in the past `not_before` is put by [`Validity::days_from_now`], for clock skew.
const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// 0000-01-01T00:00:00Z, the earliest time an X.509 GeneralizedTime can carry.
const MIN_X509_TIME: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z, the latest time an X.509 GeneralizedTime can carry.
const MAX_X509_TIME: i64 = 253_402_300_799;

/// Errors of the PKI module.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Key generation, certificate or CSR encoding failed in `rcgen`.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A certificate signing request is malformed, unsupported, or its self-signature does not
    /// verify.
    #[error("bad certificate signing request: {0}")]
    BadCsr(String),
    /// A certificate is malformed, or unusable for what it was loaded for.
    #[error("bad certificate: {0}")]
    BadCertificate(String),
    /// A certificate carries no `ompp://` URI SAN.
    #[error("the certificate carries no ompp:// identity")]
    NoIdentity,
    /// A certificate carries more than one `ompp://` URI SAN.
    #[error("the certificate carries several ompp:// identities")]
    SeveralIdentities,
    /// A certificate's `ompp://` URI SAN is not a valid party identity.
    #[error("bad ompp:// identity {0:?}")]
    BadIdentity(String),
    /// PEM text holds no usable certificate or key.
    #[error("bad PEM: {0}")]
    Pem(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Refused to overwrite an existing CA key.
    #[error("{} already exists: refusing to overwrite a CA key", .0.display())]
    AlreadyExists(PathBuf),
    /// A validity window is empty (`not_before` after `not_after`) or outside what X.509 can
    /// encode (years 0000 to 9999).
    #[error("bad validity: {0}")]
    BadValidity(String),
    /// A DNS name asked for in a certificate is not a valid DNS name.
    #[error("bad DNS name {0:?}")]
    BadDnsName(String),
}

/// Validity window of an issued certificate.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    /// First instant the certificate is valid.
    pub not_before: SystemTime,
    /// Last instant the certificate is valid.
    pub not_after: SystemTime,
}

impl Validity {
    /// From now for `days` days (not_before a minute in the past, for clock skew).
    ///
    /// `not_after` is capped at 9999-12-31T23:59:59Z, the latest time X.509 can carry.
    pub fn days_from_now(days: u32) -> Self {
        let now = SystemTime::now();
        let latest = UNIX_EPOCH + Duration::from_secs(MAX_X509_TIME.unsigned_abs());
        let not_after = now
            .checked_add(Duration::from_secs(u64::from(days) * 86_400))
            .filter(|t| *t <= latest)
            .unwrap_or(latest);
        Self {
            not_before: now.checked_sub(CLOCK_SKEW).unwrap_or(now),
            not_after,
        }
    }
}

/// A certificate authority: its certificate and key, able to issue certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed CA (ECDSA P-256), common name `name`, valid 10 years from now.
    ///
    /// The CA may sign end-entity certificates only (path length 0).
    pub fn generate(name: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let validity = Validity::days_from_now(CA_VALIDITY_DAYS);
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(random_serial());
        params.not_before = asn1_time(validity.not_before)?.to_datetime();
        params.not_after = asn1_time(validity.not_after)?.to_datetime();
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        Self::from_parts(cert.der().clone(), cert_pem, key)
    }

    /// Load from PEM strings (as written by `cert_pem` / `key_pem`).
    ///
    /// `cert_pem` must hold exactly one certificate, a CA certificate, and `key_pem` its
    /// PKCS#8 private key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert_der = single_cert_from_pem(cert_pem)?;
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| PkiError::Pem(format!("CA private key: {e}")))?;
        Self::from_parts(cert_der, cert_pem.to_owned(), key)
    }

    fn from_parts(
        cert_der: CertificateDer<'static>,
        cert_pem: String,
        key: KeyPair,
    ) -> Result<Self, PkiError> {
        let cert = parse_cert(&cert_der)?;
        if !cert.is_ca() {
            return Err(PkiError::BadCertificate(
                "not a CA certificate (no basicConstraints cA)".to_owned(),
            ));
        }
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(PkiError::BadCertificate(
                "the CA key does not match the CA certificate".to_owned(),
            ));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)?;
        Ok(Self {
            issuer,
            cert_der,
            cert_pem,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// The CA private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    /// Issue a leaf certificate with a fresh key: URI SAN = identity; extra DNS names (e.g.
    /// "localhost") and IP SANs; key usages digitalSignature; extended key usages serverAuth
    /// and clientAuth; validity [not_before, not_after].
    ///
    /// Any window X.509 can encode is accepted, including expired and not-yet-valid ones (tests
    /// rely on that); an empty window (`not_before` after `not_after`) is
    /// [`PkiError::BadValidity`].
    pub fn issue(
        &self,
        identity: &PartyIdentity,
        dns_names: &[&str],
        ips: &[IpAddr],
        validity: Validity,
    ) -> Result<Issued, PkiError> {
        let key = KeyPair::generate()?;
        let mut params = leaf_params(identity, validity)?;
        for name in dns_names {
            if rustls_pki_types::DnsName::try_from(*name).is_err() {
                return Err(PkiError::BadDnsName((*name).to_owned()));
            }
            let name =
                Ia5String::try_from(*name).map_err(|_| PkiError::BadDnsName((*name).to_owned()))?;
            params.subject_alt_names.push(SanType::DnsName(name));
        }
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        // OMPP-TLS-005: clients (merchant, device) clientAuth, servers (bank, SMS center)
        // serverAuth, the network and mobile servers, which are both, both.
        params.extended_key_usages = match identity.role() {
            Role::Merchant | Role::Device => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Role::Bank | Role::Sms => vec![ExtendedKeyUsagePurpose::ServerAuth],
            _ => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        };
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Sign a PKCS#10 CSR (DER): the CSR's public key is certified, but the identity is OURS
    /// (the CSR's subject and SANs are ignored); clientAuth only. A malformed CSR or one whose
    /// self-signature does not verify is PkiError::BadCsr.
    ///
    /// The CSR's requested extensions are ignored too. Its key must be of a type `rcgen`
    /// knows (ECDSA P-256/P-384, Ed25519, RSA), otherwise [`PkiError::BadCsr`].
    pub fn sign_csr(
        &self,
        csr_der: &[u8],
        identity: &PartyIdentity,
        validity: Validity,
    ) -> Result<CertificateDer<'static>, PkiError> {
        let (rest, csr) = X509CertificationRequest::from_der(csr_der)
            .map_err(|e| PkiError::BadCsr(format!("malformed: {e}")))?;
        if !rest.is_empty() {
            return Err(PkiError::BadCsr("trailing bytes after the CSR".to_owned()));
        }
        csr.verify_signature()
            .map_err(|e| PkiError::BadCsr(format!("self-signature does not verify: {e}")))?;
        let public_key =
            rcgen::SubjectPublicKeyInfo::from_der(csr.certification_request_info.subject_pki.raw)
                .map_err(|e| PkiError::BadCsr(format!("unsupported public key: {e}")))?;
        let mut params = leaf_params(identity, validity)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&public_key, &self.issuer)?;
        Ok(cert.der().clone())
    }
}

/// An issued certificate and its private key.
pub struct Issued {
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("identity", &identity_of(&self.cert_der).ok())
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[secret key elided]")
            .finish()
    }
}

impl Issued {
    /// The private key, DER.
    ///
    /// Parsed from `key_pem`, which this module always fills with a valid key. Should
    /// `key_pem` have been replaced by something that is not a PEM private key, the result is
    /// an empty PKCS#8 key, which every TLS configuration rejects; use [`key_from_pem`] to
    /// get the parse error instead.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        key_from_pem(&self.key_pem).unwrap_or_else(|_| {
            PrivateKeyDer::Pkcs8(rustls_pki_types::PrivatePkcs8KeyDer::from(Vec::new()))
        })
    }

    /// An issued certificate from its PEM files (exactly one certificate, one private key).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let cert_der = single_cert_from_pem(cert_pem)?;
        key_from_pem(key_pem)?;
        Ok(Self {
            cert_der,
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        })
    }
}

/// A key pair and CSR for a client (merchant terminal, device) to send at registration.
pub struct CsrRequest {
    /// The PKCS#10 certificate signing request, DER.
    pub csr_der: Vec<u8>,
    /// The private key, PKCS#8 PEM: stays with the client.
    pub key_pem: String,
}

impl fmt::Debug for CsrRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrRequest")
            .field("csr_der", &format_args!("{} bytes", self.csr_der.len()))
            .field("key_pem", &"[secret key elided]")
            .finish()
    }
}

/// Generate a fresh key pair (ECDSA P-256) and a CSR for it (subject CN = `common_name`).
pub fn generate_csr(common_name: &str) -> Result<CsrRequest, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = self::common_name(common_name);
    let csr = params.serialize_request(&key)?;
    Ok(CsrRequest {
        csr_der: csr.der().to_vec(),
        key_pem: key.serialize_pem(),
    })
}

/// The single `ompp://` URI SAN of a certificate (DER). No such SAN, several, or a malformed
/// one is an error.
///
/// URI SANs of other schemes are ignored; the scheme is matched case-insensitively, so
/// `OMPP://...` counts as an (invalid) identity rather than being skipped.
pub fn identity_of(cert_der: &[u8]) -> Result<PartyIdentity, PkiError> {
    let cert = parse_cert(cert_der)?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| PkiError::BadCertificate(format!("subjectAltName: {e}")))?
        .ok_or(PkiError::NoIdentity)?;
    let mut uris = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        })
        .filter(|uri| {
            uri.get(..5)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("ompp:"))
        });
    let uri = uris.next().ok_or(PkiError::NoIdentity)?;
    if uris.next().is_some() {
        return Err(PkiError::SeveralIdentities);
    }
    PartyIdentity::parse(uri).map_err(|_| PkiError::BadIdentity(uri.to_owned()))
}

/// A DER certificate as PEM text (`-----BEGIN CERTIFICATE-----`).
pub fn cert_der_to_pem(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

/// Parse PEM text into certificates (every `CERTIFICATE` section, in order; other sections
/// are skipped). No certificate at all is [`PkiError::Pem`].
pub fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Pem(format!("certificates: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::Pem("no CERTIFICATE section".to_owned()));
    }
    Ok(certs)
}

/// Parse PEM text into a private key (the first PKCS#8, SEC1 or PKCS#1 private key section).
pub fn key_from_pem(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| PkiError::Pem(format!("private key: {e}")))
}

/// The development PKI that `ompp-server pki init --dir DIR` writes.
#[derive(Debug)]
pub struct DevPki {
    /// The operator CA ("OMPP Operator CA"): every party certificate but the secure link's.
    pub operator_ca: Ca,
    /// The link CA ("OMPP Link CA"): only the two ends of the NS <-> MS secure link.
    pub link_ca: Ca,
    /// `ompp://network/NS-1`, operator CA.
    pub network: Issued,
    /// `ompp://mobile/MS-1`, operator CA.
    pub mobile: Issued,
    /// `ompp://network/NS-1`, link CA.
    pub link_network: Issued,
    /// `ompp://mobile/MS-1`, link CA.
    pub link_mobile: Issued,
    /// `ompp://bank/BP-1`, operator CA.
    pub bank: Issued,
    /// `ompp://sms/SC-1`, operator CA.
    pub sms: Issued,
    /// The sample merchant `ompp://merchant/M-1042`, operator CA.
    pub merchant: Issued,
}

/// The id of [`DevPki::second_link_mobile`]: `ompp://mobile/MS-2`.
pub const SECOND_LINK_MOBILE_ID: &str = "MS-2";

/// File names of the CAs: (certificate, key).
const OPERATOR_CA_FILES: (&str, &str) = ("operator-ca.pem", "operator-ca.key");
const LINK_CA_FILES: (&str, &str) = ("link-ca.pem", "link-ca.key");

impl DevPki {
    /// operator CA "OMPP Operator CA" and link CA "OMPP Link CA" (separate, so the secure link
    /// is pinned to its own CA); network = ompp://network/NS-1 (operator CA; DNS localhost, IP
    /// 127.0.0.1 and ::1), mobile = ompp://mobile/MS-1 (same), link_network =
    /// ompp://network/NS-1 and link_mobile = ompp://mobile/MS-1 issued by the LINK CA (same
    /// SANs), bank = ompp://bank/BP-1, sms = ompp://sms/SC-1 (operator CA, same SANs), sample
    /// merchant = ompp://merchant/M-1042 (operator CA, no DNS or IP SAN). Leaves valid 825
    /// days.
    pub fn generate() -> Result<Self, PkiError> {
        let operator_ca = Ca::generate("OMPP Operator CA")?;
        let link_ca = Ca::generate("OMPP Link CA")?;
        let validity = Validity::days_from_now(LEAF_VALIDITY_DAYS);
        let ips = [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ];
        let server = |ca: &Ca, role: Role, id: &str| -> Result<Issued, PkiError> {
            ca.issue(&party(role, id)?, &["localhost"], &ips, validity)
        };
        Ok(Self {
            network: server(&operator_ca, Role::Network, "NS-1")?,
            mobile: server(&operator_ca, Role::Mobile, "MS-1")?,
            link_network: server(&link_ca, Role::Network, "NS-1")?,
            link_mobile: server(&link_ca, Role::Mobile, "MS-1")?,
            bank: server(&operator_ca, Role::Bank, "BP-1")?,
            sms: server(&operator_ca, Role::Sms, "SC-1")?,
            merchant: operator_ca.issue(&party(Role::Merchant, "M-1042")?, &[], &[], validity)?,
            operator_ca,
            link_ca,
        })
    }

    /// The parties with their file base names, in file order.
    fn parties(&self) -> [(&'static str, &Issued); 7] {
        [
            ("network", &self.network),
            ("mobile", &self.mobile),
            ("link-network", &self.link_network),
            ("link-mobile", &self.link_mobile),
            ("bank", &self.bank),
            ("sms", &self.sms),
            ("merchant-M-1042", &self.merchant),
        ]
    }

    /// Write every file into `dir` (created if missing): operator-ca.pem, operator-ca.key,
    /// link-ca.pem, link-ca.key, and for each party <name>.pem + <name>.key with names network,
    /// mobile, link-network, link-mobile, bank, sms, merchant-M-1042. Key files get mode 0600
    /// on Unix. Refuse to overwrite an existing operator-ca.key (PkiError::AlreadyExists) so an
    /// operator's CA is never clobbered.
    ///
    /// The same holds for link-ca.key. Both CA keys are created exclusively (`O_EXCL`) and
    /// written first, so nothing is written when either already exists; party files are
    /// overwritten. Returns the paths written, CA files first.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, PkiError> {
        fs::create_dir_all(dir).map_err(|source| PkiError::Io {
            path: dir.to_owned(),
            source,
        })?;
        for name in [OPERATOR_CA_FILES.1, LINK_CA_FILES.1] {
            let path = dir.join(name);
            if path.exists() {
                return Err(PkiError::AlreadyExists(path));
            }
        }
        let mut written = Vec::new();
        for (ca, (cert_name, key_name)) in [
            (&self.operator_ca, OPERATOR_CA_FILES),
            (&self.link_ca, LINK_CA_FILES),
        ] {
            written.push(write_file(
                &dir.join(key_name),
                &ca.key_pem(),
                FileKind::CaKey,
            )?);
            written.push(write_file(
                &dir.join(cert_name),
                &ca.cert_pem,
                FileKind::Public,
            )?);
        }
        for (name, issued) in self.parties() {
            written.push(write_file(
                &dir.join(format!("{name}.pem")),
                &issued.cert_pem,
                FileKind::Public,
            )?);
            written.push(write_file(
                &dir.join(format!("{name}.key")),
                &issued.key_pem,
                FileKind::Key,
            )?);
        }
        Ok(written)
    }

    /// A link identity (`ompp://mobile/MS-UNLISTED`) from the link CA that neither link
    /// server allow-lists: for the conformance case that checks PEER_NOT_ALLOWED
    /// (OMPP-LINK-001).
    pub fn unlisted_link_identity(&self) -> Result<Issued, PkiError> {
        let identity = party(Role::Mobile, "MS-UNLISTED")?;
        self.link_ca.issue(
            &identity,
            &["localhost"],
            &[],
            Validity::days_from_now(LEAF_VALIDITY_DAYS),
        )
    }

    /// A second mobile server's link identity (`ompp://mobile/MS-2`) from the link CA, which a
    /// network server allow-lists with `network.link_peers`: the conformance suite sends its
    /// rate-limit load with it (OMPP-LINK-005), so that the real mobile server's bucket stays
    /// full.
    pub fn second_link_mobile(&self) -> Result<Issued, PkiError> {
        let identity = party(Role::Mobile, SECOND_LINK_MOBILE_ID)?;
        self.link_ca.issue(
            &identity,
            &["localhost"],
            &[],
            Validity::days_from_now(LEAF_VALIDITY_DAYS),
        )
    }

    /// A bank processor certificate from the operator CA for `ompp://bank/BP-OTHER`, a bank no
    /// network server is configured to call (DNS localhost, IP 127.0.0.1): for the conformance
    /// case that checks the network server refuses a trusted server of another identity
    /// (OMPP-TLS-012).
    pub fn other_bank(&self) -> Result<Issued, PkiError> {
        let identity = party(Role::Bank, "BP-OTHER")?;
        self.operator_ca.issue(
            &identity,
            &["localhost"],
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            Validity::days_from_now(LEAF_VALIDITY_DAYS),
        )
    }

    /// A valid certificate from the operator CA for `ompp://merchant/M-UNREGISTERED`, a merchant
    /// no operation center registers: for the conformance case that checks every caller
    /// against the merchant database (OMPP-TLS-011).
    pub fn unregistered_merchant(&self) -> Result<Issued, PkiError> {
        let identity = party(Role::Merchant, "M-UNREGISTERED")?;
        self.operator_ca.issue(
            &identity,
            &[],
            &[],
            Validity::days_from_now(LEAF_VALIDITY_DAYS),
        )
    }

    /// A valid certificate from the operator CA for `ompp://device/D-UNPAIRED`, a device no
    /// operation center pairs: for the conformance case that checks every caller against the
    /// device database (OMPP-TLS-011).
    pub fn unpaired_device(&self) -> Result<Issued, PkiError> {
        let identity = party(Role::Device, "D-UNPAIRED")?;
        self.operator_ca.issue(
            &identity,
            &[],
            &[],
            Validity::days_from_now(LEAF_VALIDITY_DAYS),
        )
    }

    /// A certificate for the sample merchant's identity, issued by the operator CA, that
    /// expired a week ago: for the conformance case that checks expired certificates are
    /// refused (OMPP-TLS-007).
    pub fn expired_merchant(&self) -> Result<Issued, PkiError> {
        let identity = identity_of(self.merchant.cert_der.as_ref())?;
        let week = std::time::Duration::from_secs(7 * 86_400);
        let now = std::time::SystemTime::now();
        let epoch = std::time::UNIX_EPOCH;
        self.operator_ca.issue(
            &identity,
            &[],
            &[],
            Validity {
                not_before: now.checked_sub(2 * week).unwrap_or(epoch),
                not_after: now.checked_sub(week).unwrap_or(epoch),
            },
        )
    }

    /// Read back what `write` wrote.
    pub fn read(dir: &Path) -> Result<Self, PkiError> {
        let ca = |(cert_name, key_name): (&str, &str)| -> Result<Ca, PkiError> {
            Ca::from_pem(
                &read_file(&dir.join(cert_name))?,
                &read_file(&dir.join(key_name))?,
            )
        };
        let issued = |name: &str| -> Result<Issued, PkiError> {
            Issued::from_pem(
                &read_file(&dir.join(format!("{name}.pem")))?,
                &read_file(&dir.join(format!("{name}.key")))?,
            )
        };
        Ok(Self {
            operator_ca: ca(OPERATOR_CA_FILES)?,
            link_ca: ca(LINK_CA_FILES)?,
            network: issued("network")?,
            mobile: issued("mobile")?,
            link_network: issued("link-network")?,
            link_mobile: issued("link-mobile")?,
            bank: issued("bank")?,
            sms: issued("sms")?,
            merchant: issued("merchant-M-1042")?,
        })
    }
}

/// A distinguished name holding only a common name.
fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// A fresh positive 128-bit serial number.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive, and without a leading zero byte so the encoding is always 16 bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

/// The parameters every leaf shares: CN and URI SAN = identity, digitalSignature, not a CA,
/// authority key identifier, random serial, the validity window.
fn leaf_params(
    identity: &PartyIdentity,
    validity: Validity,
) -> Result<CertificateParams, PkiError> {
    if validity.not_before > validity.not_after {
        return Err(PkiError::BadValidity(
            "not_before is after not_after".to_owned(),
        ));
    }
    let uri = identity.to_string();
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(&uri);
    params.subject_alt_names = vec![SanType::URI(Ia5String::try_from(uri)?)];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    params.not_before = asn1_time(validity.not_before)?.to_datetime();
    params.not_after = asn1_time(validity.not_after)?.to_datetime();
    Ok(params)
}

/// `time` as an X.509 time (whole seconds), if X.509 can encode it.
fn asn1_time(time: SystemTime) -> Result<ASN1Time, PkiError> {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).ok(),
        Err(before) => i64::try_from(before.duration().as_secs())
            .ok()
            .map(|secs| -secs),
    };
    secs.filter(|secs| (MIN_X509_TIME..=MAX_X509_TIME).contains(secs))
        .and_then(|secs| ASN1Time::from_timestamp(secs).ok())
        .ok_or_else(|| PkiError::BadValidity(format!("{time:?} is outside years 0000 to 9999")))
}

/// The party identity `ompp://<role>/<id>`.
fn party(role: Role, id: &str) -> Result<PartyIdentity, PkiError> {
    PartyIdentity::new(role, id).map_err(|_| PkiError::BadIdentity(format!("{role:?}/{id}")))
}

/// Parses a whole DER certificate.
fn parse_cert(der: &[u8]) -> Result<x509_parser::certificate::X509Certificate<'_>, PkiError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| PkiError::BadCertificate(format!("malformed: {e}")))?;
    if !rest.is_empty() {
        return Err(PkiError::BadCertificate(
            "trailing bytes after the certificate".to_owned(),
        ));
    }
    Ok(cert)
}

/// The one certificate of a PEM text.
fn single_cert_from_pem(pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    let mut certs = certs_from_pem(pem)?;
    match certs.pop() {
        Some(cert) if certs.is_empty() => Ok(cert),
        _ => Err(PkiError::Pem(
            "expected exactly one CERTIFICATE section".to_owned(),
        )),
    }
}

/// How a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// A certificate: default permissions, overwritten.
    Public,
    /// A private key: mode 0600, overwritten.
    Key,
    /// A CA private key: mode 0600, never overwritten.
    CaKey,
}

fn write_file(path: &Path, contents: &str, kind: FileKind) -> Result<PathBuf, PkiError> {
    let io_error = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true);
    if kind == FileKind::CaKey {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    if kind != FileKind::Public {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            PkiError::AlreadyExists(path.to_owned())
        } else {
            io_error(source)
        }
    })?;
    // `mode` applies only when the file is created: tighten an existing key file too.
    #[cfg(unix)]
    if kind != FileKind::Public {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_error)?;
    }
    file.write_all(contents.as_bytes()).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    Ok(path.to_owned())
}

fn read_file(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn1_time_accepts_the_x509_range_only() {
        assert!(asn1_time(UNIX_EPOCH).is_ok());
        assert!(asn1_time(UNIX_EPOCH - Duration::from_secs(86_400)).is_ok());
        let too_late = UNIX_EPOCH + Duration::from_secs(MAX_X509_TIME.unsigned_abs() + 1);
        assert!(matches!(asn1_time(too_late), Err(PkiError::BadValidity(_))));
    }

    #[test]
    fn days_from_now_is_capped_and_skewed() {
        let v = Validity::days_from_now(u32::MAX);
        assert!(asn1_time(v.not_after).is_ok());
        assert!(v.not_before < SystemTime::now());
        let v = Validity::days_from_now(1);
        let len = v.not_after.duration_since(v.not_before).unwrap_or_default();
        assert!(len >= Duration::from_secs(86_400 + 59));
        assert!(len <= Duration::from_secs(86_400 + 61));
    }

    #[test]
    fn random_serials_are_positive_and_distinct() {
        let a = random_serial().to_bytes();
        let b = random_serial().to_bytes();
        assert_eq!(a.len(), 16);
        assert_eq!(a[0] & 0x80, 0);
        assert_ne!(a, b);
    }

    #[test]
    fn empty_validity_window_is_refused() {
        let ca = Ca::generate("test CA").unwrap();
        let now = SystemTime::now();
        let validity = Validity {
            not_before: now,
            not_after: now - Duration::from_secs(1),
        };
        let id = party(Role::Bank, "BP-9").unwrap();
        assert!(matches!(
            ca.issue(&id, &[], &[], validity),
            Err(PkiError::BadValidity(_))
        ));
    }

    #[test]
    fn bad_dns_name_is_refused() {
        let ca = Ca::generate("test CA").unwrap();
        let id = party(Role::Bank, "BP-9").unwrap();
        assert!(matches!(
            ca.issue(&id, &["not a name"], &[], Validity::days_from_now(1)),
            Err(PkiError::BadDnsName(_))
        ));
    }
}
