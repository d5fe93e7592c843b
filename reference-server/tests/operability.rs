//! Operability: the standard health service, server reflection, and a shutdown that is not held
//! up by open device streams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::Center;
use ompp::proto::v1 as pb;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_describe_the_services() {
    let center = Center::start().await;
    let ca = center.pki.operator_ca.cert_pem();
    let channel = center
        .channel(center.running().network_addr, &ca, None)
        .await
        .unwrap();

    let mut health = HealthClient::new(channel.clone());
    for service in [
        "ompp.v1.MerchantPaymentService",
        "ompp.v1.RegistrationService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    assert!(
        health
            .check(HealthCheckRequest {
                service: "no.such.Service".into()
            })
            .await
            .is_err()
    );

    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "ompp.v1.MerchantPaymentService",
        "ompp.v1.RegistrationService",
        "ompp.v1.DeviceService",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_device_streams_and_stops_promptly() {
    let mut center = Center::start().await;
    let mut ana = center.customer("+4915100000201", 0).await;
    let mut stream = ana
        .device
        .subscribe(pb::SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let running = center.running.take().unwrap();
    tokio::time::timeout(Duration::from_secs(10), running.stop())
        .await
        .expect("shutdown must not hang on open streams");
    // The device sees its stream end (or fail), not hang.
    let end = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("stream must end");
    assert!(
        !matches!(end, Ok(Some(_))),
        "no event expected after shutdown: {end:?}"
    );
}
