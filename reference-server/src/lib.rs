//! # `ompp-server`: the OMPP reference servers
//!
//! Glue around the `ompp` crate: TLS, gRPC, storage, processes.
//!
//! # Layout
//! - [`pki`]: the development PKI (operator CA, link CA, party certificates, CSR signing).
#![deny(missing_docs)]

pub mod pki;
