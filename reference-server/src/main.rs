//! `ompp-server`: the OMPP reference servers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use ompp_server::clock::SystemClock;
use ompp_server::config::Config;
use ompp_server::pki::DevPki;
use ompp_server::run::{Role, start};

/// OMPP reference servers: the operation center (network server + mobile server, joined by the
/// mutually authenticated secure link), and a reference bank processor and SMS center.
///
/// With no configuration file, `ompp-server run` starts every party on 127.0.0.1: the network
/// server (merchants, registration and the payment gateway on 7100), the mobile server (devices
/// on 7200; the secure link on 7101/7201), the reference bank processor (7300) and SMS center
/// (7400; handsets on 7401), with a development PKI and SQLite databases under ./ompp-data, and
/// the sample merchant M-1042 registered.
#[derive(Debug, Parser)]
#[command(name = "ompp-server", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Development PKI.
    Pki {
        #[command(subcommand)]
        command: PkiCommand,
    },
    /// Show the reference bank processor's account balances (from its database).
    BankBalances {
        /// Configuration file (TOML), for the data directory and the bank id.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the network server, the mobile server, or both.
    Run {
        /// Which servers to run in this process.
        #[arg(long, value_enum, default_value = "all")]
        role: Role,
        /// Configuration file (TOML); every setting has a default.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Create an operator CA, a link CA and certificates for the network server, mobile server,
    /// both secure-link ends, a bank processor, an SMS center and the sample merchant M-1042.
    /// Refuses to overwrite an existing CA key.
    Init {
        /// Directory to write the PEM files into (created if missing).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue, from the PKI in DIR, what a conformance manifest needs beyond `pki init`: a
    /// certificate for the sample merchant that expired a week ago (`tls.expired_merchant`,
    /// DIR/merchant-expired.pem and .key), a link identity on no allow-list
    /// (`tls.link.unlisted`, DIR/link-unlisted.pem and .key), a second mobile server's link
    /// identity for the rate-limit case (`tls.link.second_mobile`, DIR/link-mobile-2.pem and
    /// .key; allow it with `network.link_peers = ["ompp://mobile/MS-2"]`), a bank processor
    /// certificate for another bank (`tls.counterparty_other_server`, DIR/bank-other.pem and
    /// .key), and valid certificates for a
    /// merchant never registered and a device never paired (`tls.unregistered_merchant`,
    /// DIR/merchant-unregistered.pem and .key; `tls.unpaired_device`, DIR/device-unpaired.pem
    /// and .key).
    ConformanceExtras {
        /// The PKI directory (as written by `pki init`).
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Pki {
            command: PkiCommand::Init { dir },
        } => match DevPki::generate().and_then(|pki| pki.write(&dir)) {
            Ok(files) => {
                for file in files {
                    println!("{}", file.display());
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("ompp-server pki init: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Pki {
            command: PkiCommand::ConformanceExtras { dir },
        } => {
            let issued = DevPki::read(&dir).and_then(|pki| {
                Ok([
                    ("merchant-expired", pki.expired_merchant()?),
                    ("link-unlisted", pki.unlisted_link_identity()?),
                    ("link-mobile-2", pki.second_link_mobile()?),
                    ("bank-other", pki.other_bank()?),
                    ("merchant-unregistered", pki.unregistered_merchant()?),
                    ("device-unpaired", pki.unpaired_device()?),
                ])
            });
            let written = issued.map_err(|e| e.to_string()).and_then(|issued| {
                let mut files = Vec::new();
                for (name, issued) in issued {
                    let cert = dir.join(format!("{name}.pem"));
                    let key = dir.join(format!("{name}.key"));
                    std::fs::write(&cert, issued.cert_pem)
                        .and_then(|()| std::fs::write(&key, issued.key_pem))
                        .map_err(|e| e.to_string())?;
                    files.extend([cert, key]);
                }
                Ok(files)
            });
            match written {
                Ok(files) => {
                    for file in files {
                        println!("{}", file.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("ompp-server pki conformance-extras: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::BankBalances { config } => {
            let config = match config.as_deref().map(Config::load).transpose() {
                Ok(config) => config.unwrap_or_default(),
                Err(error) => {
                    eprintln!("ompp-server bank-balances: {error}");
                    return ExitCode::from(2);
                }
            };
            match ompp_server::bank::read_balances(&config.bank, &config.data_dir) {
                Ok(balances) => {
                    for b in balances {
                        let amount = ompp::money::Currency::from_code(&b.currency)
                            .map(|c| ompp::money::Money::new(c, b.balance_minor_units).to_string())
                            .unwrap_or_else(|_| {
                                format!("{} {}", b.balance_minor_units, b.currency)
                            });
                        let blocked = if b.blocked { "  (blocked)" } else { "" };
                        println!(
                            "{}/{}  {amount}{blocked}",
                            config.bank.bank_id, b.account_number
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("ompp-server bank-balances: {error}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run { role, config } => {
            let config = match config {
                Some(path) => match Config::load(&path) {
                    Ok(config) => config,
                    Err(error) => {
                        eprintln!("ompp-server run: {error}");
                        return ExitCode::from(2);
                    }
                },
                None => Config::default(),
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("ompp-server run: cannot start the runtime: {error}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(run(config, role))
        }
    }
}

async fn run(config: Config, role: Role) -> ExitCode {
    let running = match start(&config, role, Arc::new(SystemClock), None).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("ompp-server run: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "ompp-server {} running (role {role:?}); PKI in {}; Ctrl-C to stop",
        env!("CARGO_PKG_VERSION"),
        config.pki_dir().display()
    );
    if let Some(addr) = running.network_addr {
        println!(
            "  merchants and registration: https://localhost:{}",
            addr.port()
        );
    }
    if let Some(addr) = running.mobile_addr {
        println!(
            "  devices:                    https://localhost:{}",
            addr.port()
        );
    }
    if let Some(bank) = &running.bank {
        println!(
            "  bank processor:             https://localhost:{}",
            bank.addr.port()
        );
    }
    if let Some(sms) = &running.sms {
        println!(
            "  SMS center:                 https://localhost:{} (handsets: {})",
            sms.addr.port(),
            sms.handset_addr.port()
        );
    }
    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.stop().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
