//! `ompp-wallet`: the OMPP reference customer wallet (the phone's side of flow A).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ompp::money::{Amount, Currency};
use ompp::proto::v1 as pb;
use ompp::proto::v1::device_service_client::DeviceServiceClient;
use ompp::proto::v1::gateway_service_client::GatewayServiceClient;
use ompp::proto::v1::handset_service_client::HandsetServiceClient;
use ompp::proto::v1::registration_service_client::RegistrationServiceClient;
use ompp::types::Role;
use ompp_clients::connect::{Target, channel};
use ompp_clients::outcome::{
    Failure, Next, checkout_done, describe, money, payment_final, reason, receipt, status,
};
use ompp_clients::{ClientError, keys, read_password_file, read_text, write_text};
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

/// OMPP reference customer wallet: registers a customer, pairs this "phone" with the account,
/// then listens for payment requests pushed by the operation center and confirms them with the
/// payment password (or declines them).
///
/// The defaults fit `ompp-server run` started in the same directory (registration on
/// https://localhost:7100, devices on https://localhost:7200, the operator CA in
/// ./ompp-data/pki). The wallet keeps its ids, certificate and key in --dir.
#[derive(Debug, Parser)]
#[command(name = "ompp-wallet", version, about)]
struct Cli {
    /// The network server's registration endpoint.
    #[arg(long, global = true, default_value = "https://localhost:7100")]
    server: String,
    /// The mobile server's device endpoint.
    #[arg(long, global = true, default_value = "https://localhost:7200")]
    mobile: String,
    /// The SMS center's handset endpoint (the phone's radio side, for `sms` and
    /// `checkout --code-from-sms`).
    #[arg(long, global = true, default_value = "https://localhost:7401")]
    sms: String,
    /// PEM file of the operator CA.
    #[arg(long, global = true, default_value = "ompp-data/pki/operator-ca.pem")]
    ca: PathBuf,
    /// Where this wallet keeps its state (wallet.toml, device.pem, device.key).
    #[arg(long, global = true, default_value = "ompp-wallet")]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Register a new customer with a wallet; remembers the customer id in --dir.
    Register {
        /// Your name, shown on receipts.
        #[arg(long)]
        name: String,
        /// Your mobile number in E.164 form, e.g. +4915112345678.
        #[arg(long)]
        phone: String,
        /// File whose first line is the payment password (8 to 128 characters). Without it,
        /// the password is asked for on the terminal.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Wallet currency (repeat for several).
        #[arg(long = "currency", default_value = "EUR")]
        currencies: Vec<String>,
        /// Your bank account, as BANK_ID/ACCOUNT_NUMBER: top-ups and online checkouts debit it
        /// (the reference bank processor has OMPPBANK/DEMO0001 with 500.00 EUR).
        #[arg(long)]
        bank_account: Option<String>,
    },
    /// Pair this wallet (as a device) with the customer account; writes the device certificate.
    Pair {
        /// The customer id (default: the one `register` remembered).
        #[arg(long)]
        customer: Option<String>,
        /// File with the payment password; asked for when absent.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// A name for this device.
        #[arg(long, default_value = "ompp-wallet")]
        device_name: String,
    },
    /// Wait for payment requests and answer them. Shows merchant, amount and items, then asks
    /// for the password (empty answer declines).
    Listen {
        /// Confirm every request with the password from --password-file, without asking.
        #[arg(long, requires = "password_file")]
        auto_confirm: bool,
        /// File with the payment password, for --auto-confirm.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Exit after the first request has been answered.
        #[arg(long)]
        once: bool,
    },
    /// Pay a payee code (flow B): scan a QR image (PNG) or take the payload text; shows the
    /// payee and amount as verified by the operation center, asks for confirmation and the
    /// password, and pays from the wallet.
    Scan {
        /// The QR image to scan.
        #[arg(required_unless_present = "payload")]
        image: Option<PathBuf>,
        /// The payload text instead of an image.
        #[arg(long, conflicts_with = "image")]
        payload: Option<String>,
        /// The amount to pay, for a static code (asked for when absent).
        #[arg(long)]
        amount: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// File with the payment password; asked for when absent.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Be the handset: register this phone number at the SMS center (once) and show incoming
    /// text messages, acknowledging each.
    Sms {
        /// The phone number (default: the one `register` used).
        #[arg(long)]
        phone: Option<String>,
        /// Exit after the first message.
        #[arg(long)]
        once: bool,
    },
    /// Pay an online checkout (flow C) as the payment page would: shows the merchant and the
    /// amount, takes the phone number and password, then the authorization code sent by SMS.
    Checkout {
        /// The checkout's payment id (from the merchant).
        payment_id: String,
        /// Your online identity, the registered phone number (default: the one `register` used).
        #[arg(long)]
        phone: Option<String>,
        /// File with the payment password; asked for when absent.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Read the code from this wallet's handset (the SMS center's handset endpoint) instead
        /// of asking for it.
        #[arg(long)]
        code_from_sms: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Print a payee code's fields as JSON, decoded locally (no server, no signature check).
    Decode {
        /// The payload text.
        payload: String,
    },
    /// Show the wallet balances.
    Balance,
    /// Show the wallet history, newest first.
    History {
        /// How many entries.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Move money into the wallet by a bank transfer from your registered bank account (see
    /// `register --bank-account`). If the bank's answer is lost, asks again under the same
    /// idempotency key, so the wallet is never topped up twice.
    Topup {
        /// The amount in major units, e.g. 50.00.
        #[arg(long)]
        amount: String,
        /// ISO 4217 currency code.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// File with the payment password; asked for when absent.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

/// What the wallet remembers between runs.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    customer_id: Option<String>,
    device_id: Option<String>,
    phone: Option<String>,
}

/// The handset's credential at the SMS center (kept private: it stands in for the SIM).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Handset {
    phone: String,
    handset_id: String,
    handset_token: String,
}

impl State {
    fn path(dir: &Path) -> PathBuf {
        dir.join("wallet.toml")
    }

    fn load(dir: &Path) -> Result<Self, ClientError> {
        let path = Self::path(dir);
        if !path.exists() {
            return Ok(Self::default());
        }
        toml::from_str(&read_text(&path)?)
            .map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))
    }

    fn save(&self, dir: &Path) -> Result<(), ClientError> {
        let text = toml::to_string(self).map_err(|e| ClientError::Usage(e.to_string()))?;
        write_text(&Self::path(dir), &text, false)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ompp-wallet: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ompp-wallet: {error}");
            ExitCode::FAILURE
        }
    }
}

fn refused(status: &tonic::Status) -> ClientError {
    ClientError::Refused(describe(status))
}

/// The password from a file, or asked for on the terminal without echo.
async fn password(file: Option<&Path>, prompt: &str) -> Result<String, ClientError> {
    match file {
        Some(path) => read_password_file(path),
        None => {
            let prompt = prompt.to_owned();
            tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt))
                .await
                .map_err(|e| ClientError::Usage(e.to_string()))?
                .map_err(|source| ClientError::File {
                    path: PathBuf::from("<terminal>"),
                    source,
                })
        }
    }
}

async fn ask(question: &str) -> Result<String, ClientError> {
    let question = question.to_owned();
    tokio::task::spawn_blocking(move || {
        print!("{question}");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match std::io::stdin().read_line(&mut line) {
            // End of input is no answer: stop rather than act on an empty one.
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "no more input",
            )),
            Ok(_) => Ok(line.trim().to_owned()),
            Err(error) => Err(error),
        }
    })
    .await
    .map_err(|e| ClientError::Usage(e.to_string()))?
    .map_err(|source| ClientError::File {
        path: PathBuf::from("<terminal>"),
        source,
    })
}

/// The handset's client and credential, registering the number at the SMS center on first use.
async fn handset(
    cli: &Cli,
    phone: &str,
) -> Result<(HandsetServiceClient<Channel>, Handset), ClientError> {
    let channel = channel(&Target {
        url: &cli.sms,
        ca: &cli.ca,
        server_role: Role::Sms,
        identity: None,
    })
    .await?;
    let mut client = HandsetServiceClient::new(channel);
    let path = cli.dir.join("handset.toml");
    if path.exists() {
        let saved: Handset = toml::from_str(&read_text(&path)?)
            .map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))?;
        if saved.phone == phone {
            return Ok((client, saved));
        }
    }
    let registered = client
        .register_handset(pb::RegisterHandsetRequest {
            phone_number: phone.to_owned(),
        })
        .await
        .map_err(|s| refused(&s))?
        .into_inner();
    let handset = Handset {
        phone: phone.to_owned(),
        handset_id: registered.handset_id,
        handset_token: registered.handset_token,
    };
    let text = toml::to_string(&handset).map_err(|e| ClientError::Usage(e.to_string()))?;
    write_text(&path, &text, true)?;
    Ok((client, handset))
}

async fn acknowledge(
    client: &mut HandsetServiceClient<Channel>,
    handset: &Handset,
    message_id: &str,
) -> Result<(), ClientError> {
    client
        .acknowledge_message(pb::AcknowledgeMessageRequest {
            handset_id: handset.handset_id.clone(),
            handset_token: handset.handset_token.clone(),
            message_id: message_id.to_owned(),
        })
        .await
        .map_err(|s| refused(&s))?;
    Ok(())
}

fn unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

async fn device(cli: &Cli) -> Result<DeviceServiceClient<Channel>, ClientError> {
    let cert = cli.dir.join("device.pem");
    let key = cli.dir.join("device.key");
    if !cert.exists() {
        return Err(ClientError::Usage(
            "this wallet is not paired yet: run `ompp-wallet pair` first".into(),
        ));
    }
    let channel = channel(&Target {
        url: &cli.mobile,
        ca: &cli.ca,
        server_role: Role::Mobile,
        identity: Some((&cert, &key)),
    })
    .await?;
    Ok(DeviceServiceClient::new(channel))
}

async fn registration(cli: &Cli) -> Result<RegistrationServiceClient<Channel>, ClientError> {
    Ok(RegistrationServiceClient::new(
        channel(&Target {
            url: &cli.server,
            ca: &cli.ca,
            server_role: Role::Network,
            identity: None,
        })
        .await?,
    ))
}

fn show_request(r: &pb::PushedPaymentRequest) {
    println!();
    println!("PAYMENT REQUEST {}", r.payment_id);
    println!("  from     {} ({})", r.merchant_name, r.merchant_id);
    println!("  amount   {}", money(r.amount.as_ref()));
    for item in &r.items {
        println!(
            "  item     {} x {} {}",
            item.quantity, item.product_code, item.description
        );
    }
    if !r.merchant_reference.is_empty() {
        println!("  ref      {}", r.merchant_reference);
    }
    println!("  attempts {}", r.attempts_left);
}

/// Answers one request; returns when it has an outcome: `true` when it is known, `false` when
/// the last answer left it unknown and the payment's notice will tell.
async fn answer(
    client: &mut DeviceServiceClient<Channel>,
    request: &pb::PushedPaymentRequest,
    auto_password: Option<&str>,
) -> Result<bool, ClientError> {
    loop {
        let password = match auto_password {
            Some(p) => p.to_owned(),
            None => {
                let typed = password(None, "payment password (empty to decline): ").await?;
                if typed.is_empty() {
                    let declined = client
                        .decline_payment(pb::DeclinePaymentRequest {
                            payment_id: request.payment_id.clone(),
                        })
                        .await
                        .map_err(|s| refused(&s))?;
                    println!("declined: {}", status(declined.into_inner().status));
                    return Ok(true);
                }
                typed
            }
        };
        let confirm = pb::ConfirmPaymentRequest {
            payment_id: request.payment_id.clone(),
            // Echo the amount shown, so the center knows the customer saw the right figure.
            amount: request.amount.clone(),
            password,
        };
        match client.confirm_payment(confirm).await {
            Ok(response) => {
                let response = response.into_inner();
                println!("outcome: {}", status(response.status));
                if let Some(r) = &response.receipt {
                    println!("{}", receipt(r));
                }
                return Ok(true);
            }
            Err(s) => {
                println!("refused: {}", describe(&s));
                let failure = Failure::of(&s);
                match failure.next() {
                    // A wrong password, typed by a person: ask again.
                    Next::Correct
                        if auto_password.is_none()
                            && failure.is(pb::ErrorReason::CredentialsRejected) => {}
                    // The confirmation may or may not have been applied: never confirm again
                    // before the payment's notice or a new push says how it stands
                    // (OMPP-ERR-011).
                    Next::LearnState => {
                        println!("outcome unknown: the payment's notice will tell");
                        return Ok(false);
                    }
                    _ => return Ok(true),
                }
            }
        }
    }
}

/// The outcome of a checkout for people, and the exit code: success when it settled.
fn checkout_outcome(view: &pb::CheckoutView) -> ExitCode {
    println!("outcome: {}", status(view.status));
    if view.failure_reason != 0 {
        println!("reason:  {}", reason(view.failure_reason));
    }
    if let Some(r) = &view.receipt {
        println!("{}", receipt(r));
    }
    if view.status == pb::PaymentStatus::Settled as i32 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Asks for a checkout's state until it is done or waits for a code (OMPP-ERR-011): a step
/// this wallet does not know is not final (OMPP-VER-005). Backs off from half a second to
/// four, for about a minute; failures of the query itself are retried the same way unless
/// repeating cannot help.
async fn learn_checkout(
    gateway: &mut GatewayServiceClient<Channel>,
    payment_id: &str,
) -> Result<pb::CheckoutView, ClientError> {
    let mut delay = Duration::from_millis(500);
    let mut waited = Duration::ZERO;
    loop {
        let asked = gateway
            .get_checkout_status(pb::GetCheckoutStatusRequest {
                payment_id: payment_id.to_owned(),
            })
            .await;
        match asked {
            Ok(response) => {
                let view = response.into_inner().checkout.unwrap_or_default();
                if checkout_done(view.step)
                    || view.step == pb::CheckoutStep::AuthorizationCode as i32
                {
                    return Ok(view);
                }
                println!("checkout {payment_id}: {}", status(view.status));
            }
            Err(s) if matches!(Failure::of(&s).next(), Next::Stop | Next::Correct) => {
                return Err(refused(&s));
            }
            Err(s) => println!("checkout {payment_id}: {}", describe(&s)),
        }
        if waited >= Duration::from_secs(60) {
            return Err(ClientError::Refused(format!(
                "checkout {payment_id}: no outcome yet; ask again later"
            )));
        }
        tokio::time::sleep(delay).await;
        waited += delay;
        delay = (delay * 2).min(Duration::from_secs(4));
    }
}

async fn run(cli: Cli) -> Result<ExitCode, ClientError> {
    let mut state = State::load(&cli.dir)?;
    match &cli.command {
        Command::Register {
            name,
            phone,
            password_file,
            currencies,
            bank_account,
        } => {
            let bank_account = bank_account
                .as_deref()
                .map(|text| match text.split_once('/') {
                    Some((bank_id, account_number)) => Ok(pb::BankAccountRef {
                        bank_id: bank_id.to_owned(),
                        account_number: account_number.to_owned(),
                    }),
                    None => Err(ClientError::Usage(
                        "--bank-account: expected BANK_ID/ACCOUNT_NUMBER".into(),
                    )),
                })
                .transpose()?;
            let password =
                password(password_file.as_deref(), "choose a payment password: ").await?;
            let response = registration(&cli)
                .await?
                .register_customer(pb::RegisterCustomerRequest {
                    display_name: name.clone(),
                    phone_number: phone.clone(),
                    password,
                    wallet_currencies: currencies.clone(),
                    bank_account,
                    idempotency_key: format!("register-{}", phone.trim_start_matches('+')),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            state.customer_id = Some(response.customer_id.clone());
            state.phone = Some(phone.clone());
            state.save(&cli.dir)?;
            println!("registered customer {}", response.customer_id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Pair {
            customer,
            password_file,
            device_name,
        } => {
            let customer_id = customer
                .clone()
                .or_else(|| state.customer_id.clone())
                .ok_or_else(|| {
                    ClientError::Usage(
                        "no customer id: pass --customer or run `ompp-wallet register`".into(),
                    )
                })?;
            let password = password(password_file.as_deref(), "payment password: ").await?;
            let keys = keys::key_and_csr(device_name)?;
            let response = registration(&cli)
                .await?
                .pair_device(pb::PairDeviceRequest {
                    customer_id: customer_id.clone(),
                    password,
                    device_name: device_name.clone(),
                    csr_der: keys.csr_der,
                    idempotency_key: format!("pair-{}", std::process::id()),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            write_text(
                &cli.dir.join("device.pem"),
                &keys::cert_pem(&response.certificate_der),
                false,
            )?;
            write_text(&cli.dir.join("device.key"), &keys.key_pem, true)?;
            state.customer_id = Some(customer_id.clone());
            state.device_id = Some(response.device_id.clone());
            state.save(&cli.dir)?;
            println!(
                "paired device {} with customer {customer_id}",
                response.device_id
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Listen {
            auto_confirm,
            password_file,
            once,
        } => {
            let auto_password = match (auto_confirm, password_file) {
                (true, Some(path)) => Some(read_password_file(path)?),
                _ => None,
            };
            let mut client = device(&cli).await?;
            let mut stream = client
                .subscribe(pb::SubscribeRequest::default())
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            println!("listening for payment requests (Ctrl-C to stop)");
            let mut answered = std::collections::HashSet::new();
            // Payments whose confirmation had an unknown outcome.
            let mut unknown = std::collections::HashSet::new();
            while let Some(event) = stream.message().await.map_err(|s| refused(&s))? {
                match event.event {
                    Some(pb::subscribe_response::Event::PaymentRequest(request)) => {
                        // A request may arrive twice around a reconnect; answer it once.
                        if !answered.insert(request.payment_id.clone()) {
                            continue;
                        }
                        show_request(&request);
                        if auto_password.is_none() {
                            let yes = ask("confirm this payment? [y/N] ").await?;
                            if !yes.eq_ignore_ascii_case("y") {
                                let declined = client
                                    .decline_payment(pb::DeclinePaymentRequest {
                                        payment_id: request.payment_id.clone(),
                                    })
                                    .await
                                    .map_err(|s| refused(&s))?;
                                println!("declined: {}", status(declined.into_inner().status));
                                if *once {
                                    return Ok(ExitCode::SUCCESS);
                                }
                                continue;
                            }
                        }
                        let known = answer(&mut client, &request, auto_password.as_deref()).await?;
                        if !known {
                            // Wait for the payment's final notice (OMPP-ERR-011).
                            unknown.insert(request.payment_id.clone());
                        } else if *once {
                            return Ok(ExitCode::SUCCESS);
                        }
                    }
                    Some(pb::subscribe_response::Event::Notice(notice)) => {
                        let what = if notice.payment_id.is_empty() {
                            "wallet".to_owned()
                        } else {
                            format!("payment {}", notice.payment_id)
                        };
                        let mut line = format!("notice: {what} {}", status(notice.status));
                        if notice.reason != 0 {
                            line.push_str(&format!(" ({})", reason(notice.reason)));
                        }
                        if notice.reason == pb::ErrorReason::TriesExceeded as i32 {
                            line.push_str(" - ALERT: the password was entered wrongly too often");
                        }
                        println!("{line}");
                        if payment_final(notice.status)
                            && unknown.remove(&notice.payment_id)
                            && *once
                        {
                            return Ok(ExitCode::SUCCESS);
                        }
                    }
                    None => {}
                }
            }
            println!("the mobile server closed the stream");
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan {
            image,
            payload,
            amount,
            yes,
            password_file,
        } => {
            let payload = match (image, payload) {
                (_, Some(text)) => text.clone(),
                (Some(path), None) => ompp_clients::qr::scan_png(path)?,
                (None, None) => {
                    return Err(ClientError::Usage("give an image or --payload".into()));
                }
            };
            let mut client = device(&cli).await?;
            let preview = client
                .preview_payee_code(pb::PreviewPayeeCodeRequest {
                    payload: payload.clone(),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            println!("PAY {} ({})", preview.merchant_name, preview.merchant_id);
            if !preview.merchant_reference.is_empty() {
                println!("  ref      {}", preview.merchant_reference);
            }
            let amount = match (&preview.amount, amount) {
                (Some(fixed), _) => fixed.clone(),
                (None, typed) => {
                    let currency = Currency::from_code(&preview.currency)
                        .map_err(|v| ClientError::Refused(format!("code currency: {v}")))?;
                    let text = match typed {
                        Some(text) => text.clone(),
                        None => ask(&format!("amount in {}: ", currency.code())).await?,
                    };
                    Amount::parse_decimal(currency, &text)
                        .map_err(|v| ClientError::Usage(format!("amount: {v}")))?
                        .to_proto()
                }
            };
            println!("  amount   {}", money(Some(&amount)));
            if !*yes && !ask("pay? [y/N] ").await?.eq_ignore_ascii_case("y") {
                println!("not paid");
                return Ok(ExitCode::FAILURE);
            }
            let password = password(password_file.as_deref(), "payment password: ").await?;
            let paid = client
                .submit_payee_code(pb::SubmitPayeeCodeRequest {
                    payload,
                    amount: Some(amount),
                    password,
                    idempotency_key: format!("scan-{}", now_millis()),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner()
                .payment
                .unwrap_or_default();
            println!("outcome: {}", status(paid.status));
            if let Some(r) = &paid.receipt {
                println!("{}", receipt(r));
            }
            Ok(if paid.status == pb::PaymentStatus::Settled as i32 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Sms { phone, once } => {
            let phone = phone
                .clone()
                .or_else(|| state.phone.clone())
                .ok_or_else(|| {
                    ClientError::Usage(
                        "no phone number: pass --phone or run `ompp-wallet register`".into(),
                    )
                })?;
            let (mut client, handset) = handset(&cli, &phone).await?;
            let mut stream = client
                .receive_messages(pb::ReceiveMessagesRequest {
                    handset_id: handset.handset_id.clone(),
                    handset_token: handset.handset_token.clone(),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            println!("handset {phone} waiting for text messages (Ctrl-C to stop)");
            while let Some(message) = stream.message().await.map_err(|s| refused(&s))? {
                println!("SMS from {}: {}", message.sender, message.text);
                acknowledge(&mut client, &handset, &message.message_id).await?;
                if *once {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Checkout {
            payment_id,
            phone,
            password_file,
            code_from_sms,
            yes,
        } => {
            let phone = phone
                .clone()
                .or_else(|| state.phone.clone())
                .ok_or_else(|| {
                    ClientError::Usage(
                        "no phone number: pass --phone or run `ompp-wallet register`".into(),
                    )
                })?;
            let mut gateway = GatewayServiceClient::new(
                channel(&Target {
                    url: &cli.server,
                    ca: &cli.ca,
                    server_role: Role::Network,
                    identity: None,
                })
                .await?,
            );
            let view = gateway
                .get_checkout_status(pb::GetCheckoutStatusRequest {
                    payment_id: payment_id.clone(),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner()
                .checkout
                .unwrap_or_default();
            println!("CHECKOUT {}", view.payment_id);
            println!("  pay      {}", view.merchant_name);
            println!("  amount   {}", money(view.amount.as_ref()));
            println!("  order    {}", view.merchant_reference);
            if !*yes && !ask("pay? [y/N] ").await?.eq_ignore_ascii_case("y") {
                println!("not paid");
                return Ok(ExitCode::FAILURE);
            }
            // Listen on the handset before the code is sent, so that it cannot be missed.
            let mut sms_stream = if *code_from_sms {
                let (mut client, handset) = handset(&cli, &phone).await?;
                let stream = client
                    .receive_messages(pb::ReceiveMessagesRequest {
                        handset_id: handset.handset_id.clone(),
                        handset_token: handset.handset_token.clone(),
                    })
                    .await
                    .map_err(|s| refused(&s))?
                    .into_inner();
                Some((client, handset, stream))
            } else {
                None
            };
            let sent_after = unix_secs() - 1;
            let password = password(password_file.as_deref(), "payment password: ").await?;
            let sent = gateway
                .submit_password(pb::SubmitPasswordRequest {
                    payment_id: payment_id.clone(),
                    phone_number: phone.clone(),
                    password,
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            let view = sent.checkout.unwrap_or_default();
            println!("a code was sent to {}", view.masked_phone_number);
            loop {
                let code = match &mut sms_stream {
                    Some((client, handset, stream)) => loop {
                        let message = stream
                            .message()
                            .await
                            .map_err(|s| refused(&s))?
                            .ok_or_else(|| {
                                ClientError::Refused(
                                    "the SMS center closed the handset stream".into(),
                                )
                            })?;
                        acknowledge(client, handset, &message.message_id).await?;
                        // The code is the first run of digits (OMPP-AUTH-010); older messages are skipped.
                        if message
                            .submitted_at
                            .as_ref()
                            .is_some_and(|t| t.seconds >= sent_after)
                        {
                            println!("SMS received; using its code");
                            break message
                                .text
                                .chars()
                                .skip_while(|c| !c.is_ascii_digit())
                                .take_while(char::is_ascii_digit)
                                .collect::<String>();
                        }
                    },
                    None => ask("authorization code from the SMS: ").await?,
                };
                let result = gateway
                    .submit_authorization_code(pb::SubmitAuthorizationCodeRequest {
                        payment_id: payment_id.clone(),
                        session_token: sent.session_token.clone(),
                        authorization_code: code,
                    })
                    .await;
                let view = match result {
                    Ok(response) => response.into_inner().checkout.unwrap_or_default(),
                    Err(s) => {
                        println!("refused: {}", describe(&s));
                        let failure = Failure::of(&s);
                        match failure.next() {
                            // The code may or may not have been taken: learn the checkout's
                            // state before submitting a code again (OMPP-ERR-011).
                            Next::LearnState => {
                                let view = learn_checkout(&mut gateway, payment_id).await?;
                                if view.step == pb::CheckoutStep::AuthorizationCode as i32
                                    && sms_stream.is_none()
                                {
                                    println!("the code was not taken; enter it again");
                                    continue;
                                }
                                view
                            }
                            Next::Correct
                                if sms_stream.is_none()
                                    && failure.is(pb::ErrorReason::AuthorizationCodeIncorrect) =>
                            {
                                continue;
                            }
                            _ => return Ok(ExitCode::FAILURE),
                        }
                    }
                };
                if !checkout_done(view.step) {
                    // Processing, or a step this wallet does not know (OMPP-VER-005).
                    let view = learn_checkout(&mut gateway, payment_id).await?;
                    return Ok(checkout_outcome(&view));
                }
                return Ok(checkout_outcome(&view));
            }
        }
        Command::Decode { payload } => {
            let json = match ompp::payee_code::decode(payload) {
                Ok(ompp::payee_code::Decoded::Ompp(signed)) => {
                    serde_json::json!({ "kind": "ompp", "code": signed.code })
                }
                Ok(ompp::payee_code::Decoded::Foreign(foreign)) => {
                    serde_json::json!({ "kind": "foreign_emvco", "fields": foreign.fields })
                }
                Err(error) => {
                    println!(
                        "{}",
                        serde_json::json!({ "kind": "invalid", "error": error, "message": error.to_string() })
                    );
                    return Ok(ExitCode::FAILURE);
                }
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Balance => {
            let balances = device(&cli)
                .await?
                .get_wallet_balance(pb::GetWalletBalanceRequest {})
                .await
                .map_err(|s| refused(&s))?
                .into_inner()
                .balances;
            for balance in &balances {
                println!("{}", money(Some(balance)));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::History { limit } => {
            let history = device(&cli)
                .await?
                .list_wallet_history(pb::ListWalletHistoryRequest {
                    currency: String::new(),
                    page_size: *limit,
                    page_token: String::new(),
                })
                .await
                .map_err(|s| refused(&s))?
                .into_inner();
            for entry in &history.entries {
                println!(
                    "{:>14}  balance {:>14}  {}  {}",
                    money(entry.delta.as_ref()),
                    money(entry.balance_after.as_ref()),
                    entry.counterparty,
                    entry.transfer_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Topup {
            amount,
            currency,
            password_file,
        } => {
            let currency = Currency::from_code(currency)
                .map_err(|v| ClientError::Usage(format!("--currency: {v}")))?;
            let amount = Amount::parse_decimal(currency, amount)
                .map_err(|v| ClientError::Usage(format!("--amount: {v}")))?;
            let password = password(password_file.as_deref(), "payment password: ").await?;
            let request = pb::TopUpWalletRequest {
                amount: Some(amount.to_proto()),
                password,
                idempotency_key: format!("topup-{}", now_millis()),
            };
            let mut device = device(&cli).await?;
            // A top-up is a bank transfer (OMPP-LEDGER-010): when its outcome is unknown, the
            // same request under the same key learns it, and can never top up twice.
            let mut attempt = 1;
            let entry = loop {
                match device.top_up_wallet(request.clone()).await {
                    Ok(response) => break response.into_inner().entry.unwrap_or_default(),
                    Err(status) => {
                        let next = Failure::of(&status).next();
                        let unsure = matches!(next, Next::LearnState | Next::RetryLater);
                        if !unsure {
                            return Err(refused(&status));
                        }
                        if attempt == TOP_UP_ATTEMPTS {
                            return Err(ClientError::Refused(format!(
                                "{}; the top-up's outcome is still unknown: the wallet is credited \
                                 if the bank booked it; check `ompp-wallet balance` before topping \
                                 up again",
                                describe(&status)
                            )));
                        }
                        eprintln!(
                            "{}; asking again under the same idempotency key ({attempt}/{TOP_UP_ATTEMPTS})",
                            describe(&status)
                        );
                        tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                        attempt += 1;
                    }
                }
            };
            println!(
                "topped up {}; balance {}",
                money(entry.delta.as_ref()),
                money(entry.balance_after.as_ref())
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How often `topup` sends its request when the outcome stays unknown (waiting 2, 4, 8, 16 s).
const TOP_UP_ATTEMPTS: u32 = 5;

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
