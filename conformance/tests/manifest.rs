//! The suite with a vendor manifest, against a reference started here: a deliberately wrong
//! certificate in the manifest is caught by exactly one case, expected failures are honoured,
//! and invalid manifests stop the run before any case (exit status 2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use ompp::conformance::{Report, Verdict};
use ompp_server::pki::DevPki;

const BIN: &str = env!("CARGO_BIN_EXE_ompp-conformance");

struct Reference {
    running: ompp_server::run::Running,
    pki: DevPki,
    /// Where the suite's bank processor and SMS center listen during a run: the reference's
    /// network server calls them (wallet top-ups, OMPP-LEDGER-010).
    bank: SocketAddr,
    sms: SocketAddr,
    _dir: tempfile::TempDir,
}

/// A loopback address with a port free right now, below the kernel's ephemeral range (32768
/// and up on Linux by default), from which connections and port-0 binds draw theirs: until the
/// suite binds it, no other socket is handed it unless it asks for it by number.
fn free_addr() -> SocketAddr {
    use rand::Rng;
    let mut rng = rand::rng();
    loop {
        let port = rng.random_range(10_000..32_768);
        if let Ok(listener) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return listener.local_addr().unwrap();
        }
    }
}

async fn reference() -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ompp_server::config::Config::on_loopback(
        dir.path().to_owned(),
        ompp_server::passwords::HashingProfile::FastInsecure,
    );
    let (bank, sms) = (free_addr(), free_addr());
    config.network.bank_url = format!("https://localhost:{}", bank.port());
    config.network.sms_url = format!("https://localhost:{}", sms.port());
    let running = ompp_server::run::start(
        &config,
        ompp_server::run::Role::OperationCenter,
        Arc::new(ompp_server::clock::SystemClock),
        None,
    )
    .await
    .unwrap();
    let pki = DevPki::read(&config.pki_dir()).unwrap();
    Reference {
        running,
        pki,
        bank,
        sms,
        _dir: dir,
    }
}

/// Writes the TLS material and a manifest into `dir`; `extra` is appended to the manifest.
/// The "expired" merchant certificate is deliberately the valid one.
fn write_manifest(
    dir: &Path,
    reference: &Reference,
    role: &str,
    extra: &str,
) -> std::path::PathBuf {
    std::fs::write(dir.join("ca.pem"), reference.pki.operator_ca.cert_pem()).unwrap();
    std::fs::write(dir.join("merchant.pem"), &reference.pki.merchant.cert_pem).unwrap();
    std::fs::write(dir.join("merchant.key"), &reference.pki.merchant.key_pem).unwrap();
    std::fs::write(dir.join("bank.pem"), &reference.pki.bank.cert_pem).unwrap();
    std::fs::write(dir.join("bank.key"), &reference.pki.bank.key_pem).unwrap();
    std::fs::write(dir.join("sms.pem"), &reference.pki.sms.cert_pem).unwrap();
    std::fs::write(dir.join("sms.key"), &reference.pki.sms.key_pem).unwrap();
    let network = reference.running.network_addr.unwrap().port();
    let mobile = reference.running.mobile_addr.unwrap().port();
    let manifest = format!(
        r#"role = "{role}"
profiles = ["registration", "flow_a", "flow_b"]

[endpoints]
network = "https://localhost:{network}"
mobile = "https://localhost:{mobile}"

[tls]
trust_anchors = "ca.pem"
merchant = {{ cert = "merchant.pem", key = "merchant.key" }}
expired_merchant = {{ cert = "merchant.pem", key = "merchant.key" }}
counterparty_server = {{ cert = "bank.pem", key = "bank.key" }}
counterparty_sms_server = {{ cert = "sms.pem", key = "sms.key" }}
counterparty_client_ca = "ca.pem"

[counterparties]
bank_listen = "{bank}"
sms_listen = "{sms}"
bank_id = "OMPPBANK"
bank_accounts = ["DEMO1042", "OPER0001"]
{extra}"#,
        bank = reference.bank,
        sms = reference.sms,
    );
    let path = dir.join("vendor.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

async fn run(manifest: &Path, report_dir: &Path) -> Output {
    let (manifest, report_dir) = (manifest.to_owned(), report_dir.to_owned());
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .arg("run")
            .arg("--manifest")
            .arg(manifest)
            // The expiry cases wait 30 s; none of these runs is about them.
            .arg("--skip-waiting")
            .arg("--report-dir")
            .arg(report_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn read_report(dir: &Path) -> Report {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_certificate_posing_as_expired_fails_exactly_the_expiry_case() {
    let reference = reference().await;
    let dir = tempfile::tempdir().unwrap();

    let manifest = write_manifest(dir.path(), &reference, "operation_center", "");
    let out = dir.path().join("plain");
    let output = run(&manifest, &out).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report = read_report(&out);
    let failed: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(failed, ["oc.tls.expired-certificate"], "{report:#?}");
    let case = report
        .cases
        .iter()
        .find(|c| c.id == "oc.tls.expired-certificate")
        .unwrap();
    let failing: Vec<_> = case.assertions.iter().filter(|a| !a.passed).collect();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].requirement, "OMPP-TLS-007");
    // Flow C is not declared: skipped, never failed.
    assert!(
        report
            .cases
            .iter()
            .filter(|c| c.id.starts_with("oc.flow-c."))
            .all(|c| c.verdict == Verdict::Unsupported)
    );
    let flow_c = report
        .cases
        .iter()
        .filter(|c| c.id.starts_with("oc.flow-c."))
        .count();
    assert!(flow_c >= 2);
    assert_eq!(report.summary.unsupported as usize, flow_c);
    // No secure-link material in the manifest: the firewall cases cannot run (OMPP-CONF-009).
    let link: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.id.starts_with("oc.link."))
        .collect();
    assert!(link.len() >= 5, "{link:?}");
    assert!(
        link.iter().all(|c| c.verdict == Verdict::Error),
        "{link:#?}"
    );
    // Nor can the other cases that send on the secure link, nor, without enrollment tokens,
    // those that register a merchant of their own, nor, without certificates for callers the
    // system does not know, the unknown-caller case, nor, without the suite on the secure link
    // (counterparties.link_listen), the push-retry case, nor, without another bank's
    // certificate (tls.counterparty_other_server), the case that presents it.
    let mut other_errors: Vec<&str> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Error && !c.id.starts_with("oc.link."))
        .map(|c| c.id.as_str())
        .collect();
    other_errors.sort_unstable();
    assert_eq!(
        other_errors,
        [
            "oc.flow-a.push-retried",
            "oc.ledger.both-legs-and-conservation",
            "oc.msg.notice-enum-values",
            "oc.msg.repeated-field-bounds",
            "oc.reg.merchant-enrollment",
            "oc.tls.certificate-profile",
            "oc.tls.counterparty-other-identity",
            "oc.tls.link-ca-separation",
            "oc.tls.unknown-caller",
        ],
        "{report:#?}"
    );
    assert!(!report.conformant);

    // Declared as an expected failure: reported with the reason, still not conformant.
    let manifest = write_manifest(
        dir.path(),
        &reference,
        "operation_center",
        "\n[[expected_failures]]\ncase = \"oc.tls.expired-*\"\nreason = \"ticket EX-1\"\n",
    );
    let out = dir.path().join("expected");
    let output = run(&manifest, &out).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report = read_report(&out);
    let case = report
        .cases
        .iter()
        .find(|c| c.id == "oc.tls.expired-certificate")
        .unwrap();
    assert_eq!(case.verdict, Verdict::ExpectedFailure);
    assert_eq!(case.expected_failure_reason.as_deref(), Some("ticket EX-1"));
    assert_eq!(report.summary.expected_failures, 1);
    assert_eq!(report.summary.failed, 0);

    // An expected failure on a passing case is an unexpected pass.
    let manifest = write_manifest(
        dir.path(),
        &reference,
        "operation_center",
        "\n[[expected_failures]]\ncase = \"oc.flow-a.decline\"\nreason = \"ticket EX-2\"\n",
    );
    let out = dir.path().join("unexpected");
    let output = run(&manifest, &out).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report = read_report(&out);
    assert_eq!(report.summary.unexpected_passes, 1);

    // Invalid manifests: no case runs, exit status 2, no report.
    for (name, role, extra) in [
        (
            "nomatch",
            "operation_center",
            "\n[[expected_failures]]\ncase = \"oc.no-such-case\"\nreason = \"x\"\n",
        ),
        ("role", "bank_processor", ""),
    ] {
        let manifest = write_manifest(dir.path(), &reference, role, extra);
        let out = dir.path().join(name);
        let output = run(&manifest, &out).await;
        assert_eq!(output.status.code(), Some(2), "{name}: {output:?}");
        assert!(!out.join("report.json").exists(), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if role == "bank_processor" {
            // An operation center's manifest with another role: that role's material is missing.
            assert!(stderr.contains("tls.network is required"), "{stderr}");
        }
    }
    // The system is down: the run is not performed (OMPP-CONF-006).
    let manifest = write_manifest(dir.path(), &reference, "operation_center", "");
    let Reference {
        running, pki, _dir, ..
    } = reference;
    running.stop().await;
    drop(pki);
    let out = dir.path().join("down");
    let output = run(&manifest, &out).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(!out.join("report.json").exists());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unreachable"));
    drop(_dir);
}

/// OMPP-CONF-006: an operation center's manifest needs the suite's counterparties; missing or
/// unreadable material stops the run before any case, with a message naming what is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_c_without_counterparty_material_is_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::generate().unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.operator_ca.cert_pem()).unwrap();
    std::fs::write(dir.path().join("merchant.pem"), &pki.merchant.cert_pem).unwrap();
    std::fs::write(dir.path().join("merchant.key"), &pki.merchant.key_pem).unwrap();
    let head = r#"role = "operation_center"
profiles = ["registration", "flow_a", "flow_b", "flow_c"]

[endpoints]
network = "https://localhost:1"
mobile = "https://localhost:2"
"#;
    let merchant = "merchant = { cert = \"merchant.pem\", key = \"merchant.key\" }\n";
    let counterparties = "\n[counterparties]\nbank_listen = \"127.0.0.1:0\"\nsms_listen = \"127.0.0.1:0\"\nbank_id = \"OMPPBANK\"\n";
    for (name, tls, rest, expected) in [
        (
            "none",
            String::new(),
            String::new(),
            "counterparties.bank_listen is required",
        ),
        (
            "no-identity",
            String::new(),
            counterparties.to_owned(),
            "tls.counterparty_server is required",
        ),
        (
            "unreadable",
            "counterparty_server = { cert = \"missing.pem\", key = \"missing.key\" }\ncounterparty_client_ca = \"ca.pem\"\n".to_owned(),
            counterparties.to_owned(),
            "missing.pem",
        ),
        (
            "bad-address",
            "counterparty_server = { cert = \"merchant.pem\", key = \"merchant.key\" }\ncounterparty_client_ca = \"ca.pem\"\n".to_owned(),
            counterparties.replace("127.0.0.1:0\"\nsms", "localhost\"\nsms"),
            "counterparties.bank_listen",
        ),
    ] {
        let manifest = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &manifest,
            format!("{head}\n[tls]\ntrust_anchors = \"ca.pem\"\n{merchant}{tls}{rest}"),
        )
        .unwrap();
        let out = dir.path().join(name);
        let output = run(&manifest, &out).await;
        assert_eq!(output.status.code(), Some(2), "{name}: {output:?}");
        assert!(!out.join("report.json").exists(), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
}
