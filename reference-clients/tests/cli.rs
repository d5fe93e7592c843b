//! The README's walkthrough as a test: an operation center on loopback, then the real
//! `ompp-wallet` and `ompp-merchant` binaries as a person would run them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use ompp_server::clock::SystemClock;
use ompp_server::config::Config;
use ompp_server::passwords::HashingProfile;
use ompp_server::run::{Role, start};

struct Cli<'a> {
    dir: &'a Path,
    network: SocketAddr,
    mobile: SocketAddr,
    handsets: SocketAddr,
}

impl Cli<'_> {
    fn command(&self, binary: &str) -> Command {
        let mut command = Command::new(binary);
        command
            .current_dir(self.dir)
            .arg("--server")
            .arg(format!("https://localhost:{}", self.network.port()))
            .arg("--ca")
            .arg(self.dir.join("data/pki/operator-ca.pem"));
        command
    }

    fn wallet(&self, args: &[&str]) -> Command {
        let mut command = self.command(env!("CARGO_BIN_EXE_ompp-wallet"));
        command
            .arg("--mobile")
            .arg(format!("https://localhost:{}", self.mobile.port()))
            .arg("--sms")
            .arg(format!("https://localhost:{}", self.handsets.port()))
            .args(args);
        command
    }

    fn merchant(&self, args: &[&str]) -> Command {
        let mut command = self.command(env!("CARGO_BIN_EXE_ompp-merchant"));
        command
            .arg("--cert")
            .arg(self.dir.join("data/pki/merchant-M-1042.pem"))
            .arg("--key")
            .arg(self.dir.join("data/pki/merchant-M-1042.key"))
            .args(args);
        command
    }
}

fn run(mut command: Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn center(dir: &Path) -> ompp_server::run::Running {
    let config = Config::on_loopback(dir.join("data"), HashingProfile::FastInsecure);
    start(&config, Role::All, Arc::new(SystemClock), None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_with_the_two_reference_clients() {
    let dir = tempfile::tempdir().unwrap();
    let running = center(dir.path()).await;
    let cli = Cli {
        dir: dir.path(),
        network: running.network_addr.unwrap(),
        mobile: running.mobile_addr.unwrap(),
        handsets: running.sms.as_ref().unwrap().handset_addr,
    };
    std::fs::write(dir.path().join("pw.txt"), "correct horse battery\n").unwrap();

    let registered = stdout(&run(cli.wallet(&[
        "register",
        "--name",
        "Ana",
        "--phone",
        "+4915112345678",
        "--password-file",
        "pw.txt",
        // A top-up is debited from the customer's bank account (OMPP-LEDGER-010/011): the
        // reference bank's demo account holds 500.00 EUR.
        "--bank-account",
        "OMPPBANK/DEMO0001",
    ])));
    let customer = registered
        .trim()
        .strip_prefix("registered customer ")
        .unwrap()
        .to_owned();
    run(cli.wallet(&["pair", "--password-file", "pw.txt"]));
    assert!(
        stdout(&run(cli.wallet(&[
            "topup",
            "--amount",
            "50",
            "--password-file",
            "pw.txt"
        ])))
        .contains("balance 50.00 EUR")
    );

    let listener = cli
        .wallet(&[
            "listen",
            "--auto-confirm",
            "--password-file",
            "pw.txt",
            "--once",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Whether the listener subscribes before or after the payment is created, it gets it.
    let paid = stdout(&run(cli.merchant(&[
        "pay",
        "--customer",
        &customer,
        "--amount",
        "12.50",
        "--item",
        "COFFEE",
        "--reference",
        "till 4",
    ])));
    assert!(paid.contains("RECEIPT"), "{paid}");
    assert!(paid.contains("TOTAL     12.50 EUR"), "{paid}");
    assert!(paid.contains("1 x COFFEE"), "{paid}");

    let listened = listener.wait_with_output().unwrap();
    let shown = stdout(&listened);
    assert!(listened.status.success(), "{shown}");
    assert!(shown.contains("amount   12.50 EUR"), "{shown}");
    assert!(shown.contains("outcome: SETTLED"), "{shown}");

    assert_eq!(stdout(&run(cli.wallet(&["balance"]))).trim(), "37.50 EUR");
    assert_eq!(stdout(&run(cli.merchant(&["balance"]))).trim(), "12.50 EUR");

    // Bad input is a clear error and a failing exit code, never a panic.
    let bad = cli
        .merchant(&["pay", "--customer", &customer, "--amount", "12.505"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--amount"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let unknown = cli
        .merchant(&["pay", "--customer", "C-nobody", "--amount", "1"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("UNKNOWN_CUSTOMER"));

    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payee_code_shown_as_png_is_scanned_and_paid() {
    let dir = tempfile::tempdir().unwrap();
    let running = center(dir.path()).await;
    let cli = Cli {
        dir: dir.path(),
        network: running.network_addr.unwrap(),
        mobile: running.mobile_addr.unwrap(),
        handsets: running.sms.as_ref().unwrap().handset_addr,
    };
    std::fs::write(dir.path().join("pw.txt"), "correct horse battery\n").unwrap();
    run(cli.wallet(&[
        "register",
        "--name",
        "Bo",
        "--phone",
        "+4915112345679",
        "--password-file",
        "pw.txt",
        // The top-up below is debited from this account (OMPP-LEDGER-010/011).
        "--bank-account",
        "OMPPBANK/DEMO0001",
    ]));
    run(cli.wallet(&["pair", "--password-file", "pw.txt"]));
    let topped = stdout(&run(cli.wallet(&[
        "topup",
        "--amount",
        "20",
        "--password-file",
        "pw.txt",
    ])));
    assert!(topped.contains("topped up 20.00 EUR"), "{topped}");
    // The money came from the registered bank account, to the operator's (OMPP-LEDGER-010).
    let bank = running.bank.as_ref().unwrap();
    assert_eq!(bank.balance("DEMO0001").unwrap(), Some(50_000 - 2_000));
    assert_eq!(bank.balance("OPER0001").unwrap(), Some(2_000));

    // Dynamic code: the merchant shows it (terminal and PNG), the wallet scans the PNG.
    let shown = stdout(&run(cli.merchant(&[
        "qr",
        "--amount",
        "7.90",
        "--reference",
        "table 7",
        "--png",
        "code.png",
    ])));
    assert!(
        shown.contains('\u{2580}') || shown.contains('\u{2584}') || shown.contains('\u{2588}'),
        "no QR drawn: {shown}"
    );
    assert!(dir.path().join("code.png").exists());
    let paid = stdout(&run(cli.wallet(&[
        "scan",
        "code.png",
        "--yes",
        "--password-file",
        "pw.txt",
    ])));
    assert!(paid.contains("PAY Sample Merchant (M-1042)"), "{paid}");
    assert!(paid.contains("amount   7.90 EUR"), "{paid}");
    assert!(paid.contains("outcome: SETTLED"), "{paid}");
    // Scanning it again is refused: a dynamic code is single use.
    let again = cli
        .wallet(&["scan", "code.png", "--yes", "--password-file", "pw.txt"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("PAYEE_CODE_USED"));

    // Static code: the payer enters the amount.
    let shown = stdout(&run(cli.merchant(&["qr", "--png", "static.png"])));
    let payload = shown
        .lines()
        .find_map(|l| l.strip_prefix("payload  "))
        .unwrap()
        .to_owned();
    let decoded = stdout(&run(cli.wallet(&["decode", &payload])));
    let json: serde_json::Value = serde_json::from_str(&decoded).unwrap();
    assert_eq!(json["kind"], "ompp");
    assert_eq!(json["code"]["initiation"], "static");
    assert_eq!(json["code"]["merchant_id"], "M-1042");
    run(cli.wallet(&[
        "scan",
        "--payload",
        &payload,
        "--amount",
        "2.10",
        "--yes",
        "--password-file",
        "pw.txt",
    ]));

    assert_eq!(stdout(&run(cli.wallet(&["balance"]))).trim(), "10.00 EUR");
    assert_eq!(stdout(&run(cli.merchant(&["balance"]))).trim(), "10.00 EUR");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_checkout_with_the_code_from_the_handset() {
    let dir = tempfile::tempdir().unwrap();
    let running = center(dir.path()).await;
    let cli = Cli {
        dir: dir.path(),
        network: running.network_addr.unwrap(),
        mobile: running.mobile_addr.unwrap(),
        handsets: running.sms.as_ref().unwrap().handset_addr,
    };
    std::fs::write(dir.path().join("pw.txt"), "correct horse battery\n").unwrap();
    run(cli.wallet(&[
        "register",
        "--name",
        "Cai",
        "--phone",
        "+4915112345670",
        "--password-file",
        "pw.txt",
        "--bank-account",
        "OMPPBANK/DEMO0001",
    ]));

    let opened = stdout(&run(cli.merchant(&[
        "checkout",
        "--amount",
        "49.90",
        "--reference",
        "ORDER-7",
        "--item",
        "BOOK",
        "--no-wait",
    ])));
    let payment_id = opened.split_whitespace().nth(1).unwrap().to_owned();
    assert!(payment_id.starts_with("pay_"), "{opened}");
    assert!(opened.contains("payment page https://"), "{opened}");

    let paid = stdout(&run(cli.wallet(&[
        "checkout",
        &payment_id,
        "--password-file",
        "pw.txt",
        "--code-from-sms",
        "--yes",
    ])));
    assert!(paid.contains("pay      Sample Merchant"), "{paid}");
    assert!(paid.contains("amount   49.90 EUR"), "{paid}");
    assert!(paid.contains("a code was sent to +49*********70"), "{paid}");
    assert!(paid.contains("outcome: SETTLED"), "{paid}");
    assert!(paid.contains("TOTAL     49.90 EUR"), "{paid}");

    let status = stdout(&run(cli.merchant(&["status", &payment_id])));
    assert!(status.contains("status    SETTLED"), "{status}");
    let bank = running.bank.as_ref().unwrap();
    assert_eq!(bank.balance("DEMO0001").unwrap(), Some(50_000 - 4_990));
    assert_eq!(bank.balance("DEMO1042").unwrap(), Some(4_990));
    running.stop().await;
}
