//! The suite's bank processor: `BankProcessorService` over in-memory accounts, transfers booked
//! atomically and idempotent by `transfer_id` (spec 07, "Bank processor"), a log of every call
//! for the cases to inspect, and per-account faults (OMPP-BANK-009, OMPP-FLC-008).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::bank_processor_service_server::BankProcessorService;
use ompp::requests::Request as _;
use ompp::requests::bank::{ExecuteTransfer, GetTransfer};
use tonic::{Request, Response, Status};

/// The currency of every account the suite's bank holds.
const CURRENCY: &str = crate::target::CURRENCY;

/// What the next call concerning an account does instead of a plain answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer `UNAVAILABLE` with `SERVICE_UNAVAILABLE`, deciding and recording nothing.
    Unavailable,
    /// Decide and record the transfer, then answer `UNAVAILABLE`: the answer is lost.
    LoseAnswer,
    /// Like [`Fault::LoseAnswer`], then every later call is unavailable until [`Bank::release`]:
    /// the transfer is booked and the caller cannot learn it.
    LoseAnswerThenHold,
    /// Decide and record the transfer, then answer only after this long (past the caller's
    /// deadline, if it has a shorter one).
    Stall(Duration),
}

/// One call the system made, as the bank answered it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The `ExecuteTransfer` request; `None` for `GetTransfer`.
    pub execute: Option<pb::ExecuteTransferRequest>,
    /// The transfer id asked about.
    pub transfer_id: String,
    /// The transfer answered; `None` when the call got an RPC error.
    pub answered: Option<pb::BankTransfer>,
    /// When the answer left the bank.
    pub at: Instant,
}

#[derive(Debug, Default)]
struct Faults {
    /// Consumed one per call.
    queue: VecDeque<Fault>,
    /// Every call is [`Fault::Unavailable`] while set.
    held: bool,
}

#[derive(Debug)]
struct State {
    bank_id: String,
    /// Balances in minor units of [`CURRENCY`], by account number.
    accounts: HashMap<String, i64>,
    /// Accounts that may be debited below zero (down to `i64::MIN`).
    overdraft: std::collections::HashSet<String>,
    /// Decided transfers with the request that created them.
    transfers: HashMap<String, (pb::ExecuteTransferRequest, pb::BankTransfer)>,
    calls: Vec<Call>,
    faults: HashMap<String, Faults>,
}

/// The suite's bank processor; clones share the state.
#[derive(Debug, Clone)]
pub struct Bank {
    state: Arc<Mutex<State>>,
    /// Numbers new accounts and bank references; starts from the clock so that accounts are
    /// unique to the run.
    counter: Arc<AtomicU64>,
}

fn unavailable() -> Status {
    ProtocolError::new(
        pb::ErrorReason::ServiceUnavailable,
        "the bank processor is temporarily unavailable",
    )
    .into()
}

impl Bank {
    /// A bank serving `bank_id` that holds `accounts` with a zero balance.
    pub fn new(bank_id: &str, accounts: &[String]) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() % 1_000_000_000);
        Self {
            state: Arc::new(Mutex::new(State {
                bank_id: bank_id.to_owned(),
                accounts: accounts.iter().map(|a| (a.clone(), 0)).collect(),
                overdraft: std::collections::HashSet::new(),
                transfers: HashMap::new(),
                calls: Vec::new(),
                faults: HashMap::new(),
            })),
            counter: Arc::new(AtomicU64::new(seed * 1000)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `bank_id` this bank serves.
    pub fn bank_id(&self) -> String {
        self.lock().bank_id.clone()
    }

    /// Opens an account unique to the run with `balance` minor units; returns its reference.
    pub fn open_account(&self, balance: i64) -> pb::BankAccountRef {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let account_number = format!("SUITE{n}");
        let mut state = self.lock();
        state.accounts.insert(account_number.clone(), balance);
        pb::BankAccountRef {
            bank_id: state.bank_id.clone(),
            account_number,
        }
    }

    /// [`Bank::open_account`], for an account that may go below zero: every debit books, so a
    /// case sees a transfer the system should never have sent.
    pub fn open_overdraft_account(&self, balance: i64) -> pb::BankAccountRef {
        let account = self.open_account(balance);
        self.lock().overdraft.insert(account.account_number.clone());
        account
    }

    /// The balance of an account this bank holds.
    pub fn balance(&self, account_number: &str) -> Option<i64> {
        self.lock().accounts.get(account_number).copied()
    }

    /// Every call concerning transfers that debit `account_number`, oldest first.
    pub fn calls_debiting(&self, account_number: &str) -> Vec<Call> {
        let state = self.lock();
        state
            .calls
            .iter()
            .filter(|c| account_of(&state, c) == Some(account_number))
            .cloned()
            .collect()
    }

    /// Queues `faults` for the next calls concerning transfers that debit `account_number`.
    pub fn inject(&self, account_number: &str, faults: impl IntoIterator<Item = Fault>) {
        self.lock()
            .faults
            .entry(account_number.to_owned())
            .or_default()
            .queue
            .extend(faults);
    }

    /// Makes every call concerning `account_number` unavailable until [`Bank::release`].
    pub fn hold(&self, account_number: &str) {
        self.lock()
            .faults
            .entry(account_number.to_owned())
            .or_default()
            .held = true;
    }

    /// Ends [`Bank::hold`] and drops queued faults for `account_number`.
    pub fn release(&self, account_number: &str) {
        self.lock().faults.remove(account_number);
    }

    /// The fault for the next call concerning `account`, if any.
    fn next_fault(state: &mut State, account: Option<&str>) -> Option<Fault> {
        let faults = state.faults.get_mut(account?)?;
        if faults.held {
            return Some(Fault::Unavailable);
        }
        match faults.queue.pop_front() {
            Some(Fault::LoseAnswerThenHold) => {
                faults.held = true;
                Some(Fault::LoseAnswer)
            }
            fault => fault,
        }
    }

    fn log(
        &self,
        execute: Option<pb::ExecuteTransferRequest>,
        id: &str,
        answered: Option<&pb::BankTransfer>,
    ) {
        self.lock().calls.push(Call {
            execute,
            transfer_id: id.to_owned(),
            answered: answered.cloned(),
            at: Instant::now(),
        });
    }

    /// Decides a new transfer: both accounts held here, same currency, funds; books both legs
    /// at once or neither.
    fn decide(&self, state: &mut State, request: &pb::ExecuteTransferRequest) -> pb::BankTransfer {
        let amount = request.amount.clone().unwrap_or_default();
        let held = |account: &Option<pb::BankAccountRef>| {
            account
                .as_ref()
                .filter(|a| {
                    a.bank_id == state.bank_id && state.accounts.contains_key(&a.account_number)
                })
                .map(|a| a.account_number.clone())
        };
        let (debit, credit) = (held(&request.debit_account), held(&request.credit_account));
        let decided: Result<(String, String), pb::ErrorReason> = match (debit, credit) {
            (Some(_), Some(_)) if amount.currency != CURRENCY => {
                Err(pb::ErrorReason::CurrencyMismatch)
            }
            (Some(debit), Some(_))
                if !state.overdraft.contains(&debit)
                    && state.accounts.get(&debit).copied().unwrap_or(0) < amount.minor_units =>
            {
                Err(pb::ErrorReason::InsufficientFunds)
            }
            (Some(debit), Some(_))
                if state
                    .accounts
                    .get(&debit)
                    .copied()
                    .unwrap_or(0)
                    .checked_sub(amount.minor_units)
                    .is_none() =>
            {
                Err(pb::ErrorReason::AmountLimitExceeded)
            }
            (Some(debit), Some(credit)) => Ok((debit, credit)),
            _ => Err(pb::ErrorReason::UnknownAccount),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut transfer = pb::BankTransfer {
            transfer_id: request.transfer_id.clone(),
            debit_account: request.debit_account.clone(),
            credit_account: request.credit_account.clone(),
            amount: Some(amount.clone()),
            decided_at: Some(prost_types::Timestamp {
                seconds: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(now.subsec_nanos()).unwrap_or(0),
            }),
            ..pb::BankTransfer::default()
        };
        match decided {
            Ok((debit, credit)) => {
                if let Some(balance) = state.accounts.get_mut(&debit) {
                    *balance -= amount.minor_units;
                }
                if let Some(balance) = state.accounts.get_mut(&credit) {
                    *balance = balance.saturating_add(amount.minor_units);
                }
                transfer.status = pb::BankTransferStatus::Completed.into();
                transfer.bank_reference =
                    format!("SUITE-REF-{}", self.counter.fetch_add(1, Ordering::Relaxed));
            }
            Err(reason) => {
                transfer.status = pb::BankTransferStatus::Rejected.into();
                transfer.reject_reason = reason.into();
            }
        }
        state.transfers.insert(
            request.transfer_id.clone(),
            (request.clone(), transfer.clone()),
        );
        transfer
    }
}

/// The debited account of the transfer a call concerns, from the call or an earlier one.
fn account_of<'a>(state: &'a State, call: &'a Call) -> Option<&'a str> {
    let execute = call.execute.as_ref().or_else(|| {
        state.calls.iter().find_map(|c| {
            c.execute
                .as_ref()
                .filter(|e| e.transfer_id == call.transfer_id)
        })
    })?;
    execute
        .debit_account
        .as_ref()
        .map(|a| a.account_number.as_str())
}

#[tonic::async_trait]
impl BankProcessorService for Bank {
    async fn execute_transfer(
        &self,
        request: Request<pb::ExecuteTransferRequest>,
    ) -> Result<Response<pb::ExecuteTransferResponse>, Status> {
        super::admit(&request)?;
        let proto = request.into_inner();
        if let Err(error) = ExecuteTransfer::parse(&proto) {
            self.log(Some(proto.clone()), &proto.transfer_id.clone(), None);
            return Err(error.into());
        }
        let account = proto
            .debit_account
            .as_ref()
            .map(|a| a.account_number.clone());
        let (fault, outcome) = {
            let mut state = self.lock();
            let fault = Self::next_fault(&mut state, account.as_deref());
            let outcome = if fault == Some(Fault::Unavailable) {
                None
            } else {
                Some(match state.transfers.get(&proto.transfer_id) {
                    // OMPP-BANK-003/004: a retry gets the recorded transfer, other content a conflict.
                    Some((first, transfer)) if *first == proto => Ok(transfer.clone()),
                    Some(_) => Err(()),
                    None => Ok(self.decide(&mut state, &proto)),
                })
            };
            (fault, outcome)
        };
        let transfer_id = proto.transfer_id.clone();
        match (fault, outcome) {
            (Some(Fault::Unavailable | Fault::LoseAnswer), _) | (_, None) => {
                self.log(Some(proto), &transfer_id, None);
                Err(unavailable())
            }
            (_, Some(Err(()))) => {
                self.log(Some(proto), &transfer_id, None);
                Err(ProtocolError::new(
                    pb::ErrorReason::IdempotencyConflict,
                    "the transfer id was used before with a different transfer",
                )
                .into())
            }
            (fault, Some(Ok(transfer))) => {
                if let Some(Fault::Stall(hold)) = fault {
                    tokio::time::sleep(hold).await;
                }
                self.log(Some(proto), &transfer_id, Some(&transfer));
                Ok(Response::new(pb::ExecuteTransferResponse {
                    transfer: Some(transfer),
                }))
            }
        }
    }

    async fn get_transfer(
        &self,
        request: Request<pb::GetTransferRequest>,
    ) -> Result<Response<pb::GetTransferResponse>, Status> {
        super::admit(&request)?;
        let proto = request.into_inner();
        let transfer_id = proto.transfer_id.clone();
        if let Err(error) = GetTransfer::parse(&proto) {
            self.log(None, &transfer_id, None);
            return Err(error.into());
        }
        let (fault, found) = {
            let mut state = self.lock();
            let probe = Call {
                execute: None,
                transfer_id: transfer_id.clone(),
                answered: None,
                at: Instant::now(),
            };
            let account = account_of(&state, &probe).map(str::to_owned);
            let fault = Self::next_fault(&mut state, account.as_deref());
            let found = state.transfers.get(&transfer_id).map(|(_, t)| t.clone());
            (fault, found)
        };
        match (fault, found) {
            (Some(Fault::Unavailable | Fault::LoseAnswer), _) => {
                self.log(None, &transfer_id, None);
                Err(unavailable())
            }
            (_, None) => {
                self.log(None, &transfer_id, None);
                Err(ProtocolError::new(pb::ErrorReason::NotFound, "no such transfer").into())
            }
            (fault, Some(transfer)) => {
                if let Some(Fault::Stall(hold)) = fault {
                    tokio::time::sleep(hold).await;
                }
                self.log(None, &transfer_id, Some(&transfer));
                Ok(Response::new(pb::GetTransferResponse {
                    transfer: Some(transfer),
                }))
            }
        }
    }
}
