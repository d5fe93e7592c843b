//! The generated `ompp.v1` bindings (prost messages, tonic client and server stubs).
//!
//! Generated at build time from `proto/ompp/v1/*.proto` by `build.rs`; never edited by hand.

/// Package `ompp.v1`: every message, enum and service of the wire contract.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/ompp.v1.rs"));
}

/// The encoded `FileDescriptorSet` of `ompp.v1`, for gRPC server reflection and for tools that
/// read the proto doc comments.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ompp_v1_descriptor.bin"));
