//! An operation center on loopback for integration tests: real TLS with the development PKI,
//! real SQLite in a temporary directory, a manual clock, fast (insecure) password hashing.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::device_service_client::DeviceServiceClient;
use ompp::proto::v1::merchant_payment_service_client::MerchantPaymentServiceClient;
use ompp::proto::v1::network_link_service_client::NetworkLinkServiceClient;
use ompp::proto::v1::registration_service_client::RegistrationServiceClient;
use ompp_server::bank::BankAccountConfig;
use ompp_server::clock::ManualClock;
use ompp_server::config::{Config, EnrollmentTokenConfig};
use ompp_server::passwords::HashingProfile;
use ompp_server::pki::{DevPki, Issued, cert_der_to_pem, generate_csr};
use ompp_server::run::{Role, Running, start};
use ompp_server::tls::client_tls;
use tempfile::TempDir;
use tonic::transport::{Channel, Endpoint};

pub const PASSWORD: &str = "correct horse battery";
pub const ENROLLMENT_TOKEN: &str = "test-enrollment-token-0001";
/// The account at the reference bank processor that every [`Center::customer`] registers with:
/// a top-up debits the customer's registered bank account (OMPP-LEDGER-010/011), so the
/// customers share one well-funded EUR account (added to the bank's default accounts).
pub const TOP_UP_ACCOUNT: &str = "TOPUP0001";
/// [`TOP_UP_ACCOUNT`]'s opening balance: 10 000 000 000 000.00 EUR, far more than the tests top
/// up, yet far enough from `i64::MAX` that no credit side overflows.
pub const TOP_UP_FUNDS: i64 = 1_000_000_000_000_000;

/// A running operation center and what a test needs to talk to it.
pub struct Center {
    pub running: Option<Running>,
    pub dir: TempDir,
    pub clock: ManualClock,
    pub pki: DevPki,
    pub config: Config,
}

fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::on_loopback(dir.to_owned(), HashingProfile::FastInsecure);
    config.network.enrollment_tokens = vec![EnrollmentTokenConfig {
        token: ENROLLMENT_TOKEN.to_owned(),
        merchant_id: "M-2001".to_owned(),
    }];
    // Appended: the default accounts (DEMO0001, DEMO1042, the operator's account) stay.
    config.bank.accounts.push(BankAccountConfig {
        account_number: TOP_UP_ACCOUNT.to_owned(),
        currency: "EUR".to_owned(),
        balance_minor_units: TOP_UP_FUNDS,
        blocked: false,
    });
    config
}

impl Center {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`Center::start`] with `adjust` applied to the configuration first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        adjust(&mut config);
        let clock = ManualClock::new();
        let running = start(&config, Role::All, Arc::new(clock.clone()), None)
            .await
            .unwrap();
        let pki = DevPki::read(&config.pki_dir()).unwrap();
        Self {
            running: Some(running),
            dir,
            clock,
            pki,
            config,
        }
    }

    /// Stops the servers and starts them again on the same data directory (new ports).
    pub async fn restart(&mut self) {
        self.running.take().unwrap().stop().await;
        let running = start(&self.config, Role::All, Arc::new(self.clock.clone()), None)
            .await
            .unwrap();
        self.running = Some(running);
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    fn url(addr: Option<SocketAddr>) -> String {
        format!("https://localhost:{}", addr.unwrap().port())
    }

    pub async fn channel(
        &self,
        addr: Option<SocketAddr>,
        ca_pem: &str,
        identity: Option<(&str, &str)>,
    ) -> Result<Channel, tonic::transport::Error> {
        Endpoint::from_shared(Self::url(addr))?
            .tls_config(client_tls(ca_pem, identity, "localhost"))?
            .timeout(Duration::from_secs(20))
            .connect()
            .await
    }

    /// The merchant service as the sample merchant M-1042.
    pub async fn merchant(&self) -> MerchantPaymentServiceClient<Channel> {
        self.merchant_as(&self.pki.merchant).await
    }

    pub async fn merchant_as(&self, identity: &Issued) -> MerchantPaymentServiceClient<Channel> {
        let ca = self.pki.operator_ca.cert_pem();
        let channel = self
            .channel(
                self.running().network_addr,
                &ca,
                Some((&identity.cert_pem, &identity.key_pem)),
            )
            .await
            .unwrap();
        MerchantPaymentServiceClient::new(channel)
    }

    pub async fn registration(&self) -> RegistrationServiceClient<Channel> {
        let ca = self.pki.operator_ca.cert_pem();
        RegistrationServiceClient::new(
            self.channel(self.running().network_addr, &ca, None)
                .await
                .unwrap(),
        )
    }

    /// The network server's link service, called with `identity` (a link certificate).
    pub async fn network_link_as(&self, identity: &Issued) -> NetworkLinkServiceClient<Channel> {
        let ca = self.pki.link_ca.cert_pem();
        let channel = self
            .channel(
                self.running().network_link_addr,
                &ca,
                Some((&identity.cert_pem, &identity.key_pem)),
            )
            .await
            .unwrap();
        NetworkLinkServiceClient::new(channel)
    }

    /// Registers a customer with a EUR wallet and the bank account [`TOP_UP_ACCOUNT`] at the
    /// reference bank processor (where top-ups are debited), pairs one device, and tops the
    /// wallet up by `top_up_cents` (none if zero).
    pub async fn customer(&self, phone: &str, top_up_cents: i64) -> Customer {
        let mut registration = self.registration().await;
        let customer_id = registration
            .register_customer(pb::RegisterCustomerRequest {
                display_name: "Ana".into(),
                phone_number: phone.into(),
                password: PASSWORD.into(),
                wallet_currencies: vec!["EUR".into()],
                bank_account: Some(pb::BankAccountRef {
                    bank_id: self.config.bank.bank_id.clone(),
                    account_number: TOP_UP_ACCOUNT.into(),
                }),
                idempotency_key: format!("reg-{}", &phone[1..]),
            })
            .await
            .unwrap()
            .into_inner()
            .customer_id;
        let csr = generate_csr("device").unwrap();
        let paired = registration
            .pair_device(pb::PairDeviceRequest {
                customer_id: customer_id.clone(),
                password: PASSWORD.into(),
                device_name: "phone".into(),
                csr_der: csr.csr_der.clone(),
                idempotency_key: format!("pair-{}", &phone[1..]),
            })
            .await
            .unwrap()
            .into_inner();
        let cert_pem = cert_der_to_pem(&paired.certificate_der);
        let ca = self.pki.operator_ca.cert_pem();
        let channel = self
            .channel(
                self.running().mobile_addr,
                &ca,
                Some((&cert_pem, &csr.key_pem)),
            )
            .await
            .unwrap();
        let mut device = DeviceServiceClient::new(channel);
        if top_up_cents > 0 {
            device
                .top_up_wallet(pb::TopUpWalletRequest {
                    amount: Some(eur(top_up_cents)),
                    password: PASSWORD.into(),
                    idempotency_key: "initial".into(),
                })
                .await
                .unwrap();
        }
        Customer {
            customer_id,
            device_id: paired.device_id,
            device,
            cert_pem,
            key_pem: csr.key_pem,
        }
    }

    /// Reconnects a customer's device (after a restart).
    pub async fn reconnect(&self, customer: &mut Customer) {
        let ca = self.pki.operator_ca.cert_pem();
        let channel = self
            .channel(
                self.running().mobile_addr,
                &ca,
                Some((&customer.cert_pem, &customer.key_pem)),
            )
            .await
            .unwrap();
        customer.device = DeviceServiceClient::new(channel);
    }
}

pub struct Customer {
    pub customer_id: String,
    pub device_id: String,
    pub device: DeviceServiceClient<Channel>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Customer {
    pub async fn balance(&mut self) -> i64 {
        let balances = self
            .device
            .get_wallet_balance(pb::GetWalletBalanceRequest {})
            .await
            .unwrap()
            .into_inner()
            .balances;
        balances
            .iter()
            .find(|m| m.currency == "EUR")
            .map(|m| m.minor_units)
            .unwrap()
    }

    pub async fn confirm(
        &mut self,
        payment_id: &str,
        cents: i64,
        password: &str,
    ) -> Result<pb::ConfirmPaymentResponse, ProtocolError> {
        self.device
            .confirm_payment(pb::ConfirmPaymentRequest {
                payment_id: payment_id.into(),
                amount: Some(eur(cents)),
                password: password.into(),
            })
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| {
                ProtocolError::from_status(&status)
                    .unwrap_or_else(|e| panic!("not an OMPP status ({e}): {status:?}"))
            })
    }
}

pub fn eur(cents: i64) -> pb::Money {
    pb::Money {
        currency: "EUR".into(),
        minor_units: cents,
    }
}

pub fn create(customer_id: &str, cents: i64, key: &str) -> pb::CreatePaymentRequest {
    pb::CreatePaymentRequest {
        merchant_id: "M-1042".into(),
        customer_id: customer_id.into(),
        amount: Some(eur(cents)),
        items: vec![pb::LineItem {
            product_code: "SKU-1".into(),
            description: "Coffee".into(),
            quantity: 1,
        }],
        merchant_reference: "till 1".into(),
        expires_in: None,
        idempotency_key: key.into(),
    }
}

/// The OMPP error in a failed call; panics if the call succeeded or the status is not OMPP.
pub fn reason<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> pb::ErrorReason {
    let status = result.expect_err("the call must fail");
    ProtocolError::from_status(&status)
        .unwrap_or_else(|e| panic!("not an OMPP status ({e}): {status:?}"))
        .reason
}

/// Waits for the next payment request on a device stream.
pub async fn next_event(
    stream: &mut tonic::Streaming<pb::SubscribeResponse>,
) -> pb::subscribe_response::Event {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("no push within 10 s")
        .expect("stream failed")
        .expect("stream ended")
        .event
        .expect("empty event")
}

/// Flow C helpers: a customer with a bank account at the reference bank processor, the
/// gateway, and the customer's handset at the SMS center.
impl Center {
    /// Registers a customer whose bank account is the reference bank's `DEMO0001` (500.00 EUR).
    pub async fn bank_customer(&self, phone: &str) -> String {
        self.registration()
            .await
            .register_customer(pb::RegisterCustomerRequest {
                display_name: "Cai".into(),
                phone_number: phone.into(),
                password: PASSWORD.into(),
                wallet_currencies: vec![],
                bank_account: Some(pb::BankAccountRef {
                    bank_id: "OMPPBANK".into(),
                    account_number: "DEMO0001".into(),
                }),
                idempotency_key: format!("reg-{}", &phone[1..]),
            })
            .await
            .unwrap()
            .into_inner()
            .customer_id
    }

    pub async fn gateway(
        &self,
    ) -> ompp::proto::v1::gateway_service_client::GatewayServiceClient<Channel> {
        let ca = self.pki.operator_ca.cert_pem();
        let channel = self
            .channel(self.running().network_addr, &ca, None)
            .await
            .unwrap();
        ompp::proto::v1::gateway_service_client::GatewayServiceClient::new(channel)
    }

    /// A handset registered for `phone`, with its message stream open.
    pub async fn handset(&self, phone: &str) -> Handset {
        let ca = self.pki.operator_ca.cert_pem();
        let addr = self.running().sms.as_ref().map(|s| s.handset_addr);
        let channel = self.channel(addr, &ca, None).await.unwrap();
        let mut client =
            ompp::proto::v1::handset_service_client::HandsetServiceClient::new(channel);
        let registered = client
            .register_handset(pb::RegisterHandsetRequest {
                phone_number: phone.into(),
            })
            .await
            .unwrap()
            .into_inner();
        let stream = client
            .receive_messages(pb::ReceiveMessagesRequest {
                handset_id: registered.handset_id.clone(),
                handset_token: registered.handset_token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        Handset { stream }
    }

    /// The reference bank's balance of `account`, in minor units.
    pub fn bank_balance(&self, account: &str) -> i64 {
        self.running()
            .bank
            .as_ref()
            .unwrap()
            .balance(account)
            .unwrap()
            .unwrap()
    }
}

pub struct Handset {
    pub stream: tonic::Streaming<pb::ReceiveMessagesResponse>,
}

impl Handset {
    /// The next SMS's authorization code: its first run of digits (OMPP-AUTH-010).
    pub async fn next_code(&mut self) -> String {
        let message = tokio::time::timeout(Duration::from_secs(10), self.stream.message())
            .await
            .expect("no SMS within 10 s")
            .unwrap()
            .expect("handset stream ended");
        message
            .text
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect()
    }
}
