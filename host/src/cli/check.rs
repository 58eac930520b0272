//! `taskgate check`: one request file (or the shipped example), its verdict on stdout.

use super::{load_config, now_seconds, parse_time, read_input, sandbox};
use crate::Inputs;
use std::path::Path;
use std::process::ExitCode;
use taskgate::config::Config;
use taskgate::repair::{self, Repairing};
use taskgate::resign::{self, Resigning};
use taskgate::{output, request_file};
use taskgate_filter::Verdict;

/// The request checked when `check` is given no file: a ReportTaskFailed signed with the demo
/// access key, checked at the moment it was signed so that it stays valid.
const EXAMPLE_REQUEST: &[u8] = include_bytes!("../../../examples/report-task-failed.http");
const EXAMPLE_RECEIVED_AT: &str = "2026-11-22T08:00:00Z";

/// Bytes read from a request file beyond the body limit: room for the request line and headers.
const HEAD_ALLOWANCE: u64 = 1 << 20;

/// `taskgate check`: one request file (or the shipped example), its verdict on stdout.
pub fn run(file: Option<&Path>, now: Option<&str>, inputs: &Inputs) -> anyhow::Result<ExitCode> {
    let config = load_config(inputs.config.as_deref())?;
    let sandbox = sandbox(inputs, &config, false)?;
    let (bytes, received_at) = match file {
        None => {
            eprintln!(
                "taskgate: no file given: checking the shipped example request as received at {EXAMPLE_RECEIVED_AT}"
            );
            (EXAMPLE_REQUEST.to_vec(), parse_time(EXAMPLE_RECEIVED_AT)?)
        }
        Some(path) => {
            let limit = u64::from(config.limits.largest_body()) + HEAD_ALLOWANCE;
            (
                read_input(path, limit)?,
                now.map_or_else(now_seconds, parse_time)?,
            )
        }
    };
    let mut request = request_file::parse(&bytes, received_at)?;
    // The filter needs only to see that the body is over the limit, as a gateway that
    // stops reading there would: never copy more than one byte past it into the sandbox.
    let limit = config
        .limits
        .body_limit(taskgate_filter::dialect_of(&request));
    request.body.truncate(limit as usize + 1);
    let verdict = match sandbox.check(&config, request.clone()) {
        Ok(verdict) => verdict,
        Err(error) => {
            // The caller still gets an answer in its own dialect, as from a gateway:
            // the component's, or the built-in table's if it cannot give even that.
            eprintln!("taskgate: the filter component failed: {error:#}");
            let failure = taskgate_filter::EdgeFailure::Internal;
            Verdict::Reject(
                sandbox
                    .respond(&config, &request, failure.clone())
                    .unwrap_or_else(|_| taskgate_filter::edge_response(&request, failure)),
            )
        }
    };
    // A worker key's `sign_as`: what would be forwarded, signed with the gateway's credential
    // at the time of receipt (and checked again), or the 500 the gateway would answer. A
    // credential from a cloud's chain is fetched once, now.
    if !config.chains.is_empty() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        for chain in &config.chains {
            if let Err(why) = runtime.block_on(chain.refresh()) {
                eprintln!(
                    "taskgate: credentials '{}' cannot be had: {why}",
                    chain.spec().name
                );
            }
        }
    }
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    // Repair mode: a failure report refused for over-long free text, as the gateway would
    // forward it (cut to length, signed again and checked again).
    let serve = &config.serve;
    let mut repaired = None;
    let verdict = match verdict {
        Verdict::Reject(refusal) if repair::applies(serve.repair, serve.mode) => {
            let tc = serve.temporary_credentials;
            match repair::repair(&sandbox, &config, tc, &request, received_at, &nonce) {
                Repairing::Repaired(repair) => {
                    let signer = (repair.sign_as.clone())
                        .unwrap_or_else(|| repair.report.access_key_id.clone());
                    let token =
                        (repair.sign_as.as_deref()).and_then(|name| session_token(&config, name));
                    let mut shown = output::resigned(&signer, token.as_deref(), &repair.request);
                    if let serde_json::Value::Object(map) = &mut shown {
                        map.insert("fields".to_owned(), serde_json::json!(repair.fields));
                    }
                    repaired = Some(shown);
                    Verdict::Forward(repair.report)
                }
                Repairing::Refused(why) => {
                    eprintln!("taskgate: the report was not repaired: {why}");
                    Verdict::Reject(refusal)
                }
                Repairing::Nothing => Verdict::Reject(refusal),
            }
        }
        verdict => verdict,
    };
    // A repaired report was signed by the repair already.
    let key = resign::verified_key(&verdict).filter(|_| repaired.is_none());
    let resigning = resign::resign(
        &sandbox,
        &config,
        config.serve.temporary_credentials,
        &request,
        key,
        received_at,
        &nonce,
    );
    let (verdict, resigned) = match resigning {
        Resigning::AsSigned => (verdict, None),
        Resigning::Signed {
            credential,
            request,
        } => {
            let token = session_token(&config, &credential);
            let shown = output::resigned(&credential, token.as_deref(), &request);
            (verdict, Some(shown))
        }
        Resigning::Failed {
            credential,
            stage,
            why,
        } => {
            eprintln!(
                "taskgate: the request could not be re-signed with '{credential}' ({stage}: {why})"
            );
            let failure = taskgate_filter::EdgeFailure::Internal;
            let answer = sandbox
                .respond(&config, &request, failure.clone())
                .unwrap_or_else(|_| taskgate_filter::edge_response(&request, failure));
            (Verdict::Reject(answer), None)
        }
    };
    let mut shown = output::verdict(&verdict);
    if let (Some(resigned), serde_json::Value::Object(fields)) = (resigned, &mut shown) {
        fields.insert("resigned".to_owned(), resigned);
    }
    if let (Some(repaired), serde_json::Value::Object(fields)) = (repaired, &mut shown) {
        fields.insert("repaired".to_owned(), repaired);
    }
    println!("{shown:#}");
    Ok(match verdict {
        Verdict::Forward(_) | Verdict::Pass(_) => ExitCode::SUCCESS,
        Verdict::Reject(_) => ExitCode::from(1),
    })
}

/// The session token of the credential `name` as it is now, to mask it in what is shown.
fn session_token(config: &Config, name: &str) -> Option<String> {
    let current = config.keyring.signing_credential(name)?.ok()?;
    current.session_token
}
