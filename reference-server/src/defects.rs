//! Deliberately broken variants of the reference, for the conformance suite's own tests
//! (feature `defects`, enabled only by `ompp-conformance`'s dev-dependencies; never in a normal
//! build).
//!
//! The suite is only worth something if it can fail: `conformance/tests/broken_variants.rs`
//! starts the in-process reference with exactly one [`Defect`] switched on, runs every case,
//! and asserts that exactly the expected cases fail:
//!
//! | Defect | What the reference then does wrong | Case(s) that catch it |
//! |---|---|---|
//! | [`Defect::IgnoreMerchantIdentity`] | does not compare `merchant_id` with the client certificate, so another merchant's id is answered `UNKNOWN_MERCHANT`, not `IDENTITY_MISMATCH` (OMPP-TLS-016) | `oc.tls.identity-mismatch`, `oc.flow-c.open-checkout` |
//! | [`Defect::AcceptWrongRoleCertificate`] | does not check the certificate's role on `MerchantPaymentService`: a device certificate passes, and is refused only as `IDENTITY_MISMATCH` (OMPP-TLS-010) | `oc.tls.wrong-role-certificate` |
//! | [`Defect::AcceptExpiredCertificate`] | accepts merchant certificates past their validity period (OMPP-TLS-007) | `oc.tls.expired-certificate` |
//! | [`Defect::RevealUnknownCustomer`] | `PairDevice` answers `UNKNOWN_CUSTOMER` for an unknown customer id (OMPP-ERR-004) | `oc.reg.pair-device-credentials-alike` |
//! | [`Defect::UnlimitedPasswordAttempts`] | the last wrong password does not fail the payment (OMPP-FLA-002) | `oc.flow-a.tries-exceeded` |
//! | [`Defect::IgnoreAmountEcho`] | settles a confirmation whose amount differs from the payment's (OMPP-FLA-007) | `oc.flow-a.amount-mismatch` |
//! | [`Defect::ActOnOtherCustomersPayment`] | lets any device confirm or decline any flow A payment (OMPP-FLA-016) | `oc.flow-a.other-customers-payment` |
//! | [`Defect::IgnoreIdempotencyKey`] | a retried `CreatePayment` creates another payment (OMPP-IDEM-003/004) | `oc.idem.retry-and-conflict`, `oc.idem.failed-request-leaves-key-unbound` |
//! | [`Defect::DropErrorInfo`] | `INVALID_ARGUMENT` answers of `CreatePayment` lose their `ErrorInfo` and `BadRequest` (OMPP-ERR-001) | `oc.err.invalid-field`, `oc.flow-a.expiry-bounds`, `oc.msg.identifiers-text-and-keys`, `oc.msg.money-and-durations` |
//! | [`Defect::DynamicCodeReusable`] | pays a used dynamic payee code again, as a new payment (OMPP-FLB-008) | `oc.flow-b.dynamic-code-single-use` |
//! | [`Defect::IgnorePayeeCodeCrc`] | recomputes a scanned payee code's CRC instead of checking it (OMPP-CODE-003) | `oc.flow-b.tampered-code` |
//! | [`Defect::RevealUnknownPhone`] | `SubmitPassword` answers `UNKNOWN_CUSTOMER` for a phone number no customer holds (OMPP-FLC-005) | `oc.flow-c.credentials-rejected-alike` |
//! | [`Defect::BookRetriedTransferAgain`] | the bank processor books an identical retried `ExecuteTransfer` again, while answering the recorded transfer (OMPP-BANK-003) | `bp.transfer.retry-returns-first-outcome`, `bp.transfer.rejection-is-final` |
//! | [`Defect::RetryRejectedTransfer`] | the bank processor decides an identical retry of a `REJECTED` transfer anew, so it completes once the payer is funded (OMPP-BANK-005) | `bp.transfer.rejection-is-final` |
//! | [`Defect::KeepReplacedHandset`] | the SMS center keeps the earlier handset of a number registered again: its token still works (OMPP-SMS-009) | `sc.handset.re-register` |
//! | [`Defect::FailUnansweredTransfer`] | a checkout or top-up whose `ExecuteTransfer` got an RPC error is failed at once, without asking the bank for the outcome (OMPP-BANK-009) | `oc.flow-c.bank-answer-lost`, `oc.flow-c.bank-unavailable`, `oc.ledger.top-up-outcome-unknown` |
//! | [`Defect::TopUpWithoutBank`] | credits a top-up from the operator's clearing account without a bank transfer, as the sandbox did (OMPP-LEDGER-010/011) | `oc.ledger.top-up-through-bank`, `oc.ledger.top-up-rejected`, `oc.ledger.top-up-outcome-unknown`, `oc.money.overflow`, and the three `oc.tls.counterparty-*` cases (it credits a top-up while the bank is unreachable) |
//! | [`Defect::OverflowCheckedAfterBank`] | sends the bank transfer of a top-up that would overflow the wallet, which then fails to book (OMPP-MONEY-004) | `oc.money.overflow` |
//! | [`Defect::ReuseEnvelopeOnRetry`] | sends a push the mobile server did not take again with the first attempt's message id and send time (OMPP-LINK-010) | `oc.link.sender-envelope` |
//! | [`Defect::NoLinkRateLimit`] | the network server's secure-link token bucket never empties (OMPP-LINK-005) | `oc.link.rate-limit` |
//! | [`Defect::AcceptAnyUpstreamCertificate`] | the network server accepts any server certificate from the bank processor and SMS center it calls (OMPP-TLS-012) | `oc.tls.counterparty-unknown-ca`, `oc.tls.counterparty-other-identity` |
//! | [`Defect::OfferTls12Upstream`] | the network server connects to a bank processor that offers only TLS 1.2 (OMPP-SEC-009) | `oc.tls.counterparty-tls12-only` |
//! | [`Defect::PushToSixteenDevicesOnly`] | pushes payment requests and notices to the first 16 paired devices only, in one secure-link call (OMPP-REG-009, OMPP-FLA-005, OMPP-FLA-014) | `oc.flow-a.push-to-every-device` |
//!
//! The 64 KiB request limit (OMPP-MSG-010, case `oc.msg.message-too-large`) has no variant:
//! it is enforced by `ompp::codec`, the codec of the generated services, before the
//! reference's handlers see a request, so the reference cannot skip it on its own.
//!
//! Each injection point is a short `#[cfg(feature = "defects")]` statement next to
//! the check it breaks, so that the normal build compiles none of this.

use std::collections::BTreeSet;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

/// One way of being broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Defect {
    /// `merchant_id` is not compared with the client certificate identity.
    IgnoreMerchantIdentity,
    /// Any operator-CA certificate, whatever its role, may call `MerchantPaymentService`.
    AcceptWrongRoleCertificate,
    /// Client certificates of the network server's public endpoint past their validity period
    /// are accepted.
    AcceptExpiredCertificate,
    /// `PairDevice` tells an unknown customer id from a wrong password.
    RevealUnknownCustomer,
    /// A wrong password on the last attempt is refused but does not fail the payment.
    UnlimitedPasswordAttempts,
    /// The amount echoed by `ConfirmPayment` is not compared with the payment's.
    IgnoreAmountEcho,
    /// A device may confirm or decline a flow A payment addressed to another customer.
    ActOnOtherCustomersPayment,
    /// `CreatePayment` binds every request to a fresh key: retries create new payments.
    IgnoreIdempotencyKey,
    /// `INVALID_ARGUMENT` statuses of `CreatePayment` carry no error details.
    DropErrorInfo,
    /// A dynamic payee code whose payment settled is paid again, as if it were static.
    DynamicCodeReusable,
    /// A scanned payee code's CRC is recomputed rather than checked.
    IgnorePayeeCodeCrc,
    /// `SubmitPassword` tells an unknown phone number from a wrong password.
    RevealUnknownPhone,
    /// The bank processor books an identical retry of a recorded transfer again (under another
    /// id), and answers the recorded transfer as if nothing happened.
    BookRetriedTransferAgain,
    /// The bank processor decides an identical retry of a rejected transfer anew, and answers
    /// the new outcome under the transfer's id.
    RetryRejectedTransfer,
    /// A second `RegisterHandset` for a number adds a handset instead of replacing the first.
    KeepReplacedHandset,
    /// A checkout or top-up whose `ExecuteTransfer` got an RPC error fails at once, as if the bank had
    /// rejected it, instead of learning the outcome from the bank.
    FailUnansweredTransfer,
    /// Pushes reach the first `MAX_PUSH_DEVICES` paired devices only.
    PushToSixteenDevicesOnly,
    /// `TopUpWallet` credits the wallet from the operator's clearing account without asking the
    /// bank processor (the sandbox funding of earlier versions).
    TopUpWithoutBank,
    /// `TopUpWallet` does not check before the bank transfer that the ledger can book it: an
    /// overflowing top-up is debited at the bank and then fails to book.
    OverflowCheckedAfterBank,
    /// A push the mobile server did not take is sent again with the first attempt's envelope
    /// (its message id and send time).
    ReuseEnvelopeOnRetry,
    /// The network server's secure-link firewall never runs out of tokens.
    NoLinkRateLimit,
    /// The network server accepts any certificate from the bank processor and SMS center it
    /// calls: no chain, name or identity check.
    AcceptAnyUpstreamCertificate,
    /// The network server offers TLS 1.2 as well as 1.3 to the bank processor and SMS center it
    /// calls (it still checks their certificates).
    OfferTls12Upstream,
}

/// The defects a broken variant has (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Defects(BTreeSet<Defect>);

impl Defects {
    /// Exactly `defects`.
    pub fn of(defects: impl IntoIterator<Item = Defect>) -> Self {
        Self(defects.into_iter().collect())
    }

    /// Whether `defect` is switched on.
    pub fn has(&self, defect: Defect) -> bool {
        self.0.contains(&defect)
    }
}

/// `payload` with its last four characters replaced by the CRC of everything before them
/// (for [`Defect::IgnorePayeeCodeCrc`]).
pub(crate) fn with_recomputed_crc(payload: &str) -> String {
    match payload.len().checked_sub(4) {
        Some(end) if payload.is_char_boundary(end) => {
            let body = &payload[..end];
            format!("{body}{:04X}", ompp::payee_code::crc16(body.as_bytes()))
        }
        _ => payload.to_owned(),
    }
}

/// A client certificate verifier that retries a certificate refused as expired at a time
/// inside its validity period (for [`Defect::AcceptExpiredCertificate`]).
#[derive(Debug)]
pub(crate) struct IgnoreExpiry(pub(crate) Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for IgnoreExpiry {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.0.verify_client_cert(end_entity, intermediates, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. },
            )) => {
                let not_before = x509_parser::parse_x509_certificate(end_entity.as_ref())
                    .map(|(_, cert)| cert.validity().not_before.timestamp())
                    .unwrap_or(0);
                let inside = u64::try_from(not_before.saturating_add(1)).unwrap_or(0);
                self.0.verify_client_cert(
                    end_entity,
                    intermediates,
                    UnixTime::since_unix_epoch(std::time::Duration::from_secs(inside)),
                )
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// [`crate::tls::server_config`] with optional client authentication whose verifier ignores
/// certificate expiry (for [`Defect::AcceptExpiredCertificate`]).
pub(crate) fn server_config_ignoring_expiry(
    cert_chain: Vec<CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
    client_roots: Vec<CertificateDer<'static>>,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for root in client_roots {
        roots.add(root)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(IgnoreExpiry(verifier)))
        .with_single_cert(cert_chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The network server's client configuration for the bank processor or SMS center, rebuilt
/// with the weaknesses of [`Defect::AcceptAnyUpstreamCertificate`] and
/// [`Defect::OfferTls12Upstream`] when either is on; `config` unchanged otherwise.
pub(crate) fn weaken_upstream_tls(
    defects: &Defects,
    config: &mut rustls::ClientConfig,
    operator_ca_pem: &str,
    own: (&str, &str),
    expected: &ompp::types::PartyIdentity,
) -> Result<(), String> {
    let any = defects.has(Defect::AcceptAnyUpstreamCertificate);
    let tls12 = defects.has(Defect::OfferTls12Upstream);
    if !any && !tls12 {
        return Ok(());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in crate::pki::certs_from_pem(operator_ca_pem).map_err(|e| e.to_string())? {
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let verifier = UpstreamVerifier {
        chain,
        expected: (!any).then(|| expected.clone()),
    };
    let mut weakened = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(
            crate::pki::certs_from_pem(own.0).map_err(|e| e.to_string())?,
            crate::pki::key_from_pem(own.1).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    weakened.alpn_protocols = vec![b"h2".to_vec()];
    *config = weakened;
    Ok(())
}

/// Checks the chain and the expected identity, or, without one, nothing at all.
#[derive(Debug)]
struct UpstreamVerifier {
    chain: Arc<rustls::client::WebPkiServerVerifier>,
    expected: Option<ompp::types::PartyIdentity>,
}

impl rustls::client::danger::ServerCertVerifier for UpstreamVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(expected) = &self.expected else {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        };
        self.chain.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        match crate::pki::identity_of(end_entity.as_ref()) {
            Ok(identity) if &identity == expected => {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            _ => Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}
