//! Every numeric limit and default of the protocol, in one place.
//!
//! The server, the clients, the conformance suite and the specification all read these
//! constants; none of them writes a number of its own. Each constant names the requirement that
//! states it.

/// Bounds of a duration field, in whole seconds, with the value used when the field is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationBounds {
    /// Smallest accepted value, inclusive.
    pub min_secs: u64,
    /// Largest accepted value, inclusive.
    pub max_secs: u64,
    /// Value used when the sender leaves the field out.
    pub default_secs: u64,
}

/// Bounds of a text field, in Unicode scalar values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthBounds {
    /// Shortest accepted length, inclusive.
    pub min: usize,
    /// Longest accepted length, inclusive.
    pub max: usize,
}

// OMPP-MSG-002: identifiers.
/// Length of every identifier (merchant, customer, device, payment, transfer, idempotency key...).
pub const ID_LEN: LengthBounds = LengthBounds { min: 1, max: 64 };

// OMPP-LINK-002: envelope message ids are long enough to be unique without coordination.
/// Length of a secure-link envelope `message_id`.
pub const LINK_MESSAGE_ID_LEN: LengthBounds = LengthBounds { min: 16, max: 64 };

// OMPP-MSG-005: human-readable text.
/// Length of a merchant, customer or device display name.
pub const DISPLAY_NAME_LEN: LengthBounds = LengthBounds { min: 1, max: 64 };
/// Length of a merchant reference on a push payment (checkouts use [`CHECKOUT_REFERENCE_LEN`]).
pub const MERCHANT_REFERENCE_LEN: LengthBounds = LengthBounds { min: 0, max: 64 };
/// Length of a merchant reference carried inside a payee code (EMVCo reference label, tag 62-05).
pub const PAYEE_CODE_REFERENCE_LEN: LengthBounds = LengthBounds { min: 0, max: 25 };
/// Length of a payee code payload as scanned (EMVCo payloads are at most 512 characters).
pub const PAYEE_CODE_PAYLOAD_LEN: LengthBounds = LengthBounds { min: 1, max: 512 };
// OMPP-CODE-005, OMPP-CODE-007: what fits the EMVCo templates.
/// Longest amount text in a payee code (EMVCo tag 54).
pub const PAYEE_CODE_MAX_AMOUNT_LEN: usize = 13;
/// Longest merchant id plus code id in a payee code: template 26 holds both with the 4-character
/// GUI, and an EMVCo value is at most 99 characters.
pub const PAYEE_CODE_MAX_IDS_LEN: usize = 83;
/// Length of a checkout's order reference (required: the payment page shows it).
pub const CHECKOUT_REFERENCE_LEN: LengthBounds = LengthBounds { min: 1, max: 64 };
/// Length of bank remittance information (ISO 20022 unstructured remittance).
pub const REMITTANCE_INFO_LEN: LengthBounds = LengthBounds { min: 0, max: 140 };

// OMPP-MSG-006: line items.
/// Most line items in one request.
pub const MAX_LINE_ITEMS: usize = 50;
/// Length of a line item's product code.
pub const PRODUCT_CODE_LEN: LengthBounds = LengthBounds { min: 1, max: 64 };
/// Length of a line item's description.
pub const ITEM_DESCRIPTION_LEN: LengthBounds = LengthBounds { min: 0, max: 128 };
/// Largest quantity on one line item.
pub const MAX_ITEM_QUANTITY: u32 = 1_000_000;

// OMPP-PWD-001: payment passwords.
/// Length of a payment password.
pub const PASSWORD_LEN: LengthBounds = LengthBounds { min: 8, max: 128 };

// OMPP-REG-001: registration credentials.
/// Length of a merchant enrollment token.
pub const ENROLLMENT_TOKEN_LEN: LengthBounds = LengthBounds { min: 16, max: 128 };
/// Largest DER certificate signing request accepted, in bytes.
pub const MAX_CSR_BYTES: usize = 16 * 1024;

// OMPP-FLA-001: how long a customer has to answer a pushed request.
/// Expiry of a flow A payment request.
pub const PAYMENT_EXPIRY: DurationBounds = DurationBounds {
    min_secs: 30,
    max_secs: 600,
    default_secs: 120,
};
// OMPP-FLA-002: wrong passwords before a push payment fails with TRIES_EXCEEDED.
/// Password attempts on one flow A payment.
pub const PASSWORD_ATTEMPTS: u32 = 3;

// OMPP-FLB-001: payee code validity.
/// Validity of a dynamic (single-use, with amount) payee code.
pub const DYNAMIC_CODE_VALIDITY: DurationBounds = DurationBounds {
    min_secs: 30,
    max_secs: 86_400,
    default_secs: 300,
};
/// Validity of a static (reusable, no amount) payee code.
pub const STATIC_CODE_VALIDITY: DurationBounds = DurationBounds {
    min_secs: 3_600,
    max_secs: 366 * 86_400,
    default_secs: 30 * 86_400,
};

// OMPP-FLC-001: checkout lifetime.
/// Expiry of a flow C checkout.
pub const CHECKOUT_EXPIRY: DurationBounds = DurationBounds {
    min_secs: 60,
    max_secs: 3_600,
    default_secs: 900,
};

// OMPP-AUTH-001..004: authorization codes.
/// Digits in an authorization code.
pub const AUTH_CODE_DIGITS: LengthBounds = LengthBounds { min: 6, max: 8 };
/// Validity of an authorization code.
pub const AUTH_CODE_VALIDITY: DurationBounds = DurationBounds {
    min_secs: 60,
    max_secs: 900,
    default_secs: 300,
};
/// Wrong authorization code entries before the checkout fails and the code is dead.
pub const AUTH_CODE_ATTEMPTS: u32 = 5;
/// Length of the gateway session token that binds the code step to the password step.
pub const SESSION_TOKEN_LEN: LengthBounds = LengthBounds { min: 32, max: 128 };

// OMPP-SMS-001: SMS submissions.
/// Length of an SMS text (three concatenated 153-character parts).
pub const SMS_TEXT_LEN: LengthBounds = LengthBounds { min: 1, max: 459 };
/// Length of an SMS sender (short code or alphanumeric sender id).
pub const SMS_SENDER_LEN: LengthBounds = LengthBounds { min: 1, max: 11 };
/// Validity of an SMS submission.
pub const SMS_VALIDITY: DurationBounds = DurationBounds {
    min_secs: 1,
    max_secs: 3 * 86_400,
    default_secs: 300,
};
/// Length of a handset token.
pub const HANDSET_TOKEN_LEN: LengthBounds = LengthBounds { min: 32, max: 128 };

// OMPP-MSG-007: paging.
/// Page size used when a request leaves `page_size` at 0.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// Largest page size.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Length of an opaque page token.
pub const PAGE_TOKEN_LEN: LengthBounds = LengthBounds { min: 0, max: 256 };

// OMPP-MSG-008: bank accounts.
/// Length of a bank id (BIC or national bank code).
pub const BANK_ID_LEN: LengthBounds = LengthBounds { min: 1, max: 11 };
/// Length of an account number (IBAN or national).
pub const ACCOUNT_NUMBER_LEN: LengthBounds = LengthBounds { min: 1, max: 34 };

// OMPP-MSG-009: how many devices one push may address, and known ids a subscription may list.
/// Most device ids in one secure-link push.
pub const MAX_PUSH_DEVICES: usize = 16;
/// Most `known_payment_ids` in one subscription.
pub const MAX_KNOWN_PAYMENT_IDS: usize = 256;
/// Most settlement or wallet currencies per party.
pub const MAX_CURRENCIES: usize = 16;

// OMPP-LINK-003..006: the secure-link firewall.
/// Largest accepted clock difference between an envelope's `sent_at` and the receiver's clock.
pub const LINK_CLOCK_SKEW_SECS: u64 = 30;
/// How long a message id is remembered for replay detection (covers the whole skew window on
/// both sides, so a replay is caught either as stale or as seen).
pub const LINK_REPLAY_WINDOW_SECS: u64 = 2 * LINK_CLOCK_SKEW_SECS;
/// Largest encoded secure-link message, in bytes.
pub const LINK_MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Messages per second one secure-link peer may send (sustained).
pub const LINK_RATE_PER_SEC: u32 = 5_000;
/// Burst of messages above the sustained rate.
pub const LINK_RATE_BURST: u32 = 10_000;

// OMPP-MSG-010: the largest encoded request any service accepts.
/// Largest encoded request, in bytes, on any public service.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
