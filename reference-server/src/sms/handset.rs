//! `HandsetService`: the radio network's stand-in. Handsets register a phone number, hold a
//! stream on which messages arrive, and acknowledge each. Server TLS only: the handset token
//! authenticates (OMPP-TLS-013).

use std::pin::Pin;

use ompp::proto::v1 as pb;
use ompp::proto::v1::handset_service_server::HandsetService;
use ompp::requests::Request as _;
use ompp::requests::sms::{AcknowledgeMessage, ReceiveMessages, RegisterHandset};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::service::{Sms, StreamItem, check_size};
use crate::errors::blocking;

type MessageStream = Pin<Box<dyn Stream<Item = StreamItem> + Send>>;

/// `HandsetService` over the SMS center's state.
#[derive(Debug, Clone)]
pub(crate) struct HandsetHandler {
    sms: Sms,
}

impl HandsetHandler {
    pub(crate) fn new(sms: Sms) -> Self {
        Self { sms }
    }
}

#[tonic::async_trait]
impl HandsetService for HandsetHandler {
    type ReceiveMessagesStream = MessageStream;

    async fn register_handset(
        &self,
        request: Request<pb::RegisterHandsetRequest>,
    ) -> Result<Response<pb::RegisterHandsetResponse>, Status> {
        check_size(&request)?;
        let register = RegisterHandset::parse(request.get_ref())?;
        let sms = self.sms.clone();
        let (handset_id, handset_token) =
            blocking(move || sms.register(&register.phone_number)).await?;
        Ok(Response::new(pb::RegisterHandsetResponse {
            handset_id: handset_id.to_string(),
            handset_token,
        }))
    }

    async fn receive_messages(
        &self,
        request: Request<pb::ReceiveMessagesRequest>,
    ) -> Result<Response<Self::ReceiveMessagesStream>, Status> {
        check_size(&request)?;
        let receive = ReceiveMessages::parse(request.get_ref())?;
        let sms = self.sms.clone();
        let rx =
            blocking(move || sms.open_stream(&receive.handset_id, &receive.handset_token)).await?;
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn acknowledge_message(
        &self,
        request: Request<pb::AcknowledgeMessageRequest>,
    ) -> Result<Response<pb::AcknowledgeMessageResponse>, Status> {
        check_size(&request)?;
        let ack = AcknowledgeMessage::parse(request.get_ref())?;
        let sms = self.sms.clone();
        let report =
            blocking(move || sms.acknowledge(&ack.handset_id, &ack.handset_token, &ack.message_id))
                .await?;
        Ok(Response::new(pb::AcknowledgeMessageResponse {
            report: Some(report.to_proto()),
        }))
    }
}
