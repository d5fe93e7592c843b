//! A bank processor and an SMS center certified through vendor manifests, against the reference
//! bank processor and SMS center started here: the same verdicts as in-process, and manifests
//! that lack the role's endpoints, identity or fixtures stop the run before any case (exit
//! status 2, OMPP-CONF-006).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use ompp::conformance::{Report, RoleUnderTest, Verdict};
use ompp_server::pki::DevPki;

const BIN: &str = env!("CARGO_BIN_EXE_ompp-conformance");

/// The reference bank processor and SMS center (no operation center) as two servers sharing a
/// PKI, with the TLS material a manifest names written next to it.
struct Reference {
    bank: ompp_server::run::Running,
    sms: ompp_server::run::Running,
    bank_port: u16,
    sms_port: u16,
    handset_port: u16,
    dir: tempfile::TempDir,
}

async fn reference() -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let config = ompp_server::config::Config::on_loopback(
        dir.path().join("data"),
        ompp_server::passwords::HashingProfile::Production,
    );
    let start = |role| {
        ompp_server::run::start(
            &config,
            role,
            Arc::new(ompp_server::clock::SystemClock),
            None,
        )
    };
    let bank = start(ompp_server::run::Role::Bank).await.unwrap();
    let sms = start(ompp_server::run::Role::Sms).await.unwrap();
    let pki = DevPki::read(&config.pki_dir()).unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.operator_ca.cert_pem()).unwrap();
    std::fs::write(dir.path().join("network.pem"), &pki.network.cert_pem).unwrap();
    std::fs::write(dir.path().join("network.key"), &pki.network.key_pem).unwrap();
    std::fs::write(dir.path().join("bank.pem"), &pki.bank.cert_pem).unwrap();
    std::fs::write(dir.path().join("bank.key"), &pki.bank.key_pem).unwrap();
    let running_sms = sms.sms.as_ref().unwrap();
    Reference {
        bank_port: bank.bank.as_ref().unwrap().addr.port(),
        sms_port: running_sms.addr.port(),
        handset_port: running_sms.handset_addr.port(),
        bank,
        sms,
        dir,
    }
}

const BANK_ACCOUNTS: &str = r#"
[fixtures.bank_accounts]
payer = "OMPPBANK/DEMO0001"
payee = "OMPPBANK/DEMO1042/EUR"
unknown = "OMPPBANK/NOSUCHACCOUNT1"
"#;

/// A manifest for `role` with the given `[endpoints]` lines, network identity `identity`
/// (`network` or `bank`, or none) and `extra` appended.
fn manifest(
    reference: &Reference,
    name: &str,
    role: &str,
    endpoints: &str,
    identity: Option<&str>,
    extra: &str,
) -> PathBuf {
    let identity = identity
        .map(|who| format!("network = {{ cert = \"{who}.pem\", key = \"{who}.key\" }}\n"))
        .unwrap_or_default();
    let text = format!(
        "role = \"{role}\"\nprofiles = []\n\n[endpoints]\n{endpoints}\n[tls]\ntrust_anchors = \"ca.pem\"\n{identity}{extra}"
    );
    let path = reference.dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

async fn run(manifest: &Path, report_dir: &Path, role: Option<&str>) -> Output {
    let (manifest, report_dir) = (manifest.to_owned(), report_dir.to_owned());
    let role = role.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(BIN);
        command.arg("run").arg("--manifest").arg(manifest);
        if let Some(role) = role {
            command.args(["--role", &role]);
        }
        command
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
async fn bank_processor_and_sms_center_certified_by_manifest() {
    let reference = reference().await;
    let bank_endpoints = format!("bank = \"https://localhost:{}\"\n", reference.bank_port);
    let sms_endpoints = format!(
        "sms = \"https://localhost:{}\"\nhandset = \"https://localhost:{}\"\n",
        reference.sms_port, reference.handset_port
    );
    for (name, role, endpoints, extra, expected) in [
        (
            "bank",
            "bank_processor",
            &bank_endpoints,
            BANK_ACCOUNTS,
            RoleUnderTest::BankProcessor,
        ),
        (
            "sms",
            "sms_center",
            &sms_endpoints,
            "",
            RoleUnderTest::SmsCenter,
        ),
    ] {
        let path = manifest(&reference, name, role, endpoints, Some("network"), extra);
        let out = reference.dir.path().join(format!("{name}-report"));
        let output = run(&path, &out, None).await;
        assert_eq!(output.status.code(), Some(0), "{name}: {output:?}");
        let report = read_report(&out);
        assert_eq!(report.role, expected);
        assert!(report.conformant);
        assert!(!report.cases.is_empty());
        assert!(
            report.cases.iter().all(|c| c.verdict == Verdict::Pass),
            "{name}: {report:#?}"
        );
    }

    // A network identity the bank processor does not allow-list: the cases fail, none passes
    // by accident (the suite judges only what crosses the wire).
    let path = manifest(
        &reference,
        "bank-wrong-identity",
        "bank_processor",
        &bank_endpoints,
        Some("bank"),
        BANK_ACCOUNTS,
    );
    let out = reference.dir.path().join("bank-wrong-identity-report");
    let output = run(&path, &out, None).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report = read_report(&out);
    assert!(!report.conformant);
    assert!(report.cases.iter().all(|c| c.verdict != Verdict::Pass));

    // Invalid manifests and invocations: no case runs, exit status 2, a clear reason.
    let accounts_without_unknown =
        BANK_ACCOUNTS.replace("unknown = \"OMPPBANK/NOSUCHACCOUNT1\"\n", "");
    // (name, role, endpoints, network identity, extra, --role, why)
    type Invalid<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, &'a str);
    let cases: [(Invalid<'_>, Option<&str>, &str); 6] = [
        (
            (
                "no-bank-endpoint",
                "bank_processor",
                "",
                Some("network"),
                BANK_ACCOUNTS,
            ),
            None,
            "endpoints.bank is required",
        ),
        (
            (
                "no-identity",
                "bank_processor",
                &bank_endpoints,
                None,
                BANK_ACCOUNTS,
            ),
            None,
            "tls.network is required",
        ),
        (
            (
                "no-unknown-account",
                "bank_processor",
                &bank_endpoints,
                Some("network"),
                &accounts_without_unknown,
            ),
            None,
            "fixtures.bank_accounts.unknown is required",
        ),
        (
            (
                "no-handset-endpoint",
                "sms_center",
                &format!("sms = \"https://localhost:{}\"\n", reference.sms_port),
                Some("network"),
                "",
            ),
            None,
            "endpoints.handset is required",
        ),
        (
            (
                "no-sms-endpoint",
                "sms_center",
                &format!(
                    "handset = \"https://localhost:{}\"\n",
                    reference.handset_port
                ),
                Some("network"),
                "",
            ),
            None,
            "endpoints.sms is required",
        ),
        (
            (
                "other-role",
                "sms_center",
                &sms_endpoints,
                Some("network"),
                "",
            ),
            Some("bank-processor"),
            "the manifest's role is sms_center",
        ),
    ];
    for ((name, role, endpoints, identity, extra), flag, why) in cases {
        let path = manifest(&reference, name, role, endpoints, identity, extra);
        let out = reference.dir.path().join(format!("{name}-report"));
        let output = run(&path, &out, flag).await;
        assert_eq!(output.status.code(), Some(2), "{name}: {output:?}");
        assert!(!out.join("report.json").exists(), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(why), "{name}: {stderr}");
    }
    reference.bank.stop().await;
    reference.sms.stop().await;
}
