//! `check` natively and through the component (a new instance per call, as the host does it),
//! for signed ReportTaskFailed requests in each signature scheme and for a rejection.
//!
//! Run: `cargo bench -p taskgate-tests --bench check`. Figures go in BENCHMARKS.md.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use taskgate::config::Config;
use taskgate::sandbox::Sandbox;
use taskgate_tests::{Call, Layout};

fn bench(c: &mut Criterion) {
    let Ok(config) = Config::demo().map(Arc::new) else {
        return;
    };
    let Ok(sandbox) = Sandbox::embedded(&config) else {
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
            "cause_4096_chars_forward",
            Call::new(Layout::FormOnly)
                .set("Cause", &"é".repeat(4096))
                .build(),
        ),
    ];
    for (name, request) in &cases {
        let mut group = c.benchmark_group(*name);
        group.bench_function("native", |b| {
            b.iter(|| taskgate_filter::check(black_box(request), config.as_ref()))
        });
        group.bench_function("component", |b| {
            b.iter(|| sandbox.check(&config, black_box(request.clone())))
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
