#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The live fuzz mode against the in-process reference.

use std::time::Duration;

use ompp_conformance::fuzz::{self, FuzzOptions, FuzzReport, METHODS};

async fn fuzz_reference(seconds: u64) -> (FuzzReport, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let options = FuzzOptions {
        duration: Duration::from_secs(seconds),
        seed: 42,
        out: out.path().to_owned(),
        ..FuzzOptions::default()
    };
    let report = fuzz::run(&options)
        .await
        .expect("the fuzz run could not run");
    println!("{}", report.summary(out.path()));
    (report, out)
}

fn assert_ran(report: &FuzzReport) {
    assert!(
        report.executions > 100,
        "only {} executions",
        report.executions
    );
    for method in METHODS {
        let count = report.per_method.get(&method.path()).copied().unwrap_or(0);
        assert!(count > 0, "{} was never called", method.path());
    }
    assert!(report.conservation_checks >= 1, "no conservation check ran");
    assert!(report.health_checks >= 1, "no health check ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reference_has_no_fuzz_failures_at_all() {
    let (report, _out) = fuzz_reference(5).await;
    assert_ran(&report);
    assert_eq!(
        report.failures, 0,
        "failures: {:#?}\n{:#?}",
        report.failure_classes, report.findings
    );
}

/// The first two findings of the live fuzz mode, replayed as regressions: an undecodable
/// request got `INTERNAL` without `ErrorInfo` (now INVALID_FIELD, OMPP-MSG-018), and a request
/// over 64 KiB made of unknown fields was processed (now MESSAGE_TOO_LARGE, OMPP-MSG-010).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_findings_replay_as_ompp_errors() {
    // GetPaymentRequest.merchant_id with a length of 6 and no bytes.
    let (verdict, shown) = fuzz::replay(
        None,
        "/ompp.v1.MerchantPaymentService/GetPayment",
        vec![0x0a, 0x06],
    )
    .await
    .unwrap();
    assert_eq!(
        verdict,
        fuzz::Verdict::Rejected {
            code: tonic::Code::InvalidArgument,
            reason: "INVALID_FIELD"
        },
        "{shown}"
    );
    // A CancelPayment whose size is ~100 KB of unknown field 2897 (tag 2897 << 3 | 2).
    let mut oversized = vec![0x0a, 0x05, b'p', b'a', b'y', b'_', b'1'];
    let tag = (2897u32 << 3) | 2;
    varint(tag, &mut oversized);
    varint(100_000, &mut oversized);
    oversized.resize(oversized.len() + 100_000, b'x');
    let (verdict, shown) = fuzz::replay(
        None,
        "/ompp.v1.MerchantPaymentService/CancelPayment",
        oversized,
    )
    .await
    .unwrap();
    assert_eq!(
        verdict,
        fuzz::Verdict::Rejected {
            code: tonic::Code::ResourceExhausted,
            reason: "MESSAGE_TOO_LARGE"
        },
        "{shown}"
    );
}

/// Appends `n` as a protobuf varint.
fn varint(mut n: u32, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(u8::try_from(n & 0x7f).unwrap() | 0x80);
        n >>= 7;
    }
    out.push(u8::try_from(n).unwrap());
}
