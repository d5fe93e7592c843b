//! Money conservation over the suite's wallets and merchant, and the health check.

use super::*;

/// Balances per currency.
pub(super) type Sums = BTreeMap<String, i64>;

pub(super) fn add(sums: &mut Sums, m: &pb::Money, sign: i64) {
    let entry = sums.entry(m.currency.clone()).or_insert(0);
    *entry = entry.saturating_add(m.minor_units.saturating_mul(sign));
}

/// The money the run expects to have moved into or out of the suite's accounts.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub(super) start: Sums,
    pub(super) delta: Sums,
    pub(super) top_ups: BTreeSet<String>,
    pub(super) checkouts: BTreeSet<String>,
    pub(super) outflows: BTreeSet<String>,
}

impl Ledger {
    pub(super) fn expected(&self) -> Sums {
        let mut sums = self.start.clone();
        for (currency, amount) in &self.delta {
            let entry = sums.entry(currency.clone()).or_insert(0);
            *entry = entry.saturating_add(*amount);
        }
        sums.retain(|_, v| *v != 0);
        sums
    }

    /// Learns from an OK answer what it did to the suite's money.
    pub(super) fn observe(
        &mut self,
        method: &Method,
        request: &[u8],
        response: &[u8],
        merchant_id: &str,
    ) {
        match method.name {
            "TopUpWallet" => {
                let entry = pb::TopUpWalletResponse::decode(response)
                    .ok()
                    .and_then(|r| r.entry);
                match entry {
                    Some(entry) => {
                        if self.top_ups.insert(entry.transfer_id.clone())
                            && let Some(delta) = &entry.delta
                        {
                            add(&mut self.delta, delta, 1);
                        }
                    }
                    None => {
                        if let Some(amount) = pb::TopUpWalletRequest::decode(request)
                            .ok()
                            .and_then(|r| r.amount)
                        {
                            add(&mut self.delta, &amount, 1);
                        }
                    }
                }
            }
            "SubmitAuthorizationCode" => {
                if let Some(checkout) = pb::SubmitAuthorizationCodeResponse::decode(response)
                    .ok()
                    .and_then(|r| r.checkout)
                    && settled_or_settling(checkout.status)
                    && self.checkouts.insert(checkout.payment_id.clone())
                    && let Some(amount) = &checkout.amount
                {
                    add(&mut self.delta, amount, 1);
                }
            }
            "SubmitPayeeCode" => {
                if let Some(payment) = pb::SubmitPayeeCodeResponse::decode(response)
                    .ok()
                    .and_then(|r| r.payment)
                    && payment.merchant_id != merchant_id
                    && settled_or_settling(payment.status)
                    && self.outflows.insert(payment.payment_id.clone())
                    && let Some(amount) = &payment.amount
                {
                    add(&mut self.delta, amount, -1);
                }
            }
            _ => {}
        }
    }
}

/// Whether a payment in `status` moved (or is moving) money.
pub(super) fn settled_or_settling(status: i32) -> bool {
    status == pb::PaymentStatus::Confirmed as i32 || status == pb::PaymentStatus::Settled as i32
}

pub(super) async fn balances(target: &Target, fixtures: &mut Fixtures) -> Result<Sums, String> {
    let mut sums = Sums::new();
    for (i, customer) in fixtures.customers.iter_mut().enumerate() {
        let answer = tokio::time::timeout(
            CALL_TIMEOUT,
            customer
                .device
                .get_wallet_balance(pb::GetWalletBalanceRequest {}),
        )
        .await
        .map_err(|_| format!("GetWalletBalance of customer {i}: no answer"))?
        .map_err(|s| format!("GetWalletBalance of customer {i}: {s}"))?;
        for m in &answer.into_inner().balances {
            add(&mut sums, m, 1);
        }
    }
    let answer = tokio::time::timeout(
        CALL_TIMEOUT,
        fixtures
            .merchant
            .get_merchant_balance(pb::GetMerchantBalanceRequest {
                merchant_id: target.merchant_id.clone(),
            }),
    )
    .await
    .map_err(|_| "GetMerchantBalance: no answer".to_owned())?
    .map_err(|s| format!("GetMerchantBalance: {s}"))?;
    for m in &answer.into_inner().balances {
        add(&mut sums, m, 1);
    }
    sums.retain(|_, v| *v != 0);
    Ok(sums)
}

pub(super) async fn health(target: &Target, device: Option<&Credential>) -> Result<(), String> {
    let mut problems = Vec::new();
    let network = connect(target, &target.network_url, None).await?;
    let mut checks: Vec<(Channel, Service)> = vec![
        (network.clone(), Service::Merchant),
        (network.clone(), Service::Registration),
        (network, Service::Gateway),
    ];
    if let Some(device) = device {
        checks.push((
            connect(target, &target.mobile_url, Some(device)).await?,
            Service::Device,
        ));
    }
    for (channel, service) in checks {
        let mut client = HealthClient::new(channel);
        let answer = tokio::time::timeout(
            CALL_TIMEOUT,
            client.check(tonic_health::pb::HealthCheckRequest {
                service: service.name().into(),
            }),
        )
        .await;
        match answer {
            Err(_) => problems.push(format!("{}: no health answer", service.name())),
            Ok(Err(status)) => problems.push(format!("{}: {status}", service.name())),
            Ok(Ok(response)) => {
                let status = response.into_inner().status;
                if status != ServingStatus::Serving as i32 {
                    problems.push(format!(
                        "{}: health status {:?}",
                        service.name(),
                        ServingStatus::try_from(status)
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
