//! Generates the `ompp.v1` bindings from `proto/` without a system `protoc`:
//! protox parses the files into a descriptor set, tonic-prost-build turns it into Rust.
//! The descriptor set is also written to `OUT_DIR` so servers can offer reflection.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from("proto");
    let files: Vec<PathBuf> = std::fs::read_dir(proto_root.join("ompp/v1"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "proto"))
        .collect();
    println!("cargo:rerun-if-changed=proto");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let fds = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("ompp_v1_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;

    tonic_prost_build::configure()
        // Keep generated code free of transport types: the crate does no I/O.
        .build_transport(false)
        // OMPP-MSG-010 and OMPP-MSG-017 at the wire, for every service (src/codec.rs).
        .codec_path("crate::codec::OmppCodec")
        .compile_fds(fds)?;
    Ok(())
}
