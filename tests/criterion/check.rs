//! `check` natively and through the component (a new instance per call, the default, and a
//! warm instance reused across calls, `instance_reuse`),
//! for signed ReportTaskFailed requests in each signature scheme, for the AWS calls (SigV4) and
//! for rejections; and repair mode's work on an over-long failure report.
//!
//! Run: `cargo bench -p taskgate-tests --bench check`. Figures go in BENCHMARKS.md.
//! `TASKGATE_BENCH_COMPONENT=path.wasm` measures another build (one with symbols, for `perf`).

#![expect(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![expect(
    clippy::panic,
    reason = "a benchmark of a broken path must stop, not report"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use taskgate::config::Config;
use taskgate::repair::{self, Repairing};
use taskgate::sandbox::Sandbox;
use taskgate_tests::{AwsCall, AwsDialect, Call, Layout};

fn bench(c: &mut Criterion) {
    let Ok(config) = Config::demo().map(Arc::new) else {
        return;
    };
    let component = match std::env::var_os("TASKGATE_BENCH_COMPONENT") {
        Some(path) => std::fs::read(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.to_string_lossy())),
        None => taskgate::EMBEDDED_COMPONENT.to_vec(),
    };
    let Ok(sandbox) = Sandbox::new(&component, config.sandbox.memory_bytes, 1) else {
        return;
    };
    // The same component with `[sandbox] instance_reuse = 1000`: a warm instance per check.
    let Ok(warm) = Sandbox::new(&component, config.sandbox.memory_bytes, 1000) else {
        return;
    };
    let cases = [
        ("rpc_v1_forward", Call::new(Layout::QueryAndForm).build()),
        ("acs3_forward", Call::new(Layout::Acs3).build()),
        (
            "rpc_v1_bad_signature",
            Call::new(Layout::QueryAndForm).secret("wrong").build(),
        ),
        (
            "sigv4_states_forward",
            AwsCall::new(AwsDialect::States).build(),
        ),
        (
            "sigv4_codepipeline_js_sdk_forward",
            AwsCall::new(AwsDialect::CodePipeline).js_sdk().build(),
        ),
        (
            "sigv4_states_bad_signature",
            AwsCall::new(AwsDialect::States).secret("wrong").build(),
        ),
        (
            "rpc_v1_succeeded_forward",
            Call::new(Layout::QueryAndForm)
                .succeeded(r#"{"orderId":"1042","charged":true}"#)
                .build(),
        ),
        (
            "sigv4_send_task_success_forward",
            AwsCall::new(AwsDialect::States)
                .target("AWSStepFunctions.SendTaskSuccess")
                .body(r#"{"taskToken": "tok-123", "output": "{\"orderId\": \"1042\", \"charged\": true}"}"#)
                .build(),
        ),
        (
            "sigv4_put_job_success_result_forward",
            AwsCall::new(AwsDialect::CodePipeline)
                .target("CodePipeline_20150709.PutJobSuccessResult")
                .body(r#"{"jobId": "11111111-2222-4333-8444-555555555555", "executionDetails": {"summary": "built", "percentComplete": 100}, "outputVariables": {"IMAGE_TAG": "v1.2.3"}}"#)
                .build(),
        ),
        (
            "cause_4096_chars_forward",
            Call::new(Layout::FormOnly)
                .set("Cause", &"é".repeat(4096))
                .build(),
        ),
    ];
    for (name, request) in &cases {
        // A benchmark of a failing path would look fast: every variant must give the native verdict.
        let native = taskgate_filter::check(request, config.as_ref());
        for sandbox in [&sandbox, &warm] {
            match sandbox.check(&config, request.clone()) {
                Ok(verdict) if verdict == native => {}
                other => panic!("{name}: the component gave {other:?}, natively {native:?}"),
            }
        }
        let mut group = c.benchmark_group(*name);
        group.bench_function("native", |b| {
            b.iter(|| taskgate_filter::check(black_box(request), config.as_ref()))
        });
        group.bench_function("component", |b| {
            b.iter(|| sandbox.check(&config, black_box(request.clone())))
        });
        group.bench_function("component_warm", |b| {
            b.iter(|| warm.check(&config, black_box(request.clone())))
        });
        group.finish();
    }
    // Repair mode's work on a refused failure report: the check that refuses it, then the cut,
    // the signing and the second check (`taskgate::repair`).
    let over_long = [
        (
            "repair_rpc_v1_cause_5000",
            Call::new(Layout::QueryAndForm)
                .set("Cause", &"x".repeat(5000))
                .build(),
        ),
        (
            "repair_sigv4_cause_40000",
            AwsCall::new(AwsDialect::States)
                .body(format!(
                    r#"{{"taskToken": "tok-123", "cause": "{}"}}"#,
                    "x".repeat(40_000)
                ))
                .build(),
        ),
    ];
    let nonce = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
    let tc = config.serve.temporary_credentials;
    let repair = |request: &taskgate_filter::Request| {
        repair::repair(&sandbox, &config, tc, request, request.received_at, nonce)
    };
    for (name, request) in &over_long {
        match repair(request) {
            Repairing::Repaired(_) => {}
            other => panic!("{name}: not repaired: {other:?}"),
        }
        let mut group = c.benchmark_group(*name);
        group.bench_function("check", |b| {
            b.iter(|| sandbox.check(&config, black_box(request.clone())))
        });
        group.bench_function("check_and_repair", |b| {
            b.iter(|| {
                let refused = sandbox.check(&config, black_box(request.clone()));
                (refused.is_ok(), repair(black_box(request)))
            })
        });
        group.finish();
    }
    c.bench_function("component_decode_token", |b| {
        let token = taskgate_tests::demo_token(42);
        b.iter(|| sandbox.decode_token(&config, black_box(&token)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
