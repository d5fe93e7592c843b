//! Validation tables for `GatewayService` requests (the payment page of flow C).

mod support;

use ompp::proto::v1 as pb;
use ompp::requests::Request;
use ompp::requests::gateway::*;
use support::{Case, run};

/// A session token as the gateway issues it: 43 characters of URL-safe base64 (32 random bytes).
const SESSION_TOKEN: &str = "q3Zx-9_TkLm2Np7Rs4Uv8Wy1Ab5Cd6Ef0Gh-Ij_KlMn";

/// Parses a message that must be accepted (a macro, so that the panic is in the test).
macro_rules! accepts {
    ($request:ty, $message:expr) => {
        <$request>::parse($message).unwrap_or_else(|e| panic!("valid message rejected: {e:?}"))
    };
}

/// The field paths reported for `message`; none if it is accepted.
fn fields<R: Request>(message: &R::Proto) -> Vec<String> {
    match R::parse(message) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors.iter().map(|e| e.field.to_string()).collect(),
    }
}

#[test]
fn get_checkout_status_table() {
    let valid = pb::GetCheckoutStatusRequest {
        payment_id: "chk-7f3a".into(),
    };
    let cases: &[Case<pb::GetCheckoutStatusRequest>] = &[
        ("payment_id", "payment id missing", |p| p.payment_id.clear()),
        ("payment_id", "payment id with a query string", |p| {
            p.payment_id = "chk-7f3a?x=1".into()
        }),
        (
            "payment_id",
            "payment id starting with an underscore",
            |p| p.payment_id = "_chk".into(),
        ),
        ("payment_id", "payment id of 65 characters", |p| {
            p.payment_id = "c".repeat(65)
        }),
    ];
    insta::assert_yaml_snapshot!(run::<GetCheckoutStatus>(&valid, cases));
}

fn submit_password() -> pb::SubmitPasswordRequest {
    pb::SubmitPasswordRequest {
        payment_id: "chk-7f3a".into(),
        phone_number: "+4915112345678".into(),
        password: "correct horse battery".into(),
    }
}

#[test]
fn submit_password_table() {
    let cases: &[Case<pb::SubmitPasswordRequest>] = &[
        ("payment_id", "payment id missing", |p| p.payment_id.clear()),
        ("payment_id", "payment id with a space", |p| {
            p.payment_id = "chk 7f3a".into()
        }),
        ("phone_number", "phone number missing", |p| {
            p.phone_number.clear()
        }),
        ("phone_number", "phone number of '+' only", |p| {
            p.phone_number = "+".into()
        }),
        ("phone_number", "phone number without '+'", |p| {
            p.phone_number = "4915112345678".into()
        }),
        ("phone_number", "phone number in national form", |p| {
            p.phone_number = "015112345678".into()
        }),
        ("phone_number", "phone number with first digit 0", |p| {
            p.phone_number = "+04915112345".into()
        }),
        ("phone_number", "phone number of 7 digits", |p| {
            p.phone_number = "+4915112".into()
        }),
        ("phone_number", "phone number of 16 digits", |p| {
            p.phone_number = "+4915112345678901".into()
        }),
        ("phone_number", "phone number with a space", |p| {
            p.phone_number = "+49 15112345678".into()
        }),
        ("phone_number", "phone number with dashes", |p| {
            p.phone_number = "+49-151-12345678".into()
        }),
        ("phone_number", "phone number with a second '+'", |p| {
            p.phone_number = "++4915112345678".into()
        }),
        ("phone_number", "phone number with non-ASCII digits", |p| {
            p.phone_number = "+４９１５１１２３４５６７８".into()
        }),
        (
            "phone_number",
            "phone number with a trailing newline",
            |p| p.phone_number = "+4915112345678\n".into(),
        ),
        ("password", "password missing", |p| p.password.clear()),
        ("password", "password of 7 characters", |p| {
            p.password = "ü".repeat(7)
        }),
        ("password", "password of 129 characters", |p| {
            p.password = "p".repeat(129)
        }),
        ("password", "password with a tab", |p| {
            p.password = "correct\thorse".into()
        }),
        ("password", "password with DEL", |p| {
            p.password = "correct horse\u{7f}".into()
        }),
        ("password", "password with a C1 control character", |p| {
            p.password = "\u{80}correct horse".into()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<SubmitPassword>(&submit_password(), cases));
}

#[test]
fn submit_password_boundaries_are_accepted() {
    for (phone_number, password) in [
        ("+12345678", "p".repeat(8)),
        ("+123456789012345", "ü".repeat(128)),
        ("+9999999999", "pass word with spaces and ümlauts €".into()),
    ] {
        let message = pb::SubmitPasswordRequest {
            phone_number: phone_number.into(),
            password,
            ..submit_password()
        };
        assert_eq!(accepts!(SubmitPassword, &message).to_proto(), message);
    }
}

fn submit_authorization_code() -> pb::SubmitAuthorizationCodeRequest {
    pb::SubmitAuthorizationCodeRequest {
        payment_id: "chk-7f3a".into(),
        session_token: SESSION_TOKEN.into(),
        authorization_code: "048213".into(),
    }
}

#[test]
fn submit_authorization_code_table() {
    let cases: &[Case<pb::SubmitAuthorizationCodeRequest>] = &[
        ("payment_id", "payment id missing", |p| p.payment_id.clear()),
        ("payment_id", "payment id of 65 characters", |p| {
            p.payment_id = "c".repeat(65)
        }),
        ("session_token", "session token missing", |p| {
            p.session_token.clear()
        }),
        ("session_token", "session token of 31 characters", |p| {
            p.session_token = "t".repeat(31)
        }),
        ("session_token", "session token of 129 characters", |p| {
            p.session_token = "t".repeat(129)
        }),
        (
            "session_token",
            "session token with standard base64 '+'",
            |p| p.session_token = format!("{SESSION_TOKEN}+"),
        ),
        (
            "session_token",
            "session token with standard base64 '/'",
            |p| p.session_token = format!("/{SESSION_TOKEN}"),
        ),
        ("session_token", "session token with '=' padding", |p| {
            p.session_token = format!("{SESSION_TOKEN}=")
        }),
        ("session_token", "session token with a space", |p| {
            p.session_token = format!("Bearer {SESSION_TOKEN}")
        }),
        ("authorization_code", "authorization code missing", |p| {
            p.authorization_code.clear()
        }),
        (
            "authorization_code",
            "authorization code of 5 digits",
            |p| p.authorization_code = "04821".into(),
        ),
        (
            "authorization_code",
            "authorization code of 9 digits",
            |p| p.authorization_code = "048213579".into(),
        ),
        (
            "authorization_code",
            "authorization code with a letter",
            |p| p.authorization_code = "04821O".into(),
        ),
        (
            "authorization_code",
            "authorization code with a space",
            |p| p.authorization_code = "048 213".into(),
        ),
        (
            "authorization_code",
            "authorization code with a dash",
            |p| p.authorization_code = "048-213".into(),
        ),
        (
            "authorization_code",
            "authorization code with a sign",
            |p| p.authorization_code = "+48213".into(),
        ),
        (
            "authorization_code",
            "authorization code in Arabic-Indic digits",
            |p| p.authorization_code = "٠٤٨٢١٣".into(),
        ),
    ];
    insta::assert_yaml_snapshot!(run::<SubmitAuthorizationCode>(
        &submit_authorization_code(),
        cases
    ));
}

#[test]
fn submit_authorization_code_boundaries_are_accepted() {
    for (session_token, authorization_code) in [
        ("A".repeat(32), "000000"),
        ("-_".repeat(64), "99999999"),
        (SESSION_TOKEN.into(), "0482135"),
    ] {
        let message = pb::SubmitAuthorizationCodeRequest {
            session_token,
            authorization_code: authorization_code.into(),
            ..submit_authorization_code()
        };
        assert_eq!(
            accepts!(SubmitAuthorizationCode, &message).to_proto(),
            message
        );
    }
}

#[test]
fn empty_messages_report_every_required_field() {
    assert_eq!(
        fields::<GetCheckoutStatus>(&pb::GetCheckoutStatusRequest::default()),
        ["payment_id"]
    );
    assert_eq!(
        fields::<SubmitPassword>(&pb::SubmitPasswordRequest::default()),
        ["payment_id", "phone_number", "password"]
    );
    assert_eq!(
        fields::<SubmitAuthorizationCode>(&pb::SubmitAuthorizationCodeRequest::default()),
        ["payment_id", "session_token", "authorization_code"]
    );
}
