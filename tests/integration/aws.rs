//! The AWS dialects (Step Functions `SendTaskFailure`, SWF `RespondActivityTaskFailed`,
//! CodePipeline `PutJobFailureResult`) against the AWS rules of docs/checks.md and docs/protocols.md §2.
//! Every request runs natively and through the component, and the two verdicts must be identical.

use crate::{check_both, demo};
use serde_json::Value;
use std::sync::Arc;
use taskgate::config::Config;
use taskgate_filter::{Dialect, EdgeFailure, Request, Response, Verdict, edge_response};
use taskgate_tests::aws_rules::*;
use taskgate_tests::{
    AWS_KEY_ID, AWS_REGION, AWS_SECRET, AWS_SIGNED_AT, AwsCall, AwsDialect, BOTO3_SIGNED_HEADERS,
    aws_signed_at, sigv4,
};

use AwsDialect::{CodePipeline, States, Swf};

/// A rejection as the caller sees it.
struct Answer {
    response: Response,
    kind: String,
    message: String,
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Checks an AWS error response's form: status, content type, request id, `__type` body.
fn aws_error(response: Response, status: u16, code: &str, content_type: &str) -> Answer {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "the error body is not JSON ({e}): {}",
            String::from_utf8_lossy(&response.body)
        )
    });
    let kind = body["__type"].as_str().expect("__type").to_owned();
    let message = body["message"].as_str().expect("message").to_owned();
    assert_eq!(
        (response.status, kind.as_str()),
        (status, code),
        "message: {message}"
    );
    assert_eq!(response.code, code);
    assert_eq!(header(&response, "content-type"), Some(content_type));
    let id = header(&response, "x-amzn-requestid").expect("x-amzn-requestid");
    assert!(is_uuid(id), "request id {id:?}");
    Answer {
        response,
        kind,
        message,
    }
}

/// Runs a request both ways under `config`; it must be rejected in this form.
fn reject_with(
    config: &Arc<Config>,
    request: &Request,
    status: u16,
    code: &str,
    content_type: &str,
) -> Answer {
    match check_both(config, request) {
        Verdict::Forward(report) => panic!("expected {code}, forwarded: {report:?}"),
        Verdict::Pass(call) => panic!("expected {code}, passed: {call:?}"),
        Verdict::Reject(response) => aws_error(response, status, code, content_type),
    }
}

/// Builds the call, runs it both ways under the demo config; it must be rejected so, in the
/// call's content type.
fn reject(call: AwsCall, status: u16, code: &str) -> Answer {
    let content_type = call.dialect().content_type();
    reject_with(&demo(), &call.build(), status, code, content_type)
}

fn forward_with(config: &Arc<Config>, request: &Request) -> taskgate_filter::Report {
    match check_both(config, request) {
        Verdict::Forward(report) => report,
        Verdict::Pass(call) => panic!("expected a forward, passed as another call: {call:?}"),
        Verdict::Reject(response) => panic!(
            "expected a forward, got {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        ),
    }
}

fn forward(call: AwsCall) -> taskgate_filter::Report {
    forward_with(&demo(), &call.build())
}

fn sfn(token: &str, error: &str, cause: &str) -> AwsCall {
    AwsCall::new(States).body(object(&[
        member("taskToken", token),
        member("error", error),
        member("cause", cause),
    ]))
}

fn swf(token: &str, reason: &str, details: &str) -> AwsCall {
    AwsCall::new(Swf).body(object(&[
        member("taskToken", token),
        member("reason", reason),
        member("details", details),
    ]))
}

fn pipeline(job_id: &str, details: &str) -> AwsCall {
    AwsCall::new(CodePipeline).body(format!(
        "{{\"jobId\": \"{job_id}\", \"failureDetails\": {details}}}"
    ))
}

fn details(kind: &str, message: &str, external: Option<&str>) -> String {
    let mut members = vec![member("type", kind), member("message", message)];
    if let Some(external) = external {
        members.push(member("externalExecutionId", external));
    }
    object(&members)
}

// ---------------------------------------------------------------------------------------------
// The tests' own signer against AWS's published vectors.

#[test]
fn the_test_signer_matches_the_published_sigv4_vectors() {
    // docs/protocols.md §2: SendTaskFailure as boto3 signs it.
    let headers: Vec<(String, String)> = [
        ("Host", "states.us-east-1.amazonaws.com"),
        ("Content-Type", JSON_10),
        ("X-Amz-Date", "20240102T030405Z"),
        ("X-Amz-Target", "AWSStepFunctions.SendTaskFailure"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let body = br#"{"taskToken": "tok-123", "error": "ErrX", "cause": "some cause"}"#;
    let canonical = sigv4::canonical_request(
        "POST",
        "/",
        "",
        &headers,
        BOTO3_SIGNED_HEADERS,
        &sigv4::sha256_hex(body),
    );
    let signature = sigv4::signature(
        AWS_SECRET,
        "20240102T030405Z",
        "20240102",
        "us-east-1",
        "states",
        &canonical,
    );
    assert_eq!(
        signature,
        "898b3b55d6df4aaadc747983790571b86cf24adf57050a7e817067ec306adf52"
    );

    // AWS's own test suite, get-vanilla.
    let headers: Vec<(String, String)> = vec![
        ("Host".into(), "example.amazonaws.com".into()),
        ("X-Amz-Date".into(), "20150830T123600Z".into()),
    ];
    let canonical = sigv4::canonical_request(
        "GET",
        "/",
        "",
        &headers,
        "host;x-amz-date",
        &sigv4::sha256_hex(b""),
    );
    assert_eq!(
        sigv4::signature(
            AWS_SECRET,
            "20150830T123600Z",
            "20150830",
            "us-east-1",
            "service",
            &canonical
        ),
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );

    // The builder's default Step Functions call is that very request.
    let request = AwsCall::new(States).build();
    assert_eq!(request.body, body);
    assert_eq!(
        request.header("authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/states/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=898b3b55d6df4aaadc747983790571b86cf24adf57050a7e817067ec306adf52"
        )
    );
    assert_eq!(AWS_SIGNED_AT, "20240102T030405Z");
    assert_eq!(AWS_REGION, "us-east-1");
}

// ---------------------------------------------------------------------------------------------
// Accepted calls.

#[test]
fn a_valid_step_functions_call_is_forwarded_with_its_report() {
    for call in [AwsCall::new(States), AwsCall::new(States).js_sdk()] {
        let report = forward(call);
        assert_eq!(report.dialect, Dialect::States);
        assert_eq!(report.action, "SendTaskFailure");
        assert_eq!(report.access_key_id, AWS_KEY_ID);
        assert_eq!(report.task_token, "tok-123");
        assert_eq!(report.token, None);
        assert_eq!(report.error.as_deref(), Some("ErrX"));
        assert_eq!(report.cause.as_deref(), Some("some cause"));
        assert!(is_uuid(&report.request_id), "{}", report.request_id);
    }
}

#[test]
fn a_valid_swf_call_is_forwarded_with_its_report() {
    for call in [AwsCall::new(Swf), AwsCall::new(Swf).js_sdk()] {
        let report = forward(call);
        assert_eq!(report.dialect, Dialect::Swf);
        assert_eq!(report.action, "RespondActivityTaskFailed");
        assert_eq!(report.access_key_id, AWS_KEY_ID);
        assert_eq!(report.task_token, "AAAAKgAAAAIAAAAAAAAAAswf-token");
        assert_eq!(report.token, None);
        assert_eq!(report.error.as_deref(), Some("ActivityFailed"));
        assert_eq!(report.cause.as_deref(), Some("the activity worker gave up"));
    }
}

#[test]
fn a_valid_codepipeline_call_is_forwarded_with_its_report() {
    for call in [
        AwsCall::new(CodePipeline),
        AwsCall::new(CodePipeline).js_sdk(),
    ] {
        let report = forward(call);
        assert_eq!(report.dialect, Dialect::CodePipeline);
        assert_eq!(report.action, "PutJobFailureResult");
        assert_eq!(report.access_key_id, AWS_KEY_ID);
        assert_eq!(report.task_token, JOB_ID);
        assert_eq!(report.token, None);
        assert_eq!(report.error.as_deref(), Some("JobFailed"));
        assert_eq!(report.cause.as_deref(), Some("the build broke"));
    }
}

#[test]
fn optional_members_may_be_absent_and_unknown_members_are_ignored() {
    let report = forward(AwsCall::new(States).body(r#"{"taskToken": "tok-1"}"#));
    assert_eq!((report.error, report.cause), (None, None));
    let report =
        forward(AwsCall::new(Swf).body(r#"{"taskToken": "t", "extra": [1, {"a": null}]}"#));
    assert_eq!(report.task_token, "t");
    let report = forward(pipeline(
        JOB_ID,
        r#"{"type": "SystemUnavailable", "message": "m", "future": 1}"#,
    ));
    assert_eq!(report.error.as_deref(), Some("SystemUnavailable"));
}

#[test]
fn escapes_are_decoded_before_forwarding() {
    let report = forward(sfn("tok-1", "Err\\u00e9", "line\\nbreak \\ud83d\\ude00"));
    assert_eq!(report.error.as_deref(), Some("Erré"));
    assert_eq!(report.cause.as_deref(), Some("line\nbreak 😀"));
}

// ---------------------------------------------------------------------------------------------
// The rules, one row each: a request that differs from a valid call in exactly the way the rule
// forbids (or sits exactly on its boundary), and what it must get. The same rows are asserted
// below and pinned in the shared corpus (tests/cases/<dialect>/), so each AWS rule is written once.

/// Case files are kept small: rows whose body is larger than this are asserted here only.
const LARGEST_PINNED_BODY: usize = 40 * 1024;

/// The corpus name of a dialect's call.
fn call_name(dialect: AwsDialect) -> &'static str {
    match dialect {
        States => "send_task_failure",
        Swf => "respond_activity_task_failed",
        CodePipeline => "put_job_failure_result",
    }
}

/// Overrides that make calls other than the failure reports unknown operations again.
const REJECT_OTHERS: &str = "[serve]\nother_calls = \"reject\"\n";
/// Overrides that pass calls other than the failure reports unchecked.
const FORWARD_OTHERS: &str = "[serve]\nother_calls = \"forward\"\n";
const SMALL_BODIES: &str = "[limits]\nmax_aws_body_bytes = 4096\n";
const FIVE_MINUTES_SKEW: &str = "[limits]\nmax_clock_skew_seconds = 300\n";

/// A valid body of exactly `len` bytes (padded with an unknown member).
fn body_of(len: usize) -> String {
    let frame = r#"{"taskToken": "t", "pad": ""}"#;
    format!(r#"{{"taskToken": "t", "pad": "{}"}}"#, x(len - frame.len()))
}

fn not_in_enum(value: &str) -> String {
    format!(
        "Value '{value}' at 'failureDetails.type' failed to satisfy constraint: Member must satisfy enum value set: [JobFailed, ConfigurationError, PermissionError, RevisionOutOfSync, RevisionUnavailable, SystemUnavailable]"
    )
}

/// Per call: both SDK layouts, and one request for every error code the call can answer.
fn per_call_rules(dialect: AwsDialect) -> Vec<Rule> {
    use Expect::Forward;
    let name = call_name(dialect);
    let ct = dialect.content_type();
    let long_member = match dialect {
        States => sfn("tok-123", "", &x(32769)),
        Swf => swf("tok-123", "", &x(32769)),
        CodePipeline => pipeline(JOB_ID, &details("JobFailed", &x(5001), None)),
    };
    let mut rules = vec![
        rule(
            format!("{name}_as_boto3_sends_it_is_forwarded"),
            AwsCall::new(dialect),
            Forward,
        ),
        rule(
            format!("{name}_as_the_js_sdk_sends_it_is_forwarded"),
            AwsCall::new(dialect).js_sdk(),
            Forward,
        ),
        configured(
            format!("{name}_over_the_body_limit_is_request_entity_too_large"),
            AwsCall::new(dialect),
            "[limits]\nmax_aws_body_bytes = 16\n",
            rejected_saying(413, "RequestEntityTooLarge", contains("16")),
        ),
        configured(
            format!("{name}_of_4097_bytes_over_a_4096_byte_limit_is_request_entity_too_large"),
            AwsCall::new(dialect).body(body_of(4097)),
            SMALL_BODIES,
            rejected_saying(413, "RequestEntityTooLarge", contains("4096")),
        ),
        rule(
            format!("{name}_with_a_json_content_type_is_unknown_operation"),
            AwsCall::new(dialect).content_type("application/json"),
            rejected_saying(400, "UnknownOperationException", contains(ct)),
        ),
        rule(
            format!("{name}_without_authorization_is_missing_authentication_token"),
            AwsCall::new(dialect).unsigned(),
            rejected_saying(
                400,
                "MissingAuthenticationTokenException",
                is("Missing Authentication Token"),
            ),
        ),
        rule(
            format!("{name}_without_x_amz_date_is_incomplete_signature"),
            AwsCall::new(dialect).remove_header_after_signing("x-amz-date"),
            rejected_saying(400, "IncompleteSignatureException", contains("X-Amz-Date")),
        ),
        rule(
            format!("{name}_by_an_unknown_key_is_unrecognized_client"),
            AwsCall::new(dialect).key("AKIDUNKNOWN", "whatever"),
            rejected_saying(
                400,
                "UnrecognizedClientException",
                is("The security token included in the request is invalid."),
            ),
        ),
        rule(
            format!("{name}_with_a_wrong_secret_is_invalid_signature"),
            AwsCall::new(dialect).secret("not-the-secret"),
            rejected_saying(400, "InvalidSignatureException", is(SIGNATURE_MISMATCH)),
        ),
        rule(
            format!("{name}_signed_20_minutes_before_receipt_is_signature_expired"),
            AwsCall::new(dialect).received_at(aws_signed_at() + 20 * 60),
            rejected_saying(
                400,
                "InvalidSignatureException",
                contains("Signature expired"),
            ),
        ),
        rule(
            format!("{name}_with_a_body_that_is_not_json_is_serialization_error"),
            AwsCall::new(dialect).body("not json"),
            rejected(400, "SerializationException"),
        ),
        rule(
            format!("{name}_over_its_longest_member_is_validation_error"),
            long_member,
            rejected(400, "ValidationException"),
        ),
    ];
    for method in ["GET", "PUT", "DELETE"] {
        let verb = method.to_ascii_lowercase();
        rules.push(rule(
            format!("{name}_as_{verb}_is_unknown_operation"),
            AwsCall::new(dialect).method(method),
            rejected(400, "UnknownOperationException"),
        ));
    }
    rules
}

/// The model's constraints, every boundary (lengths count characters: an escaped surrogate pair
/// is one).
fn model_rules() -> Vec<Rule> {
    use Expect::Forward;
    let emoji = "\\ud83d\\ude00";
    let mut rules = vec![
        rule(
            "sfn_error_of_256_characters_is_forwarded",
            sfn("t", &x(256), ""),
            Forward,
        ),
        rule(
            "sfn_error_of_256_escaped_characters_is_forwarded",
            sfn("t", &"\\u00e9".repeat(256), ""),
            Forward,
        ),
        rule(
            "sfn_error_of_257_characters_is_too_long",
            sfn("t", &x(257), ""),
            violations(&[too_long("error", 256)]),
        ),
        rule(
            "sfn_error_of_257_escaped_characters_is_too_long",
            sfn("t", &"\\u00e9".repeat(257), ""),
            violations(&[too_long("error", 256)]),
        ),
        rule(
            "sfn_cause_of_32768_characters_is_forwarded",
            sfn("t", "", &x(32768)),
            Forward,
        ),
        rule(
            "sfn_cause_of_32768_surrogate_pairs_is_forwarded",
            sfn("t", "", &emoji.repeat(32768)),
            Forward,
        ),
        rule(
            "sfn_cause_of_32769_surrogate_pairs_is_too_long",
            sfn("t", "", &emoji.repeat(32769)),
            violations(&[too_long("cause", 32768)]),
        ),
        rule(
            "sfn_cause_of_32768_surrogate_pairs_and_one_more_is_too_long",
            sfn("t", "", &format!("{}x", emoji.repeat(32768))),
            violations(&[too_long("cause", 32768)]),
        ),
        rule(
            "sfn_token_of_2048_characters_is_forwarded",
            sfn(&x(2048), "", ""),
            Forward,
        ),
        rule(
            "sfn_token_of_2049_characters_is_too_long",
            sfn(&x(2049), "", ""),
            violations(&[too_long("taskToken", 2048)]),
        ),
        rule(
            "sfn_empty_token_is_too_short",
            sfn("", "", ""),
            violations(&[too_short("taskToken", 1)]),
        ),
        rule(
            "sfn_without_token_is_null",
            AwsCall::new(States).body(r#"{"error": "E"}"#),
            violations(&[null("taskToken")]),
        ),
        rule(
            "sfn_null_token_is_null",
            AwsCall::new(States).body(r#"{"taskToken": null}"#),
            violations(&[null("taskToken")]),
        ),
        rule(
            "swf_token_of_1024_characters_is_forwarded",
            swf(&x(1024), "", ""),
            Forward,
        ),
        rule(
            "swf_token_of_1025_characters_is_too_long",
            swf(&x(1025), "", ""),
            violations(&[too_long("taskToken", 1024)]),
        ),
        rule(
            "swf_empty_token_is_too_short",
            swf("", "", ""),
            violations(&[too_short("taskToken", 1)]),
        ),
        rule(
            "swf_empty_object_is_a_null_token",
            AwsCall::new(Swf).body("{}"),
            violations(&[null("taskToken")]),
        ),
        rule(
            "swf_reason_of_256_and_details_of_32768_are_forwarded",
            swf("t", &x(256), &x(32768)),
            Forward,
        ),
        rule(
            "swf_reason_of_257_is_too_long",
            swf("t", &x(257), ""),
            violations(&[too_long("reason", 256)]),
        ),
        rule(
            "swf_details_of_32769_is_too_long",
            swf("t", "", &x(32769)),
            violations(&[too_long("details", 32768)]),
        ),
        rule(
            "pipeline_message_of_5000_is_forwarded",
            pipeline(JOB_ID, &details("JobFailed", &x(5000), None)),
            Forward,
        ),
        rule(
            "pipeline_empty_message_is_too_short",
            pipeline(JOB_ID, &details("JobFailed", "", None)),
            violations(&[too_short("failureDetails.message", 1)]),
        ),
        rule(
            "pipeline_without_message_is_null",
            pipeline(JOB_ID, r#"{"type": "JobFailed"}"#),
            violations(&[null("failureDetails.message")]),
        ),
        rule(
            "pipeline_external_id_of_1500_is_forwarded",
            pipeline(JOB_ID, &details("JobFailed", "m", Some(&x(1500)))),
            Forward,
        ),
        rule(
            "pipeline_external_id_of_1501_is_too_long",
            pipeline(JOB_ID, &details("JobFailed", "m", Some(&x(1501)))),
            violations(&[too_long("failureDetails.externalExecutionId", 1500)]),
        ),
        rule(
            "pipeline_empty_external_id_is_too_short",
            pipeline(JOB_ID, &details("JobFailed", "m", Some(""))),
            violations(&[too_short("failureDetails.externalExecutionId", 1)]),
        ),
        rule(
            "pipeline_job_id_not_a_uuid_breaks_the_pattern",
            pipeline("abc", &details("JobFailed", "m", None)),
            violations(&[pattern("abc")]),
        ),
        rule(
            "pipeline_upper_case_job_id_breaks_the_pattern",
            pipeline(
                "ABCDEF01-2222-4333-8444-555555555555",
                &details("JobFailed", "m", None),
            ),
            violations(&[pattern("ABCDEF01-2222-4333-8444-555555555555")]),
        ),
        rule(
            "pipeline_job_id_one_too_long_breaks_the_pattern",
            pipeline(&format!("{JOB_ID}0"), &details("JobFailed", "m", None)),
            violations(&[pattern(&format!("{JOB_ID}0"))]),
        ),
        rule(
            "pipeline_without_job_id_is_null",
            AwsCall::new(CodePipeline).body(format!(
                r#"{{"failureDetails": {}}}"#,
                details("JobFailed", "m", None)
            )),
            violations(&[null("jobId")]),
        ),
        rule(
            "pipeline_unknown_failure_type_breaks_the_enum",
            pipeline(JOB_ID, &details("Oops", "m", None)),
            violations(&[not_in_enum("Oops")]),
        ),
        rule(
            "pipeline_failure_type_in_the_wrong_case_breaks_the_enum",
            pipeline(JOB_ID, &details("jobfailed", "m", None)),
            violations(&[not_in_enum("jobfailed")]),
        ),
        rule(
            "pipeline_without_failure_type_is_null",
            pipeline(JOB_ID, r#"{"message": "m"}"#),
            violations(&[null("failureDetails.type")]),
        ),
        rule(
            "pipeline_without_failure_details_is_null",
            AwsCall::new(CodePipeline).body(format!(r#"{{"jobId": "{JOB_ID}"}}"#)),
            violations(&[null("failureDetails")]),
        ),
        rule(
            "pipeline_empty_object_is_two_nulls",
            AwsCall::new(CodePipeline).body("{}"),
            violations(&[null("jobId"), null("failureDetails")]),
        ),
        // Several violations are reported together, in model order.
        rule(
            "sfn_three_violations_are_reported_in_model_order",
            AwsCall::new(States).body(object(&[
                member("error", &x(257)),
                member("cause", &x(32769)),
            ])),
            violations(&[
                null("taskToken"),
                too_long("error", 256),
                too_long("cause", 32768),
            ]),
        ),
        rule(
            "swf_two_violations_are_reported_in_model_order",
            swf(&x(1025), &x(257), ""),
            violations(&[too_long("taskToken", 1024), too_long("reason", 256)]),
        ),
        rule(
            "pipeline_four_violations_are_reported_in_model_order",
            pipeline("nope", &details("Oops", &x(5001), Some(&x(1501)))),
            violations(&[
                pattern("nope"),
                not_in_enum("Oops"),
                too_long("failureDetails.message", 5000),
                too_long("failureDetails.externalExecutionId", 1500),
            ]),
        ),
        // Validation comes before the token's own check.
        rule(
            "sfn_token_too_long_with_whitespace_is_a_validation_error",
            sfn(&format!("a b{}", x(2047)), "", ""),
            violations(&[too_long("taskToken", 2048)]),
        ),
        rule(
            "sfn_error_too_long_comes_before_the_token_check",
            sfn("a b", &x(257), ""),
            violations(&[too_long("error", 256)]),
        ),
    ];
    for kind in [
        "JobFailed",
        "ConfigurationError",
        "PermissionError",
        "RevisionOutOfSync",
        "RevisionUnavailable",
        "SystemUnavailable",
    ] {
        rules.push(rule(
            format!(
                "pipeline_failure_type_{}_is_forwarded",
                kind.to_ascii_lowercase()
            ),
            pipeline(JOB_ID, &details(kind, "m", None)),
            Forward,
        ));
    }
    // Tokens: opaque, but never with whitespace or control characters; never echoed.
    for (n, token) in [
        "Zq9 123",
        "Zq9\\n123",
        "Zq9\\t123",
        "Zq9\\u0000123",
        "Zq9-123\\n",
    ]
    .into_iter()
    .enumerate()
    {
        rules.push(rule(
            format!("sfn_token_with_whitespace_{n}_is_invalid_token"),
            sfn(token, "E", "C"),
            rejected_saying(400, "InvalidToken", Says::Hides("Invalid Token: ", "Zq9")),
        ));
    }
    for (n, token) in ["Zq9 123", "Zq9\\n123", "\\r\\nZq9"]
        .into_iter()
        .enumerate()
    {
        rules.push(rule(
            format!("swf_token_with_whitespace_{n}_is_unknown_resource"),
            swf(token, "R", "D"),
            rejected_saying(400, "UnknownResourceFault", Says::Hides("", "Zq9")),
        ));
    }
    rules
}

/// Operation, content type and the body's serialization.
fn operation_rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for (n, target) in [
        "AWSStepFunctions.GetActivityTask",
        "AWSStepFunctions.DescribeExecution",
        "SimpleWorkflowService.PollForActivityTask",
        "Nonsense",
        "Some.Other",
        "awsstepfunctions.sendtaskfailure",
    ]
    .into_iter()
    .enumerate()
    {
        rules.push(configured(
            format!("unknown_target_{n}_is_unknown_operation_when_other_calls_are_rejected"),
            AwsCall::new(States).target(target),
            REJECT_OTHERS,
            rejected_saying(
                400,
                "UnknownOperationException",
                contains(format!("Unknown operation: {target}")),
            ),
        ));
    }
    rules.extend([
        configured(
            "an_empty_target_is_unknown_operation_when_other_calls_are_rejected",
            AwsCall::new(States).target(""),
            REJECT_OTHERS,
            rejected_saying(
                400,
                "UnknownOperationException",
                contains("Unknown operation"),
            ),
        ),
        configured(
            "an_unknown_target_is_unknown_operation_when_other_calls_are_rejected",
            AwsCall::new(States).target("AWSStepFunctions.StartExecution"),
            REJECT_OTHERS,
            rejected(400, "UnknownOperationException"),
        ),
        // Another operation of a known service is answered in that service's own protocol
        // (CodePipeline speaks awsJson 1.1).
        configured(
            "another_codepipeline_operation_is_unknown_operation_in_its_services_format",
            AwsCall::new(CodePipeline).target("CodePipeline_20150709.PollForJobs"),
            REJECT_OTHERS,
            rejected(400, "UnknownOperationException"),
        ),
        rule(
            "sfn_with_content_type_1_1_is_unknown_operation",
            AwsCall::new(States).content_type(JSON_11),
            rejected_saying(400, "UnknownOperationException", contains(JSON_10)),
        ),
        rule(
            "swf_with_a_form_content_type_is_unknown_operation",
            AwsCall::new(Swf).content_type("application/x-www-form-urlencoded"),
            rejected_saying(400, "UnknownOperationException", contains(JSON_10)),
        ),
        rule(
            "pipeline_with_content_type_1_0_is_unknown_operation",
            AwsCall::new(CodePipeline).content_type(JSON_10),
            rejected_saying(400, "UnknownOperationException", contains(JSON_11)),
        ),
        rule(
            "pipeline_with_text_plain_is_unknown_operation",
            AwsCall::new(CodePipeline).content_type("text/plain"),
            rejected_saying(400, "UnknownOperationException", contains(JSON_11)),
        ),
        rule(
            "swf_without_content_type_is_unknown_operation",
            AwsCall::new(Swf).remove_header("Content-Type"),
            rejected(400, "UnknownOperationException"),
        ),
        rule(
            "sfn_content_type_with_a_charset_is_forwarded",
            AwsCall::new(States).content_type("application/x-amz-json-1.0; charset=utf-8"),
            Expect::Forward,
        ),
    ]);
    // The body's serialization, never echoing a value.
    let bodies: [(AwsDialect, &[u8]); 21] = [
        (States, br#"{"taskToken": "#),
        (States, b""),
        (States, br#"[{"taskToken": "t"}]"#),
        (States, b"\"taskToken\""),
        (States, b"42"),
        (States, br#"{"taskToken": 5}"#),
        (States, br#"{"taskToken": "t", "cause": 5}"#),
        (States, br#"{"taskToken": "t", "error": ["E"]}"#),
        (States, br#"{"taskToken": "a", "taskToken": "b"}"#),
        (States, br#"{"taskToken": "t", "cause": "\ud83d"}"#),
        (States, br#"{"taskToken": "t", "cause": "\ude00\ud83d"}"#),
        (Swf, br#"{"taskToken": "t", "taskToken": "t"}"#),
        (Swf, br#"{"taskToken": "t", "details": {"x": 1}}"#),
        (Swf, br#"{"taskToken": "t", "reason": "\udfff"}"#),
        (Swf, b"\xff\xfe"),
        (CodePipeline, br#"{"jobId": 7, "failureDetails": {"type": "JobFailed", "message": "m"}}"#),
        (CodePipeline, br#"{"jobId": "11111111-2222-4333-8444-555555555555", "failureDetails": "JobFailed"}"#),
        (CodePipeline, br#"{"jobId": "11111111-2222-4333-8444-555555555555", "failureDetails": {"type": 1, "message": "m"}}"#),
        (CodePipeline, br#"{"jobId": "11111111-2222-4333-8444-555555555555", "failureDetails": {"type": "JobFailed", "message": false}}"#),
        (CodePipeline, br#"{"jobId": "11111111-2222-4333-8444-555555555555", "jobId": "11111111-2222-4333-8444-555555555555", "failureDetails": {"type": "JobFailed", "message": "m"}}"#),
        (States, br#"{"taskToken": "t", "cause": "SeCrEt", "cause": "SeCrEt2"}"#),
    ];
    for (n, (dialect, body)) in bodies.into_iter().enumerate() {
        rules.push(rule(
            format!(
                "{}_body_{n}_that_does_not_deserialize_is_serialization_error",
                call_name(dialect)
            ),
            AwsCall::new(dialect).body(body),
            rejected_saying(400, "SerializationException", Says::Hides("", "SeCrEt")),
        ));
    }
    rules.push(rule(
        "sfn_body_with_a_lone_surrogate_in_a_secret_is_serialization_error_without_it",
        AwsCall::new(States).body(r#"{"taskToken": "t", "cause": "SeCrEt \ud800"}"#),
        rejected_saying(400, "SerializationException", Says::Hides("", "SeCrEt")),
    ));
    rules
}

/// Authentication, the signing time, size, and the order of the checks.
fn authentication_rules() -> Vec<Rule> {
    use Expect::Forward;
    let mut rules = Vec::new();
    let signed = AwsCall::new(States).build();
    let auth = signed.header("authorization").expect("signed").to_owned();
    let without = |part: &str| {
        auth.split(", ")
            .filter(|p| !p.contains(&format!("{part}=")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (n, (value, named)) in [
        (without("Signature"), "Signature"),
        (without("SignedHeaders"), "SignedHeaders"),
        // The first part carries the algorithm: keep it.
        (
            auth.replacen(
                "Credential=AKIDEXAMPLE/20240102/us-east-1/states/aws4_request",
                "Foo=bar",
                1,
            ),
            "Credential",
        ),
        (
            auth.replacen("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1),
            "AWS4-HMAC-SHA256",
        ),
        (
            auth.replacen(
                "/20240102/us-east-1/states/aws4_request",
                "/20240102/states/aws4_request",
                1,
            ),
            "Credential",
        ),
        (auth.replacen("Signature=", "Signature=,X=", 1), "Signature"),
        ("Bearer abc".to_owned(), "AWS4-HMAC-SHA256"),
    ]
    .into_iter()
    .enumerate()
    {
        rules.push(rule(
            format!(
                "sfn_authorization_{n}_lacking_{}_is_incomplete_signature",
                named.to_ascii_lowercase().replace('-', "_")
            ),
            AwsCall::new(States).authorization(&value),
            rejected_saying(400, "IncompleteSignatureException", contains(named)),
        ));
    }
    for (n, signed_headers) in [
        "content-type;x-amz-date;x-amz-target",
        "content-type;host;x-amz-target",
    ]
    .into_iter()
    .enumerate()
    {
        rules.push(rule(
            format!("pipeline_without_host_or_date_signed_{n}_is_incomplete_signature"),
            AwsCall::new(CodePipeline).signed_headers(signed_headers),
            rejected_saying(400, "IncompleteSignatureException", contains("Host")),
        ));
    }
    let mismatched = [
        AwsCall::new(Swf).secret("wrong-secret"),
        AwsCall::new(CodePipeline).js_sdk().secret("wrong-secret"),
        // One byte of the body changed after signing.
        AwsCall::new(States).body_after_signing(
            br#"{"taskToken": "tok-123", "error": "ErrY", "cause": "some cause"}"#,
        ),
        AwsCall::new(CodePipeline)
            .body_after_signing(CodePipeline.valid_body().replace("JobFailed", "JobFaileD")),
        // A signed header changed after signing.
        AwsCall::new(Swf)
            .remove_header_after_signing("Content-Type")
            .header_after_signing("Content-Type", "application/x-amz-json-1.0; charset=utf-8"),
        AwsCall::new(States).signature(&"0".repeat(64)),
        AwsCall::new(States).signature("not-hex"),
        // The credential names another region than the one signed for.
        AwsCall::new(States).authorization(&auth.replacen("/us-east-1/", "/eu-west-1/", 1)),
        // A content hash that is not the body's: signed (as the JS SDK signs the one it
        // sends), or added unsigned.
        AwsCall::new(States)
            .js_sdk()
            .header("x-amz-content-sha256", &"0".repeat(64)),
        AwsCall::new(States)
            .header_after_signing("x-amz-content-sha256", &sigv4::sha256_hex(b"{}")),
        // Authentication comes before the body.
        AwsCall::new(States)
            .secret("wrong")
            .body(br#"{"taskToken": "#),
        AwsCall::new(Swf)
            .secret("wrong")
            .body(format!(r#"{{"taskToken": "{}"}}"#, x(5000))),
    ];
    for (n, call) in mismatched.into_iter().enumerate() {
        let name = call_name(call.dialect());
        rules.push(rule(
            format!("{name}_signature_mismatch_{n}_is_invalid_signature"),
            call,
            rejected_saying(400, "InvalidSignatureException", is(SIGNATURE_MISMATCH)),
        ));
    }
    let at = aws_signed_at();
    rules.extend([
        rule("sfn_signed_in_another_region_is_forwarded", AwsCall::new(States).region("eu-west-1"), Forward),
        rule(
            "sfn_with_the_right_content_hash_unsigned_is_forwarded",
            AwsCall::new(States).header_after_signing("x-amz-content-sha256", &sigv4::sha256_hex(States.valid_body().as_bytes())),
            Forward,
        ),
        rule(
            "sfn_scoped_to_swf_is_invalid_signature",
            AwsCall::new(States).scope_service("swf"),
            rejected_saying(400, "InvalidSignatureException", is("Credential should be scoped to correct service: 'states'. ")),
        ),
        rule(
            "pipeline_scoped_to_states_is_invalid_signature",
            AwsCall::new(CodePipeline).scope_service("states"),
            rejected_saying(400, "InvalidSignatureException", is("Credential should be scoped to correct service: 'codepipeline'. ")),
        ),
        rule(
            "sfn_scoped_to_the_day_before_is_invalid_signature",
            AwsCall::new(States).scope_date("20240101"),
            rejected_saying(400, "InvalidSignatureException", is("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240101' != '20240102', from '20240102T030405Z'.")),
        ),
        rule("sfn_scoped_to_the_day_after_is_invalid_signature", AwsCall::new(States).scope_date("20240103"), rejected(400, "InvalidSignatureException")),
        // The signing time: within 15 minutes of receipt, either way.
        rule(
            "sfn_signed_16_minutes_before_receipt_is_signature_expired",
            AwsCall::new(States).received_at(at + 16 * 60),
            rejected_saying(400, "InvalidSignatureException", is("Signature expired: 20240102T030405Z is now earlier than 20240102T030505Z (20240102T032005Z - 15 min.)")),
        ),
        rule(
            "swf_signed_30_minutes_before_receipt_is_signature_expired",
            AwsCall::new(Swf).received_at(at + 30 * 60),
            rejected_saying(400, "InvalidSignatureException", is("Signature expired: 20240102T030405Z is now earlier than 20240102T031905Z (20240102T033405Z - 15 min.)")),
        ),
        rule(
            "pipeline_signed_16_minutes_after_receipt_is_not_yet_current",
            AwsCall::new(CodePipeline).received_at(at - 16 * 60),
            rejected_saying(400, "InvalidSignatureException", is("Signature not yet current: 20240102T030405Z is still later than 20240102T030305Z (20240102T024805Z + 15 min.)")),
        ),
        rule("sfn_signed_14_minutes_before_receipt_is_forwarded", AwsCall::new(States).received_at(at + 14 * 60), Forward),
        rule("sfn_signed_14_minutes_after_receipt_is_forwarded", AwsCall::new(States).received_at(at - 14 * 60), Forward),
        rule("sfn_signed_15_minutes_before_receipt_is_forwarded", AwsCall::new(States).received_at(at + 15 * 60), Forward),
        rule("sfn_signed_15_minutes_after_receipt_is_forwarded", AwsCall::new(States).received_at(at - 15 * 60), Forward),
        configured("sfn_signed_300_seconds_before_receipt_with_a_5_minute_window_is_forwarded", AwsCall::new(States).received_at(at + 300), FIVE_MINUTES_SKEW, Forward),
        configured(
            "sfn_signed_301_seconds_before_receipt_with_a_5_minute_window_is_signature_expired",
            AwsCall::new(States).received_at(at + 301),
            FIVE_MINUTES_SKEW,
            rejected_saying(400, "InvalidSignatureException", contains("- 5 min.)")),
        ),
        // Size, and the order of the checks: size first, then method, target and content
        // type, then authentication, then the body.
        configured("sfn_body_of_exactly_4096_bytes_is_forwarded", AwsCall::new(States).body(body_of(4096)), SMALL_BODIES, Forward),
        configured(
            "sfn_oversized_unsigned_get_is_request_entity_too_large",
            AwsCall::new(States).unsigned().method("GET").body(body_of(4097)),
            SMALL_BODIES,
            rejected(413, "RequestEntityTooLarge"),
        ),
        rule("sfn_over_the_default_limit_is_request_entity_too_large", AwsCall::new(States).body(body_of(1024 * 1024 + 1)), rejected(413, "RequestEntityTooLarge")),
        rule("pipeline_unsigned_with_a_bad_body_is_missing_authentication_token", AwsCall::new(CodePipeline).unsigned().body("[]"), rejected(400, "MissingAuthenticationTokenException")),
        rule("sfn_with_a_bad_token_signed_for_another_time_is_invalid_signature", AwsCall::new(States).received_at(at + 3600).body(r#"{"taskToken": "a b"}"#), rejected(400, "InvalidSignatureException")),
        rule("sfn_signed_with_a_body_that_does_not_parse_is_serialization_error", AwsCall::new(States).body(br#"{"taskToken": "#), rejected(400, "SerializationException")),
        rule("sfn_unsigned_get_is_unknown_operation", AwsCall::new(States).unsigned().method("GET"), rejected(400, "UnknownOperationException")),
        configured(
            "sfn_other_call_with_a_wrong_secret_is_unknown_operation_when_other_calls_are_rejected",
            AwsCall::new(States).secret("wrong").target("AWSStepFunctions.StartExecution"),
            REJECT_OTHERS,
            rejected(400, "UnknownOperationException"),
        ),
        rule("pipeline_unsigned_with_a_json_content_type_is_unknown_operation", AwsCall::new(CodePipeline).unsigned().content_type("application/json"), rejected(400, "UnknownOperationException")),
    ]);
    rules
}

/// Every row.
fn rules() -> Vec<Rule> {
    let mut rules: Vec<Rule> = AwsDialect::ALL
        .into_iter()
        .flat_map(per_call_rules)
        .collect();
    rules.extend(model_rules());
    rules.extend(operation_rules());
    rules.extend(authentication_rules());
    rules.extend(crate::callbacks::rules());
    rules
}

#[test]
fn every_aws_rule_gives_its_verdict_natively_and_in_the_component() {
    let rules = rules();
    let mut names = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for rule in rules {
        assert!(
            names.insert(rule.name.clone()),
            "two rules named {}",
            rule.name
        );
        let content_type = rule.call.dialect().content_type();
        let verdict = check_both(&crate::corpus::config(rule.overrides), &rule.call.build());
        let problem = match (&rule.expect, verdict) {
            (Expect::Forward, Verdict::Forward(_)) => None,
            (Expect::Violations(list), Verdict::Reject(response)) => {
                let answer = aws_error(response, 400, "ValidationException", content_type);
                let noun = if list.len() == 1 { "error" } else { "errors" };
                let want = format!(
                    "{} validation {noun} detected: {}",
                    list.len(),
                    list.join("; ")
                );
                (answer.message != want)
                    .then(|| format!("message {:?}, want {want:?}", answer.message))
            }
            (Expect::Reject(status, code, says), Verdict::Reject(response)) => {
                let answer = aws_error(response, *status, code, content_type);
                let message = &answer.message;
                let ok = match says {
                    Says::Something => !message.is_empty(),
                    Says::Contains(phrase) => message.contains(phrase.as_str()),
                    Says::Is(want) => message == want,
                    Says::Hides(start, hidden) => {
                        message.starts_with(start) && !message.contains(hidden)
                    }
                };
                (!ok).then(|| format!("message {message:?}"))
            }
            (_, verdict) => Some(format!("got {}", crate::code(&verdict))),
        };
        if let Some(problem) = problem {
            failures.push(format!("{}: {problem}", rule.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The echoed job id is clipped to 64 characters.
#[test]
fn an_echoed_job_id_is_clipped() {
    let huge = "a".repeat(100);
    let answer = reject(
        pipeline(&huge, &details("JobFailed", "m", None)),
        400,
        "ValidationException",
    );
    assert!(
        answer.message.contains(&"a".repeat(64)),
        "{}",
        answer.message
    );
    assert!(
        !answer.message.contains(&"a".repeat(65)),
        "{}",
        answer.message
    );
}

#[test]
fn sensitive_values_never_appear_in_an_answer() {
    let secret = "SeCrEtCaUsE";
    let cases = [
        sfn(
            &format!("{secret}{}", x(2048)),
            secret,
            &format!("{secret}{}", x(32768)),
        ),
        sfn("t", &format!("{secret}{}", x(256)), secret),
        sfn("t", secret, &format!("{secret}{}", x(32768))),
        swf(
            "t",
            &format!("{secret}{}", x(256)),
            &format!("{secret}{}", x(32768)),
        ),
        swf(&format!("{secret}{}", x(1024)), secret, secret),
        pipeline(
            "bad",
            &details(
                "JobFailed",
                &format!("{secret}{}", x(5000)),
                Some(&format!("{secret}{}", x(1500))),
            ),
        ),
        pipeline(JOB_ID, &details("JobFailed", "", Some(secret))),
    ];
    for call in cases {
        let answer = reject(call, 400, "ValidationException");
        let body = String::from_utf8_lossy(&answer.response.body);
        assert!(!body.contains(secret), "{body}");
        assert!(!body.contains("xxxxxxxx"), "{body}");
    }
}

/// Signed now and received now (the gateway's clock): not pinned in the corpus, whose files
/// would change at every rewrite.
#[test]
fn a_call_signed_now_is_forwarded() {
    forward(AwsCall::new(Swf).now());
}

// ---------------------------------------------------------------------------------------------
// Failures the host detects itself.

#[test]
fn edge_failures_are_answered_in_aws_form() {
    for dialect in AwsDialect::ALL {
        let request = AwsCall::new(dialect).build();
        let answer = aws_error(
            edge_response(&request, EdgeFailure::Internal),
            500,
            "InternalFailure",
            dialect.content_type(),
        );
        assert!(!answer.message.is_empty());
        aws_error(
            edge_response(&request, EdgeFailure::Throttled { limit: 7 }),
            400,
            "ThrottlingException",
            dialect.content_type(),
        );
        let answer = aws_error(
            edge_response(&request, EdgeFailure::EntityTooLarge { limit: 4096 }),
            413,
            "RequestEntityTooLarge",
            dialect.content_type(),
        );
        assert!(answer.message.contains("4096"));
        assert_eq!(answer.kind, "RequestEntityTooLarge");
    }
}

#[test]
fn success_in_sink_mode_is_an_empty_object() {
    for dialect in AwsDialect::ALL {
        let report = forward(AwsCall::new(dialect));
        let response = taskgate_filter::success_response(&report, 1);
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"{}");
        assert_eq!(
            header(&response, "content-type"),
            Some(dialect.content_type())
        );
        assert_eq!(
            header(&response, "x-amzn-requestid"),
            Some(report.request_id.as_str())
        );
    }
}

/// The AWS entries of the shared corpus (corpus.rs): every rule whose body is small enough to
/// keep as a case file, and the calls other than the failure reports.
pub fn corpus() -> Vec<crate::corpus::Entry> {
    let mut entries: Vec<crate::corpus::Entry> = rules()
        .into_iter()
        .map(|rule| (rule.name, rule.call.build(), rule.overrides))
        .filter(|(_, request, _)| request.body.len() <= LARGEST_PINNED_BODY)
        .map(|(name, request, overrides)| crate::corpus::Entry {
            name,
            request,
            overrides: overrides.to_owned(),
            memory: None,
        })
        .collect();
    entries.extend(
        other_calls()
            .into_iter()
            .map(|(name, call, overrides)| crate::corpus::Entry {
                name: name.to_owned(),
                request: call.build(),
                overrides: overrides.to_owned(),
                memory: None,
            }),
    );
    entries
}

/// A Step Functions call the filter does not model, and its body.
const START_EXECUTION: &str = r#"{"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:demo", "input": "{}"}"#;
/// Another, read-only.
const DESCRIBE_EXECUTION: &str =
    r#"{"executionArn": "arn:aws:states:us-east-1:123456789012:execution:demo:1"}"#;

/// Calls the filter does not model: (name, call, overrides), each verdict pinned in the
/// corpus and asserted by `other_calls_are_authenticated_then_passed_or_forwarded_unchecked`.
fn other_calls() -> Vec<(&'static str, AwsCall, &'static str)> {
    let other = |dialect, target: &str, body: &str| {
        AwsCall::new(dialect).target(target).body(body.as_bytes())
    };
    let conflicting = || {
        other(
            States,
            "AWSStepFunctions.SendTaskSuccess",
            r#"{"taskToken": "tok-123", "output": "{}"}"#,
        )
        .header_after_signing("X-Amz-Target", States.target())
    };
    vec![
        (
            "start_execution_is_passed_once_authenticated",
            other(States, "AWSStepFunctions.StartExecution", START_EXECUTION),
            "",
        ),
        (
            "describe_execution_is_passed_once_authenticated",
            other(
                States,
                "AWSStepFunctions.DescribeExecution",
                DESCRIBE_EXECUTION,
            ),
            "",
        ),
        (
            "poll_for_activity_task_is_passed_once_authenticated",
            other(
                Swf,
                "SimpleWorkflowService.PollForActivityTask",
                r#"{"domain": "demo", "taskList": {"name": "main"}}"#,
            ),
            "",
        ),
        (
            "poll_for_jobs_is_passed_once_authenticated",
            other(
                CodePipeline,
                "CodePipeline_20150709.PollForJobs",
                r#"{"actionTypeId": {"category": "Build", "owner": "Custom", "provider": "demo", "version": "1"}}"#,
            ),
            "",
        ),
        (
            "another_services_call_is_passed_once_authenticated_in_its_own_scope",
            other(States, "AmazonSQS.SendMessage", r#"{"QueueUrl": "q"}"#).scope_service("sqs"),
            "",
        ),
        (
            "start_execution_with_a_wrong_secret_is_invalid_signature",
            other(States, "AWSStepFunctions.StartExecution", START_EXECUTION)
                .secret("not-the-secret"),
            "",
        ),
        (
            "describe_execution_by_an_unknown_key_is_unrecognized_client",
            other(
                States,
                "AWSStepFunctions.DescribeExecution",
                DESCRIBE_EXECUTION,
            )
            .key("AKIDUNKNOWN", "whatever"),
            "",
        ),
        (
            "start_execution_scoped_to_another_service_is_invalid_signature",
            other(States, "AWSStepFunctions.StartExecution", START_EXECUTION).scope_service("swf"),
            "",
        ),
        (
            "describe_execution_signed_20_minutes_before_receipt_is_signature_expired",
            other(
                States,
                "AWSStepFunctions.DescribeExecution",
                DESCRIBE_EXECUTION,
            )
            .received_at(aws_signed_at() + 20 * 60),
            "",
        ),
        (
            "start_execution_without_authorization_is_missing_authentication_token",
            other(States, "AWSStepFunctions.StartExecution", START_EXECUTION).unsigned(),
            "",
        ),
        // Method and content type are the service's to judge for a call this filter does not
        // model.
        (
            "start_execution_as_get_with_a_json_content_type_is_passed_once_authenticated",
            other(States, "AWSStepFunctions.StartExecution", START_EXECUTION)
                .method("GET")
                .content_type("application/json"),
            "",
        ),
        // Two different targets: this filter and the service could read different operations,
        // so every mode refuses them before anything else (forward would check nothing more).
        (
            "two_different_targets_are_unknown_operation",
            conflicting(),
            "",
        ),
        (
            "two_different_targets_are_still_unknown_operation_when_other_calls_are_forwarded",
            conflicting(),
            FORWARD_OTHERS,
        ),
        (
            "two_different_targets_are_unknown_operation_when_other_calls_are_rejected",
            conflicting(),
            REJECT_OTHERS,
        ),
        (
            "start_execution_with_a_wrong_secret_is_passed_unchecked_when_other_calls_are_forwarded",
            other(States, "AWSStepFunctions.StartExecution", START_EXECUTION)
                .secret("not-the-secret"),
            FORWARD_OTHERS,
        ),
        (
            "send_task_failure_with_a_wrong_secret_is_still_invalid_signature_when_other_calls_are_forwarded",
            AwsCall::new(States).secret("not-the-secret"),
            FORWARD_OTHERS,
        ),
    ]
}

#[test]
fn other_calls_are_authenticated_then_passed_or_forwarded_unchecked() {
    for (name, call, overrides) in other_calls() {
        let key_id_signed =
            !name.contains("unknown_key") && !name.contains("without_authorization");
        let verdict = check_both(&crate::corpus::config(overrides), &call.build());
        let want = if name.contains("is_passed_once_authenticated") {
            "pass authenticated"
        } else if name.contains("is_passed_unchecked") {
            "pass unchecked"
        } else if name.contains("invalid_signature") || name.contains("signature_expired") {
            "InvalidSignatureException"
        } else if name.contains("unrecognized_client") {
            "UnrecognizedClientException"
        } else if name.contains("unknown_operation") {
            "UnknownOperationException"
        } else {
            "MissingAuthenticationTokenException"
        };
        let got = match &verdict {
            Verdict::Pass(passed) => {
                assert!(!passed.action.contains('.'), "{name}: {passed:?}");
                match &passed.access_key_id {
                    Some(id) => {
                        assert!(key_id_signed && id == AWS_KEY_ID, "{name}: {passed:?}");
                        "pass authenticated".to_owned()
                    }
                    None => "pass unchecked".to_owned(),
                }
            }
            Verdict::Reject(response) => {
                assert_eq!(response.status, 400, "{name}");
                response.code.clone()
            }
            Verdict::Forward(report) => format!("forward {report:?}"),
        };
        assert_eq!(got, want, "{name}");
    }
}
