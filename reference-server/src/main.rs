//! `ompp-server`: the OMPP reference servers.
//!
//! Today this binary only reports what it is; the operation center, bank processor and SMS
//! center roles arrive with the flow issues.

use clap::Parser;

/// OMPP reference servers: operation center (network server + mobile server), bank processor
/// and SMS center. No role is runnable yet in this version; `--help` and `--version` only.
#[derive(Debug, Parser)]
#[command(name = "ompp-server", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    eprintln!(
        "ompp-server {}: no server role is implemented yet (protocol {}).",
        env!("CARGO_PKG_VERSION"),
        ompp::PROTOCOL_VERSION
    );
    std::process::exit(2);
}
