//! # `ompp-server`: the OMPP reference servers
//!
//! Glue around the `ompp` crate: TLS, gRPC, storage, processes. The protocol rules (validation,
//! the payment state machine, the link firewall, limits, errors) live in `ompp`; this crate
//! wires them to sockets, a database and a clock.
//!
//! # Layout
//! - [`config`]: the TOML configuration, with defaults for a local operation center.
//! - [`run`]: starting and stopping servers (listeners, services, health, reflection, sweeper).
//! - [`network`]: the network server: merchant service, registration, link service.
//! - [`mobile`]: the mobile server: device service and its end of the link.
//! - [`link`]: envelopes and the firewall guard on both link ends.
//! - [`tls`]: TLS 1.3 server configs, client certificates, caller identities.
//! - [`tls_client`]: the operation center as a TLS client of its peers (TLS 1.3 only, the
//!   server identity checked).
//! - [`bank`]: the reference bank processor (accounts, idempotent transfers, fault injection).
//! - [`sms`]: the reference SMS center (durable queue, handset streams, delivery reports).
//! - [`pki`]: the development PKI (operator CA, link CA, party certificates, CSR signing).
//! - [`store`]: durable state behind one interface; SQLite by default.
//! - [`passwords`]: argon2id password hashing.
//! - [`secrets`]: server-side keys kept in files.
//! - [`clock`]: system and manual clocks, random ids.
//! - [`errors`]: internal failures mapped to protocol errors.
#![deny(missing_docs)]

pub mod bank;
pub mod clock;
pub mod config;
#[cfg(feature = "defects")]
pub mod defects;
pub mod errors;
pub mod link;
pub mod mobile;
pub mod network;
pub mod passwords;
pub mod pki;
pub mod run;
pub mod secrets;
pub mod sms;
pub mod store;
pub mod tls;
pub mod tls_client;
