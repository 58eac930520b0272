//! The whole filter: `check` on arbitrary requests, natively (`check`) and natively against
//! the compiled component in wasmtime (`differential`).

use crate::request::{self, FuzzRequest};
use crate::resign::resign;
use std::sync::{Arc, OnceLock};
use taskgate::config::Config;
use taskgate::sandbox::Sandbox;
use taskgate_filter::{
    Callback, Dialect, Env as _, OtherCalls, Request, Response, SignatureCheck, Verdict, dialect_of,
};

/// The targets' configuration (keys of the case corpus and the captured SDK requests).
const CONFIG: &str = include_str!("../taskgate.toml");

/// The configuration with each `other_calls` mode, parsed once.
fn config(mode: OtherCalls) -> Arc<Config> {
    static CONFIGS: OnceLock<Vec<Arc<Config>>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        OtherCalls::ALL
            .iter()
            .map(|mode| {
                let text = format!("{CONFIG}\n[serve]\nother_calls = \"{}\"\n", mode.name());
                match Config::parse(&text) {
                    Ok(config) => Arc::new(config),
                    Err(error) => panic!("the fuzz configuration does not parse: {error:#}"),
                }
            })
            .collect()
    });
    let index = OtherCalls::ALL.iter().position(|m| *m == mode).unwrap_or(0);
    Arc::clone(&configs[index])
}

/// A fuzz input as the request to check and the configuration to check it under, signed again
/// when it asks for that.
pub fn prepare(data: &[u8]) -> (Request, Arc<Config>) {
    let FuzzRequest {
        mut request,
        resign: again,
        other_calls,
    } = request::read(data);
    let config = config(other_calls);
    if again {
        resign(&mut request, &config);
    }
    (request, config)
}

/// `check` target: the verdict is the same twice over and through `explain`, and it has the
/// shape its kind promises (see [`assert_well_formed`]).
pub fn check(data: &[u8]) {
    let (request, config) = prepare(data);
    let verdict = taskgate_filter::check(&request, config.as_ref());
    assert_eq!(
        verdict,
        taskgate_filter::check(&request, config.as_ref()),
        "the verdict is not deterministic"
    );
    let (explained, steps) = taskgate_filter::explain(&request, config.as_ref());
    assert_eq!(
        verdict, explained,
        "explain gives another verdict than check"
    );
    if matches!(verdict, Verdict::Forward(_) | Verdict::Pass(_)) {
        assert!(!steps.is_empty(), "an accepted request passed no rule");
    }
    assert_well_formed(&request, &config, &verdict);
}

/// `differential` target: the native library and the component built for wasm32-wasip2, run
/// in the host's sandbox, give the identical verdict; the component never fails.
pub fn differential(data: &[u8]) {
    let (request, config) = prepare(data);
    let native = taskgate_filter::check(&request, config.as_ref());
    let component = match sandbox().check(&config, request.clone()) {
        Ok(verdict) => verdict,
        Err(error) => panic!("the component failed: {error:#}"),
    };
    assert_eq!(native, component, "native and component verdicts differ");
}

/// Loads the component before fuzzing starts: compiling it takes seconds, which libFuzzer
/// would otherwise count against the first input.
pub fn warm_up() {
    sandbox();
}

/// The filter component: the one the host embeds when this crate is built by the root
/// workspace; else (the fuzz build skips building it: the nested cargo must not inherit the
/// fuzzer's flags) the file named by `TASKGATE_FUZZ_COMPONENT`, as `fuzz/run.sh` builds it.
fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let config = config(OtherCalls::Authenticate);
        let bytes = if taskgate::EMBEDDED_COMPONENT.is_empty() {
            let Some(path) = std::env::var_os("TASKGATE_FUZZ_COMPONENT") else {
                panic!(
                    "TASKGATE_FUZZ_COMPONENT must name the filter component (fuzz/run.sh builds it and sets it)"
                );
            };
            match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(error) => panic!("reading {}: {error}", path.to_string_lossy()),
            }
        } else {
            taskgate::EMBEDDED_COMPONENT.to_vec()
        };
        match Sandbox::new(&bytes, config.sandbox.memory_bytes, 1) {
            Ok(sandbox) => sandbox,
            Err(error) => panic!("the filter component does not load: {error:#}"),
        }
    })
}

/// What every verdict promises: a rejection is a vendor error (a 4xx or 5xx status, a code,
/// the dialect's content type and request id header, a JSON body naming the same code); a
/// forwarded report is of the request's dialect, from a configured key, within the call's
/// length limits; a passed call has a printable action and is authenticated exactly when
/// `other_calls` says so.
pub fn assert_well_formed(request: &Request, config: &Config, verdict: &Verdict) {
    let dialect = dialect_of(request);
    match verdict {
        Verdict::Reject(response) => assert_vendor_error(dialect, response),
        Verdict::Forward(report) => {
            assert_eq!(report.dialect, dialect, "a report of another dialect");
            // A key the keyring does not hold only with temporary credentials, its MAC left to
            // the service; such a report never holds its task.
            let edge = report.signature == SignatureCheck::Edge;
            assert_eq!(
                config.keyring.access_key(&report.access_key_id).is_some(),
                edge,
                "a report signed by an unknown key, or left to the service with a known one"
            );
            assert!(!report.task_token.is_empty(), "a report without a token");
            assert_eq!(
                report.recall.settles,
                report.callback.settles() && edge,
                "a report whose recall disagrees with its callback"
            );
            let chars = |text: &Option<String>| text.as_deref().map(|t| t.chars().count());
            match dialect {
                Dialect::Fnf => {
                    let token = report.token.as_ref();
                    assert!(
                        token.is_some(),
                        "an Alibaba report without its decoded token"
                    );
                    assert!(
                        token.is_some_and(|t| t.verified == t.account.is_some()),
                        "a token verified without an account, or the reverse"
                    );
                    match report.callback {
                        Callback::Failed => {
                            assert_eq!(report.action, "ReportTaskFailed");
                            assert!(matches!(chars(&report.error), Some(1..=128)), "Error");
                            assert!(
                                matches!(chars(&report.cause), None | Some(1..=4096)),
                                "Cause"
                            );
                            assert!(report.output.is_none(), "a failure with an output");
                        }
                        Callback::Succeeded => {
                            assert_eq!(report.action, "ReportTaskSucceeded");
                            assert!(matches!(chars(&report.output), Some(1..)), "Output");
                            assert!(report.error.is_none() && report.cause.is_none());
                        }
                        other => panic!("an Alibaba report of another callback: {other:?}"),
                    }
                }
                Dialect::States | Dialect::Swf | Dialect::CodePipeline => {
                    assert!(report.token.is_none(), "an AWS token was decoded");
                }
            }
        }
        Verdict::Pass(call) => {
            assert_eq!(call.dialect, dialect, "a passed call of another dialect");
            assert!(
                call.action.len() <= 128 && call.action.bytes().all(|b| b.is_ascii_graphic()),
                "a passed call's action is not printable: {:?}",
                call.action
            );
            match config.other_calls() {
                OtherCalls::Reject => panic!("a call passed with other_calls = reject"),
                OtherCalls::Forward => assert!(call.access_key_id.is_none()),
                OtherCalls::Authenticate => assert_eq!(
                    call.access_key_id
                        .as_deref()
                        .map(|id| config.keyring.access_key(id).is_some()),
                    call.signature.map(|check| check == SignatureCheck::Edge),
                    "a call passed as authenticated without a configured key (or left to the service with one)"
                ),
            }
        }
    }
}

/// A vendor error in `dialect`'s format.
pub fn assert_vendor_error(dialect: Dialect, response: &Response) {
    assert!(
        (400..=599).contains(&response.status),
        "a rejection with status {}",
        response.status
    );
    assert!(!response.code.is_empty(), "a rejection without a code");
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let body: serde_json::Value = match serde_json::from_slice(&response.body) {
        Ok(body) => body,
        Err(error) => panic!("a rejection whose body is not JSON ({error}): {response:?}"),
    };
    match dialect {
        Dialect::Fnf => {
            assert_eq!(body["Code"], response.code.as_str(), "{response:?}");
            assert_eq!(
                header("content-type"),
                Some("application/json;charset=utf-8")
            );
            assert!(header("x-acs-request-id").is_some_and(|id| body["RequestId"] == id));
        }
        Dialect::States | Dialect::Swf | Dialect::CodePipeline => {
            assert_eq!(body["__type"], response.code.as_str(), "{response:?}");
            assert!(
                header("content-type").is_some_and(|t| t.starts_with("application/x-amz-json-1.")),
                "{response:?}"
            );
            assert!(header("x-amzn-requestid").is_some());
        }
    }
}
