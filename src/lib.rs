//! # OMPP, the Open Mobile Payment Protocol: the protocol core
//!
//! Messages, validation, error catalogue and limits of `ompp.v1`. This crate does no I/O and
//! reads no clock: servers, clients and the conformance suite are glue around it.
//!
//! # Layout
//! - [`proto`]: the generated `ompp.v1` bindings and their descriptor set.
//! - [`limits`]: every numeric limit and default of the protocol, in one place.
//! - [`validation`]: typed field errors ([`validation::FieldPath`], [`validation::Violation`]).
//! - [`money`]: currencies, [`money::Money`] and positive [`money::Amount`]s, checked arithmetic.
//! - [`types`]: identifiers, bounded text, secrets, phone numbers, bank accounts, time.
//! - [`requests`]: every inbound request message parsed into a validated domain value.
//! - [`payee_code`]: the flow B payee code: EMVCo payload, CRC, Ed25519 signature (sans-IO).
//! - [`payment`]: the flow A push payment state machine (sans-IO, time passed in).
//! - [`authcode`]: flow C authorization codes (kept as HMAC only) and gateway session tokens.
//! - [`checkout`]: the flow C checkout state machine (sans-IO, time passed in).
//! - [`firewall`]: the secure-link firewall (allow-list, size, rate, skew, replay, counters).
//! - [`error`]: the reason catalogue and protocol errors <-> gRPC statuses.
//! - [`codec`]: the gRPC codec of every service (size limit and decode errors as OMPP errors).
//! - [`requirements`]: the registry of requirement ids extracted from `spec/`.
//! - [`conformance`]: the conformance manifest and report formats.
//! - [`tls`] (feature `tls`): the TLS rules of a client: TLS 1.3 only, the server's identity.

#![deny(missing_docs)]

#[cfg(feature = "arbitrary")]
mod arbitrary_impls;
pub mod authcode;
pub mod checkout;
pub mod codec;
pub mod conformance;
pub mod error;
pub mod firewall;
pub mod limits;
pub mod money;
pub mod payee_code;
pub mod payment;
pub mod proto;
pub mod requests;
pub mod requirements;
#[cfg(feature = "tls")]
pub mod tls;
pub mod types;
pub mod validation;

/// The protocol version this crate implements: the proto package and spec version.
pub const PROTOCOL_VERSION: &str = "ompp.v1";

/// The README's Rust example, compiled and run as a doctest so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
