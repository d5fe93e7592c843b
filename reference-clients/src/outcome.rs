//! Results for people: payments, receipts, OMPP errors (reason, never parsed text).

use std::fmt::Write as _;

use ompp::error::ProtocolError;
use ompp::money::{Currency, Money};
use ompp::proto::v1 as pb;

/// An amount as `12.50 EUR`; a malformed one as its raw fields.
pub fn money(m: Option<&pb::Money>) -> String {
    match m {
        Some(m) => match Currency::from_code(&m.currency) {
            Ok(currency) => Money::new(currency, m.minor_units).to_string(),
            Err(_) => format!("{} {}", m.minor_units, m.currency),
        },
        None => "-".to_owned(),
    }
}

/// A status enum value by name (`SETTLED`).
pub fn status(value: i32) -> &'static str {
    pb::PaymentStatus::try_from(value)
        .map(|s| s.as_str_name().trim_start_matches("PAYMENT_STATUS_"))
        .unwrap_or("UNKNOWN")
}

/// A reason enum value by name (`TRIES_EXCEEDED`).
pub fn reason(value: i32) -> &'static str {
    pb::ErrorReason::try_from(value)
        .map(|r| r.as_str_name().trim_start_matches("ERROR_REASON_"))
        .unwrap_or("UNKNOWN")
}

/// A failed call, for people: `CREDENTIALS_REJECTED (attempts_left=2): ...`.
pub fn describe(status: &tonic::Status) -> String {
    match ProtocolError::from_status(status) {
        Ok(error) => {
            let mut text = ompp::error::catalogue::wire_name(error.reason).to_owned();
            if !error.metadata.is_empty() {
                let meta: Vec<String> = error
                    .metadata
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = write!(text, " ({})", meta.join(", "));
            }
            for violation in &error.field_violations {
                let _ = write!(text, "\n  {}: {}", violation.field, violation.description);
            }
            if error.field_violations.is_empty() && !error.message.is_empty() {
                let _ = write!(text, ": {}", error.message);
            }
            text
        }
        Err(_) => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// A receipt, as a terminal prints it.
pub fn receipt(r: &pb::Receipt) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "---------------- RECEIPT ----------------");
    let _ = writeln!(out, "{}  ({})", r.merchant_name, r.merchant_id);
    let _ = writeln!(out, "receipt   {}", r.receipt_id);
    let _ = writeln!(out, "payment   {}", r.payment_id);
    if !r.merchant_reference.is_empty() {
        let _ = writeln!(out, "reference {}", r.merchant_reference);
    }
    for item in &r.items {
        let _ = writeln!(
            out,
            "  {} x {} {}",
            item.quantity, item.product_code, item.description
        );
    }
    let _ = writeln!(out, "TOTAL     {}", money(r.amount.as_ref()));
    let _ = writeln!(out, "customer  {}", r.customer_id);
    if let Some(t) = &r.settled_at {
        let _ = writeln!(out, "settled   {}", timestamp(t));
    }
    let _ = writeln!(out, "transfer  {}", r.transfer_id);
    let _ = write!(out, "-----------------------------------------");
    out
}

/// A timestamp as RFC 3339 UTC, e.g. `2026-11-24T21:34:06Z`.
pub fn timestamp(t: &prost_types::Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()
        .and_then(|dt| {
            dt.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{} (unix seconds)", t.seconds))
}
