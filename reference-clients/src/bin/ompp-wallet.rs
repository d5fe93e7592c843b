//! `ompp-wallet`: OMPP reference customer wallet (device and handset). No command is implemented yet in this version; --help and --version only.

use clap::Parser;

/// OMPP reference customer wallet (device and handset). No command is implemented yet in this version; --help and --version only.
#[derive(Debug, Parser)]
#[command(name = "ompp-wallet", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    eprintln!(
        "ompp-wallet {}: no command is implemented yet (protocol {}).",
        env!("CARGO_PKG_VERSION"),
        ompp::PROTOCOL_VERSION
    );
    std::process::exit(2);
}
