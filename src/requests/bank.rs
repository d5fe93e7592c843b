//! `BankProcessorService` requests (bank processor, called by the network server).

use super::Request;
use crate::money::Amount;
use crate::proto::v1 as pb;
use crate::types::{BankAccountRef, RemittanceInfo, TransferId};
use crate::validation::{FieldPath, Validator, Violation};

/// Debit one account, credit another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteTransfer {
    /// Idempotency: the transfer's unique id.
    pub transfer_id: TransferId,
    /// The payer's account.
    pub debit_account: BankAccountRef,
    /// The payee's account.
    pub credit_account: BankAccountRef,
    /// The amount, greater than zero.
    pub amount: Amount,
    /// Text for both statements.
    pub remittance_info: RemittanceInfo,
}

impl Request for ExecuteTransfer {
    type Proto = pb::ExecuteTransferRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let transfer_id = v.check(path.child("transfer_id"), TransferId::parse(&p.transfer_id));
        let debit_account =
            BankAccountRef::from_proto(v, &path.child("debit_account"), p.debit_account.as_ref());
        let credit_account =
            BankAccountRef::from_proto(v, &path.child("credit_account"), p.credit_account.as_ref());
        let amount = Amount::from_proto(v, &path.child("amount"), p.amount.as_ref());
        let remittance_info = v.check(
            path.child("remittance_info"),
            RemittanceInfo::parse(&p.remittance_info),
        );
        let (debit_account, credit_account) = (debit_account?, credit_account?);
        if debit_account == credit_account {
            // A transfer to the same account moves nothing and hides mistakes.
            v.report(
                path.child("credit_account"),
                Violation::Duplicate { first: 0 },
            );
            return None;
        }
        Some(Self {
            transfer_id: transfer_id?,
            debit_account,
            credit_account,
            amount: amount?,
            remittance_info: remittance_info?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::ExecuteTransferRequest {
            transfer_id: self.transfer_id.to_string(),
            debit_account: Some(self.debit_account.to_proto()),
            credit_account: Some(self.credit_account.to_proto()),
            amount: Some(self.amount.to_proto()),
            remittance_info: self.remittance_info.to_string(),
        }
    }
}

/// The recorded outcome of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetTransfer {
    /// The transfer.
    pub transfer_id: TransferId,
}

impl Request for GetTransfer {
    type Proto = pb::GetTransferRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let transfer_id = v.check(path.child("transfer_id"), TransferId::parse(&p.transfer_id))?;
        Some(Self { transfer_id })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::GetTransferRequest {
            transfer_id: self.transfer_id.to_string(),
        }
    }
}
