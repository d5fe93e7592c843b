//! The raw codec: any bytes to any unary method path, and what came back.

use super::*;

/// A gRPC codec that sends and receives message bodies as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

/// The encoder of [`RawCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawEncoder;

/// The decoder of [`RawCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut body = vec![0; src.remaining()];
        src.copy_to_slice(&mut body);
        Ok(Some(body))
    }
}

/// What one call came back with.
#[derive(Debug)]
pub enum Outcome {
    /// An OK answer and its body.
    Ok(Vec<u8>),
    /// A gRPC status.
    Status(tonic::Status),
    /// The channel could not be used.
    Transport(String),
    /// No answer within [`CALL_TIMEOUT`].
    Timeout,
}

/// Sends `body` to `path` on `channel` once, with the [`CALL_TIMEOUT`] deadline.
pub async fn call(channel: Channel, path: &str, body: Vec<u8>) -> Outcome {
    let path = match PathAndQuery::try_from(path.to_owned()) {
        Ok(path) => path,
        Err(error) => return Outcome::Transport(format!("bad method path: {error}")),
    };
    let exchange = async move {
        let mut grpc = tonic::client::Grpc::new(channel);
        if let Err(error) = grpc.ready().await {
            return Outcome::Transport(format!("channel not ready: {error}"));
        }
        match grpc.unary(tonic::Request::new(body), path, RawCodec).await {
            Ok(response) => Outcome::Ok(response.into_inner()),
            Err(status) => Outcome::Status(status),
        }
    };
    match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Timeout,
    }
}
