//! Any text, decoded as a payee code: never a panic, and an OMPP code is canonical: encoding
//! the decoded code with the decoded signature gives back the payload byte for byte, and the
//! signed bytes as received are those the code itself would sign.
//!
//! The first byte selects a mode: odd, the rest of the input gets a correct `6304` CRC trailer
//! appended, so that mutations reach the structure and value checks behind the CRC check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ompp::payee_code::{Decoded, crc16, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut payload = String::from_utf8_lossy(rest).into_owned();
    if mode & 1 == 1 {
        payload.push_str("6304");
        let crc = crc16(payload.as_bytes());
        payload.push_str(&format!("{crc:04X}"));
    }
    match decode(&payload) {
        Ok(Decoded::Ompp(signed)) => {
            let again = signed
                .code
                .encode(&signed.signature)
                .expect("a decoded code passes validate()");
            assert_eq!(again, payload, "decode is not canonical");
            let signing_input = signed.code.signing_input().expect("validated above");
            assert_eq!(signing_input.as_slice(), signed.signing_input());
            match decode(&again) {
                Ok(Decoded::Ompp(twice)) => assert_eq!(twice, signed),
                other => panic!("re-encoded code decodes as {other:?}"),
            }
        }
        Ok(Decoded::Foreign(foreign)) => {
            assert!(!foreign.fields.is_empty());
            assert_eq!(foreign.fields.last().map(|f| f.0), Some(63));
        }
        Err(_) => {}
    }
});
