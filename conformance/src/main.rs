//! `ompp-conformance`: the OMPP conformance suite.
//!
//! Today this binary only reports what it is; cases arrive with the conformance issue. The
//! manifest and report formats it will read and write are already defined in
//! `ompp::conformance` and published as JSON Schemas in `spec/schemas/`.

use clap::Parser;

/// OMPP conformance suite. No case is implemented yet in this version; `--help` and
/// `--version` only.
#[derive(Debug, Parser)]
#[command(name = "ompp-conformance", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    eprintln!(
        "ompp-conformance {}: no conformance case is implemented yet (protocol {}).",
        env!("CARGO_PKG_VERSION"),
        ompp::PROTOCOL_VERSION
    );
    std::process::exit(2);
}
