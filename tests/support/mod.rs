//! Table-test harness for request validation: a valid message, then mutations that each break
//! one field. Every mutation must be rejected with an error naming the field it broke; the full
//! error lists are kept as insta snapshots, so any change in what is reported shows up in review.
// A helper module of several test crates: not every crate uses every item, and a failed
// expectation here is a test failure, so panicking is the point.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used
)]

use ompp::requests::Request;
use ompp::validation::FieldError;
use serde::Serialize;

/// One mutation: the field path it must be reported at, a name, and the change.
pub(crate) type Case<P> = (&'static str, &'static str, fn(&mut P));

/// What a mutation produced, as snapshotted.
#[derive(Debug, Serialize)]
pub(crate) struct Outcome {
    /// The case name.
    pub(crate) case: &'static str,
    /// Every field error reported.
    pub(crate) errors: Vec<FieldError>,
}

/// Runs the table for request type `R`: `valid` must parse and round-trip; every case must fail
/// and name its field. Returns the outcomes for the snapshot.
pub(crate) fn run<R>(valid: &R::Proto, cases: &[Case<R::Proto>]) -> Vec<Outcome>
where
    R: Request + PartialEq + std::fmt::Debug,
    R::Proto: PartialEq + std::fmt::Debug,
{
    let parsed = R::parse(valid).unwrap_or_else(|e| panic!("valid fixture rejected: {e:?}"));
    let again = R::parse(&parsed.to_proto()).expect("to_proto output must parse");
    assert_eq!(again, parsed, "parse(to_proto(x)) must equal x");
    assert_eq!(
        &parsed.to_proto(),
        valid,
        "the valid fixture must be canonical"
    );

    let mut outcomes = Vec::with_capacity(cases.len());
    for (field, case, mutate) in cases {
        let mut message = valid.clone();
        mutate(&mut message);
        let errors = match R::parse(&message) {
            Ok(value) => panic!("case {case:?} was accepted: {value:?}"),
            Err(e) => e.errors,
        };
        assert!(
            errors.iter().any(|e| e.field.as_str() == *field),
            "case {case:?} must report field {field:?}, got {errors:?}"
        );
        outcomes.push(Outcome { case, errors });
    }
    outcomes
}
