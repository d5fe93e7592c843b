//! The mobile server: the device-facing push and confirmation channel. It holds no customer
//! data and checks no password: it keeps the devices' streams, and relays every device request
//! to the network server over the secure link.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::device_service_server::DeviceService;
use ompp::proto::v1::mobile_link_service_server::MobileLinkService;
use ompp::proto::v1::network_link_service_client::NetworkLinkServiceClient;
use ompp::requests::Request as _;
use ompp::requests::device::{
    ConfirmPayment, DeclinePayment, GetWalletBalance, ListWalletHistory, PreviewPayeeCode,
    SubmitPayeeCode, Subscribe, TopUpWallet,
};
use ompp::requests::link::{PushNotice, PushPaymentRequest};
use ompp::types::{DeviceId, Role};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::link::{EnvelopeStamp, LinkGuard};

type Subscriber = mpsc::Sender<Result<pb::SubscribeResponse, Status>>;

/// State shared by the mobile server's services.
#[derive(Debug, Clone)]
pub struct Mobile {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    network: NetworkLinkServiceClient<Channel>,
    stamp: EnvelopeStamp,
    guard: LinkGuard,
    /// Open push streams per device. A device may hold several (e.g. after a reconnect).
    subscribers: Mutex<HashMap<DeviceId, Vec<Subscriber>>>,
}

impl Mobile {
    /// The mobile server, relaying to `network` and guarding its link service with `guard`.
    pub fn new(
        network: NetworkLinkServiceClient<Channel>,
        stamp: EnvelopeStamp,
        guard: LinkGuard,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                network,
                stamp,
                guard,
                subscribers: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn subscribers(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, Vec<Subscriber>>> {
        self.inner
            .subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `event` to every open stream of `device`; returns whether any took it.
    fn deliver(&self, device: &DeviceId, event: &pb::SubscribeResponse) -> bool {
        let mut subscribers = self.subscribers();
        let Some(streams) = subscribers.get_mut(device) else {
            return false;
        };
        // Drop streams whose device went away; a full stream is a stuck device: drop it too,
        // it will resubscribe and get the pending requests again.
        streams.retain(|tx| tx.try_send(Ok(event.clone())).is_ok());
        let delivered = !streams.is_empty();
        if streams.is_empty() {
            subscribers.remove(device);
        }
        delivered
    }

    /// Ends every open device stream (on shutdown, so graceful shutdown is not held up).
    pub fn close_streams(&self) {
        self.subscribers().clear();
    }

    /// The link firewall's counters.
    pub fn firewall_counters(&self) -> ompp::firewall::FirewallCounters {
        self.inner.guard.counters()
    }

    fn network(&self) -> NetworkLinkServiceClient<Channel> {
        self.inner.network.clone()
    }
}

/// A failure reaching the network server, as the device sees it (OMPP-ERR-010): the network
/// server's own OMPP error passes through unchanged, except an error about the link itself,
/// which is `SERVICE_UNAVAILABLE`; a transport failure is `SERVICE_UNAVAILABLE` (or
/// `UPSTREAM_TIMEOUT` when the outcome is unknown).
fn relay_error(status: Status) -> Status {
    if let Ok(error) = ProtocolError::from_status(&status) {
        let about_the_link = matches!(
            error.reason,
            pb::ErrorReason::PeerNotAllowed
                | pb::ErrorReason::UnauthenticatedPeer
                | pb::ErrorReason::MessageTooLarge
                | pb::ErrorReason::LinkStaleMessage
                | pb::ErrorReason::LinkReplay
                | pb::ErrorReason::LinkRateLimited
                | pb::ErrorReason::LinkSenderMismatch
        );
        if !about_the_link {
            return status;
        }
        tracing::warn!(reason = ?error.reason, "the network server refused the secure link call");
        return ProtocolError::new(
            pb::ErrorReason::ServiceUnavailable,
            "the network server cannot be reached",
        )
        .into();
    }
    tracing::warn!(code = ?status.code(), "secure link call failed");
    let reason = if status.code() == tonic::Code::DeadlineExceeded {
        pb::ErrorReason::UpstreamTimeout
    } else {
        pb::ErrorReason::ServiceUnavailable
    };
    ProtocolError::new(reason, "the network server cannot be reached").into()
}

/// The device-facing service.
#[derive(Debug, Clone)]
pub struct DeviceHandler {
    mobile: Mobile,
}

impl DeviceHandler {
    /// The service over `mobile`.
    pub fn new(mobile: Mobile) -> Self {
        Self { mobile }
    }
}

fn device_of<T>(request: &Request<T>) -> Result<DeviceId, Status> {
    let identity = crate::tls::require_role(request, Role::Device)?;
    DeviceId::parse(identity.id()).map_err(|_| {
        ProtocolError::new(pb::ErrorReason::PeerNotAllowed, "malformed device identity").into()
    })
}

type SubscribeStream = Pin<Box<dyn Stream<Item = Result<pb::SubscribeResponse, Status>> + Send>>;

macro_rules! relay {
    ($self:ident, $request:ident, $domain:ty, $relay_msg:ident, $call:ident) => {{
        let device_id = device_of(&$request)?;
        // Validate before relaying: a malformed request never crosses the link.
        <$domain>::parse($request.get_ref())?;
        let relayed = pb::$relay_msg {
            envelope: Some($self.mobile.inner.stamp.envelope()),
            device_id: device_id.to_string(),
            request: Some($request.into_inner()),
        };
        let response = $self
            .mobile
            .network()
            .$call(relayed)
            .await
            .map_err(relay_error)?;
        response
            .into_inner()
            .response
            .map(Response::new)
            .ok_or_else(|| {
                Status::from(ProtocolError::new(
                    pb::ErrorReason::Internal,
                    "empty answer from the network server",
                ))
            })
    }};
}

#[tonic::async_trait]
impl DeviceService for DeviceHandler {
    type SubscribeStream = SubscribeStream;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let device_id = device_of(&request)?;
        let subscribe = Subscribe::parse(request.get_ref())?;
        let (tx, rx) = mpsc::channel(64);
        // Register first, then fetch what is pending: a push that arrives in between is
        // delivered twice at worst (the device de-duplicates by payment id), never lost.
        self.mobile
            .subscribers()
            .entry(device_id.clone())
            .or_default()
            .push(tx.clone());
        let list = pb::ListPendingRequestsRequest {
            envelope: Some(self.mobile.inner.stamp.envelope()),
            device_id: device_id.to_string(),
        };
        let pending = self
            .mobile
            .network()
            .list_pending_requests(list)
            .await
            .map_err(relay_error)?;
        for payment_request in pending.into_inner().payment_requests {
            let known = subscribe
                .known_payment_ids
                .iter()
                .any(|id| id.as_str() == payment_request.payment_id);
            if !known {
                let event = pb::SubscribeResponse {
                    event: Some(pb::subscribe_response::Event::PaymentRequest(
                        payment_request,
                    )),
                };
                if tx.send(Ok(event)).await.is_err() {
                    break;
                }
            }
        }
        tracing::info!(%device_id, "device subscribed");
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn confirm_payment(
        &self,
        request: Request<pb::ConfirmPaymentRequest>,
    ) -> Result<Response<pb::ConfirmPaymentResponse>, Status> {
        relay!(
            self,
            request,
            ConfirmPayment,
            RelayConfirmPaymentRequest,
            relay_confirm_payment
        )
    }

    async fn decline_payment(
        &self,
        request: Request<pb::DeclinePaymentRequest>,
    ) -> Result<Response<pb::DeclinePaymentResponse>, Status> {
        relay!(
            self,
            request,
            DeclinePayment,
            RelayDeclinePaymentRequest,
            relay_decline_payment
        )
    }

    async fn preview_payee_code(
        &self,
        request: Request<pb::PreviewPayeeCodeRequest>,
    ) -> Result<Response<pb::PreviewPayeeCodeResponse>, Status> {
        relay!(
            self,
            request,
            PreviewPayeeCode,
            RelayPreviewPayeeCodeRequest,
            relay_preview_payee_code
        )
    }

    async fn submit_payee_code(
        &self,
        request: Request<pb::SubmitPayeeCodeRequest>,
    ) -> Result<Response<pb::SubmitPayeeCodeResponse>, Status> {
        relay!(
            self,
            request,
            SubmitPayeeCode,
            RelaySubmitPayeeCodeRequest,
            relay_submit_payee_code
        )
    }

    async fn get_wallet_balance(
        &self,
        request: Request<pb::GetWalletBalanceRequest>,
    ) -> Result<Response<pb::GetWalletBalanceResponse>, Status> {
        relay!(
            self,
            request,
            GetWalletBalance,
            RelayGetWalletBalanceRequest,
            relay_get_wallet_balance
        )
    }

    async fn list_wallet_history(
        &self,
        request: Request<pb::ListWalletHistoryRequest>,
    ) -> Result<Response<pb::ListWalletHistoryResponse>, Status> {
        relay!(
            self,
            request,
            ListWalletHistory,
            RelayListWalletHistoryRequest,
            relay_list_wallet_history
        )
    }

    async fn top_up_wallet(
        &self,
        request: Request<pb::TopUpWalletRequest>,
    ) -> Result<Response<pb::TopUpWalletResponse>, Status> {
        relay!(
            self,
            request,
            TopUpWallet,
            RelayTopUpWalletRequest,
            relay_top_up_wallet
        )
    }
}

/// The mobile server's end of the secure link: the network server pushes through it.
#[derive(Debug, Clone)]
pub struct MobileLinkHandler {
    mobile: Mobile,
}

impl MobileLinkHandler {
    /// The service over `mobile`.
    pub fn new(mobile: Mobile) -> Self {
        Self { mobile }
    }
}

fn count(delivered: usize) -> u32 {
    u32::try_from(delivered).unwrap_or(u32::MAX)
}

#[tonic::async_trait]
impl MobileLinkService for MobileLinkHandler {
    async fn push_payment_request(
        &self,
        request: Request<pb::PushPaymentRequestRequest>,
    ) -> Result<Response<pb::PushPaymentRequestResponse>, Status> {
        let push: PushPaymentRequest = self
            .mobile
            .inner
            .guard
            .admit(&request, "PushPaymentRequest")?;
        let event = pb::SubscribeResponse {
            event: Some(pb::subscribe_response::Event::PaymentRequest(
                push.payment_request.to_proto(),
            )),
        };
        let delivered = push
            .device_ids
            .iter()
            .filter(|d| self.mobile.deliver(d, &event))
            .count();
        Ok(Response::new(pb::PushPaymentRequestResponse {
            delivered_now: count(delivered),
        }))
    }

    async fn push_notice(
        &self,
        request: Request<pb::PushNoticeRequest>,
    ) -> Result<Response<pb::PushNoticeResponse>, Status> {
        let push: PushNotice = self.mobile.inner.guard.admit(&request, "PushNotice")?;
        let event = pb::SubscribeResponse {
            event: Some(pb::subscribe_response::Event::Notice(
                push.notice.to_proto(),
            )),
        };
        let delivered = push
            .device_ids
            .iter()
            .filter(|d| self.mobile.deliver(d, &event))
            .count();
        Ok(Response::new(pb::PushNoticeResponse {
            delivered_now: count(delivered),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason_of(status: &Status) -> Option<pb::ErrorReason> {
        ProtocolError::from_status(status).ok().map(|e| e.reason)
    }

    #[test]
    fn link_errors_reach_the_device_as_service_unavailable() {
        for reason in [
            pb::ErrorReason::PeerNotAllowed,
            pb::ErrorReason::UnauthenticatedPeer,
            pb::ErrorReason::MessageTooLarge,
            pb::ErrorReason::LinkStaleMessage,
            pb::ErrorReason::LinkReplay,
            pb::ErrorReason::LinkRateLimited,
            pb::ErrorReason::LinkSenderMismatch,
        ] {
            let relayed = relay_error(ProtocolError::new(reason, "x").into());
            assert_eq!(
                reason_of(&relayed),
                Some(pb::ErrorReason::ServiceUnavailable),
                "{reason:?}"
            );
        }
    }

    #[test]
    fn the_network_servers_own_errors_pass_unchanged() {
        let error = ProtocolError::new(pb::ErrorReason::CredentialsRejected, "x")
            .with_metadata("attempts_left", 2);
        let relayed = relay_error(error.clone().into());
        assert_eq!(ProtocolError::from_status(&relayed).ok(), Some(error));
        let lost = relay_error(Status::deadline_exceeded("no answer"));
        assert_eq!(reason_of(&lost), Some(pb::ErrorReason::UpstreamTimeout));
        let down = relay_error(Status::unavailable("connection refused"));
        assert_eq!(reason_of(&down), Some(pb::ErrorReason::ServiceUnavailable));
    }
}
