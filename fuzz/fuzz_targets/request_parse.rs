//! Any bytes, decoded as any inbound request and parsed: never a panic, and whatever parses
//! round-trips through `to_proto` unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ompp_fuzz_request_parse(data));

fn check<R>(bytes: &[u8])
where
    R: ompp::requests::Request + PartialEq + std::fmt::Debug,
{
    let Ok(message) = <R::Proto as prost::Message>::decode(bytes) else {
        return;
    };
    if let Ok(parsed) = R::parse(&message) {
        let again = R::parse(&parsed.to_proto()).expect("to_proto output parses");
        assert_eq!(again, parsed);
    }
}

fn ompp_fuzz_request_parse(data: &[u8]) {
    use ompp::requests::{bank, device, gateway, link, merchant, registration, sms};
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 32 {
        0 => check::<merchant::CreatePayment>(bytes),
        1 => check::<merchant::GetPayment>(bytes),
        2 => check::<merchant::IssuePayeeCode>(bytes),
        3 => check::<merchant::OpenCheckout>(bytes),
        4 => check::<registration::RegisterMerchant>(bytes),
        5 => check::<registration::RegisterCustomer>(bytes),
        6 => check::<registration::PairDevice>(bytes),
        7 => check::<device::Subscribe>(bytes),
        8 => check::<device::ConfirmPayment>(bytes),
        9 => check::<device::SubmitPayeeCode>(bytes),
        10 => check::<device::ListWalletHistory>(bytes),
        11 => check::<device::TopUpWallet>(bytes),
        12 => check::<link::Relayed<device::ConfirmPayment>>(bytes),
        13 => check::<link::Relayed<device::SubmitPayeeCode>>(bytes),
        14 => check::<link::PushPaymentRequest>(bytes),
        15 => check::<link::PushNotice>(bytes),
        16 => check::<link::ListPendingRequests>(bytes),
        17 => check::<gateway::SubmitPassword>(bytes),
        18 => check::<gateway::SubmitAuthorizationCode>(bytes),
        19 => check::<bank::ExecuteTransfer>(bytes),
        20 => check::<bank::GetTransfer>(bytes),
        21 => check::<sms::SubmitMessage>(bytes),
        22 => check::<sms::ReceiveMessages>(bytes),
        23 => check::<sms::AcknowledgeMessage>(bytes),
        24 => check::<merchant::CancelPayment>(bytes),
        25 => check::<merchant::GetMerchantBalance>(bytes),
        26 => check::<device::DeclinePayment>(bytes),
        27 => check::<device::PreviewPayeeCode>(bytes),
        28 => check::<gateway::GetCheckoutStatus>(bytes),
        29 => check::<sms::RegisterHandset>(bytes),
        30 => check::<sms::GetDeliveryReport>(bytes),
        _ => check::<link::Relayed<device::ListWalletHistory>>(bytes),
    }
}
