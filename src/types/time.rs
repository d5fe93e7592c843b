//! Time on the wire: timestamps and bounded durations. The crate never reads a clock; a caller
//! passes `now` where a rule needs it.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits::DurationBounds;
use crate::validation::{FieldPath, Validator, Violation};

/// Smallest seconds value of a valid `google.protobuf.Timestamp` (0001-01-01T00:00:00Z).
const MIN_TIMESTAMP_SECS: i64 = -62_135_596_800;
/// Largest seconds value of a valid `google.protobuf.Timestamp` (9999-12-31T23:59:59Z).
const MAX_TIMESTAMP_SECS: i64 = 253_402_300_799;

/// An instant as milliseconds since the Unix epoch, UTC. Millisecond precision is all the
/// protocol's rules need (skew windows, expiries).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// Reads a required timestamp field.
    pub fn from_proto(
        v: &mut Validator,
        path: &FieldPath,
        ts: Option<&prost_types::Timestamp>,
    ) -> Option<Self> {
        let Some(ts) = ts else {
            v.report(path.clone(), Violation::Missing);
            return None;
        };
        let seconds = v.check(
            path.child("seconds"),
            in_range(
                ts.seconds.into(),
                MIN_TIMESTAMP_SECS.into(),
                MAX_TIMESTAMP_SECS.into(),
            ),
        );
        let nanos = v.check(
            path.child("nanos"),
            in_range(ts.nanos.into(), 0, 999_999_999),
        );
        // In range, so the products cannot overflow i64.
        Some(Self(
            i64::try_from(seconds? * 1000 + nanos? / 1_000_000).unwrap_or(i64::MAX),
        ))
    }

    /// Converts to the wire type.
    pub fn to_proto(self) -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: self.0.div_euclid(1000),
            nanos: i32::try_from(self.0.rem_euclid(1000) * 1_000_000).unwrap_or(0),
        }
    }

    /// This instant plus `duration`, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }
}

fn in_range(actual: i128, min: i128, max: i128) -> Result<i128, Violation> {
    if (min..=max).contains(&actual) {
        Ok(actual)
    } else {
        Err(Violation::OutOfRange { min, max, actual })
    }
}

/// Reads an optional duration field bounded by `bounds`: absent means the default; present must
/// be whole seconds within `[min_secs, max_secs]` (OMPP-MSG-014).
pub fn bounded_duration(
    v: &mut Validator,
    path: &FieldPath,
    value: Option<&prost_types::Duration>,
    bounds: DurationBounds,
) -> Option<Duration> {
    let Some(d) = value else {
        return Some(Duration::from_secs(bounds.default_secs));
    };
    // Durations on the wire are whole seconds (OMPP-MSG-014).
    let nanos = v.check(path.child("nanos"), in_range(d.nanos.into(), 0, 0));
    let seconds = v.check(
        path.child("seconds"),
        in_range(
            d.seconds.into(),
            bounds.min_secs.into(),
            bounds.max_secs.into(),
        ),
    );
    nanos?;
    Some(Duration::from_secs(u64::try_from(seconds?).unwrap_or(0)))
}

/// Converts a duration to the wire type.
pub fn duration_to_proto(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}
