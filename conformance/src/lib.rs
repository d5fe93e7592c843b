//! `ompp-conformance`: the OMPP conformance suite (spec chapter 09).
//!
//! The suite certifies a running system from outside: every verdict is decided from what
//! crosses the wire (OMPP-CONF-001). [`cases::all`] is the catalogue of cases, [`runner::run`]
//! runs them against a [`target::Target`] (a vendor system described by a manifest, or the
//! in-process reference) and builds the [`ompp::conformance::Report`]; [`evidence`] writes
//! JUnit XML, redacted transcripts and hashes next to it; [`coverage`] maps requirement ids
//! to cases; [`load`] sends and judges the bounded load of the rate-limit case; [`roles`] describes a bank processor or SMS center under test, for which the
//! suite plays the network server; [`parties`] are the bank processor and SMS center the
//! suite plays for an operation center under test.

pub mod case;
pub mod cases;
pub mod coverage;
pub mod evidence;
pub mod fuzz;
pub mod load;
pub mod parties;
pub mod roles;
pub mod runner;
pub mod target;
