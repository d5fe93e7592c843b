//! Money: currencies, exponents, checked arithmetic, decimal text (OMPP-MONEY-001..005).

#![allow(clippy::unwrap_used)]

use ompp::money::{Amount, Currency, Money, MoneyError};
use ompp::validation::Violation;

fn cur(code: &str) -> Currency {
    Currency::from_code(code).unwrap()
}

#[test]
fn currencies_carry_iso_4217_exponents_and_numeric_codes() {
    assert_eq!((cur("EUR").exponent(), cur("EUR").numeric()), (2, 978));
    assert_eq!((cur("JPY").exponent(), cur("JPY").numeric()), (0, 392));
    assert_eq!((cur("KWD").exponent(), cur("KWD").numeric()), (3, 414));
    assert_eq!(Currency::from_numeric(986).unwrap().code(), "BRL");
}

#[test]
fn only_active_currencies_with_minor_units_are_usable() {
    assert_eq!(Currency::from_code(""), Err(Violation::Missing));
    assert!(matches!(
        Currency::from_code("eur"),
        Err(Violation::BadFormat { .. })
    ));
    assert!(matches!(
        Currency::from_code("EURO"),
        Err(Violation::BadFormat { .. })
    ));
    assert_eq!(Currency::from_code("ABC"), Err(Violation::UnknownCurrency));
    // Precious metal (no minor unit), fund, testing code, superseded currency.
    for code in ["XAU", "BOV", "XTS", "HRK"] {
        assert_eq!(
            Currency::from_code(code),
            Err(Violation::UnknownCurrency),
            "{code}"
        );
    }
    assert_eq!(Currency::from_numeric(959), Err(Violation::UnknownCurrency));
}

#[test]
fn addition_and_subtraction_are_checked() {
    let eur = cur("EUR");
    let a = Money::new(eur, 1250);
    assert_eq!(
        a.checked_add(Money::new(eur, 750)),
        Ok(Money::new(eur, 2000))
    );
    assert_eq!(
        a.checked_sub(Money::new(eur, 2000)),
        Ok(Money::new(eur, -750))
    );
    assert_eq!(
        Money::new(eur, i64::MAX).checked_add(Money::new(eur, 1)),
        Err(MoneyError::Overflow)
    );
    assert_eq!(
        Money::new(eur, i64::MIN).checked_sub(Money::new(eur, 1)),
        Err(MoneyError::Overflow)
    );
    assert_eq!(
        Money::new(eur, i64::MIN).checked_neg(),
        Err(MoneyError::Overflow)
    );
    assert_eq!(Money::new(eur, -5).checked_neg(), Ok(Money::new(eur, 5)));
}

#[test]
fn currencies_never_mix() {
    let eur = Money::new(cur("EUR"), 100);
    let usd = Money::new(cur("USD"), 100);
    let mismatch = MoneyError::CurrencyMismatch {
        left: cur("EUR"),
        right: cur("USD"),
    };
    assert_eq!(eur.checked_add(usd), Err(mismatch.clone()));
    assert_eq!(eur.checked_sub(usd), Err(mismatch.clone()));
    assert_eq!(eur.checked_cmp(usd), Err(mismatch));
    assert_eq!(
        eur.checked_cmp(Money::new(cur("EUR"), 99)),
        Ok(std::cmp::Ordering::Greater)
    );
}

#[test]
fn amounts_are_positive() {
    let eur = cur("EUR");
    assert_eq!(
        Amount::from_minor_units(eur, 0),
        Err(Violation::NotPositive)
    );
    assert_eq!(
        Amount::from_minor_units(eur, -1),
        Err(Violation::NotPositive)
    );
    assert_eq!(Amount::from_minor_units(eur, 1).unwrap().minor_units(), 1);
}

#[test]
fn decimal_text_uses_the_currency_exponent() {
    assert_eq!(Money::new(cur("EUR"), 1250).to_decimal_string(), "12.50");
    assert_eq!(Money::new(cur("EUR"), 5).to_decimal_string(), "0.05");
    assert_eq!(Money::new(cur("EUR"), -1250).to_decimal_string(), "-12.50");
    assert_eq!(Money::new(cur("JPY"), 500).to_decimal_string(), "500");
    assert_eq!(Money::new(cur("KWD"), 1500).to_decimal_string(), "1.500");
    assert_eq!(
        Money::new(cur("KWD"), i64::MIN).to_decimal_string(),
        "-9223372036854775.808"
    );
    assert_eq!(Money::new(cur("EUR"), 1250).to_string(), "12.50 EUR");
}

#[test]
fn decimal_amounts_parse_strictly() {
    let parse =
        |code: &str, text: &str| Amount::parse_decimal(cur(code), text).map(Amount::minor_units);
    assert_eq!(parse("EUR", "12.50"), Ok(1250));
    assert_eq!(parse("EUR", "12.5"), Ok(1250));
    assert_eq!(parse("EUR", "12"), Ok(1200));
    assert_eq!(parse("EUR", "0.01"), Ok(1));
    assert_eq!(parse("JPY", "500"), Ok(500));
    assert_eq!(parse("KWD", "1.5"), Ok(1500));
    assert_eq!(parse("EUR", "0"), Err(Violation::NotPositive));
    assert_eq!(parse("EUR", "0.00"), Err(Violation::NotPositive));
    for bad in [
        "", "12.505", "-1", "+1", "1e3", "12.", ".5", "1,50", " 1", "1 ", "1.2.3", "١٢",
    ] {
        assert!(
            matches!(parse("EUR", bad), Err(Violation::BadFormat { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(
        parse("JPY", "1.0"),
        Err(Violation::BadFormat { .. })
    ));
    // Past i64 minor units: an error, never a wrap.
    assert!(matches!(
        parse("EUR", "92233720368547758.08"),
        Err(Violation::OutOfRange { .. })
    ));
    assert!(matches!(
        parse("JPY", "99999999999999999999"),
        Err(Violation::OutOfRange { .. })
    ));
    assert_eq!(parse("JPY", "9223372036854775807"), Ok(i64::MAX));
}

#[test]
fn money_round_trips_through_the_wire_type() {
    let amount = Amount::from_minor_units(cur("KWD"), 1500).unwrap();
    let wire = amount.to_proto();
    assert_eq!((wire.currency.as_str(), wire.minor_units), ("KWD", 1500));
    let json = serde_json::to_string(&amount).unwrap();
    assert_eq!(json, r#"{"currency":"KWD","minor_units":1500}"#);
    assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), amount);
    assert!(serde_json::from_str::<Amount>(r#"{"currency":"KWD","minor_units":0}"#).is_err());
    assert!(serde_json::from_str::<Money>(r#"{"currency":"XAU","minor_units":1}"#).is_err());
}
