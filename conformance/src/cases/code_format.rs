//! The payee code as issued, read independently of the reference's decoder: a small EMVCo
//! data-object parser here checks every rule of the format that an issued code must follow
//! (spec chapter 05, "Payee code format").

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;

use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::target::{CURRENCY, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![Case {
        id: "oc.flow-b.issued-code-format",
        title: "issued payee codes follow the format: data objects, order, OMPP templates, amount text, reference, expiry, signature encoding, CRC",
        role: OC,
        profile: Some(Profile::FlowB),
        requirements: &[
            "OMPP-FLB-004",
            "OMPP-CODE-001",
            "OMPP-CODE-002",
            "OMPP-CODE-003",
            "OMPP-CODE-005",
            "OMPP-CODE-006",
            "OMPP-CODE-007",
            "OMPP-CODE-008",
            "OMPP-CODE-009",
            "OMPP-CODE-010",
            "OMPP-CODE-011",
            "OMPP-MONEY-006",
        ],
        run: body!(issued_code_format),
    }]
}

/// One EMVCo data object: two-digit id, two-digit length, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Object {
    pub(super) id: String,
    pub(super) value: String,
}

/// Splits `text` into data objects; `Err` says where the form is broken.
pub(super) fn objects(text: &str) -> Result<Vec<Object>, String> {
    let mut rest = text;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (id, tail) = rest
            .split_at_checked(2)
            .ok_or_else(|| format!("truncated id at {rest:?}"))?;
        let (len, tail) = tail
            .split_at_checked(2)
            .ok_or_else(|| format!("truncated length after id {id}"))?;
        if !id.chars().all(|c| c.is_ascii_digit()) || !len.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("id {id:?} or length {len:?} is not two digits"));
        }
        let len: usize = len.parse().map_err(|_| format!("length {len:?}"))?;
        if len == 0 {
            return Err(format!("object {id} has length 00"));
        }
        let (value, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| format!("object {id} is shorter than its length {len}"))?;
        out.push(Object {
            id: id.to_owned(),
            value: value.to_owned(),
        });
        rest = tail;
    }
    Ok(out)
}

fn get<'a>(objects: &'a [Object], id: &str) -> Option<&'a str> {
    objects
        .iter()
        .find(|o| o.id == id)
        .map(|o| o.value.as_str())
}

/// The sub-objects of template `id`, as (id, value) pairs.
fn template(objects: &[Object], id: &str) -> Vec<(String, String)> {
    get(objects, id)
        .and_then(|value| self::objects(value).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|o| (o.id, o.value))
        .collect()
}

fn pair(id: &str, value: &str) -> (String, String) {
    (id.to_owned(), value.to_owned())
}

async fn issue(
    target: &Target,
    checks: &Checks,
    amount: Option<i64>,
    reference: &str,
) -> Result<pb::IssuePayeeCodeResponse, Abort> {
    let mut merchant = target.merchant(checks).await?;
    checks.succeeds(
        "OMPP-FLB-004",
        format!(
            "IssuePayeeCode ({})",
            if amount.is_some() {
                "dynamic"
            } else {
                "static"
            }
        ),
        merchant
            .issue_payee_code(pb::IssuePayeeCodeRequest {
                merchant_id: target.merchant_id.clone(),
                amount: amount.map(money),
                currency: if amount.is_some() {
                    String::new()
                } else {
                    CURRENCY.into()
                },
                merchant_reference: reference.into(),
                expires_in: None,
                idempotency_key: target.key("format"),
            })
            .await,
    )
}

/// Checks one issued code; `amount_text` is tag 54 as it must read (`None`: absent).
fn check_code(
    target: &Target,
    checks: &Checks,
    kind: &str,
    issued: &pb::IssuePayeeCodeResponse,
    amount_text: Option<&str>,
    reference: &str,
) -> Option<String> {
    let payload = issued.payload.as_str();
    let parsed = objects(payload);
    let ans = payload.chars().all(|c| (' '..='~').contains(&c));
    checks.record(
        "OMPP-CODE-001",
        format!("{kind}: the payload is data objects of two-digit id and length, ans characters"),
        "well-formed",
        match (&parsed, ans) {
            (Ok(_), true) => "well-formed".to_owned(),
            (Err(why), _) => why.clone(),
            (Ok(_), false) => "a character outside U+0020..U+007E".to_owned(),
        },
        parsed.is_ok() && ans,
    );
    let Ok(objects) = parsed else {
        return None;
    };
    checks.equal(
        "OMPP-CODE-002",
        format!("{kind}: the first object is 00 = 01"),
        Some(pair("00", "01")),
        objects.first().map(|o| (o.id.clone(), o.value.clone())),
    );
    let crc_at = payload.len().saturating_sub(4);
    let expected_crc = format!(
        "{:04X}",
        ompp::payee_code::crc16(&payload.as_bytes()[..crc_at])
    );
    checks.equal(
        "OMPP-CODE-003",
        format!("{kind}: 63 holds the CRC-16/CCITT-FALSE of everything before it"),
        Some(expected_crc.as_str()),
        get(&objects, "63"),
    );
    let ids: Vec<&str> = objects.iter().map(|o| o.id.as_str()).collect();
    let body: Vec<&str> = ids.iter().copied().filter(|id| *id != "63").collect();
    let ascending = body.windows(2).all(|w| w[0] < w[1]);
    let tail_ok = ids.ends_with(&["81", "63"]);
    checks.record(
        "OMPP-CODE-011",
        format!("{kind}: ids ascend, 81 then 63 last"),
        "ascending, ... 81, 63",
        ids.join(" "),
        ascending && tail_ok,
    );
    checks.equal(
        "OMPP-CODE-005",
        format!("{kind}: 26 is exactly 00 ompp, 01 merchant id, 02 code id"),
        vec![
            pair("00", "ompp"),
            pair("01", &target.merchant_id),
            pair("02", &issued.code_id),
        ],
        template(&objects, "26"),
    );
    let mcc = get(&objects, "52").unwrap_or_default();
    let country = get(&objects, "58").unwrap_or_default();
    let mandatory = mcc.len() == 4
        && mcc.chars().all(|c| c.is_ascii_digit())
        && get(&objects, "53") == Some("978")
        && country.len() == 2
        && country.chars().all(|c| c.is_ascii_uppercase())
        && get(&objects, "59").is_some_and(|v| !v.is_empty())
        && get(&objects, "60").is_some_and(|v| !v.is_empty());
    checks.record(
        "OMPP-CODE-006",
        format!("{kind}: 52 (4 digits), 53 = 978 (EUR), 58 (country), 59 and 60 present"),
        "52 dddd, 53 978, 58 AA, 59, 60",
        format!(
            "52 {mcc:?}, 53 {:?}, 58 {country:?}, 59 {:?}, 60 {:?}",
            get(&objects, "53"),
            get(&objects, "59"),
            get(&objects, "60")
        ),
        mandatory,
    );
    checks.equal(
        "OMPP-CODE-007",
        format!("{kind}: 54 is the amount as text, present only in a dynamic code"),
        amount_text,
        get(&objects, "54"),
    );
    if let Some(text) = amount_text {
        checks.equal(
            "OMPP-MONEY-006",
            format!("{kind}: the amount text has no leading zeros and two decimals for EUR"),
            Some(text),
            get(&objects, "54"),
        );
    }
    let reference_template = template(&objects, "62");
    checks.equal(
        "OMPP-CODE-008",
        format!("{kind}: 62 holds 05 = the reference, or is absent without one"),
        (!reference.is_empty()).then(|| pair("05", reference)),
        if get(&objects, "62").is_some() {
            reference_template.into_iter().find(|(id, _)| id == "05")
        } else {
            None
        },
    );
    let expiry = template(&objects, "80");
    let key_ok = expiry.get(1).is_some_and(|(id, key)| {
        id == "01"
            && (1..=8).contains(&key.len())
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    });
    let expires = issued.expires_at.as_ref().map(|t| t.seconds.to_string());
    let nonce_ok = expiry.get(3).is_some_and(|(id, nonce)| {
        id == "03"
            && nonce.len() == 16
            && nonce
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    });
    checks.record(
        "OMPP-CODE-009",
        format!(
            "{kind}: 80 is exactly 00 ompp, 01 key id, 02 the expiry in Unix seconds, 03 a 16-hex-digit nonce"
        ),
        format!(
            "00 ompp, 01 <key id>, 02 {}, 03 <16 lower-case hex digits>",
            expires.clone().unwrap_or_default()
        ),
        format!("{expiry:?}"),
        expiry.len() == 4
            && expiry[0] == pair("00", "ompp")
            && key_ok
            && Some(&expiry[2]) == expires.as_deref().map(|e| pair("02", e)).as_ref()
            && nonce_ok,
    );
    let signature = template(&objects, "81");
    let signature_ok = signature.len() == 2
        && signature[0] == pair("00", "ompp")
        && signature[1].0 == "01"
        && signature[1].1.len() == 86
        && signature[1]
            .1
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    checks.record(
        "OMPP-CODE-010",
        format!("{kind}: 81 is exactly 00 ompp and 01 an 86-character base64url signature"),
        "00 ompp, 01 <86 base64url characters>",
        format!(
            "{} sub-objects, signature of {} characters",
            signature.len(),
            signature.get(1).map_or(0, |(_, s)| s.len())
        ),
        signature_ok,
    );
    expiry.get(3).map(|(_, nonce)| nonce.clone())
}

async fn issued_code_format(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let dynamic = issue(target, checks, Some(1_234), "table 7").await?;
    let small = issue(target, checks, Some(5), "").await?;
    let fixed = issue(target, checks, None, "").await?;
    let nonces = [
        check_code(
            target,
            checks,
            "dynamic code",
            &dynamic,
            Some("12.34"),
            "table 7",
        ),
        check_code(
            target,
            checks,
            "dynamic code of 0.05",
            &small,
            Some("0.05"),
            "",
        ),
        check_code(target, checks, "static code", &fixed, None, ""),
    ];
    let distinct: std::collections::BTreeSet<_> = nonces.iter().flatten().collect();
    checks.equal(
        "OMPP-CODE-009",
        "each code has its own nonce",
        3,
        distinct.len(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_reads_and_refuses() {
        let parsed = objects("000201010212").expect("parse");
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            parsed[1],
            Object {
                id: "01".into(),
                value: "12".into()
            }
        );
        assert!(objects("0002").is_err(), "length 00");
        assert!(objects("0005ab").is_err(), "shorter than its length");
        assert!(objects("0a0201").is_err(), "id not digits");
    }
}
