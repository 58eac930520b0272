//! The AWS dialects (Step Functions `SendTaskFailure`, SWF `RespondActivityTaskFailed`,
//! CodePipeline `PutJobFailureResult`) against the README's AWS rules and docs/protocols.md §2.
//! Every request runs natively and through the component, and the two verdicts must be identical.

use crate::{check_both, demo};
use serde_json::Value;
use std::sync::Arc;
use taskgate::config::Config;
use taskgate_filter::{Dialect, EdgeFailure, Request, Response, Verdict, edge_response};
use taskgate_tests::{
    AWS_KEY_ID, AWS_REGION, AWS_SECRET, AWS_SIGNED_AT, AwsCall, AwsDialect, BOTO3_SIGNED_HEADERS,
    aws_signed_at, sigv4,
};

use AwsDialect::{CodePipeline, States, Swf};

const JSON_10: &str = "application/x-amz-json-1.0";
const JSON_11: &str = "application/x-amz-json-1.1";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const JOB_ID: &str = "11111111-2222-4333-8444-555555555555";
const JOB_ID_PATTERN: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

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

/// A `ValidationException` with exactly these violations, in this order.
fn validation(call: AwsCall, violations: &[&str]) -> Answer {
    let answer = reject(call, 400, "ValidationException");
    let noun = if violations.len() == 1 {
        "error"
    } else {
        "errors"
    };
    assert_eq!(
        answer.message,
        format!(
            "{} validation {noun} detected: {}",
            violations.len(),
            violations.join("; ")
        )
    );
    answer
}

fn too_long(path: &str, max: usize) -> String {
    format!(
        "Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {max}"
    )
}

fn too_short(path: &str, min: usize) -> String {
    format!(
        "Value at '{path}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
    )
}

fn null(path: &str) -> String {
    format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")
}

/// A JSON string member, the value written as given (escapes stay escapes).
fn member(name: &str, raw: &str) -> String {
    format!("\"{name}\": \"{raw}\"")
}

fn object(members: &[String]) -> String {
    format!("{{{}}}", members.join(", "))
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

fn x(n: usize) -> String {
    "x".repeat(n)
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

#[test]
fn every_failure_type_is_accepted() {
    for kind in [
        "JobFailed",
        "ConfigurationError",
        "PermissionError",
        "RevisionOutOfSync",
        "RevisionUnavailable",
        "SystemUnavailable",
    ] {
        let report = forward(pipeline(JOB_ID, &details(kind, "m", None)));
        assert_eq!(report.error.as_deref(), Some(kind));
    }
}

// ---------------------------------------------------------------------------------------------
// Model constraints: every boundary.

#[test]
fn step_functions_error_is_at_most_256_characters() {
    forward(sfn("t", &x(256), ""));
    forward(sfn("t", &"\\u00e9".repeat(256), ""));
    validation(sfn("t", &x(257), ""), &[&too_long("error", 256)]);
    validation(
        sfn("t", &"\\u00e9".repeat(257), ""),
        &[&too_long("error", 256)],
    );
}

#[test]
fn step_functions_cause_is_at_most_32768_characters_counting_a_surrogate_pair_as_one() {
    forward(sfn("t", "", &x(32768)));
    validation(sfn("t", "", &x(32769)), &[&too_long("cause", 32768)]);
    let emoji = "\\ud83d\\ude00";
    forward(sfn("t", "", &emoji.repeat(32768)));
    validation(
        sfn("t", "", &emoji.repeat(32769)),
        &[&too_long("cause", 32768)],
    );
    validation(
        sfn("t", "", &format!("{}x", emoji.repeat(32768))),
        &[&too_long("cause", 32768)],
    );
}

#[test]
fn step_functions_token_is_1_to_2048_characters() {
    let report = forward(sfn(&x(2048), "", ""));
    assert_eq!(report.task_token.len(), 2048);
    validation(sfn(&x(2049), "", ""), &[&too_long("taskToken", 2048)]);
    validation(sfn("", "", ""), &[&too_short("taskToken", 1)]);
    validation(
        AwsCall::new(States).body(r#"{"error": "E"}"#),
        &[&null("taskToken")],
    );
    validation(
        AwsCall::new(States).body(r#"{"taskToken": null}"#),
        &[&null("taskToken")],
    );
}

#[test]
fn swf_token_is_1_to_1024_characters() {
    forward(swf(&x(1024), "", ""));
    validation(swf(&x(1025), "", ""), &[&too_long("taskToken", 1024)]);
    validation(swf("", "", ""), &[&too_short("taskToken", 1)]);
    validation(AwsCall::new(Swf).body("{}"), &[&null("taskToken")]);
}

#[test]
fn swf_reason_and_details_have_their_limits() {
    forward(swf("t", &x(256), &x(32768)));
    validation(swf("t", &x(257), ""), &[&too_long("reason", 256)]);
    validation(swf("t", "", &x(32769)), &[&too_long("details", 32768)]);
}

#[test]
fn codepipeline_message_is_1_to_5000_characters() {
    forward(pipeline(JOB_ID, &details("JobFailed", &x(5000), None)));
    validation(
        pipeline(JOB_ID, &details("JobFailed", &x(5001), None)),
        &[&too_long("failureDetails.message", 5000)],
    );
    validation(
        pipeline(JOB_ID, &details("JobFailed", "", None)),
        &[&too_short("failureDetails.message", 1)],
    );
    validation(
        pipeline(JOB_ID, r#"{"type": "JobFailed"}"#),
        &[&null("failureDetails.message")],
    );
}

#[test]
fn codepipeline_external_execution_id_is_1_to_1500_characters() {
    forward(pipeline(JOB_ID, &details("JobFailed", "m", Some(&x(1500)))));
    validation(
        pipeline(JOB_ID, &details("JobFailed", "m", Some(&x(1501)))),
        &[&too_long("failureDetails.externalExecutionId", 1500)],
    );
    validation(
        pipeline(JOB_ID, &details("JobFailed", "m", Some(""))),
        &[&too_short("failureDetails.externalExecutionId", 1)],
    );
}

#[test]
fn codepipeline_job_id_must_match_the_pattern() {
    let pattern = |value: &str| {
        format!(
            "Value '{value}' at 'jobId' failed to satisfy constraint: Member must satisfy regular expression pattern: {JOB_ID_PATTERN}"
        )
    };
    let good = details("JobFailed", "m", None);
    validation(pipeline("abc", &good), &[&pattern("abc")]);
    let upper = "ABCDEF01-2222-4333-8444-555555555555";
    validation(pipeline(upper, &good), &[&pattern(upper)]);
    let long = JOB_ID.to_owned() + "0";
    validation(pipeline(&long, &good), &[&pattern(&long)]);
    // The echoed value is clipped to 64 characters.
    let huge = "a".repeat(100);
    let answer = reject(pipeline(&huge, &good), 400, "ValidationException");
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
    validation(
        AwsCall::new(CodePipeline).body(format!(r#"{{"failureDetails": {good}}}"#)),
        &[&null("jobId")],
    );
}

#[test]
fn codepipeline_failure_type_must_be_in_the_enum() {
    validation(
        pipeline(JOB_ID, &details("Oops", "m", None)),
        &[
            "Value 'Oops' at 'failureDetails.type' failed to satisfy constraint: Member must satisfy enum value set: [JobFailed, ConfigurationError, PermissionError, RevisionOutOfSync, RevisionUnavailable, SystemUnavailable]",
        ],
    );
    // Case matters.
    let answer = reject(
        pipeline(JOB_ID, &details("jobfailed", "m", None)),
        400,
        "ValidationException",
    );
    assert!(
        answer
            .message
            .contains("Value 'jobfailed' at 'failureDetails.type'")
    );
    validation(
        pipeline(JOB_ID, r#"{"message": "m"}"#),
        &[&null("failureDetails.type")],
    );
}

#[test]
fn codepipeline_failure_details_are_required() {
    validation(
        AwsCall::new(CodePipeline).body(format!(r#"{{"jobId": "{JOB_ID}"}}"#)),
        &[&null("failureDetails")],
    );
    validation(
        AwsCall::new(CodePipeline).body("{}"),
        &[&null("jobId"), &null("failureDetails")],
    );
}

#[test]
fn several_violations_are_reported_together_in_model_order() {
    validation(
        AwsCall::new(States).body(object(&[
            member("error", &x(257)),
            member("cause", &x(32769)),
        ])),
        &[
            &null("taskToken"),
            &too_long("error", 256),
            &too_long("cause", 32768),
        ],
    );
    validation(
        swf(&x(1025), &x(257), ""),
        &[&too_long("taskToken", 1024), &too_long("reason", 256)],
    );
    validation(
        pipeline("nope", &details("Oops", &x(5001), Some(&x(1501)))),
        &[
            &format!(
                "Value 'nope' at 'jobId' failed to satisfy constraint: Member must satisfy regular expression pattern: {JOB_ID_PATTERN}"
            ),
            "Value 'Oops' at 'failureDetails.type' failed to satisfy constraint: Member must satisfy enum value set: [JobFailed, ConfigurationError, PermissionError, RevisionOutOfSync, RevisionUnavailable, SystemUnavailable]",
            &too_long("failureDetails.message", 5000),
            &too_long("failureDetails.externalExecutionId", 1500),
        ],
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

// ---------------------------------------------------------------------------------------------
// Tokens.

#[test]
fn a_step_functions_token_with_whitespace_is_an_invalid_token() {
    for token in [
        "Zq9 123",
        "Zq9\\n123",
        "Zq9\\t123",
        "Zq9\\u0000123",
        "Zq9-123\\n",
    ] {
        let answer = reject(sfn(token, "E", "C"), 400, "InvalidToken");
        assert!(
            answer.message.starts_with("Invalid Token: "),
            "{}",
            answer.message
        );
        assert!(!answer.message.contains("Zq9"), "{}", answer.message);
    }
}

#[test]
fn a_swf_token_with_whitespace_is_an_unknown_resource() {
    for token in ["Zq9 123", "Zq9\\n123", "\\r\\nZq9"] {
        let answer = reject(swf(token, "R", "D"), 400, "UnknownResourceFault");
        assert!(!answer.message.contains("Zq9"), "{}", answer.message);
    }
}

#[test]
fn a_token_too_long_is_a_validation_error_even_with_whitespace() {
    validation(
        sfn(&format!("a b{}", x(2047)), "", ""),
        &[&too_long("taskToken", 2048)],
    );
}

// ---------------------------------------------------------------------------------------------
// Operation, method and content type.

#[test]
fn an_unknown_target_is_an_unknown_operation() {
    for target in [
        "AWSStepFunctions.SendTaskSuccess",
        "AWSStepFunctions.SendTaskHeartbeat",
        "SimpleWorkflowService.RespondActivityTaskCompleted",
        "Nonsense",
        "Some.Other",
        "",
    ] {
        let call = AwsCall::new(States).target(target);
        let answer = reject_with(
            &rejecting_others(),
            &call.build(),
            400,
            "UnknownOperationException",
            JSON_10,
        );
        assert!(
            answer.message.starts_with("Unknown operation"),
            "{}",
            answer.message
        );
        if !target.is_empty() {
            assert!(answer.message.contains(target), "{}", answer.message);
        }
    }
}

#[test]
fn the_target_is_case_sensitive() {
    let call = AwsCall::new(States).target("awsstepfunctions.sendtaskfailure");
    reject_with(
        &rejecting_others(),
        &call.build(),
        400,
        "UnknownOperationException",
        JSON_10,
    );
}

#[test]
fn a_wrong_content_type_is_an_unknown_operation() {
    for (dialect, wrong) in [
        (States, "application/json"),
        (States, JSON_11),
        (Swf, "application/x-www-form-urlencoded"),
        (CodePipeline, JSON_10),
        (CodePipeline, "text/plain"),
    ] {
        let answer = reject(
            AwsCall::new(dialect).content_type(wrong),
            400,
            "UnknownOperationException",
        );
        assert!(
            answer.message.contains(dialect.content_type()),
            "{}",
            answer.message
        );
    }
    // A missing one too.
    reject(
        AwsCall::new(Swf).remove_header("Content-Type"),
        400,
        "UnknownOperationException",
    );
    // Parameters are allowed.
    forward(AwsCall::new(States).content_type("application/x-amz-json-1.0; charset=utf-8"));
}

#[test]
fn a_method_other_than_post_is_an_unknown_operation() {
    for dialect in AwsDialect::ALL {
        for method in ["GET", "PUT", "DELETE"] {
            reject(
                AwsCall::new(dialect).method(method),
                400,
                "UnknownOperationException",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The body's serialization.

#[test]
fn a_body_that_does_not_deserialize_is_a_serialization_error() {
    let bodies: [&[u8]; 12] = [
        br#"{"taskToken": "#,
        b"",
        b"not json",
        br#"[{"taskToken": "t"}]"#,
        b"\"taskToken\"",
        b"42",
        br#"{"taskToken": 5}"#,
        br#"{"taskToken": "t", "cause": 5}"#,
        br#"{"taskToken": "t", "error": ["E"]}"#,
        br#"{"taskToken": "a", "taskToken": "b"}"#,
        br#"{"taskToken": "t", "cause": "\ud83d"}"#,
        br#"{"taskToken": "t", "cause": "\ude00\ud83d"}"#,
    ];
    for body in bodies {
        let answer = reject(
            AwsCall::new(States).body(body),
            400,
            "SerializationException",
        );
        assert!(!answer.message.is_empty());
    }
    for body in [
        br#"{"taskToken": "t", "taskToken": "t"}"#.as_slice(),
        br#"{"taskToken": "t", "details": {"x": 1}}"#,
        br#"{"taskToken": "t", "reason": "\udfff"}"#,
        b"\xff\xfe",
    ] {
        reject(AwsCall::new(Swf).body(body), 400, "SerializationException");
    }
    for body in [
        r#"{"jobId": 7, "failureDetails": {"type": "JobFailed", "message": "m"}}"#.to_owned(),
        format!(r#"{{"jobId": "{JOB_ID}", "failureDetails": "JobFailed"}}"#),
        format!(r#"{{"jobId": "{JOB_ID}", "failureDetails": {{"type": 1, "message": "m"}}}}"#),
        format!(
            r#"{{"jobId": "{JOB_ID}", "failureDetails": {{"type": "JobFailed", "message": false}}}}"#
        ),
        format!(
            r#"{{"jobId": "{JOB_ID}", "jobId": "{JOB_ID}", "failureDetails": {{"type": "JobFailed", "message": "m"}}}}"#
        ),
    ] {
        reject(
            AwsCall::new(CodePipeline).body(body),
            400,
            "SerializationException",
        );
    }
}

#[test]
fn a_serialization_error_never_shows_the_value() {
    let answer = reject(
        AwsCall::new(States).body(r#"{"taskToken": "t", "cause": "SeCrEt", "cause": "SeCrEt2"}"#),
        400,
        "SerializationException",
    );
    assert!(!answer.message.contains("SeCrEt"), "{}", answer.message);
    let answer = reject(
        AwsCall::new(States).body(r#"{"taskToken": "t", "cause": "SeCrEt \ud800"}"#),
        400,
        "SerializationException",
    );
    assert!(!answer.message.contains("SeCrEt"), "{}", answer.message);
}

// ---------------------------------------------------------------------------------------------
// Authentication.

#[test]
fn no_authorization_is_a_missing_authentication_token() {
    for dialect in AwsDialect::ALL {
        let answer = reject(
            AwsCall::new(dialect).unsigned(),
            400,
            "MissingAuthenticationTokenException",
        );
        assert_eq!(answer.message, "Missing Authentication Token");
    }
}

#[test]
fn an_incomplete_authorization_is_an_incomplete_signature() {
    let signed = AwsCall::new(States).build();
    let auth = signed.header("authorization").expect("signed").to_owned();
    let without = |part: &str| {
        auth.split(", ")
            .filter(|p| !p.contains(&format!("{part}=")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let cases = [
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
    ];
    for (value, named) in cases {
        let answer = reject(
            AwsCall::new(States).authorization(&value),
            400,
            "IncompleteSignatureException",
        );
        assert!(
            answer.message.contains(named),
            "{value}: {}",
            answer.message
        );
    }
    // A scheme that is not SigV4 at all.
    reject(
        AwsCall::new(Swf).authorization("Bearer abc"),
        400,
        "IncompleteSignatureException",
    );
}

#[test]
fn no_x_amz_date_is_an_incomplete_signature() {
    let answer = reject(
        AwsCall::new(States).remove_header_after_signing("X-Amz-Date"),
        400,
        "IncompleteSignatureException",
    );
    assert!(answer.message.contains("X-Amz-Date"), "{}", answer.message);
}

#[test]
fn host_and_x_amz_date_must_be_signed() {
    for signed in [
        "content-type;x-amz-date;x-amz-target",
        "content-type;host;x-amz-target",
    ] {
        let answer = reject(
            AwsCall::new(CodePipeline).signed_headers(signed),
            400,
            "IncompleteSignatureException",
        );
        assert!(answer.message.contains("Host"), "{}", answer.message);
    }
}

#[test]
fn an_unknown_access_key_is_an_unrecognized_client() {
    let answer = reject(
        AwsCall::new(States).key("AKIDUNKNOWNKEY000000", AWS_SECRET),
        400,
        "UnrecognizedClientException",
    );
    assert_eq!(
        answer.message,
        "The security token included in the request is invalid."
    );
    // The Alibaba demo key is not an AWS key of another account, it simply signs nothing here
    // unless its secret is right: signed right, it authenticates.
}

#[test]
fn a_signature_that_does_not_verify_is_an_invalid_signature() {
    let signed = AwsCall::new(States).build();
    let us_east_1 = signed.header("authorization").expect("signed").to_owned();
    let cases = [
        AwsCall::new(States).secret("wrong-secret"),
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
        AwsCall::new(States).authorization(&us_east_1.replacen("/us-east-1/", "/eu-west-1/", 1)),
    ];
    for call in cases {
        let answer = reject(call, 400, "InvalidSignatureException");
        assert_eq!(answer.message, SIGNATURE_MISMATCH);
    }
}

#[test]
fn any_region_signed_correctly_is_accepted() {
    forward(AwsCall::new(States).region("eu-west-1"));
}

#[test]
fn a_credential_scoped_to_another_service_is_an_invalid_signature() {
    let answer = reject(
        AwsCall::new(States).scope_service("swf"),
        400,
        "InvalidSignatureException",
    );
    assert_eq!(
        answer.message,
        "Credential should be scoped to correct service: 'states'. "
    );
    let answer = reject(
        AwsCall::new(CodePipeline).scope_service("states"),
        400,
        "InvalidSignatureException",
    );
    assert_eq!(
        answer.message,
        "Credential should be scoped to correct service: 'codepipeline'. "
    );
}

#[test]
fn a_scope_date_other_than_the_x_amz_date_is_an_invalid_signature() {
    for date in ["20240101", "20240103"] {
        reject(
            AwsCall::new(States).scope_date(date),
            400,
            "InvalidSignatureException",
        );
    }
}

#[test]
fn a_content_sha256_header_that_is_not_the_body_hash_is_an_invalid_signature() {
    // Signed over the false hash, as the JS SDK signs the hash it sends.
    let answer = reject(
        AwsCall::new(States)
            .js_sdk()
            .header("x-amz-content-sha256", &"0".repeat(64)),
        400,
        "InvalidSignatureException",
    );
    assert_eq!(answer.message, SIGNATURE_MISMATCH);
    // Unsigned, added by boto3-style caller.
    let answer = reject(
        AwsCall::new(States)
            .header_after_signing("x-amz-content-sha256", &sigv4::sha256_hex(b"{}")),
        400,
        "InvalidSignatureException",
    );
    assert_eq!(answer.message, SIGNATURE_MISMATCH);
    // The right hash, unsigned, is fine.
    forward(AwsCall::new(States).header_after_signing(
        "x-amz-content-sha256",
        &sigv4::sha256_hex(States.valid_body().as_bytes()),
    ));
}

#[test]
fn the_signing_time_must_be_within_15_minutes_of_receipt() {
    let at = aws_signed_at();
    // 16 minutes old.
    let answer = reject(
        AwsCall::new(States).received_at(at + 16 * 60),
        400,
        "InvalidSignatureException",
    );
    assert_eq!(
        answer.message,
        "Signature expired: 20240102T030405Z is now earlier than 20240102T030505Z (20240102T032005Z - 15 min.)"
    );
    // The contract's own example: 30 minutes old.
    let answer = reject(
        AwsCall::new(Swf).received_at(at + 30 * 60),
        400,
        "InvalidSignatureException",
    );
    assert_eq!(
        answer.message,
        "Signature expired: 20240102T030405Z is now earlier than 20240102T031905Z (20240102T033405Z - 15 min.)"
    );
    // 16 minutes ahead.
    let answer = reject(
        AwsCall::new(CodePipeline).received_at(at - 16 * 60),
        400,
        "InvalidSignatureException",
    );
    assert_eq!(
        answer.message,
        "Signature not yet current: 20240102T030405Z is still later than 20240102T030305Z (20240102T024805Z + 15 min.)"
    );
    // 14 minutes either way, and exactly 15, are fine.
    for received in [at + 14 * 60, at - 14 * 60, at + 15 * 60, at - 15 * 60] {
        forward(AwsCall::new(States).received_at(received));
    }
    // Signed now, received now.
    forward(AwsCall::new(Swf).now());
}

#[test]
fn the_clock_skew_limit_comes_from_the_configuration() {
    let config = Arc::new(
        Config::parse(&format!(
            "[limits]\nmax_clock_skew_seconds = 300\n[[access_keys]]\nid = \"{AWS_KEY_ID}\"\nsecret = \"{AWS_SECRET}\"\naccount = \"123456789012\"\n"
        ))
        .expect("config"),
    );
    let at = aws_signed_at();
    forward_with(&config, &AwsCall::new(States).received_at(at + 300).build());
    let answer = reject_with(
        &config,
        &AwsCall::new(States).received_at(at + 301).build(),
        400,
        "InvalidSignatureException",
        JSON_10,
    );
    assert!(answer.message.ends_with("- 5 min.)"), "{}", answer.message);
}

// ---------------------------------------------------------------------------------------------
// Size, and the order of the checks.

fn small_limit() -> Arc<Config> {
    Arc::new(
        Config::parse(&format!(
            "[limits]\nmax_aws_body_bytes = 4096\n[[access_keys]]\nid = \"{AWS_KEY_ID}\"\nsecret = \"{AWS_SECRET}\"\naccount = \"123456789012\"\n"
        ))
        .expect("config"),
    )
}

/// A valid body of exactly `len` bytes (padded with an unknown member).
fn body_of(len: usize) -> String {
    let frame = r#"{"taskToken": "t", "pad": ""}"#;
    format!(r#"{{"taskToken": "t", "pad": "{}"}}"#, x(len - frame.len()))
}

#[test]
fn a_body_over_the_limit_is_too_large() {
    let config = small_limit();
    forward_with(&config, &AwsCall::new(States).body(body_of(4096)).build());
    for dialect in AwsDialect::ALL {
        let request = AwsCall::new(dialect).body(body_of(4097)).build();
        let answer = reject_with(
            &config,
            &request,
            413,
            "RequestEntityTooLarge",
            dialect.content_type(),
        );
        assert!(answer.message.contains("4096"), "{}", answer.message);
    }
    // Size comes first: unsigned, GET, unknown target, all the same.
    let request = AwsCall::new(States)
        .unsigned()
        .method("GET")
        .body(body_of(4097))
        .build();
    reject_with(&config, &request, 413, "RequestEntityTooLarge", JSON_10);
    // The demo limit.
    let request = AwsCall::new(States).body(body_of(1024 * 1024 + 1)).build();
    reject_with(&demo(), &request, 413, "RequestEntityTooLarge", JSON_10);
}

#[test]
fn authentication_comes_before_the_body() {
    let answer = reject(
        AwsCall::new(States)
            .secret("wrong")
            .body(br#"{"taskToken": "#),
        400,
        "InvalidSignatureException",
    );
    assert_eq!(answer.message, SIGNATURE_MISMATCH);
    reject(
        AwsCall::new(Swf)
            .secret("wrong")
            .body(format!(r#"{{"taskToken": "{}"}}"#, x(5000))),
        400,
        "InvalidSignatureException",
    );
    reject(
        AwsCall::new(CodePipeline).unsigned().body("[]"),
        400,
        "MissingAuthenticationTokenException",
    );
    reject(
        AwsCall::new(States)
            .received_at(aws_signed_at() + 3600)
            .body(r#"{"taskToken": "a b"}"#),
        400,
        "InvalidSignatureException",
    );
    // Correctly signed, the body is judged.
    reject(
        AwsCall::new(States).body(br#"{"taskToken": "#),
        400,
        "SerializationException",
    );
}

#[test]
fn method_target_and_content_type_come_before_authentication() {
    reject(
        AwsCall::new(States).unsigned().method("GET"),
        400,
        "UnknownOperationException",
    );
    reject_with(
        &rejecting_others(),
        &AwsCall::new(States)
            .secret("wrong")
            .target("AWSStepFunctions.SendTaskSuccess")
            .build(),
        400,
        "UnknownOperationException",
        JSON_10,
    );
    reject(
        AwsCall::new(CodePipeline)
            .unsigned()
            .content_type("application/json"),
        400,
        "UnknownOperationException",
    );
}

#[test]
fn validation_comes_before_the_token_check() {
    validation(sfn("a b", &x(257), ""), &[&too_long("error", 256)]);
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

/// Another operation of a known service is answered in that service's own protocol (CodePipeline
/// speaks awsJson 1.1); only a target of no known service falls back to 1.0.
#[test]
fn another_codepipeline_operation_is_answered_as_an_unknown_target_in_its_services_format() {
    let request = AwsCall::new(CodePipeline)
        .target("CodePipeline_20150709.PutJobSuccessResult")
        .build();
    reject_with(
        &rejecting_others(),
        &request,
        400,
        "UnknownOperationException",
        JSON_11,
    );
}

/// The AWS entries of the shared corpus (corpus.rs): for each call, both SDK layouts forwarded and
/// one request for every error code it can answer.
pub fn corpus() -> Vec<crate::corpus::Entry> {
    let mut entries = Vec::new();
    for dialect in AwsDialect::ALL {
        let name = match dialect {
            States => "send_task_failure",
            Swf => "respond_activity_task_failed",
            CodePipeline => "put_job_failure_result",
        };
        let long_cause = match dialect {
            States => {
                r#"{"taskToken": "tok-123", "cause": "CAUSE"}"#.replace("CAUSE", &"x".repeat(32769))
            }
            Swf => r#"{"taskToken": "tok-123", "details": "CAUSE"}"#
                .replace("CAUSE", &"x".repeat(32769)),
            CodePipeline => format!(
                r#"{{"jobId": "{JOB_ID}", "failureDetails": {{"type": "JobFailed", "message": "{}"}}}}"#,
                "x".repeat(5001)
            ),
        };
        let mut cases: Vec<(String, AwsCall, String)> = vec![
            (
                format!("{name}_as_boto3_sends_it_is_forwarded"),
                AwsCall::new(dialect),
                String::new(),
            ),
            (
                format!("{name}_as_the_js_sdk_sends_it_is_forwarded"),
                AwsCall::new(dialect).js_sdk(),
                String::new(),
            ),
            (
                format!("{name}_over_the_body_limit_is_request_entity_too_large"),
                AwsCall::new(dialect),
                "[limits]\nmax_aws_body_bytes = 16\n".to_owned(),
            ),
            (
                format!("{name}_as_get_is_unknown_operation"),
                AwsCall::new(dialect).method("GET"),
                String::new(),
            ),
            (
                format!("{name}_with_a_json_content_type_is_unknown_operation"),
                AwsCall::new(dialect).content_type("application/json"),
                String::new(),
            ),
            (
                format!("{name}_without_authorization_is_missing_authentication_token"),
                AwsCall::new(dialect).unsigned(),
                String::new(),
            ),
            (
                format!("{name}_without_x_amz_date_is_incomplete_signature"),
                AwsCall::new(dialect).remove_header_after_signing("x-amz-date"),
                String::new(),
            ),
            (
                format!("{name}_by_an_unknown_key_is_unrecognized_client"),
                AwsCall::new(dialect).key("AKIDUNKNOWN", "whatever"),
                String::new(),
            ),
            (
                format!("{name}_with_a_wrong_secret_is_invalid_signature"),
                AwsCall::new(dialect).secret("not-the-secret"),
                String::new(),
            ),
            (
                format!("{name}_signed_20_minutes_before_receipt_is_signature_expired"),
                AwsCall::new(dialect).received_at(aws_signed_at() + 20 * 60),
                String::new(),
            ),
            (
                format!("{name}_with_a_body_that_is_not_json_is_serialization_error"),
                AwsCall::new(dialect).body("not json"),
                String::new(),
            ),
            (
                format!("{name}_over_its_longest_member_is_validation_error"),
                AwsCall::new(dialect).body(long_cause.as_bytes()),
                String::new(),
            ),
        ];
        match dialect {
            States | Swf => cases.push((
                format!("{name}_with_a_space_in_the_token_is_a_token_error"),
                AwsCall::new(dialect).body(br#"{"taskToken": "tok 123"}"#),
                String::new(),
            )),
            CodePipeline => cases.push((
                format!("{name}_with_an_unknown_failure_type_is_validation_error"),
                AwsCall::new(dialect).body(
                    format!(r#"{{"jobId": "{JOB_ID}", "failureDetails": {{"type": "Oops", "message": "m"}}}}"#)
                        .as_bytes(),
                ),
                String::new(),
            )),
        }
        entries.extend(
            cases
                .into_iter()
                .map(|(name, call, overrides)| crate::corpus::Entry {
                    name,
                    request: call.build(),
                    overrides,
                }),
        );
    }
    entries.push(crate::corpus::Entry {
        name: "an_unknown_target_is_unknown_operation_when_other_calls_are_rejected".to_owned(),
        request: AwsCall::new(States)
            .target("AWSStepFunctions.StartExecution")
            .build(),
        overrides: REJECT_OTHERS.to_owned(),
    });
    entries.extend(
        other_calls()
            .into_iter()
            .map(|(name, call, overrides)| crate::corpus::Entry {
                name: name.to_owned(),
                request: call.build(),
                overrides: overrides.to_owned(),
            }),
    );
    entries
}

/// Overrides that make calls other than the failure reports unknown operations again.
const REJECT_OTHERS: &str = "[serve]\nother_calls = \"reject\"\n";
/// Overrides that pass calls other than the failure reports unchecked.
const FORWARD_OTHERS: &str = "[serve]\nother_calls = \"forward\"\n";

/// The demo configuration with other calls rejected.
fn rejecting_others() -> Arc<Config> {
    crate::corpus::config(REJECT_OTHERS)
}

/// Calls other than the failure reports: (name, call, overrides), each verdict pinned in the
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
            "send_task_success_is_passed_once_authenticated",
            other(
                States,
                "AWSStepFunctions.SendTaskSuccess",
                r#"{"taskToken": "tok-123", "output": "{}"}"#,
            ),
            "",
        ),
        (
            "send_task_heartbeat_is_passed_once_authenticated",
            other(
                States,
                "AWSStepFunctions.SendTaskHeartbeat",
                r#"{"taskToken": "tok-123"}"#,
            ),
            "",
        ),
        (
            "record_activity_task_heartbeat_is_passed_once_authenticated",
            other(
                Swf,
                "SimpleWorkflowService.RecordActivityTaskHeartbeat",
                r#"{"taskToken": "t"}"#,
            ),
            "",
        ),
        (
            "put_job_success_result_is_passed_once_authenticated",
            other(
                CodePipeline,
                "CodePipeline_20150709.PutJobSuccessResult",
                &format!(r#"{{"jobId": "{JOB_ID}"}}"#),
            ),
            "",
        ),
        (
            "another_services_call_is_passed_once_authenticated_in_its_own_scope",
            other(States, "AmazonSQS.SendMessage", r#"{"QueueUrl": "q"}"#).scope_service("sqs"),
            "",
        ),
        (
            "send_task_success_with_a_wrong_secret_is_invalid_signature",
            other(
                States,
                "AWSStepFunctions.SendTaskSuccess",
                r#"{"taskToken": "tok-123", "output": "{}"}"#,
            )
            .secret("not-the-secret"),
            "",
        ),
        (
            "send_task_heartbeat_by_an_unknown_key_is_unrecognized_client",
            other(
                States,
                "AWSStepFunctions.SendTaskHeartbeat",
                r#"{"taskToken": "tok-123"}"#,
            )
            .key("AKIDUNKNOWN", "whatever"),
            "",
        ),
        (
            "send_task_success_scoped_to_another_service_is_invalid_signature",
            other(
                States,
                "AWSStepFunctions.SendTaskSuccess",
                r#"{"taskToken": "tok-123", "output": "{}"}"#,
            )
            .scope_service("swf"),
            "",
        ),
        (
            "send_task_heartbeat_signed_20_minutes_before_receipt_is_signature_expired",
            other(
                States,
                "AWSStepFunctions.SendTaskHeartbeat",
                r#"{"taskToken": "tok-123"}"#,
            )
            .received_at(aws_signed_at() + 20 * 60),
            "",
        ),
        (
            "send_task_success_without_authorization_is_missing_authentication_token",
            other(
                States,
                "AWSStepFunctions.SendTaskSuccess",
                r#"{"taskToken": "tok-123", "output": "{}"}"#,
            )
            .unsigned(),
            "",
        ),
        // Method and content type are the service's to judge for a call this filter does not
        // model.
        (
            "send_task_success_as_get_with_a_json_content_type_is_passed_once_authenticated",
            other(
                States,
                "AWSStepFunctions.SendTaskSuccess",
                r#"{"taskToken": "tok-123", "output": "{}"}"#,
            )
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
            "send_task_success_with_a_wrong_secret_is_passed_unchecked_when_other_calls_are_forwarded",
            other(
                States,
                "AWSStepFunctions.SendTaskSuccess",
                r#"{"taskToken": "tok-123", "output": "{}"}"#,
            )
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
