//! Callbacks signed with temporary credentials (`[serve] temporary_credentials`): an access key
//! the keyring does not hold plus a session token (AWS `X-Amz-Security-Token`, Alibaba
//! `SecurityToken` / `x-acs-security-token`). Refused as an unknown key by default; under
//! `"forward"` checked in every way but the MAC and let through for the service to verify
//! (`signature: service`), never harming what verified callers claim in the memory. Every
//! request runs natively and through the component; the cases are pinned in the corpus.

use crate::check_both;
use crate::corpus::{self, Entry};
use taskgate::cases::StoreState;
use taskgate_filter::{Request, SignatureCheck, Verdict};
use taskgate_tests::{
    AWS_KEY_ID, AwsCall, AwsDialect, Call, EXECUTION_ID, Layout, OTHER_TOKEN_KEY, aws_signed_at,
    signed_at,
};

/// Overrides that let temporary credentials through.
const FORWARD: &str = "[serve]\ntemporary_credentials = \"forward\"\n";
/// An AWS session's key id and token, as an IAM role's credentials look.
const ASIA_KEY: &str = "ASIAQEXAMPLETEMPKEY1";
const AWS_SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN//////////wEaCXVzLWVhc3QtMQ==";
/// An Alibaba STS key id and token.
const STS_KEY: &str = "STS.NUgYrLnoC37mZZCNnAbez2EXAMPLE";
const STS_TOKEN: &str = "CAIS8wF1q6Ft5B2yfSjIr5bEXAMPLESTSTOKEN";

/// What a case must get.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Forwarded with its MAC left to the service.
    Service,
    /// Passed (a call the filter does not model) with its MAC left to the service.
    PassedToService,
    /// Rejected with this status and code.
    Reject(u16, &'static str),
}

struct Case {
    name: String,
    request: Request,
    overrides: &'static str,
    memory: Option<StoreState>,
    want: Want,
}

fn case(name: impl Into<String>, request: Request, overrides: &'static str, want: Want) -> Case {
    Case {
        name: name.into(),
        request,
        overrides,
        memory: None,
        want,
    }
}

/// An AWS call signed with an IAM role's temporary credentials, the session token signed as
/// the SDKs sign it.
fn aws_temporary(dialect: AwsDialect) -> AwsCall {
    AwsCall::new(dialect)
        .key(ASIA_KEY, "the-session-secret")
        .header("X-Amz-Security-Token", AWS_SESSION_TOKEN)
        .signed_headers("content-type;host;x-amz-date;x-amz-security-token;x-amz-target")
}

/// An Alibaba call signed with STS credentials: `SecurityToken` a signed parameter under RPC
/// v1, `x-acs-security-token` a signed header under ACS3.
fn sts(layout: Layout) -> Call {
    let call = Call::new(layout).key(STS_KEY, "the-sts-secret");
    match layout {
        Layout::Acs3 => call.header("x-acs-security-token", STS_TOKEN),
        _ => call.set("SecurityToken", STS_TOKEN),
    }
}

/// The demo task token of event 42, its MAC made with `key`.
fn token_made_with(key: &[u8]) -> String {
    taskgate_filter::token::mint("a", EXECUTION_ID, 42, key).unwrap_or_default()
}

fn aws_name(dialect: AwsDialect) -> &'static str {
    match dialect {
        AwsDialect::States => "send_task_failure",
        AwsDialect::Swf => "respond_activity_task_failed",
        AwsDialect::CodePipeline => "put_job_failure_result",
    }
}

fn cases() -> Vec<Case> {
    use Want::*;
    let mut cases = Vec::new();
    for dialect in AwsDialect::ALL {
        let name = aws_name(dialect);
        let long = match dialect {
            AwsDialect::States => {
                format!(
                    r#"{{"taskToken": "tok-123", "cause": "{}"}}"#,
                    "x".repeat(32769)
                )
            }
            AwsDialect::Swf => format!(
                r#"{{"taskToken": "tok-123", "reason": "{}"}}"#,
                "x".repeat(257)
            ),
            AwsDialect::CodePipeline => format!(
                r#"{{"jobId": "11111111-2222-4333-8444-555555555555", "failureDetails": {{"type": "JobFailed", "message": "{}"}}}}"#,
                "x".repeat(5001)
            ),
        };
        cases.extend([
            case(
                format!("{name}_with_temporary_credentials_is_unrecognized_client_by_default"),
                aws_temporary(dialect).build(),
                "",
                Reject(400, "UnrecognizedClientException"),
            ),
            case(
                format!("{name}_with_temporary_credentials_is_forwarded_for_the_service_to_verify"),
                aws_temporary(dialect).build(),
                FORWARD,
                Service,
            ),
            case(
                format!(
                    "{name}_with_temporary_credentials_over_a_member_limit_is_validation_error"
                ),
                aws_temporary(dialect).body(long).build(),
                FORWARD,
                Reject(400, "ValidationException"),
            ),
        ]);
    }
    let states = || aws_temporary(AwsDialect::States);
    cases.extend([
        case(
            "temporary_credentials_signed_by_the_js_sdk_are_forwarded_for_the_service_to_verify",
            AwsCall::new(AwsDialect::States)
                .js_sdk()
                .key(ASIA_KEY, "the-session-secret")
                .header("x-amz-security-token", AWS_SESSION_TOKEN)
                .signed_headers("amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-target;x-amz-user-agent")
                .build(),
            FORWARD,
            Service,
        ),
        case(
            "an_unknown_key_without_a_session_token_is_unrecognized_client_even_when_forwarding",
            AwsCall::new(AwsDialect::States)
                .key(ASIA_KEY, "the-session-secret")
                .build(),
            FORWARD,
            Reject(400, "UnrecognizedClientException"),
        ),
        case(
            "an_empty_session_token_is_unrecognized_client_even_when_forwarding",
            AwsCall::new(AwsDialect::States)
                .key(ASIA_KEY, "the-session-secret")
                .header_after_signing("X-Amz-Security-Token", " ")
                .build(),
            FORWARD,
            Reject(400, "UnrecognizedClientException"),
        ),
        case(
            "a_known_key_with_a_session_token_and_a_wrong_secret_is_invalid_signature",
            AwsCall::new(AwsDialect::States)
                .key(AWS_KEY_ID, "not-the-secret")
                .header("X-Amz-Security-Token", AWS_SESSION_TOKEN)
                .signed_headers("content-type;host;x-amz-date;x-amz-security-token;x-amz-target")
                .build(),
            FORWARD,
            Reject(400, "InvalidSignatureException"),
        ),
        case(
            "temporary_credentials_signed_20_minutes_before_receipt_are_signature_expired",
            states().received_at(aws_signed_at() + 20 * 60).build(),
            FORWARD,
            Reject(400, "InvalidSignatureException"),
        ),
        case(
            "temporary_credentials_with_a_signature_that_is_no_mac_are_invalid_signature",
            states().signature("not-a-mac").build(),
            FORWARD,
            Reject(400, "InvalidSignatureException"),
        ),
        case(
            "temporary_credentials_scoped_to_another_service_are_refused",
            states().scope_service("swf").build(),
            FORWARD,
            Reject(400, "InvalidSignatureException"),
        ),
        case(
            "temporary_credentials_with_a_payload_hash_of_another_body_are_invalid_signature",
            states()
                .header_after_signing("x-amz-content-sha256", &"0".repeat(64))
                .build(),
            FORWARD,
            Reject(400, "InvalidSignatureException"),
        ),
        case(
            "another_call_with_temporary_credentials_is_passed_for_the_service_to_verify",
            states()
                .target("AWSStepFunctions.DescribeExecution")
                .body(r#"{"executionArn": "arn:aws:states:us-east-1:123456789012:execution:demo:1"}"#)
                .build(),
            FORWARD,
            PassedToService,
        ),
    ]);

    for layout in Layout::ALL {
        let name = layout.name();
        cases.extend([
            case(
                format!("{name}_with_sts_credentials_is_invalid_access_key_id_by_default"),
                sts(layout).build(),
                "",
                Reject(403, "InvalidAccessKeyID"),
            ),
            case(
                format!("{name}_with_sts_credentials_is_forwarded_for_the_service_to_verify"),
                sts(layout).build(),
                FORWARD,
                Service,
            ),
            case(
                format!(
                    "{name}_with_sts_credentials_and_a_cause_of_4097_characters_is_invalid_argument"
                ),
                sts(layout).set("Cause", &"c".repeat(4097)).build(),
                FORWARD,
                Reject(400, "InvalidArgument"),
            ),
        ]);
    }
    let rpc = || sts(Layout::QueryAndForm);
    cases.extend([
        case(
            "sts_credentials_without_a_security_token_are_invalid_access_key_id_even_when_forwarding",
            Call::new(Layout::QueryAndForm)
                .key(STS_KEY, "the-sts-secret")
                .build(),
            FORWARD,
            Reject(403, "InvalidAccessKeyID"),
        ),
        case(
            "sts_credentials_signed_late_are_request_time_too_skewed",
            rpc().received_at(signed_at() + 20 * 60).build(),
            FORWARD,
            Reject(403, "RequestTimeTooSkewed"),
        ),
        case(
            "sts_credentials_with_a_signature_that_is_no_mac_are_signature_not_match",
            rpc().signature("bm90LWEtbWFj").build(),
            FORWARD,
            Reject(403, "SignatureNotMatch"),
        ),
        case(
            "sts_credentials_with_a_task_token_of_no_configured_key_are_refused",
            rpc()
                .set(
                    "TaskToken",
                    &token_made_with(b"a-key-nobody-configured"),
                )
                .build(),
            FORWARD,
            Reject(400, "InvalidArgument"),
        ),
        case(
            "sts_credentials_with_a_token_of_another_configured_account_are_left_to_the_service",
            rpc()
                .set(
                    "TaskToken",
                    &token_made_with(OTHER_TOKEN_KEY),
                )
                .build(),
            FORWARD,
            Service,
        ),
        case(
            "sts_credentials_with_a_wrong_signature_method_are_invalid_argument",
            rpc().set("SignatureMethod", "HMAC-SHA256").build(),
            FORWARD,
            Reject(400, "InvalidArgument"),
        ),
        case(
            "acs3_with_sts_credentials_and_a_body_hash_of_another_body_is_signature_not_match",
            sts(Layout::Acs3)
                .header("x-acs-content-sha256", &"0".repeat(64))
                .build(),
            FORWARD,
            Reject(403, "SignatureNotMatch"),
        ),
    ]);

    // The memory: a temporary-credential report only consults its task, so a task another
    // report holds does not make it wait, while a settled one is still answered at the edge.
    let memory = |name: &str, request: Request, state: StoreState, want| Case {
        memory: Some(state),
        ..case(name, request, FORWARD, want)
    };
    cases.extend([
        memory(
            "a_temporary_credential_report_does_not_wait_for_a_task_another_report_holds",
            aws_temporary(AwsDialect::States).build(),
            StoreState {
                busy: true,
                ..StoreState::default()
            },
            Service,
        ),
        memory(
            "a_temporary_credential_report_for_a_settled_task_is_answered_at_the_edge",
            aws_temporary(AwsDialect::States).build(),
            StoreState {
                settled: true,
                ..StoreState::default()
            },
            Reject(400, "TaskTimedOut"),
        ),
        memory(
            "an_sts_report_whose_nonce_and_signature_were_seen_is_a_replay",
            sts(Layout::QueryAndForm).build(),
            StoreState {
                nonce_claimed: true,
                ..StoreState::default()
            },
            Reject(400, "SignatureNonceUsed"),
        ),
    ]);
    cases
}

/// The cases as corpus entries (`tests/cases/<dialect>/`).
pub fn corpus() -> Vec<Entry> {
    cases()
        .into_iter()
        .map(|case| Entry {
            name: case.name,
            request: case.request,
            overrides: case.overrides.to_owned(),
            memory: case.memory,
        })
        .collect()
}

#[test]
fn temporary_credentials_are_refused_by_default_and_checked_in_all_but_their_mac_when_forwarded() {
    let mut failures = Vec::new();
    for case in cases() {
        let config = corpus::config(case.overrides);
        let mut verdict = check_both(&config, &case.request);
        if let Some(failure) = case.memory.and_then(|memory| memory.answer(&verdict)) {
            verdict = Verdict::Reject(taskgate_filter::edge_response(&case.request, failure));
        }
        let ok = match (case.want, &verdict) {
            (Want::Service, Verdict::Forward(report)) => {
                report.signature == SignatureCheck::Service && !report.recall.settles
            }
            (Want::PassedToService, Verdict::Pass(call)) => {
                call.signature == Some(SignatureCheck::Service)
            }
            (Want::Reject(status, code), Verdict::Reject(response)) => {
                (response.status, response.code.as_str()) == (status, code)
            }
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}: want {:?}, got {verdict:?}",
                case.name, case.want
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_keys_a_verified_callers_memory_holds_are_never_claimed_by_an_unverified_request() {
    let config = corpus::config(FORWARD);
    let recall = |request: Request| match check_both(&config, &request) {
        Verdict::Forward(report) => (report.signature, report.recall),
        other => panic!("expected a forward, got {other:?}"),
    };
    // A verified report holds its task; the same report with temporary credentials only looks.
    let (signature, verified) = recall(Call::new(Layout::QueryAndForm).build());
    assert_eq!(signature, SignatureCheck::Edge);
    assert!(verified.settles);
    let (signature, genuine) = recall(sts(Layout::QueryAndForm).build());
    assert_eq!(signature, SignatureCheck::Service);
    assert!(!genuine.settles);
    assert_eq!(genuine.task, verified.task, "the same task is consulted");

    // A forgery that copies the genuine request's key id and nonce, with another signature,
    // claims a nonce key of its own: it cannot make the genuine request a replay.
    let (_, forged) = recall(sts(Layout::QueryAndForm).secret("a-forgers-guess").build());
    assert!(forged.nonce.is_some() && genuine.nonce.is_some());
    assert_ne!(forged.nonce, genuine.nonce);
    // The same bytes again are the same claim: a replay is still caught.
    let (_, again) = recall(sts(Layout::QueryAndForm).build());
    assert_eq!(again.nonce, genuine.nonce);
    // And no unverified nonce key is ever a verified one's, whatever the key id.
    assert_ne!(genuine.nonce, verified.nonce);
}
