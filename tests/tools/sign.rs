//! `test-sign [LAYOUT] OUT`: writes a callback request signed now, with the demo keys, as a raw
//! HTTP/1.1 file (what `taskgate check` and `bench-loadgen` read).
//!
//! The signing is the test suite's own (`taskgate_tests`, independent of the filter's), so the
//! benchmarks and the tests share one signer. LAYOUT is one of `query-and-form` (the default:
//! the Python SDK's RPC v1 layout, as examples/report-task-failed.http), `form-only`, `json`,
//! `acs3`, `states`, `swf`, `codepipeline`.

use anyhow::{Context as _, bail};
use taskgate_tests::{AwsCall, AwsDialect, Call, Layout, to_http};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (layout, out) = match args.as_slice() {
        [out] => ("query-and-form", out),
        [layout, out] => (layout.as_str(), out),
        _ => bail!("usage: test-sign [LAYOUT] OUT"),
    };
    let request = match layout {
        "query-and-form" => Call::new(Layout::QueryAndForm).now().build(),
        "form-only" => Call::new(Layout::FormOnly).now().build(),
        "json" => Call::new(Layout::Json).now().build(),
        "acs3" => Call::new(Layout::Acs3).now().build(),
        "states" => AwsCall::new(AwsDialect::States).now().build(),
        "swf" => AwsCall::new(AwsDialect::Swf).now().build(),
        "codepipeline" => AwsCall::new(AwsDialect::CodePipeline).now().build(),
        other => bail!("unknown layout {other:?}"),
    };
    std::fs::write(out, to_http(&request)).with_context(|| format!("writing {out}"))
}
