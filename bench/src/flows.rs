//! The operation center under test and the three payment flows, each as one iteration a worker
//! repeats: flow A (merchant-initiated push), flow B (dynamic payee code), flow C (checkout with
//! an SMS authorization code and a bank transfer).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ompp::proto::v1 as pb;
use ompp_server::bank::BankAccountConfig;
use ompp_server::clock::SystemClock;
use ompp_server::config::Config;
use ompp_server::passwords::HashingProfile;
use ompp_server::pki::{DevPki, cert_der_to_pem, generate_csr};
use ompp_server::run::{Role, Running, start};
use ompp_server::store::Store;
use ompp_server::store::sqlite::SqliteStore;
use ompp_server::tls::client_tls;
use pb::device_service_client::DeviceServiceClient;
use pb::gateway_service_client::GatewayServiceClient;
use pb::handset_service_client::HandsetServiceClient;
use pb::merchant_payment_service_client::MerchantPaymentServiceClient;
use pb::registration_service_client::RegistrationServiceClient;
use tonic::transport::{Channel, Endpoint};

use crate::BenchResult;
use crate::measure::Memory;
use crate::server::ServerProcess;

/// The customers' payment password.
pub(crate) const PASSWORD: &str = "bench horse battery";
/// Each payment moves one cent; each wallet is topped up with 100.00 EUR.
pub(crate) const PAYMENT_CENTS: i64 = 1;
const TOP_UP_CENTS: i64 = 10_000;
/// Opening balance of each flow C customer's account at the reference bank (10 000 000.00 EUR).
const BANK_BALANCE_CENTS: i64 = 1_000_000_000;
/// The flow A/B customers' account at the reference bank, shared by all of them: a top-up is
/// debited from the customer's registered bank account (OMPP-LEDGER-010/011).
const TOP_UP_ACCOUNT: &str = "BENCHTOPUP";
/// [`TOP_UP_ACCOUNT`]'s opening balance (10 000 000 000 000.00 EUR): enough for any number of
/// tills, far enough from `i64::MAX` that the crediting side never overflows.
const TOP_UP_FUNDS_CENTS: i64 = 1_000_000_000_000_000;
/// The sample merchant of the development PKI.
const MERCHANT: &str = "M-1042";

/// The flow C customer of worker `i`: its account at the reference bank processor.
fn bank_account(i: usize) -> String {
    format!("BENCH{i:04}")
}

pub(crate) fn eur(cents: i64) -> pb::Money {
    pb::Money {
        currency: "EUR".into(),
        minor_units: cents,
    }
}

fn status_error(call: &str) -> impl Fn(tonic::Status) -> String + '_ {
    move |s| format!("{call}: {:?}: {}", s.code(), s.message())
}

pub(crate) async fn channel(
    addr: SocketAddr,
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> BenchResult<Channel> {
    Endpoint::from_shared(format!("https://localhost:{}", addr.port()))
        .and_then(|e| e.tls_config(client_tls(ca_pem, identity, "localhost")))
        .map_err(|e| format!("endpoint for {addr}: {e}"))?
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))
}

/// One operation center (network and mobile server, reference bank processor and SMS center)
/// on loopback ports: in a child process ([`Center::spawn`], what the bench measures the
/// server's memory on), or in this process over a SQLite store the bench keeps a handle on
/// ([`Center::start`], for seeding).
#[derive(Debug)]
pub(crate) struct Center {
    server: Server,
    pub(crate) pki: Arc<DevPki>,
    pub(crate) network: SocketAddr,
    pub(crate) mobile: SocketAddr,
    pub(crate) handsets: SocketAddr,
    pub(crate) bank_id: String,
}

/// Where a [`Center`] runs.
#[derive(Debug)]
enum Server {
    InProcess {
        running: Running,
        store: Arc<SqliteStore>,
    },
    Child(ServerProcess),
}

/// The operation center's configuration: everything on ephemeral loopback ports, data in
/// `dir`, `hashing`, and one funded bank account per worker (flow C) plus one funding every
/// top-up (flows A and B).
fn config(dir: &Path, hashing: HashingProfile, workers: usize) -> Config {
    let mut config = Config::on_loopback(dir.to_owned(), hashing);
    // Appended to the reference bank's default accounts, which stay.
    config
        .bank
        .accounts
        .extend((0..workers).map(|i| BankAccountConfig {
            account_number: bank_account(i),
            currency: "EUR".into(),
            balance_minor_units: BANK_BALANCE_CENTS,
            blocked: false,
        }));
    config.bank.accounts.push(BankAccountConfig {
        account_number: TOP_UP_ACCOUNT.into(),
        currency: "EUR".into(),
        balance_minor_units: TOP_UP_FUNDS_CENTS,
        blocked: false,
    });
    config
}

impl Center {
    /// Starts everything in a child process (`ompp-bench --serve`), in `dir` with `hashing`,
    /// with one funded bank account per worker (flow C) and one funding every top-up (flows A
    /// and B); the store is the SQLite file the reference opens in `dir` when given none.
    pub(crate) async fn spawn(
        dir: &Path,
        hashing: HashingProfile,
        workers: usize,
    ) -> BenchResult<Self> {
        let config = config(dir, hashing, workers);
        let (process, ready) = ServerProcess::spawn(&config).await?;
        // The child has created the PKI (or read it) before it reported ready.
        let pki = DevPki::read(&config.pki_dir()).map_err(|e| format!("PKI: {e}"))?;
        Ok(Self {
            server: Server::Child(process),
            pki: Arc::new(pki),
            network: ready.network,
            mobile: ready.mobile,
            handsets: ready.handsets,
            bank_id: config.bank.bank_id.clone(),
        })
    }

    /// Starts everything in this process, like [`Center::spawn`], over a store the bench keeps
    /// a handle on ([`Center::store`]).
    pub(crate) async fn start(
        dir: &Path,
        hashing: HashingProfile,
        workers: usize,
    ) -> BenchResult<Self> {
        let config = config(dir, hashing, workers);
        // The database the reference opens when it is given no store (run.rs).
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("operation-center.sqlite3");
        let store = Arc::new(
            SqliteStore::open(&path).map_err(|e| format!("store {}: {e}", path.display()))?,
        );
        let shared: Arc<dyn Store> = store.clone();
        let running = start(&config, Role::All, Arc::new(SystemClock), Some(shared))
            .await
            .map_err(|e| format!("cannot start the operation center: {e}"))?;
        let pki = DevPki::read(&config.pki_dir()).map_err(|e| format!("PKI: {e}"))?;
        let network = running.network_addr.ok_or("no network server")?;
        let mobile = running.mobile_addr.ok_or("no mobile server")?;
        let handsets = running
            .sms
            .as_ref()
            .map(|s| s.handset_addr)
            .ok_or("no SMS center")?;
        Ok(Self {
            server: Server::InProcess { running, store },
            pki: Arc::new(pki),
            network,
            mobile,
            handsets,
            bank_id: config.bank.bank_id.clone(),
        })
    }

    /// The store, when the center runs in this process.
    pub(crate) fn store(&self) -> BenchResult<&Arc<SqliteStore>> {
        match &self.server {
            Server::InProcess { store, .. } => Ok(store),
            Server::Child(_) => Err("the operation center runs in a child process".into()),
        }
    }

    /// The server process's id, when the center runs in a child process.
    pub(crate) fn server_pid(&self) -> Option<u32> {
        match &self.server {
            Server::InProcess { .. } => None,
            Server::Child(process) => Some(process.pid()),
        }
    }

    /// The server process's VmHWM and VmRSS now (`None` when the center runs in this process).
    pub(crate) async fn server_memory(&mut self) -> BenchResult<Option<Memory>> {
        match &mut self.server {
            Server::InProcess { .. } => Ok(None),
            Server::Child(process) => process.memory().await.map(Some),
        }
    }

    /// Stops the servers (and closes the bench's handle on the store, or waits for the server
    /// process to end), so that SQLite checkpoints and the files on disk are final.
    pub(crate) async fn stop(self) -> BenchResult<()> {
        match self.server {
            Server::InProcess { running, store } => {
                running.stop().await;
                drop(store);
                Ok(())
            }
            Server::Child(process) => process.stop().await,
        }
    }

    async fn merchant(&self) -> BenchResult<MerchantPaymentServiceClient<Channel>> {
        let ca = self.pki.operator_ca.cert_pem();
        let identity = Some((
            self.pki.merchant.cert_pem.as_str(),
            self.pki.merchant.key_pem.as_str(),
        ));
        Ok(MerchantPaymentServiceClient::new(
            channel(self.network, &ca, identity).await?,
        ))
    }

    async fn registration(&self) -> BenchResult<RegistrationServiceClient<Channel>> {
        let ca = self.pki.operator_ca.cert_pem();
        Ok(RegistrationServiceClient::new(
            channel(self.network, &ca, None).await?,
        ))
    }

    /// `workers` flow A/B customers (`phone_prefix` + worker number), set up concurrently.
    pub(crate) async fn tills(
        self: &Arc<Self>,
        workers: usize,
        phone_prefix: &'static str,
    ) -> BenchResult<Vec<Till>> {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..workers {
            let center = self.clone();
            set.spawn(async move { center.till(i, phone_prefix).await });
        }
        let mut tills = Vec::with_capacity(workers);
        while let Some(joined) = set.join_next().await {
            tills.push(joined.map_err(|e| format!("setup task: {e}"))??);
        }
        tills.sort_by_key(|t| t.worker);
        Ok(tills)
    }

    /// Registers customer `i` with a EUR wallet and the bank account [`TOP_UP_ACCOUNT`], pairs a
    /// device, tops the wallet up (debiting that account).
    async fn till(&self, i: usize, phone_prefix: &str) -> BenchResult<Till> {
        let ca = self.pki.operator_ca.cert_pem();
        let mut registration = self.registration().await?;
        let phone = format!("{phone_prefix}{:07}", i + 1);
        let customer_id = registration
            .register_customer(pb::RegisterCustomerRequest {
                display_name: format!("Bench {i}"),
                phone_number: phone.clone(),
                password: PASSWORD.into(),
                wallet_currencies: vec!["EUR".into()],
                bank_account: Some(pb::BankAccountRef {
                    bank_id: self.bank_id.clone(),
                    account_number: TOP_UP_ACCOUNT.into(),
                }),
                idempotency_key: format!("bench-reg-{i}"),
            })
            .await
            .map_err(|s| format!("RegisterCustomer {phone}: {s}"))?
            .into_inner()
            .customer_id;
        let csr = generate_csr("device").map_err(|e| format!("CSR: {e}"))?;
        let paired = registration
            .pair_device(pb::PairDeviceRequest {
                customer_id: customer_id.clone(),
                password: PASSWORD.into(),
                device_name: "phone".into(),
                csr_der: csr.csr_der.clone(),
                idempotency_key: format!("bench-pair-{i}"),
            })
            .await
            .map_err(|s| format!("PairDevice {phone}: {s}"))?
            .into_inner();
        let cert_pem = cert_der_to_pem(&paired.certificate_der);
        let mut device = DeviceServiceClient::new(
            channel(self.mobile, &ca, Some((&cert_pem, &csr.key_pem))).await?,
        );
        device
            .top_up_wallet(pb::TopUpWalletRequest {
                amount: Some(eur(TOP_UP_CENTS)),
                password: PASSWORD.into(),
                idempotency_key: format!("bench-topup-{i}"),
            })
            .await
            .map_err(|s| format!("TopUpWallet {phone}: {s}"))?;
        // The device's push stream, open for the whole run as on a phone; a reader task hands
        // each pushed payment request to whichever flow A iteration waits for it.
        let mut stream = device
            .subscribe(pb::SubscribeRequest::default())
            .await
            .map_err(|s| format!("Subscribe {phone}: {s}"))?
            .into_inner();
        let (pushed, _) = tokio::sync::broadcast::channel(PUSH_BUFFER);
        let sender = pushed.clone();
        tokio::spawn(async move {
            while let Ok(Some(message)) = stream.message().await {
                if let Some(pb::subscribe_response::Event::PaymentRequest(request)) = message.event
                {
                    // No receiver: no flow A iteration is waiting (flow B runs); drop it.
                    let _ = sender.send(request);
                }
            }
        });
        Ok(Till {
            worker: i,
            merchant: self.merchant().await?,
            device,
            customer_id,
            pushed,
        })
    }

    /// `workers` flow C customers, each with its own bank account and handset.
    pub(crate) async fn shoppers(self: &Arc<Self>, workers: usize) -> BenchResult<Vec<Shopper>> {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..workers {
            let center = self.clone();
            set.spawn(async move { center.shopper(i).await });
        }
        let mut shoppers = Vec::with_capacity(workers);
        while let Some(joined) = set.join_next().await {
            shoppers.push(joined.map_err(|e| format!("setup task: {e}"))??);
        }
        shoppers.sort_by_key(|s| s.worker);
        Ok(shoppers)
    }

    /// Registers flow C customer `i` with bank account `BENCH<i>` and opens its handset.
    async fn shopper(&self, i: usize) -> BenchResult<Shopper> {
        let ca = self.pki.operator_ca.cert_pem();
        let phone = format!("+49152{:07}", i + 1);
        self.registration()
            .await?
            .register_customer(pb::RegisterCustomerRequest {
                display_name: format!("Bench shopper {i}"),
                phone_number: phone.clone(),
                password: PASSWORD.into(),
                wallet_currencies: vec![],
                bank_account: Some(pb::BankAccountRef {
                    bank_id: self.bank_id.clone(),
                    account_number: bank_account(i),
                }),
                idempotency_key: format!("bench-shopper-{i}"),
            })
            .await
            .map_err(|s| format!("RegisterCustomer {phone}: {s}"))?;
        let mut handset = HandsetServiceClient::new(channel(self.handsets, &ca, None).await?);
        let registered = handset
            .register_handset(pb::RegisterHandsetRequest {
                phone_number: phone.clone(),
            })
            .await
            .map_err(|s| format!("RegisterHandset {phone}: {s}"))?
            .into_inner();
        let stream = handset
            .receive_messages(pb::ReceiveMessagesRequest {
                handset_id: registered.handset_id.clone(),
                handset_token: registered.handset_token.clone(),
            })
            .await
            .map_err(|s| format!("ReceiveMessages {phone}: {s}"))?
            .into_inner();
        Ok(Shopper {
            worker: i,
            merchant: self.merchant().await?,
            gateway: GatewayServiceClient::new(channel(self.network, &ca, None).await?),
            handset,
            handset_id: registered.handset_id,
            handset_token: registered.handset_token,
            inbox: Arc::new(tokio::sync::Mutex::new(stream)),
            phone,
        })
    }
}

/// One flow A/B worker: its merchant connection, its customer's paired device.
#[derive(Debug, Clone)]
pub(crate) struct Till {
    pub(crate) worker: usize,
    merchant: MerchantPaymentServiceClient<Channel>,
    device: DeviceServiceClient<Channel>,
    pub(crate) customer_id: String,
    /// Payment requests pushed to the device (`Subscribe`), as they arrive.
    pushed: tokio::sync::broadcast::Sender<pb::PushedPaymentRequest>,
}

/// Pushed requests buffered per device for a waiting flow A iteration.
const PUSH_BUFFER: usize = 64;
/// How long a flow waits for a push or an outcome before it counts as failed.
const WAIT: Duration = Duration::from_secs(10);

/// Flow A once, end to end: the merchant creates a payment and watches it (`WatchPayment`);
/// the device waits for the request on its push stream (`Subscribe`), confirms it with the
/// amount it was shown and the password; the merchant's watch must then report SETTLED.
pub(crate) async fn flow_a(mut till: Till, key: String) -> BenchResult<String> {
    // Listen before creating, so the push cannot come before anyone waits for it.
    let mut pushed = till.pushed.subscribe();
    let created = till
        .merchant
        .create_payment(pb::CreatePaymentRequest {
            merchant_id: MERCHANT.into(),
            customer_id: till.customer_id.clone(),
            amount: Some(eur(PAYMENT_CENTS)),
            items: vec![pb::LineItem {
                product_code: "SKU-1".into(),
                description: "Coffee".into(),
                quantity: 1,
            }],
            merchant_reference: format!("till {}", till.worker),
            expires_in: None,
            idempotency_key: key,
        })
        .await
        .map_err(status_error("CreatePayment"))?
        .into_inner();
    let payment_id = created
        .payment
        .ok_or("CreatePayment: response without a payment")?
        .payment_id;
    let mut watch = till
        .merchant
        .watch_payment(pb::WatchPaymentRequest {
            merchant_id: MERCHANT.into(),
            payment_id: payment_id.clone(),
        })
        .await
        .map_err(status_error("WatchPayment"))?
        .into_inner();
    let request = tokio::time::timeout(WAIT, async {
        loop {
            match pushed.recv().await {
                Ok(request) if request.payment_id == payment_id => return Ok(request),
                // Another payment's request (an earlier iteration's), or the buffer overran.
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return Err("Subscribe: the push stream ended".to_owned());
                }
            }
        }
    })
    .await
    .map_err(|_| format!("Subscribe: no push of {payment_id} within {WAIT:?}"))??;
    till.device
        .confirm_payment(pb::ConfirmPaymentRequest {
            payment_id: payment_id.clone(),
            amount: request.amount,
            password: PASSWORD.into(),
        })
        .await
        .map_err(status_error("ConfirmPayment"))?;
    loop {
        let update = tokio::time::timeout(WAIT, watch.message())
            .await
            .map_err(|_| format!("WatchPayment: no outcome of {payment_id} within {WAIT:?}"))?
            .map_err(status_error("WatchPayment"))?
            .ok_or("WatchPayment: the stream ended before an outcome")?
            .payment
            .ok_or("WatchPayment: a message without a payment")?;
        match pb::PaymentStatus::try_from(update.status) {
            Ok(pb::PaymentStatus::Settled) => return Ok(payment_id),
            Ok(
                pb::PaymentStatus::Created
                | pb::PaymentStatus::PendingCustomer
                | pb::PaymentStatus::Confirmed,
            ) => {}
            _ => {
                return Err(format!(
                    "WatchPayment: status {} instead of SETTLED",
                    update.status
                ));
            }
        }
    }
}

/// Flow B once: the merchant has a dynamic payee code issued for the amount, the payer's device
/// submits it with the amount echoed and the password; must end SETTLED.
pub(crate) async fn flow_b(mut till: Till, key: String) -> BenchResult<()> {
    let code = till
        .merchant
        .issue_payee_code(pb::IssuePayeeCodeRequest {
            merchant_id: MERCHANT.into(),
            amount: Some(eur(PAYMENT_CENTS)),
            currency: String::new(),
            merchant_reference: format!("table {}", till.worker),
            expires_in: None,
            idempotency_key: format!("{key}-code"),
        })
        .await
        .map_err(status_error("IssuePayeeCode"))?
        .into_inner();
    let paid = till
        .device
        .submit_payee_code(pb::SubmitPayeeCodeRequest {
            payload: code.payload,
            amount: Some(eur(PAYMENT_CENTS)),
            password: PASSWORD.into(),
            idempotency_key: format!("{key}-pay"),
        })
        .await
        .map_err(status_error("SubmitPayeeCode"))?
        .into_inner()
        .payment
        .ok_or("SubmitPayeeCode: response without a payment")?;
    if paid.status == pb::PaymentStatus::Settled as i32 && paid.payment_id == code.payment_id {
        Ok(())
    } else {
        Err(format!(
            "SubmitPayeeCode: payment {} status {} (code's payment {})",
            paid.payment_id, paid.status, code.payment_id
        ))
    }
}

/// One flow C worker: merchant and gateway connections, the customer's handset and its inbox.
#[derive(Debug, Clone)]
pub(crate) struct Shopper {
    pub(crate) worker: usize,
    merchant: MerchantPaymentServiceClient<Channel>,
    gateway: GatewayServiceClient<Channel>,
    handset: HandsetServiceClient<Channel>,
    handset_id: String,
    handset_token: String,
    inbox: Arc<tokio::sync::Mutex<tonic::Streaming<pb::ReceiveMessagesResponse>>>,
    phone: String,
}

/// The authorization code in an SMS: its first maximal run of ASCII digits (OMPP-AUTH-010).
fn code_in(text: &str) -> String {
    text.chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect()
}

/// Flow C once: the merchant opens a checkout, the customer submits phone number and password
/// at the gateway, reads the code the SMS center delivers to the handset (and acknowledges the
/// message), submits the code; the bank transfer must leave the checkout SETTLED.
pub(crate) async fn flow_c(mut shopper: Shopper, key: String) -> BenchResult<()> {
    let payment_id = shopper
        .merchant
        .open_checkout(pb::OpenCheckoutRequest {
            merchant_id: MERCHANT.into(),
            amount: Some(eur(PAYMENT_CENTS)),
            merchant_reference: format!("order {}", shopper.worker),
            items: vec![],
            expires_in: None,
            idempotency_key: key,
        })
        .await
        .map_err(status_error("OpenCheckout"))?
        .into_inner()
        .payment
        .ok_or("OpenCheckout: response without a payment")?
        .payment_id;
    let sent = shopper
        .gateway
        .submit_password(pb::SubmitPasswordRequest {
            payment_id: payment_id.clone(),
            phone_number: shopper.phone.clone(),
            password: PASSWORD.into(),
        })
        .await
        .map_err(status_error("SubmitPassword"))?
        .into_inner();
    let message = {
        let mut inbox = shopper.inbox.lock().await;
        tokio::time::timeout(Duration::from_secs(10), inbox.message())
            .await
            .map_err(|_| "handset: no SMS within 10 s".to_owned())?
            .map_err(status_error("ReceiveMessages"))?
            .ok_or("handset: message stream ended")?
    };
    let code = code_in(&message.text);
    let mut handset = shopper.handset.clone();
    let ack = handset.acknowledge_message(pb::AcknowledgeMessageRequest {
        handset_id: shopper.handset_id.clone(),
        handset_token: shopper.handset_token.clone(),
        message_id: message.message_id,
    });
    let submit = shopper
        .gateway
        .submit_authorization_code(pb::SubmitAuthorizationCodeRequest {
            payment_id,
            session_token: sent.session_token,
            authorization_code: code,
        });
    let (ack, done) = tokio::join!(ack, submit);
    ack.map_err(status_error("AcknowledgeMessage"))?;
    let checkout = done
        .map_err(status_error("SubmitAuthorizationCode"))?
        .into_inner()
        .checkout
        .ok_or("SubmitAuthorizationCode: response without a checkout")?;
    if checkout.status == pb::PaymentStatus::Settled as i32 {
        Ok(())
    } else {
        Err(format!(
            "SubmitAuthorizationCode: status {} instead of SETTLED",
            checkout.status
        ))
    }
}
