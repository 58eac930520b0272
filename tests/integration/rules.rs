//! One case per rule of ReportTaskFailed validation: each request differs from a valid one in
//! exactly the way the rule forbids, so that each case fails if its rule is removed. The full
//! verdicts are pinned in the shared corpus, tests/cases/fnf (corpus.rs).

use crate::corpus;
use crate::{check_both, code, demo};
use serde_json::Value;
use std::sync::Arc;
use taskgate::config::Config;
use taskgate::output;
use taskgate_filter::{Request, Verdict, token};
use taskgate_tests::{
    Call, EXECUTION_ID, Layout, OTHER_TOKEN_KEY, SIGNED_AT, demo_token, signed_at,
};

struct Case {
    name: &'static str,
    request: Request,
    config: Arc<Config>,
    /// The overrides of the corpus's base configuration that made `config`.
    overrides: String,
    /// The expected code ("forward" for a forward), status and a phrase the message must hold.
    expect: (&'static str, u16, &'static str),
}

fn case(name: &'static str, call: Call, expect: (&'static str, u16, &'static str)) -> Case {
    Case {
        name,
        request: call.build(),
        config: corpus::config(""),
        overrides: String::new(),
        expect,
    }
}

/// A case checked under the corpus's base configuration with these overrides.
fn configured(
    name: &'static str,
    request: Request,
    overrides: String,
    expect: (&'static str, u16, &'static str),
) -> Case {
    Case {
        name,
        request,
        config: corpus::config(&overrides),
        overrides,
        expect,
    }
}

/// The cases as entries of the shared corpus.
pub fn corpus() -> Vec<corpus::Entry> {
    cases()
        .into_iter()
        .map(|case| corpus::Entry {
            name: case.name.to_owned(),
            request: case.request,
            overrides: case.overrides,
            memory: None,
        })
        .collect()
}

const FWD: (&str, u16, &str) = ("forward", 200, "");
/// A call the filter does not model, passed on (`other_calls`).
const PASS: (&str, u16, &str) = ("pass", 200, "");

/// Overrides that make calls other than ReportTaskFailed unknown actions again.
const REJECT_OTHERS: &str = "[serve]\nother_calls = \"reject\"\n";
/// Overrides that pass calls other than ReportTaskFailed unchecked.
const FORWARD_OTHERS: &str = "[serve]\nother_calls = \"forward\"\n";

fn cases() -> Vec<Case> {
    use Layout::*;
    let emoji128 = "🚀".repeat(128);
    let mut cases = vec![
        // Every request layout the official SDKs send.
        case("forward_query_and_form", Call::new(QueryAndForm), FWD),
        case("forward_form_only", Call::new(FormOnly), FWD),
        case("forward_json_body", Call::new(Json), FWD),
        case("forward_acs3", Call::new(Acs3), FWD),
        case(
            "forward_without_cause",
            Call::new(QueryAndForm).remove("Cause"),
            FWD,
        ),
        // Lengths count characters: 128 four-byte characters are 512 bytes and still fine.
        case(
            "forward_error_of_128_characters",
            Call::new(QueryAndForm).set("Error", &emoji128),
            FWD,
        ),
        case(
            "forward_cause_of_4096_characters",
            Call::new(FormOnly).set("Cause", &"é".repeat(4096)),
            FWD,
        ),
        case(
            "forward_with_caller_request_id",
            Call::new(QueryAndForm).set("RequestId", "CALLER-ID-1"),
            FWD,
        ),
        // ReportTaskSucceeded, in every layout: TaskToken and Output required, nothing else.
        case(
            "succeeded_forward_query_and_form",
            Call::new(QueryAndForm).succeeded(r#"{"ok":true}"#),
            FWD,
        ),
        case(
            "succeeded_forward_form_only",
            Call::new(FormOnly).succeeded(r#"{"ok":true}"#),
            FWD,
        ),
        case(
            "succeeded_forward_json_body",
            Call::new(Json).succeeded(r#"{"ok":true}"#),
            FWD,
        ),
        case(
            "succeeded_forward_acs3",
            Call::new(Acs3).succeeded(r#"{"ok":true}"#),
            FWD,
        ),
        case(
            "succeeded_with_output_of_60000_characters_is_forwarded",
            Call::new(FormOnly).succeeded(&"o".repeat(60_000)),
            FWD,
        ),
        case(
            "succeeded_without_output_is_missing_required_params",
            Call::new(QueryAndForm).succeeded("").remove("Output"),
            ("MissingRequiredParams", 400, "'Output'"),
        ),
        case(
            "succeeded_with_empty_output_is_missing_required_params",
            Call::new(Acs3).succeeded(""),
            ("MissingRequiredParams", 400, "'Output'"),
        ),
        case(
            "succeeded_without_task_token_is_missing_required_params",
            Call::new(Json).succeeded("{}").remove("TaskToken"),
            ("MissingRequiredParams", 400, "'TaskToken'"),
        ),
        case(
            "succeeded_with_a_malformed_token_is_invalid_argument",
            Call::new(QueryAndForm)
                .succeeded("{}")
                .set("TaskToken", "not-a-token"),
            (
                "InvalidArgument",
                400,
                "'TaskToken' is not a valid task token",
            ),
        ),
        case(
            "succeeded_with_a_wrong_secret_is_signature_not_match",
            Call::new(FormOnly).succeeded("{}").secret("wrong"),
            ("SignatureNotMatch", 403, "signature"),
        ),
        case(
            "succeeded_acs3_with_a_wrong_secret_is_signature_not_match",
            Call::new(Acs3).succeeded("{}").secret("wrong"),
            ("SignatureNotMatch", 403, "signature"),
        ),
        case(
            "succeeded_of_another_version_is_api_version_not_supported",
            Call::new(QueryAndForm)
                .succeeded("{}")
                .set("Version", "2020-01-01"),
            ("APIVersionNotSupported", 400, "'2020-01-01'"),
        ),
        case(
            "forward_at_the_edge_of_the_clock_window",
            Call::new(QueryAndForm).received_at(signed_at() + 900),
            FWD,
        ),
        case(
            "forward_acs3_at_the_edge_of_the_clock_window",
            Call::new(Acs3).received_at(signed_at() - 900),
            FWD,
        ),
        // Transport and encoding.
        case(
            "method_put_is_invalid_argument",
            Call::new(QueryAndForm).method("PUT"),
            ("InvalidArgument", 400, "'PUT'"),
        ),
        case(
            "text_plain_body_is_unsupported_media_type",
            Call::new(QueryAndForm).header("Content-Type", "text/plain"),
            ("UnsupportedMediaType", 415, "text/plain"),
        ),
        case(
            "two_different_content_types_are_unsupported_media_type",
            Call::new(QueryAndForm).extra_header("Content-Type", "application/json"),
            (
                "UnsupportedMediaType",
                415,
                "application/x-www-form-urlencoded",
            ),
        ),
        case(
            "bad_percent_escape_is_invalid_argument",
            Call::new(QueryAndForm).extra_query("Note", "100%zz"),
            ("InvalidArgument", 400, "Note"),
        ),
        case(
            "json_array_body_is_invalid_argument",
            Call::new(Json).body(b"[\"Error\"]"),
            ("InvalidArgument", 400, "JSON"),
        ),
        case(
            "json_number_member_is_invalid_argument",
            Call::new(Json).body(br#"{"Error":5}"#),
            ("InvalidArgument", 400, "\\\"Error\\\" must be a string"),
        ),
        // A parameter given twice anywhere.
        case(
            "parameter_twice_in_query_is_invalid_argument",
            Call::new(QueryAndForm).extra_query("Action", "ReportTaskFailed"),
            ("InvalidArgument", 400, "'Action' is given more than once"),
        ),
        case(
            "parameter_in_query_and_body_is_invalid_argument",
            Call::new(QueryAndForm).extra_body("TaskToken", "x"),
            (
                "InvalidArgument",
                400,
                "'TaskToken' is given more than once",
            ),
        ),
        case(
            "json_member_twice_is_invalid_argument",
            Call::new(Json).body(
                format!(
                    r#"{{"TaskToken":"{t}","Error":"a","Error":"b"}}"#,
                    t = demo_token(42)
                )
                .as_bytes(),
            ),
            ("InvalidArgument", 400, "'Error' is given more than once"),
        ),
        // Operation and version.
        configured(
            "other_action_is_action_not_supported_when_other_calls_are_rejected",
            Call::new(QueryAndForm)
                .set("Action", "StartExecution")
                .build(),
            REJECT_OTHERS.to_owned(),
            ("ActionNotSupported", 400, "'StartExecution'"),
        ),
        // Other calls: authenticated exactly as ReportTaskFailed (the default), then passed on.
        case(
            "other_action_is_passed_once_authenticated",
            Call::new(QueryAndForm)
                .set("Action", "StartExecution")
                .set("Output", "{\"ok\":true}")
                .remove("Error")
                .remove("Cause"),
            PASS,
        ),
        case(
            "other_action_of_another_version_is_passed_once_authenticated",
            Call::new(QueryAndForm)
                .set("Action", "DescribeRegions")
                .set("Version", "2014-05-26"),
            PASS,
        ),
        case(
            "other_action_with_a_wrong_secret_is_signature_not_match",
            Call::new(QueryAndForm)
                .set("Action", "StartExecution")
                .secret("not-the-secret"),
            ("SignatureNotMatch", 403, "HMAC-SHA1"),
        ),
        case(
            "other_action_by_an_unknown_key_is_invalid_access_key_id",
            Call::new(QueryAndForm)
                .set("Action", "StartExecution")
                .set("AccessKeyId", "LTAI5tUnknownKeyId"),
            ("InvalidAccessKeyID", 403, "LTAI5tUnknownKeyId"),
        ),
        configured(
            "other_action_signed_too_long_ago_is_request_time_too_skewed",
            Call::new(QueryAndForm)
                .set("Action", "StartExecution")
                .received_at(signed_at() + 901)
                .build(),
            String::new(),
            ("RequestTimeTooSkewed", 403, "more than 900 seconds"),
        ),
        case(
            "other_action_without_a_signature_is_missing_required_params",
            Call::new(QueryAndForm)
                .set("Action", "StartExecution")
                .signature(""),
            ("MissingRequiredParams", 400, "'Signature'"),
        ),
        case(
            "acs3_other_action_is_passed_once_authenticated",
            Call::new(Acs3).header("x-acs-action", "StartExecution"),
            PASS,
        ),
        case(
            "acs3_other_action_with_a_wrong_secret_is_signature_not_match",
            Call::new(Acs3)
                .header("x-acs-action", "StartExecution")
                .secret("not-the-secret"),
            ("SignatureNotMatch", 403, "ACS3-HMAC-SHA256"),
        ),
        configured(
            "other_action_with_a_wrong_secret_is_passed_unchecked_when_other_calls_are_forwarded",
            Call::new(QueryAndForm)
                .set("Action", "StartExecution")
                .secret("not-the-secret")
                .build(),
            FORWARD_OTHERS.to_owned(),
            PASS,
        ),
        configured(
            "acs3_other_action_with_a_wrong_secret_is_passed_unchecked_when_other_calls_are_forwarded",
            Call::new(Acs3)
                .header("x-acs-action", "StartExecution")
                .secret("not-the-secret")
                .build(),
            FORWARD_OTHERS.to_owned(),
            PASS,
        ),
        configured(
            "failure_report_with_a_wrong_secret_is_still_signature_not_match_when_other_calls_are_forwarded",
            Call::new(QueryAndForm).secret("not-the-secret").build(),
            FORWARD_OTHERS.to_owned(),
            ("SignatureNotMatch", 403, "HMAC-SHA1"),
        ),
        case(
            "missing_action_is_missing_required_params",
            Call::new(QueryAndForm).remove("Action"),
            ("MissingRequiredParams", 400, "'Action'"),
        ),
        case(
            "other_version_is_api_version_not_supported",
            Call::new(QueryAndForm).set("Version", "2020-01-01"),
            ("APIVersionNotSupported", 400, "'2020-01-01'"),
        ),
        configured(
            "acs3_other_action_is_action_not_supported_when_other_calls_are_rejected",
            Call::new(Acs3)
                .header("x-acs-action", "StartExecution")
                .build(),
            REJECT_OTHERS.to_owned(),
            ("ActionNotSupported", 400, "'StartExecution'"),
        ),
        case(
            "acs3_other_version_is_api_version_not_supported",
            Call::new(Acs3).header("x-acs-version", "2024-06-30"),
            ("APIVersionNotSupported", 400, "'2024-06-30'"),
        ),
        // RPC v1 authentication.
        case(
            "missing_access_key_id_is_missing_required_params",
            Call::new(QueryAndForm).remove("AccessKeyId"),
            ("MissingRequiredParams", 400, "'AccessKeyId'"),
        ),
        case(
            "missing_signature_is_missing_required_params",
            Call::new(QueryAndForm).signature(""),
            ("MissingRequiredParams", 400, "'Signature'"),
        ),
        case(
            "missing_timestamp_is_missing_required_params",
            Call::new(QueryAndForm).remove("Timestamp"),
            ("MissingRequiredParams", 400, "'Timestamp'"),
        ),
        case(
            "missing_nonce_is_missing_required_params",
            Call::new(QueryAndForm).remove("SignatureNonce"),
            ("MissingRequiredParams", 400, "'SignatureNonce'"),
        ),
        case(
            "other_signature_method_is_invalid_argument",
            Call::new(QueryAndForm).set("SignatureMethod", "HMAC-SHA256"),
            (
                "InvalidArgument",
                400,
                "'SignatureMethod' must be HMAC-SHA1",
            ),
        ),
        case(
            "malformed_timestamp_is_invalid_argument",
            Call::new(QueryAndForm).set("Timestamp", "2026-11-22 08:00:00"),
            ("InvalidArgument", 400, "'Timestamp' must be a UTC time"),
        ),
        case(
            "late_request_is_request_time_too_skewed",
            Call::new(QueryAndForm).received_at(signed_at() + 901),
            ("RequestTimeTooSkewed", 403, "more than 900 seconds"),
        ),
        case(
            "early_request_is_request_time_too_skewed",
            Call::new(FormOnly).received_at(signed_at() - 901),
            ("RequestTimeTooSkewed", 403, SIGNED_AT),
        ),
        case(
            "unknown_access_key_is_invalid_access_key_id",
            Call::new(QueryAndForm).set("AccessKeyId", "LTAI5tNobody"),
            ("InvalidAccessKeyID", 403, "LTAI5tNobody"),
        ),
        case(
            "wrong_secret_is_signature_not_match",
            Call::new(QueryAndForm).secret("not-the-secret"),
            ("SignatureNotMatch", 403, "HMAC-SHA1"),
        ),
        case(
            "wrong_secret_form_only_is_signature_not_match",
            Call::new(FormOnly).secret("not-the-secret"),
            ("SignatureNotMatch", 403, "HMAC-SHA1"),
        ),
        case(
            "wrong_secret_json_is_signature_not_match",
            Call::new(Json).secret("not-the-secret"),
            ("SignatureNotMatch", 403, "HMAC-SHA1"),
        ),
        case(
            "tampered_body_is_signature_not_match",
            Call::new(QueryAndForm).body(b"Error=PaymentDeclined&Cause=changed"),
            ("SignatureNotMatch", 403, ""),
        ),
        // ACS3 authentication.
        case(
            "acs3_wrong_secret_is_signature_not_match",
            Call::new(Acs3).secret("not-the-secret"),
            ("SignatureNotMatch", 403, "ACS3"),
        ),
        case(
            "acs3_missing_date_is_missing_required_header",
            Call::new(Acs3).remove_header("x-acs-date"),
            ("MissingRequiredHeader", 400, "'x-acs-date'"),
        ),
        case(
            "acs3_missing_nonce_is_missing_required_header",
            Call::new(Acs3).remove_header("x-acs-signature-nonce"),
            ("MissingRequiredHeader", 400, "'x-acs-signature-nonce'"),
        ),
        case(
            "acs3_body_hash_mismatch_is_signature_not_match",
            Call::new(Acs3).header(
                "x-acs-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            ("SignatureNotMatch", 403, "x-acs-content-sha256"),
        ),
        case(
            "acs3_late_request_is_request_time_too_skewed",
            Call::new(Acs3).received_at(signed_at() + 3600),
            ("RequestTimeTooSkewed", 403, "900 seconds"),
        ),
        case(
            "acs3_malformed_authorization_is_invalid_argument",
            Call::new(Acs3).header(
                "Authorization",
                "ACS3-HMAC-SHA256 Credential=LTAI5tDemoAccessKeyId",
            ),
            ("InvalidArgument", 400, "'Authorization'"),
        ),
        // ReportTaskFailed's own parameters.
        case(
            "missing_task_token_is_missing_required_params",
            Call::new(QueryAndForm).remove("TaskToken"),
            ("MissingRequiredParams", 400, "'TaskToken'"),
        ),
        case(
            "missing_error_is_missing_required_params",
            Call::new(QueryAndForm).remove("Error"),
            ("MissingRequiredParams", 400, "'Error'"),
        ),
        case(
            "empty_error_is_missing_required_params",
            Call::new(QueryAndForm).set("Error", ""),
            ("MissingRequiredParams", 400, "'Error'"),
        ),
        case(
            "error_of_129_characters_is_invalid_argument",
            Call::new(QueryAndForm).set("Error", &"E".repeat(129)),
            (
                "InvalidArgument",
                400,
                "'Error' must be between 1 and 128 characters, but is 129",
            ),
        ),
        case(
            "cause_of_4097_characters_is_invalid_argument",
            Call::new(FormOnly).set("Cause", &"c".repeat(4097)),
            (
                "InvalidArgument",
                400,
                "'Cause' must be between 1 and 4096 characters, but is 4097",
            ),
        ),
        case(
            "empty_cause_is_invalid_argument",
            Call::new(QueryAndForm).set("Cause", ""),
            (
                "InvalidArgument",
                400,
                "'Cause' must be between 1 and 4096 characters, but is 0",
            ),
        ),
        case(
            "acs3_error_of_129_characters_is_invalid_argument",
            Call::new(Acs3).set("Error", &"E".repeat(129)),
            ("InvalidArgument", 400, "but is 129"),
        ),
        // Task tokens.
        case(
            "token_that_is_not_base64_is_invalid_argument",
            Call::new(QueryAndForm).set("TaskToken", "%%%"),
            ("InvalidArgument", 400, "not Base64"),
        ),
        case(
            "token_with_a_space_gets_the_plus_hint",
            Call::new(QueryAndForm).set("TaskToken", "djEjYSMyYjBj NmE0ZS04ZjVl"),
            ("InvalidArgument", 400, "%2B"),
        ),
        case(
            "token_made_with_an_unknown_key_is_invalid_argument",
            Call::new(QueryAndForm).set(
                "TaskToken",
                &token::mint("a", EXECUTION_ID, 42, b"forged").unwrap_or_default(),
            ),
            ("InvalidArgument", 400, "MAC does not verify"),
        ),
        case(
            "token_of_another_account_is_access_denied",
            Call::new(QueryAndForm).set(
                "TaskToken",
                &token::mint("a", EXECUTION_ID, 42, OTHER_TOKEN_KEY).unwrap_or_default(),
            ),
            ("AccessDenied", 403, "another account"),
        ),
        // Request ids.
        case(
            "caller_request_id_is_echoed_in_errors",
            Call::new(QueryAndForm)
                .set("RequestId", "CALLER-ID-2")
                .secret("wrong"),
            ("SignatureNotMatch", 403, ""),
        ),
        case(
            "request_id_with_a_control_character_is_invalid_argument",
            Call::new(QueryAndForm).set("RequestId", "a\r\nb"),
            ("InvalidArgument", 400, "'RequestId'"),
        ),
    ];

    // Configuration-dependent rules.
    let valid = Call::new(QueryAndForm).build();
    let body_len = valid.body.len();
    cases.push(configured(
        "body_at_the_configured_limit_is_forwarded",
        valid.clone(),
        format!("[limits]\nmax_body_bytes = {body_len}\n"),
        FWD,
    ));
    cases.push(configured(
        "body_over_the_configured_limit_is_entity_too_large",
        valid.clone(),
        format!("[limits]\nmax_body_bytes = {}\n", body_len - 1),
        (
            "EntityTooLarge",
            400,
            &*format!("({} bytes)", body_len - 1).leak(),
        ),
    ));
    cases.push(case(
        "body_over_the_default_limit_is_entity_too_large",
        Call::new(QueryAndForm).body(&vec![b'a'; 65_537]),
        ("EntityTooLarge", 400, "(65536 bytes)"),
    ));
    cases.push(configured(
        "without_token_keys_the_token_is_forwarded_unverified",
        Call::new(QueryAndForm)
            .set(
                "TaskToken",
                &token::mint("a", EXECUTION_ID, 7, b"anything").unwrap_or_default(),
            )
            .build(),
        "token_keys = []\n".to_owned(),
        FWD,
    ));
    cases.push(configured(
        "narrower_configured_clock_window_is_enforced",
        Call::new(QueryAndForm)
            .received_at(signed_at() + 61)
            .build(),
        "[limits]\nmax_clock_skew_seconds = 60\n".to_owned(),
        ("RequestTimeTooSkewed", 403, "more than 60 seconds"),
    ));
    cases
}

#[test]
fn every_rule_gives_its_code_status_and_message_natively_and_in_the_component() {
    let mut failures = Vec::new();
    for case in cases() {
        let verdict = check_both(&case.config, &case.request);
        let (want_code, want_status, want_phrase) = case.expect;
        let shown = output::verdict(&verdict);
        match &verdict {
            Verdict::Forward(_) | Verdict::Pass(_) => {}
            Verdict::Reject(response) => {
                let body = String::from_utf8_lossy(&response.body);
                if response.status != want_status || !body.contains(want_phrase) {
                    failures.push(format!(
                        "{}: status {} body {body}",
                        case.name, response.status
                    ));
                }
            }
        }
        if code(&verdict) != want_code {
            failures.push(format!(
                "{}: got {}, want {want_code}: {shown}",
                case.name,
                code(&verdict)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_error_body_has_the_alibaba_members_in_order() {
    for case in cases() {
        let Verdict::Reject(response) = check_both(&case.config, &case.request) else {
            continue;
        };
        let body: Value = serde_json::from_slice(&response.body).expect("JSON body");
        let keys: Vec<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["RequestId", "HostId", "Code", "Message", "Recommend"],
            "{}",
            case.name
        );
        assert_eq!(body["Code"], response.code.as_str());
        let header_id = response
            .headers
            .iter()
            .find(|(k, _)| k == "x-acs-request-id")
            .map(|(_, v)| v.as_str());
        assert_eq!(body["RequestId"].as_str(), header_id, "{}", case.name);
        assert!(
            response
                .headers
                .iter()
                .any(|(k, v)| k == "content-type" && v.starts_with("application/json"))
        );
    }
}

#[test]
fn caller_request_ids_are_honoured_and_others_generated() {
    let config = demo();
    let Verdict::Forward(report) = check_both(
        &config,
        &Call::new(Layout::QueryAndForm)
            .set("RequestId", "CALLER-ID-1")
            .build(),
    ) else {
        panic!("expected forward");
    };
    assert_eq!(report.request_id, "CALLER-ID-1");
    let Verdict::Reject(response) = check_both(
        &config,
        &Call::new(Layout::QueryAndForm)
            .set("RequestId", "CALLER-ID-2")
            .secret("x")
            .build(),
    ) else {
        panic!("expected reject");
    };
    assert!(String::from_utf8_lossy(&response.body).contains("\"RequestId\":\"CALLER-ID-2\""));

    // Without one: the host's id when it gives one, else an id derived from the request.
    let mut request = Call::new(Layout::QueryAndForm).build();
    request.request_id = Some("HOST-ID".into());
    let Verdict::Forward(report) = check_both(&config, &request) else {
        panic!("expected forward")
    };
    assert_eq!(report.request_id, "HOST-ID");
    request.request_id = None;
    let Verdict::Forward(first) = check_both(&config, &request) else {
        panic!("expected forward")
    };
    let other = Call::new(Layout::QueryAndForm)
        .set("SignatureNonce", "another-nonce")
        .build();
    let Verdict::Forward(second) = check_both(&config, &other) else {
        panic!("expected forward")
    };
    assert_eq!(first.request_id.len(), 36);
    assert_ne!(first.request_id, second.request_id);
}

#[test]
fn forwarded_reports_carry_the_decoded_token_and_fields() {
    let config = demo();
    for layout in [
        Layout::QueryAndForm,
        Layout::FormOnly,
        Layout::Json,
        Layout::Acs3,
    ] {
        let request = Call::new(layout)
            .set("Cause", "a + b = 100% ~ *é*")
            .set("TaskToken", &demo_token(9001))
            .build();
        let Verdict::Forward(report) = check_both(&config, &request) else {
            panic!("{layout:?}: expected forward");
        };
        assert_eq!(report.access_key_id, "LTAI5tDemoAccessKeyId");
        assert_eq!(report.error.as_deref(), Some("PaymentDeclined"));
        let Some(token) = &report.token else {
            panic!("an Alibaba report without its decoded token");
        };
        assert_eq!(report.cause.as_deref(), Some("a + b = 100% ~ *é*"));
        assert_eq!(token.execution_id, EXECUTION_ID);
        assert_eq!(token.event_id, 9001);
        assert_eq!(token.account.as_deref(), Some("1234567890123456"));
        assert!(token.verified);
    }
}

#[test]
fn a_success_report_carries_its_output_and_settles_its_task() {
    let config = demo();
    for layout in [
        Layout::QueryAndForm,
        Layout::FormOnly,
        Layout::Json,
        Layout::Acs3,
    ] {
        let output = r#"{"total": "100% ~ *é*"}"#;
        let request = Call::new(layout).succeeded(output).build();
        let Verdict::Forward(report) = check_both(&config, &request) else {
            panic!("{layout:?}: expected forward");
        };
        assert_eq!(
            (report.action.as_str(), report.callback),
            ("ReportTaskSucceeded", taskgate_filter::Callback::Succeeded),
            "{layout:?}"
        );
        assert_eq!(report.output.as_deref(), Some(output), "{layout:?}");
        assert_eq!((report.error, report.cause), (None, None), "{layout:?}");
        assert!(report.recall.settles && report.recall.nonce.is_some());
        // The same task as a failure report of the same token: one settles the other.
        let Verdict::Forward(failed) = check_both(&config, &Call::new(layout).build()) else {
            panic!("{layout:?}: expected forward");
        };
        assert_eq!(failed.recall.task, report.recall.task, "{layout:?}");
        assert_eq!(failed.callback, taskgate_filter::Callback::Failed);
    }
}
