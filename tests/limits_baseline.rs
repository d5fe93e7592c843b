//! The limits and defaults of `ompp.v1` against the values it was first published with
//! (OMPP-VER-007): within `ompp.v1` a length or duration bound may only widen (a smaller minimum,
//! a larger maximum), a default never changes, and a fixed number (attempts, page sizes, link
//! parameters) never changes without a new baseline here, made on purpose in a minor version.

use ompp::limits::*;

/// Fails unless `current` accepts at least everything `baseline` accepted.
fn wider_or_equal(
    name: &str,
    current: (u64, u64),
    baseline: (u64, u64),
    problems: &mut Vec<String>,
) {
    if current.0 > baseline.0 || current.1 < baseline.1 {
        problems.push(format!(
            "{name}: {}..={} narrows the published {}..={} (OMPP-VER-007)",
            current.0, current.1, baseline.0, baseline.1
        ));
    }
}

fn check_all() -> Vec<String> {
    let mut problems = Vec::new();
    macro_rules! length {
        ($name:ident, $min:expr, $max:expr) => {
            wider_or_equal(
                stringify!($name),
                ($name.min as u64, $name.max as u64),
                ($min as u64, $max as u64),
                &mut problems,
            );
        };
    }
    macro_rules! duration {
        ($name:ident, $min:expr, $max:expr, $default:expr) => {
            wider_or_equal(
                stringify!($name),
                ($name.min_secs, $name.max_secs),
                ($min, $max),
                &mut problems,
            );
            if $name.default_secs != $default {
                problems.push(format!(
                    "{}: default {} s changed from the published {} s (OMPP-VER-007)",
                    stringify!($name),
                    $name.default_secs,
                    $default
                ));
            }
        };
    }
    macro_rules! fixed {
        ($name:ident, $value:expr) => {
            if $name != $value {
                problems.push(format!(
                    "{}: {} differs from the published {} (OMPP-VER-007)",
                    stringify!($name),
                    $name,
                    $value
                ));
            }
        };
    }
    // The baseline: ompp.v1 as of spec version 0.1.0.
    length!(ID_LEN, 1, 64);
    length!(LINK_MESSAGE_ID_LEN, 16, 64);
    length!(DISPLAY_NAME_LEN, 1, 64);
    length!(MERCHANT_REFERENCE_LEN, 0, 64);
    length!(PAYEE_CODE_REFERENCE_LEN, 0, 25);
    length!(PAYEE_CODE_PAYLOAD_LEN, 1, 512);
    fixed!(PAYEE_CODE_MAX_AMOUNT_LEN, 13);
    fixed!(PAYEE_CODE_MAX_IDS_LEN, 83);
    length!(CHECKOUT_REFERENCE_LEN, 1, 64);
    length!(REMITTANCE_INFO_LEN, 0, 140);
    fixed!(MAX_LINE_ITEMS, 50);
    length!(PRODUCT_CODE_LEN, 1, 64);
    length!(ITEM_DESCRIPTION_LEN, 0, 128);
    fixed!(MAX_ITEM_QUANTITY, 1_000_000);
    length!(PASSWORD_LEN, 8, 128);
    length!(ENROLLMENT_TOKEN_LEN, 16, 128);
    fixed!(MAX_CSR_BYTES, 16 * 1024);
    duration!(PAYMENT_EXPIRY, 30, 600, 120);
    fixed!(PASSWORD_ATTEMPTS, 3);
    duration!(DYNAMIC_CODE_VALIDITY, 30, 86_400, 300);
    duration!(STATIC_CODE_VALIDITY, 3_600, 366 * 86_400, 30 * 86_400);
    duration!(CHECKOUT_EXPIRY, 60, 3_600, 900);
    length!(AUTH_CODE_DIGITS, 6, 8);
    duration!(AUTH_CODE_VALIDITY, 60, 900, 300);
    fixed!(AUTH_CODE_ATTEMPTS, 5);
    length!(SESSION_TOKEN_LEN, 32, 128);
    length!(SMS_TEXT_LEN, 1, 459);
    length!(SMS_SENDER_LEN, 1, 11);
    duration!(SMS_VALIDITY, 1, 3 * 86_400, 300);
    length!(HANDSET_TOKEN_LEN, 32, 128);
    fixed!(DEFAULT_PAGE_SIZE, 20);
    fixed!(MAX_PAGE_SIZE, 100);
    length!(PAGE_TOKEN_LEN, 0, 256);
    length!(BANK_ID_LEN, 1, 11);
    length!(ACCOUNT_NUMBER_LEN, 1, 34);
    fixed!(MAX_PUSH_DEVICES, 16);
    fixed!(MAX_KNOWN_PAYMENT_IDS, 256);
    fixed!(MAX_CURRENCIES, 16);
    fixed!(LINK_CLOCK_SKEW_SECS, 30);
    fixed!(LINK_REPLAY_WINDOW_SECS, 2 * LINK_CLOCK_SKEW_SECS);
    fixed!(LINK_MAX_MESSAGE_BYTES, 64 * 1024);
    fixed!(LINK_RATE_PER_SEC, 5_000);
    fixed!(LINK_RATE_BURST, 10_000);
    fixed!(MAX_REQUEST_BYTES, 64 * 1024);
    problems
}

#[test]
fn no_limit_of_ompp_v1_narrows_and_no_default_changes() {
    let problems = check_all();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_narrowed_bound_is_reported() {
    let mut problems = Vec::new();
    wider_or_equal("X", (2, 64), (1, 64), &mut problems);
    wider_or_equal("Y", (1, 63), (1, 64), &mut problems);
    wider_or_equal("Z", (0, 65), (1, 64), &mut problems);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("X: 2..=64 narrows the published 1..=64"));
    assert!(problems[1].starts_with("Y: 1..=63"));
}
