//! The development PKI: identities, chains, CSR signing, validity, files.
// Helpers outside #[test] functions unwrap too: a panic there is a test failure.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use ompp::types::{PartyIdentity, Role};
use ompp_server::pki::{
    Ca, DevPki, Issued, PkiError, Validity, certs_from_pem, generate_csr, identity_of, key_from_pem,
};
use rcgen::string::Ia5String;
use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore};
use x509_parser::extensions::GeneralName;

/// One DevPki for the tests that only read it (generation costs nine key pairs).
fn dev_pki() -> &'static DevPki {
    static PKI: OnceLock<DevPki> = OnceLock::new();
    PKI.get_or_init(|| DevPki::generate().unwrap())
}

fn id(role: Role, id: &str) -> PartyIdentity {
    PartyIdentity::new(role, id).unwrap()
}

fn roots(ca: &Ca) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der()).unwrap();
    Arc::new(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Verifies `cert` as a TLS client certificate against `ca` alone.
fn verify_client(ca: &Ca, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap();
    verifier
        .verify_client_cert(cert, &[], UnixTime::now())
        .map(|_| ())
}

/// Verifies `cert` as a TLS server certificate for `name` against `ca` alone.
fn verify_server(ca: &Ca, cert: &CertificateDer<'_>, name: &str) -> Result<(), rustls::Error> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    verifier
        .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
        .map(|_| ())
}

fn is_unknown_issuer(result: Result<(), rustls::Error>) -> bool {
    matches!(
        result,
        Err(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        ))
    )
}

fn is_expired(result: &Result<(), rustls::Error>) -> bool {
    matches!(
        result,
        Err(rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        ))
    )
}

fn is_not_valid_yet(result: &Result<(), rustls::Error>) -> bool {
    matches!(
        result,
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }
        ))
    )
}

/// (name, certificate, expected identity, issued by the link CA, has server SANs)
fn leaves(pki: &DevPki) -> Vec<(&'static str, &Issued, PartyIdentity, bool, bool)> {
    vec![
        (
            "network",
            &pki.network,
            id(Role::Network, "NS-1"),
            false,
            true,
        ),
        ("mobile", &pki.mobile, id(Role::Mobile, "MS-1"), false, true),
        (
            "link_network",
            &pki.link_network,
            id(Role::Network, "NS-1"),
            true,
            true,
        ),
        (
            "link_mobile",
            &pki.link_mobile,
            id(Role::Mobile, "MS-1"),
            true,
            true,
        ),
        ("bank", &pki.bank, id(Role::Bank, "BP-1"), false, true),
        ("sms", &pki.sms, id(Role::Sms, "SC-1"), false, true),
        (
            "merchant",
            &pki.merchant,
            id(Role::Merchant, "M-1042"),
            false,
            false,
        ),
    ]
}

#[test]
fn every_dev_leaf_carries_its_identity() {
    let pki = dev_pki();
    for (name, issued, expected, _, _) in leaves(pki) {
        assert_eq!(identity_of(&issued.cert_der).unwrap(), expected, "{name}");
    }
}

#[test]
fn every_dev_leaf_verifies_against_its_issuer_only() {
    let pki = dev_pki();
    for (name, issued, identity, by_link_ca, server_sans) in leaves(pki) {
        let (issuer, other) = if by_link_ca {
            (&pki.link_ca, &pki.operator_ca)
        } else {
            (&pki.operator_ca, &pki.link_ca)
        };
        let cert = &issued.cert_der;
        // Servers (bank, SMS center) are not clients (OMPP-TLS-005): refused even by their CA.
        if matches!(identity.role(), Role::Bank | Role::Sms) {
            assert!(
                verify_client(issuer, cert).is_err(),
                "{name} must not be a client"
            );
        } else {
            assert_eq!(verify_client(issuer, cert), Ok(()), "{name} as client");
            assert!(
                is_unknown_issuer(verify_client(other, cert)),
                "{name} as client, other CA"
            );
        }
        if server_sans {
            for host in ["localhost", "127.0.0.1", "::1"] {
                assert_eq!(
                    verify_server(issuer, cert, host),
                    Ok(()),
                    "{name} as server {host}"
                );
            }
            assert!(
                is_unknown_issuer(verify_server(other, cert, "localhost")),
                "{name} as server, other CA"
            );
            assert!(
                verify_server(issuer, cert, "example.com").is_err(),
                "{name} as server for a name it does not carry"
            );
        } else {
            assert!(
                verify_server(issuer, cert, "localhost").is_err(),
                "{name} has no DNS SAN"
            );
        }
    }
}

#[test]
fn dev_cas_are_distinct_and_named() {
    let pki = dev_pki();
    assert_ne!(pki.operator_ca.cert_der(), pki.link_ca.cert_der());
    for (ca, cn) in [
        (&pki.operator_ca, "OMPP Operator CA"),
        (&pki.link_ca, "OMPP Link CA"),
    ] {
        let der = ca.cert_der();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert!(cert.is_ca());
        let subject_cn = cert
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap();
        assert_eq!(subject_cn, cn);
        let years = cert.validity().time_to_expiration().unwrap().whole_days() / 365;
        assert!((9..=10).contains(&years), "{cn}: {years} years");
        assert!(matches!(identity_of(&der), Err(PkiError::NoIdentity)));
    }
}

#[test]
fn dev_leaves_are_valid_825_days_with_the_ekus_of_their_role() {
    let pki = dev_pki();
    for (name, issued, identity, _, _) in leaves(pki) {
        let (_, cert) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
        let days = cert.validity().time_to_expiration().unwrap().whole_days();
        assert!((824..=825).contains(&days), "{name}: {days} days");
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        // OMPP-TLS-005: clients clientAuth, servers serverAuth, network and mobile both.
        let (server, client) = match identity.role() {
            Role::Merchant | Role::Device => (false, true),
            Role::Bank | Role::Sms => (true, false),
            _ => (true, true),
        };
        assert_eq!(
            (eku.server_auth, eku.client_auth),
            (server, client),
            "{name}"
        );
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && !ku.key_cert_sign(), "{name}");
        assert!(!cert.is_ca(), "{name}");
    }
}

#[test]
fn issued_key_matches_its_certificate() {
    let pki = dev_pki();
    let key = KeyPair::from_pem(&pki.bank.key_pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&pki.bank.cert_der).unwrap();
    assert_eq!(
        cert.public_key().subject_public_key.data.as_ref(),
        key.public_key_raw()
    );
    let der = pki.bank.key_der();
    assert_eq!(der.secret_der(), key.serialize_der());
    assert_eq!(
        key_from_pem(&pki.bank.key_pem).unwrap().secret_der(),
        der.secret_der()
    );
    assert_eq!(
        certs_from_pem(&pki.bank.cert_pem).unwrap(),
        vec![pki.bank.cert_der.clone()]
    );
}

fn csr_public_key(csr_der: &[u8]) -> Vec<u8> {
    use x509_parser::prelude::FromDer;
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(csr_der).unwrap();
    csr.certification_request_info
        .subject_pki
        .subject_public_key
        .data
        .to_vec()
}

#[test]
fn sign_csr_certifies_the_csr_key_under_our_identity() {
    let ca = Ca::generate("test CA").unwrap();
    // A CSR asking for another identity: CN, URI SAN and DNS SAN all lie.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["evil.example".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "ompp://network/NS-1");
    params.subject_alt_names.push(SanType::URI(
        Ia5String::try_from("ompp://network/NS-1").unwrap(),
    ));
    let csr_der = params.serialize_request(&key).unwrap().der().to_vec();

    let merchant = id(Role::Merchant, "M-7");
    let cert = ca
        .sign_csr(&csr_der, &merchant, Validity::days_from_now(30))
        .unwrap();
    assert_eq!(identity_of(&cert).unwrap(), merchant);

    let (_, parsed) = x509_parser::parse_x509_certificate(&cert).unwrap();
    assert_eq!(
        parsed.public_key().subject_public_key.data.as_ref(),
        key.public_key_raw()
    );
    assert_eq!(
        parsed.public_key().subject_public_key.data.to_vec(),
        csr_public_key(&csr_der)
    );
    let cn = parsed
        .subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap();
    assert_eq!(cn, "ompp://merchant/M-7");
    let sans = &parsed
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names;
    assert_eq!(sans, &vec![GeneralName::URI("ompp://merchant/M-7")]);
    let eku = parsed.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);

    // Usable as a client certificate, not as a server certificate.
    assert_eq!(verify_client(&ca, &cert), Ok(()));
    assert!(verify_server(&ca, &cert, "evil.example").is_err());
}

#[test]
fn generate_csr_round_trips_through_sign_csr() {
    let ca = Ca::generate("test CA").unwrap();
    let request = generate_csr("terminal 7").unwrap();
    let device = id(Role::Device, "D-77");
    let cert = ca
        .sign_csr(&request.csr_der, &device, Validity::days_from_now(30))
        .unwrap();
    assert_eq!(identity_of(&cert).unwrap(), device);
    let key = KeyPair::from_pem(&request.key_pem).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&cert).unwrap();
    assert_eq!(
        parsed.public_key().subject_public_key.data.as_ref(),
        key.public_key_raw()
    );
    assert_eq!(csr_public_key(&request.csr_der), key.public_key_raw());
    assert_eq!(verify_client(&ca, &cert), Ok(()));
    assert!(format!("{request:?}").contains("elided"));
    assert!(!format!("{request:?}").contains(&request.key_pem));
}

#[test]
fn sign_csr_rejects_a_flipped_signature_byte() {
    let ca = Ca::generate("test CA").unwrap();
    let mut csr_der = generate_csr("terminal").unwrap().csr_der;
    // The signature BIT STRING ends the CSR: its last byte is the last byte of `s`.
    let last = csr_der.len() - 1;
    csr_der[last] ^= 0x01;
    let merchant = id(Role::Merchant, "M-1");
    assert!(matches!(
        ca.sign_csr(&csr_der, &merchant, Validity::days_from_now(1)),
        Err(PkiError::BadCsr(_))
    ));
}

#[test]
fn sign_csr_rejects_a_tampered_subject() {
    let ca = Ca::generate("test CA").unwrap();
    let mut csr_der = generate_csr("terminal-AAAA").unwrap().csr_der;
    let at = csr_der.windows(4).position(|w| w == b"AAAA").unwrap();
    csr_der[at] = b'B';
    let merchant = id(Role::Merchant, "M-1");
    assert!(matches!(
        ca.sign_csr(&csr_der, &merchant, Validity::days_from_now(1)),
        Err(PkiError::BadCsr(_))
    ));
}

#[test]
fn sign_csr_rejects_garbage() {
    let ca = Ca::generate("test CA").unwrap();
    let merchant = id(Role::Merchant, "M-1");
    for garbage in [
        &b""[..],
        b"not a csr at all",
        &[0x30, 0x82, 0xff, 0xff, 0x00],
    ] {
        assert!(matches!(
            ca.sign_csr(garbage, &merchant, Validity::days_from_now(1)),
            Err(PkiError::BadCsr(_))
        ));
    }
    // A certificate is not a CSR either.
    assert!(matches!(
        ca.sign_csr(&ca.cert_der(), &merchant, Validity::days_from_now(1)),
        Err(PkiError::BadCsr(_))
    ));
    // Trailing bytes after a valid CSR.
    let mut csr_der = generate_csr("terminal").unwrap().csr_der;
    csr_der.push(0);
    assert!(matches!(
        ca.sign_csr(&csr_der, &merchant, Validity::days_from_now(1)),
        Err(PkiError::BadCsr(_))
    ));
}

#[test]
fn expired_and_not_yet_valid_certificates_are_rejected() {
    let ca = Ca::generate("test CA").unwrap();
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let identity = id(Role::Network, "NS-1");
    let localhost = [IpAddr::V4(Ipv4Addr::LOCALHOST)];

    let expired = Validity {
        not_before: now - 10 * day,
        not_after: now - day,
    };
    let cert = ca
        .issue(&identity, &["localhost"], &localhost, expired)
        .unwrap()
        .cert_der;
    let client = verify_client(&ca, &cert);
    assert!(is_expired(&client), "{client:?}");
    let server = verify_server(&ca, &cert, "localhost");
    assert!(is_expired(&server), "{server:?}");

    let future = Validity {
        not_before: now + day,
        not_after: now + 10 * day,
    };
    let cert = ca
        .issue(&identity, &["localhost"], &localhost, future)
        .unwrap()
        .cert_der;
    let client = verify_client(&ca, &cert);
    assert!(is_not_valid_yet(&client), "{client:?}");

    let csr = generate_csr("late").unwrap();
    let cert = ca
        .sign_csr(&csr.csr_der, &id(Role::Merchant, "M-1"), expired)
        .unwrap();
    let client = verify_client(&ca, &cert);
    assert!(is_expired(&client), "{client:?}");

    // The same request with a current window verifies: the failures above are the dates.
    let current = Validity::days_from_now(1);
    let cert = ca
        .issue(&identity, &["localhost"], &localhost, current)
        .unwrap()
        .cert_der;
    assert_eq!(verify_client(&ca, &cert), Ok(()));
}

#[test]
fn write_then_read_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("pki");
    let pki = DevPki::generate().unwrap();
    let written = pki.write(&target).unwrap();
    assert_eq!(written.len(), 18);
    let mut names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = ["operator-ca", "link-ca"]
        .into_iter()
        .chain([
            "network",
            "mobile",
            "link-network",
            "link-mobile",
            "bank",
            "sms",
            "merchant-M-1042",
        ])
        .flat_map(|n| [format!("{n}.pem"), format!("{n}.key")])
        .collect();
    expected.sort();
    assert_eq!(names, expected);

    let back = DevPki::read(&target).unwrap();
    for (a, b) in [
        (&pki.operator_ca, &back.operator_ca),
        (&pki.link_ca, &back.link_ca),
    ] {
        assert_eq!(a.cert_pem(), b.cert_pem());
        assert_eq!(a.key_pem(), b.key_pem());
        assert_eq!(a.cert_der(), b.cert_der());
    }
    for ((name, a, ..), (_, b, ..)) in leaves(&pki).into_iter().zip(leaves(&back)) {
        assert_eq!(a.cert_pem, b.cert_pem, "{name}");
        assert_eq!(a.key_pem, b.key_pem, "{name}");
        assert_eq!(a.cert_der, b.cert_der, "{name}");
    }

    // A CA read back still issues certificates that chain to the original CA certificate.
    let issued = back
        .operator_ca
        .issue(
            &id(Role::Bank, "BP-2"),
            &["localhost"],
            &[],
            Validity::days_from_now(1),
        )
        .unwrap();
    assert_eq!(
        verify_server(&pki.operator_ca, &issued.cert_der, "localhost"),
        Ok(())
    );
}

#[test]
fn write_refuses_to_clobber_a_ca() {
    let dir = tempfile::tempdir().unwrap();
    let first = DevPki::generate().unwrap();
    first.write(dir.path()).unwrap();
    let second = DevPki::generate().unwrap();
    match second.write(dir.path()) {
        Err(PkiError::AlreadyExists(path)) => {
            assert_eq!(path, dir.path().join("operator-ca.key"));
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // Nothing was overwritten.
    let back = DevPki::read(dir.path()).unwrap();
    assert_eq!(back.operator_ca.cert_pem(), first.operator_ca.cert_pem());
    assert_eq!(back.network.cert_pem, first.network.cert_pem);

    // The link CA key is protected as well.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("link-ca.key"), "precious").unwrap();
    assert!(matches!(
        second.write(other.path()),
        Err(PkiError::AlreadyExists(path)) if path == other.path().join("link-ca.key")
    ));
    assert_eq!(
        std::fs::read_to_string(other.path().join("link-ca.key")).unwrap(),
        "precious"
    );
    // ... and refused before anything was written.
    assert!(!other.path().join("operator-ca.key").exists());
}

#[cfg(unix)]
#[test]
fn key_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let written = dev_pki().write(dir.path()).unwrap();
    let mut keys = 0;
    for path in written {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        if path.extension().unwrap() == "key" {
            keys += 1;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
    assert_eq!(keys, 9);
}

#[test]
fn read_reports_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        DevPki::read(dir.path()),
        Err(PkiError::Io { path, .. }) if path == dir.path().join("operator-ca.pem")
    ));
}

#[test]
fn ca_from_pem_checks_its_inputs() {
    let a = Ca::generate("A").unwrap();
    let b = Ca::generate("B").unwrap();
    let again = Ca::from_pem(&a.cert_pem(), &a.key_pem()).unwrap();
    assert_eq!(again.cert_der(), a.cert_der());
    // Mismatched key.
    assert!(matches!(
        Ca::from_pem(&a.cert_pem(), &b.key_pem()),
        Err(PkiError::BadCertificate(_))
    ));
    // A leaf is not a CA.
    let leaf = a
        .issue(
            &id(Role::Bank, "BP-1"),
            &[],
            &[],
            Validity::days_from_now(1),
        )
        .unwrap();
    assert!(matches!(
        Ca::from_pem(&leaf.cert_pem, &leaf.key_pem),
        Err(PkiError::BadCertificate(_))
    ));
    // Not PEM.
    assert!(matches!(
        Ca::from_pem("nothing here", &a.key_pem()),
        Err(PkiError::Pem(_))
    ));
    assert!(matches!(
        Ca::from_pem(&a.cert_pem(), "nothing here"),
        Err(PkiError::Pem(_))
    ));
    // Debug never shows the key.
    assert!(!format!("{a:?}").contains(&a.key_pem()));
    assert!(!format!("{leaf:?}").contains(&leaf.key_pem));
}

#[test]
fn pem_helpers_reject_empty_input() {
    assert!(matches!(certs_from_pem(""), Err(PkiError::Pem(_))));
    assert!(matches!(key_from_pem(""), Err(PkiError::Pem(_))));
    let pki = dev_pki();
    let bundle = format!("{}{}", pki.operator_ca.cert_pem(), pki.link_ca.cert_pem());
    assert_eq!(
        certs_from_pem(&bundle).unwrap(),
        vec![pki.operator_ca.cert_der(), pki.link_ca.cert_der()]
    );
}

/// A self-signed certificate with the given SANs, to feed `identity_of`.
fn cert_with_sans(sans: Vec<SanType>) -> CertificateDer<'static> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    params.self_signed(&key).unwrap().der().clone()
}

fn uri(s: &str) -> SanType {
    SanType::URI(Ia5String::try_from(s).unwrap())
}

fn dns(s: &str) -> SanType {
    SanType::DnsName(Ia5String::try_from(s).unwrap())
}

#[test]
fn identity_of_requires_exactly_one_valid_ompp_uri() {
    assert!(matches!(
        identity_of(&cert_with_sans(vec![])),
        Err(PkiError::NoIdentity)
    ));
    assert!(matches!(
        identity_of(&cert_with_sans(vec![dns("localhost")])),
        Err(PkiError::NoIdentity)
    ));
    assert!(matches!(
        identity_of(&cert_with_sans(vec![uri("https://example.com/x")])),
        Err(PkiError::NoIdentity)
    ));
    assert!(matches!(
        identity_of(&cert_with_sans(vec![
            uri("ompp://bank/BP-1"),
            uri("ompp://bank/BP-2")
        ])),
        Err(PkiError::SeveralIdentities)
    ));
    for bad in [
        "ompp://wizard/W-1",
        "ompp://bank/",
        "ompp:bank/BP-1",
        "OMPP://bank/BP-1",
    ] {
        assert!(
            matches!(
                identity_of(&cert_with_sans(vec![uri(bad)])),
                Err(PkiError::BadIdentity(ref s)) if s == bad
            ),
            "{bad}"
        );
    }
    assert_eq!(
        identity_of(&cert_with_sans(vec![
            dns("localhost"),
            uri("https://example.com/x"),
            uri("ompp://sms/SC-9"),
        ]))
        .unwrap(),
        id(Role::Sms, "SC-9")
    );
}

#[test]
fn identity_of_rejects_non_certificates() {
    assert!(matches!(
        identity_of(b"garbage"),
        Err(PkiError::BadCertificate(_))
    ));
    let csr = generate_csr("x").unwrap();
    assert!(matches!(
        identity_of(&csr.csr_der),
        Err(PkiError::BadCertificate(_))
    ));
}
