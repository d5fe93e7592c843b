//! The ledger under concurrency: 1,000 settlements at once among 20 wallets (10 payers, 10
//! payees) through the store's real settlement path. Value is conserved, no wallet goes
//! negative, and every booked transfer is recorded once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use ompp::money::{Amount, Currency};
use ompp::payment::PushPayment;
use ompp::proto::v1 as pb;
use ompp::types::{
    AccountNumber, BankAccountRef, BankId, CustomerId, MerchantId, PaymentId, UnixMillis,
};
use ompp_server::store::sqlite::SqliteStore;
use ompp_server::store::{
    CustomerRecord, IdempotencyRecord, MerchantRecord, Owner, PaymentRecord, Store, StoreError,
};

fn eur() -> Currency {
    Currency::from_code("EUR").unwrap()
}

fn confirmed_payment(
    i: usize,
    payer: &CustomerId,
    payee: &MerchantId,
    cents: i64,
) -> PaymentRecord {
    let now = UnixMillis(1_800_000_000_000);
    let mut state = PushPayment::new(now, Duration::from_secs(60), 3);
    state.mark_pushed(now).unwrap();
    state.confirm(now, true, true).unwrap();
    PaymentRecord {
        payment_id: PaymentId::parse(&format!("pay-{i}")).unwrap(),
        flow: pb::PaymentFlow::PayeeCode,
        merchant_id: payee.clone(),
        customer_id: Some(payer.clone()),
        amount: Amount::from_minor_units(eur(), cents).unwrap(),
        items: vec![],
        merchant_reference: String::new(),
        state: ompp_server::store::PaymentState::Push(state),
        updated_at: now,
        transfer_id: None,
        settled_at: None,
    }
}

#[test]
fn a_thousand_concurrent_settlements_conserve_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("ledger.sqlite3")).unwrap());
    let now = UnixMillis(1_800_000_000_000);
    let payers: Vec<CustomerId> = (0..10)
        .map(|i| CustomerId::parse(&format!("C-{i}")).unwrap())
        .collect();
    let payees: Vec<MerchantId> = (0..10)
        .map(|i| MerchantId::parse(&format!("M-{i}")).unwrap())
        .collect();
    for (i, payer) in payers.iter().enumerate() {
        let customer = CustomerRecord {
            customer_id: payer.clone(),
            display_name: format!("payer {i}"),
            phone_number: format!("+49151000000{i:02}"),
            password_hash: "not used".into(),
            // A customer whose wallet is topped up has a registered bank account
            // (OMPP-LEDGER-010); the store-level top-up below does not call the bank.
            bank_account: Some(BankAccountRef {
                bank_id: BankId::parse("OMPPBANK").unwrap(),
                account_number: AccountNumber::parse(&format!("PAYER{i:04}")).unwrap(),
            }),
        };
        let idem = IdempotencyRecord {
            scope: "register_customer".into(),
            key: format!("r{i}"),
            digest: vec![i as u8],
        };
        store
            .register_customer(&customer, &[eur()], &idem, now)
            .unwrap();
        // 50.00 EUR each, booked as a completed top-up: moved in from the operator's account.
        store
            .top_up(
                payer,
                Amount::from_minor_units(eur(), 5_000).unwrap(),
                &format!("TU-{i}"),
                now,
            )
            .unwrap();
    }
    for (i, payee) in payees.iter().enumerate() {
        let merchant = MerchantRecord {
            merchant_id: payee.clone(),
            display_name: format!("payee {i}"),
            bank_account: None,
        };
        store.upsert_merchant(&merchant, &[eur()], now).unwrap();
    }
    assert_eq!(
        store.total_balance(eur()).unwrap(),
        0,
        "operator account + wallets sum to zero"
    );

    // 1,000 payments of 1 to 100 cents; together they ask for more than the payers hold, so
    // some must be refused for insufficient funds.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            let payers = payers.clone();
            let payees = payees.clone();
            std::thread::spawn(move || {
                let mut outcome = (0i64, 0u32, 0u32, Vec::new());
                for n in 0..250 {
                    let i = t * 250 + n;
                    let cents = 1 + (i as i64 * 37) % 100;
                    let payment =
                        confirmed_payment(i, &payers[i % 10], &payees[(i / 10) % 10], cents);
                    let idem = IdempotencyRecord {
                        scope: "submit".into(),
                        key: format!("k{i}"),
                        digest: vec![1],
                    };
                    match store.create_settled_payment(&payment, &idem) {
                        Ok(created) => {
                            let record = created.into_inner();
                            assert_eq!(record.state.status(), pb::PaymentStatus::Settled);
                            outcome.0 += cents;
                            outcome.1 += 1;
                            outcome.3.push((i, cents));
                        }
                        Err(StoreError::InsufficientFunds) => outcome.2 += 1,
                        Err(other) => panic!("unexpected: {other}"),
                    }
                }
                outcome
            })
        })
        .collect();
    let (mut moved, mut settled, mut refused, mut booked) = (0, 0, 0, Vec::new());
    for thread in threads {
        let (m, s, r, b) = thread.join().unwrap();
        moved += m;
        settled += s;
        refused += r;
        booked.extend(b);
    }
    assert_eq!(settled + refused, 1_000);
    assert!(
        refused > 0 && settled > 0,
        "settled {settled}, refused {refused}"
    );

    // Conservation: the operator's account, the payers and the payees still sum to zero; what the payees hold
    // is exactly what was settled; no wallet is negative.
    assert_eq!(store.total_balance(eur()).unwrap(), 0);
    let mut payee_total = 0;
    for payee in &payees {
        let balance = store.balances(&Owner::Merchant(payee.clone())).unwrap()[0].minor_units;
        assert!(balance >= 0);
        payee_total += balance;
    }
    assert_eq!(payee_total, moved);
    let mut payer_total = 0;
    for payer in &payers {
        let balance = store.balances(&Owner::Customer(payer.clone())).unwrap()[0].minor_units;
        assert!(balance >= 0, "{payer} went negative: {balance}");
        payer_total += balance;
    }
    assert_eq!(payer_total, 10 * 5_000 - moved);

    // A retried settlement returns its first outcome and moves nothing again.
    let (i, cents) = booked[0];
    let retry = confirmed_payment(i, &payers[i % 10], &payees[(i / 10) % 10], cents);
    let idem = IdempotencyRecord {
        scope: "submit".into(),
        key: format!("k{i}"),
        digest: vec![1],
    };
    let again = store.create_settled_payment(&retry, &idem).unwrap();
    assert!(matches!(again, ompp_server::store::Created::Existing(_)));
    let after: i64 = payees
        .iter()
        .map(|p| store.balances(&Owner::Merchant(p.clone())).unwrap()[0].minor_units)
        .sum();
    assert_eq!(after, moved);
    assert_eq!(store.total_balance(eur()).unwrap(), 0);
}
