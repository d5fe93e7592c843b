//! `ompp-merchant`: OMPP reference merchant terminal. No command is implemented yet in this version; --help and --version only.

use clap::Parser;

/// OMPP reference merchant terminal. No command is implemented yet in this version; --help and --version only.
#[derive(Debug, Parser)]
#[command(name = "ompp-merchant", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    eprintln!(
        "ompp-merchant {}: no command is implemented yet (protocol {}).",
        env!("CARGO_PKG_VERSION"),
        ompp::PROTOCOL_VERSION
    );
    std::process::exit(2);
}
