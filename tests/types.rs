//! Validated scalar types: identities, phone numbers, secrets, time.

use ompp::limits::DurationBounds;
use ompp::types::{PartyIdentity, Password, PhoneNumber, Role, UnixMillis, bounded_duration};
use ompp::validation::{FieldPath, Validator, Violation};

#[test]
fn party_identities_parse_and_print() {
    let id = PartyIdentity::parse("ompp://merchant/M-1042").unwrap();
    assert_eq!((id.role(), id.id()), (Role::Merchant, "M-1042"));
    assert_eq!(id.to_string(), "ompp://merchant/M-1042");
    for role in Role::ALL {
        let uri = format!("ompp://{}/x1", role.as_str());
        assert_eq!(PartyIdentity::parse(&uri).unwrap().role(), role);
    }
    assert_eq!(PartyIdentity::parse(""), Err(Violation::Missing));
    for bad in [
        "https://merchant/M-1",
        "ompp://merchant",
        "ompp://merchant/",
        "ompp://admin/A-1",
        "ompp://merchant/M 1",
        "ompp://merchant/M-1/extra",
        "OMPP://merchant/M-1",
    ] {
        assert!(
            matches!(PartyIdentity::parse(bad), Err(Violation::BadFormat { .. })),
            "{bad}"
        );
    }
}

#[test]
fn phone_numbers_are_e164() {
    assert_eq!(
        PhoneNumber::parse("+4915112345678").unwrap().as_str(),
        "+4915112345678"
    );
    assert!(PhoneNumber::parse("+12345678").is_ok());
    assert!(PhoneNumber::parse("+123456789012345").is_ok());
    for bad in [
        "4915112345678",
        "+1234567",
        "+1234567890123456",
        "+0151123456",
        "+49 151 1234",
        "+49-151",
    ] {
        assert!(
            matches!(PhoneNumber::parse(bad), Err(Violation::BadFormat { .. })),
            "{bad}"
        );
    }
    assert_eq!(
        PhoneNumber::parse("+4915112345678").unwrap().masked(),
        "+49*********78"
    );
}

#[test]
fn secrets_never_show_in_debug_output() {
    let password = Password::parse("correct horse battery").unwrap();
    let debug = format!("{password:?}");
    assert_eq!(debug, "Password(<redacted, 21 chars>)");
    assert!(!debug.contains("horse"));
    assert!(matches!(
        Password::parse("short"),
        Err(Violation::TooShort { min: 8, actual: 5 })
    ));
    assert!(matches!(
        Password::parse("tab\there!"),
        Err(Violation::BadCharacter { position: 3 })
    ));
}

#[test]
fn timestamps_convert_at_millisecond_precision() {
    let mut v = Validator::new();
    let path = FieldPath::root("sent_at");
    let ts = prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 123_456_789,
    };
    let t = UnixMillis::from_proto(&mut v, &path, Some(&ts)).unwrap();
    assert_eq!(t, UnixMillis(1_700_000_000_123));
    assert_eq!(
        t.to_proto(),
        prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_000_000
        }
    );
    let before_epoch = UnixMillis(-1);
    assert_eq!(
        before_epoch.to_proto(),
        prost_types::Timestamp {
            seconds: -1,
            nanos: 999_000_000
        }
    );
    assert!(!v.has_errors());

    let bad = prost_types::Timestamp {
        seconds: 253_402_300_800,
        nanos: 0,
    };
    assert!(UnixMillis::from_proto(&mut v, &path, Some(&bad)).is_none());
    assert_eq!(v.into_error().errors[0].field.as_str(), "sent_at.seconds");
}

#[test]
fn bounded_durations_default_and_check_bounds() {
    let bounds = DurationBounds {
        min_secs: 30,
        max_secs: 600,
        default_secs: 120,
    };
    let path = FieldPath::root("expires_in");
    let mut v = Validator::new();
    assert_eq!(
        bounded_duration(&mut v, &path, None, bounds)
            .unwrap()
            .as_secs(),
        120
    );
    let exact_max = prost_types::Duration {
        seconds: 600,
        nanos: 0,
    };
    assert_eq!(
        bounded_duration(&mut v, &path, Some(&exact_max), bounds)
            .unwrap()
            .as_secs(),
        600
    );
    let just_over = prost_types::Duration {
        seconds: 601,
        nanos: 0,
    };
    assert!(bounded_duration(&mut v, &path, Some(&just_over), bounds).is_none());
    let fraction = prost_types::Duration {
        seconds: 60,
        nanos: 5,
    };
    // OMPP-MSG-014: whole seconds only.
    assert!(bounded_duration(&mut v, &path, Some(&fraction), bounds).is_none());
    let errors: Vec<(String, Violation)> = v
        .into_error()
        .errors
        .into_iter()
        .map(|e| (e.field.to_string(), e.violation))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "expires_in.seconds".to_owned(),
                Violation::OutOfRange {
                    min: 30,
                    max: 600,
                    actual: 601
                }
            ),
            (
                "expires_in.nanos".to_owned(),
                Violation::OutOfRange {
                    min: 0,
                    max: 0,
                    actual: 5
                }
            ),
        ]
    );
}
