//! Repair mode (`[serve] repair = "truncate"`): a failure report whose only fault is free text
//! over the service's limit is cut to the limit with a marker, signed again and checked again.
//! The cases are pinned in `tests/repair/<dialect>/` (`taskgate test tests/repair` runs them;
//! `TASKGATE_BLESS=1` rewrites them); each is also held here to what repair promises, worked
//! out independently of the code under test: the field's length is the limit exactly, it keeps
//! the original's first characters and ends with a marker naming the original's length, its
//! SHA-256 is the original's, nothing else of the report changes, and a report with any other
//! fault keeps the refusal the component gave it.

use crate::corpus;
use crate::{check_both, root, sandbox};
use std::path::PathBuf;
use std::sync::Arc;
use taskgate::cases::{self, Case, RepairedCase};
use taskgate::config::Config;
use taskgate::repair::{self, Repairing};
use taskgate_filter::repair::NotRepaired;
use taskgate_filter::{Request, Verdict};
use taskgate_tests::{
    AwsCall, AwsDialect, Call, EXECUTION_ID, Layout, OTHER_TOKEN_KEY, demo_token,
};

/// Overrides that turn repair on.
const TRUNCATE: &str = "[serve]\nrepair = \"truncate\"\n";
/// Repair on, with temporary credentials let through for the service to verify.
const TRUNCATE_FORWARD: &str =
    "[serve]\nrepair = \"truncate\"\ntemporary_credentials = \"forward\"\n";
/// Repair on, the demo Alibaba key signing as a credential the gateway holds (`sign_as`).
const TRUNCATE_SIGN_AS: &str = r#"[serve]
repair = "truncate"

[[credentials]]
name = "gateway"
access_key_id = "LTAI5tGatewayCredential"
secret = "gateway-credential-secret"

[[access_keys]]
id = "LTAI5tDemoAccessKeyId"
secret = "demo-access-key-secret"
account = "1234567890123456"
sign_as = "gateway"
"#;

/// A Java stack trace's line: what over-long causes are made of in the field.
const TRACE_LINE: &str = "\tat com.example.billing.Worker.charge(Worker.java:42)\n";

/// `length` characters of a stack trace.
fn trace(length: usize) -> String {
    TRACE_LINE.chars().cycle().take(length).collect()
}

/// What a case expects of repair.
#[derive(Debug, Clone)]
enum Want {
    /// Repaired: each (field, limit) cut to its limit, with the original text in `originals`.
    Repaired(Vec<(&'static str, usize, String)>),
    /// Refused with the component's own answer to the original, not repaired.
    Refused,
}

struct RepairCase {
    name: String,
    request: Request,
    overrides: &'static str,
    want: Want,
}

fn case(
    name: impl Into<String>,
    request: Request,
    overrides: &'static str,
    want: Want,
) -> RepairCase {
    RepairCase {
        name: name.into(),
        request,
        overrides,
        want,
    }
}

/// The AWS body of a dialect's failure report with these free-text members (JSON-encoded
/// values as given, so a case can send escapes).
fn aws_body(dialect: AwsDialect, error: &str, cause: &str) -> String {
    match dialect {
        AwsDialect::States => {
            format!(r#"{{"taskToken": "tok-123", "error": {error}, "cause": {cause}}}"#)
        }
        AwsDialect::Swf => format!(
            r#"{{"taskToken": "AAAAKgAAAAIAAAAAAAAAAswf-token", "reason": {error}, "details": {cause}}}"#
        ),
        AwsDialect::CodePipeline => format!(
            r#"{{"jobId": "11111111-2222-4333-8444-555555555555", "failureDetails": {{"type": {error}, "message": {cause}, "externalExecutionId": "build-42"}}}}"#
        ),
    }
}

/// A dialect's failure report with these free-text members, signed as boto3 signs it.
fn aws(dialect: AwsDialect, error: &str, cause: &str) -> Request {
    AwsCall::new(dialect)
        .body(aws_body(dialect, error, cause))
        .build()
}

fn json(text: &str) -> String {
    serde_json::to_string(text).expect("a string encodes")
}

fn repair_cases() -> Vec<RepairCase> {
    use Want::*;
    let mut cases = Vec::new();
    for layout in Layout::ALL {
        let name = layout.name();
        let cause = trace(5000);
        cases.push(case(
            format!("{name}_cause_of_5000_characters_is_cut_to_4096"),
            Call::new(layout).set("Cause", &cause).build(),
            TRUNCATE,
            Repaired(vec![("Cause", 4096, cause)]),
        ));
        let error = "PaymentDeclined.".repeat(13);
        cases.push(case(
            format!("{name}_error_of_208_characters_is_cut_to_128"),
            Call::new(layout).set("Error", &error).build(),
            TRUNCATE,
            Repaired(vec![("Error", 128, error)]),
        ));
        cases.push(case(
            format!("{name}_over_long_cause_with_another_accounts_token_is_refused_not_repaired"),
            Call::new(layout)
                .set("Cause", &trace(5000))
                .set(
                    "TaskToken",
                    &taskgate_filter::token::mint("a", EXECUTION_ID, 42, OTHER_TOKEN_KEY)
                        .unwrap_or_default(),
                )
                .build(),
            TRUNCATE,
            Refused,
        ));
    }
    let both = (trace(300), trace(9000));
    cases.push(case(
        "rpc_query_and_form_error_and_cause_over_their_limits_are_both_cut",
        Call::new(Layout::QueryAndForm)
            .set("Error", &both.0)
            .set("Cause", &both.1)
            .build(),
        TRUNCATE,
        Repaired(vec![("Error", 128, both.0), ("Cause", 4096, both.1)]),
    ));
    // Two-byte and four-byte characters: the cut falls between characters, counted as the
    // service counts them (one each).
    let accents = "é".repeat(4097);
    cases.push(case(
        "rpc_query_and_form_cause_of_two_byte_characters_is_cut_between_characters",
        Call::new(Layout::QueryAndForm)
            .set("Cause", &accents)
            .build(),
        TRUNCATE,
        Repaired(vec![("Cause", 4096, accents)]),
    ));
    let astral = "😀".repeat(4500);
    cases.push(case(
        "acs3_cause_of_astral_plane_characters_is_cut_between_characters",
        Call::new(Layout::Acs3).set("Cause", &astral).build(),
        TRUNCATE,
        Repaired(vec![("Cause", 4096, astral.clone())]),
    ));
    cases.push(case(
        "rpc_json_cause_of_astral_plane_characters_is_cut_between_characters",
        Call::new(Layout::Json).set("Cause", &astral).build(),
        TRUNCATE,
        Repaired(vec![("Cause", 4096, astral)]),
    ));
    cases.push(case(
        "rpc_query_and_form_over_long_cause_signed_with_a_wrong_secret_is_refused_not_repaired",
        Call::new(Layout::QueryAndForm)
            .set("Cause", &trace(5000))
            .secret("not-the-secret")
            .build(),
        TRUNCATE,
        Refused,
    ));
    cases.push(case(
        "rpc_query_and_form_over_long_cause_with_temporary_credentials_is_refused_not_repaired",
        Call::new(Layout::QueryAndForm)
            .key("STS.NUgYrLnoC37mZZCNnAbez2EXAMPLE", "the-sts-secret")
            .set("SecurityToken", "CAIS8wF1q6Ft5B2yfSjIr5bEXAMPLESTSTOKEN")
            .set("Cause", &trace(5000))
            .build(),
        TRUNCATE_FORWARD,
        Refused,
    ));
    let cause = trace(4200);
    cases.push(case(
        "acs3_over_long_cause_of_a_sign_as_key_is_cut_and_signed_with_the_credential",
        Call::new(Layout::Acs3).set("Cause", &cause).build(),
        TRUNCATE_SIGN_AS,
        Repaired(vec![("Cause", 4096, cause)]),
    ));

    // AWS: members of the JSON body.
    let cause = trace(40_000);
    cases.push(case(
        "send_task_failure_cause_of_40000_characters_is_cut_to_32768",
        aws(AwsDialect::States, "\"States.TaskFailed\"", &json(&cause)),
        TRUNCATE,
        Repaired(vec![("cause", 32_768, cause.clone())]),
    ));
    cases.push(case(
        "send_task_failure_from_the_js_sdk_is_cut_with_its_content_hash_and_length_made_anew",
        AwsCall::new(AwsDialect::States)
            .js_sdk()
            .body(aws_body(
                AwsDialect::States,
                "\"States.TaskFailed\"",
                &json(&cause),
            ))
            .build(),
        TRUNCATE,
        Repaired(vec![("cause", 32_768, cause)]),
    ));
    let (error, cause) = (trace(300), trace(33_000));
    cases.push(case(
        "send_task_failure_error_and_cause_over_their_limits_are_both_cut",
        aws(AwsDialect::States, &json(&error), &json(&cause)),
        TRUNCATE,
        Repaired(vec![("error", 256, error), ("cause", 32_768, cause)]),
    ));
    // What boto3 sends for non-ASCII text: `\uXXXX` escapes, an astral character as a
    // surrogate pair, each counted as the one character it decodes to.
    let escaped = r"\u00e9\ud83d\ude00".repeat(16_500);
    let decoded: String = "é😀".repeat(16_500);
    cases.push(case(
        "send_task_failure_cause_of_json_escapes_is_counted_and_cut_as_decoded_characters",
        aws(AwsDialect::States, "\"E\"", &format!("\"{escaped}\"")),
        TRUNCATE,
        Repaired(vec![("cause", 32_768, decoded)]),
    ));
    let reason = trace(300);
    cases.push(case(
        "respond_activity_task_failed_reason_of_300_characters_is_cut_to_256",
        aws(AwsDialect::Swf, &json(&reason), "\"the activity gave up\""),
        TRUNCATE,
        Repaired(vec![("reason", 256, reason)]),
    ));
    let details = trace(40_000);
    cases.push(case(
        "respond_activity_task_failed_details_of_40000_characters_is_cut_to_32768",
        aws(AwsDialect::Swf, "\"ActivityFailed\"", &json(&details)),
        TRUNCATE,
        Repaired(vec![("details", 32_768, details)]),
    ));
    let message = trace(6000);
    cases.push(case(
        "put_job_failure_result_message_of_6000_characters_is_cut_to_5000",
        aws(AwsDialect::CodePipeline, "\"JobFailed\"", &json(&message)),
        TRUNCATE,
        Repaired(vec![("failureDetails.message", 5000, message)]),
    ));
    cases.push(case(
        "put_job_failure_result_over_long_message_with_an_unknown_type_is_refused_not_repaired",
        aws(
            AwsDialect::CodePipeline,
            "\"BuildBroke\"",
            &json(&trace(6000)),
        ),
        TRUNCATE,
        Refused,
    ));
    cases.push(case(
        "send_task_failure_over_long_cause_with_a_token_holding_a_space_is_refused_not_repaired",
        AwsCall::new(AwsDialect::States)
            .body(format!(
                r#"{{"taskToken": "tok 123", "cause": {}}}"#,
                json(&trace(40_000))
            ))
            .build(),
        TRUNCATE,
        Refused,
    ));
    cases.push(case(
        "send_task_failure_over_long_cause_with_a_wrong_secret_is_refused_not_repaired",
        AwsCall::new(AwsDialect::States)
            .body(aws_body(AwsDialect::States, "\"E\"", &json(&trace(40_000))))
            .secret("not-the-secret")
            .build(),
        TRUNCATE,
        Refused,
    ));
    cases
}

/// The repair cases' directory.
fn dir() -> PathBuf {
    root().join("tests/repair")
}

/// A repair case's configuration: the demo configuration (the directory has no base file of
/// its own) with the case's overrides, as `taskgate test` builds it.
fn config(overrides: &str) -> Arc<Config> {
    let base = cases::base_for(&dir().join("any.toml")).expect("the demo configuration");
    let overrides: toml::Table = toml::from_str(overrides).expect("overrides are TOML");
    Arc::new(cases::config_with(&base, Some(&overrides)).expect("a valid case configuration"))
}

/// The report's field as the filter reports it (`error` or `cause`).
fn reported<'a>(report: &'a taskgate_filter::Report, field: &str) -> &'a str {
    let value = match field {
        "error" | "reason" | "Error" => &report.error,
        _ => &report.cause,
    };
    value.as_deref().unwrap_or_default()
}

/// Runs one case as the gateway would and holds it to [`Want`]; its pinned file's text.
fn run(case: &RepairCase) -> (PathBuf, String) {
    let config = config(case.overrides);
    let original = check_both(&config, &case.request);
    let Verdict::Reject(refusal) = &original else {
        panic!(
            "{}: the component accepted the original: {original:?}",
            case.name
        );
    };
    let repairing = repair::repair(
        sandbox(),
        &config,
        config.serve.temporary_credentials,
        &case.request,
        case.request.received_at,
        "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e",
    );
    let (verdict, repaired) = match (&case.want, repairing) {
        (Want::Repaired(wanted), Repairing::Repaired(repair)) => {
            // The forwarded request passes the component's own check, natively too (one
            // signed with a `sign_as` credential was checked so by the repair, as the worker's
            // key: this configuration does not hold the credential as a key of its own).
            if case.overrides == TRUNCATE_SIGN_AS {
                assert_eq!(repair.sign_as.as_deref(), Some("gateway"), "{}", case.name);
            } else {
                let again = check_both(&config, &repair.request);
                assert!(
                    matches!(again, Verdict::Forward(_)),
                    "{}: {again:?}",
                    case.name
                );
                assert_eq!(repair.sign_as, None, "{}", case.name);
            }
            let fields: Vec<&str> = repair.fields.iter().map(|f| f.field).collect();
            let names: Vec<&str> = wanted.iter().map(|(name, _, _)| *name).collect();
            assert_eq!(fields, names, "{}", case.name);
            for ((name, limit, original), field) in wanted.iter().zip(&repair.fields) {
                let length = original.chars().count();
                let marker = format!("...[truncated by taskgate: {length} characters]");
                let value = reported(&repair.report, name);
                assert_eq!(value.chars().count(), *limit, "{}: {name}", case.name);
                assert!(
                    value.ends_with(&marker),
                    "{}: {name} ends {value:?}",
                    case.name
                );
                let kept = limit - marker.len();
                let prefix: String = original.chars().take(kept).collect();
                assert!(value.starts_with(&prefix), "{}: {name}", case.name);
                assert_eq!(field.original_length, length, "{}", case.name);
                assert_eq!(field.length, *limit, "{}", case.name);
                let digest = taskgate_filter::sign::sigv4::sha256_hex(original.as_bytes());
                assert_eq!(field.sha256, digest, "{}", case.name);
            }
            // The report is the original's: the same task, call and caller.
            let report = &repair.report;
            assert_eq!(
                report.task_token,
                task_token_of(&case.request),
                "{}",
                case.name
            );
            let fields: Vec<RepairedCase> = repair.fields.iter().map(RepairedCase::from).collect();
            (Verdict::Forward(repair.report), fields)
        }
        (Want::Refused, Repairing::Refused(_) | Repairing::Nothing) => {
            (original.clone(), Vec::new())
        }
        (want, got) => panic!(
            "{}: wanted {want:?}, got {got:?} (original refusal {})",
            case.name, refusal.code
        ),
    };
    let overrides: toml::Table = toml::from_str(case.overrides).expect("overrides are TOML");
    let mut expect = Case::expect_of(&verdict);
    expect.repaired = Some(repaired);
    expect.forwarded = Some(matches!(verdict, Verdict::Forward(_)));
    let file = Case {
        description: None,
        received_at: case.request.received_at,
        request_id: case.request.request_id.clone(),
        request: Case::request_fields(&case.request),
        config: Some(overrides),
        memory: None,
        expect,
    };
    let dialect = taskgate_filter::dialect_of(&case.request).name();
    let path = dir().join(dialect).join(format!("{}.toml", case.name));
    let text = format!(
        "# Generated by tests/integration/repair.rs (TASKGATE_BLESS=1 rewrites it).\n{}",
        file.to_toml().expect("a case serializes")
    );
    (path, text)
}

/// The task token (or job id) a request carries: an AWS body's member, else the demo token
/// every Alibaba case is made with.
fn task_token_of(request: &Request) -> String {
    if let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(&request.body) {
        for name in ["taskToken", "jobId"] {
            if let Some(serde_json::Value::String(token)) = body.get(name) {
                return token.clone();
            }
        }
    }
    demo_token(42)
}

#[test]
fn every_repair_case_keeps_its_promise_and_its_file_is_current() {
    let files = repair_cases().iter().map(run).collect();
    let failures = corpus::pin(&dir(), files);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn taskgate_test_passes_every_repair_case_in_the_sandbox() {
    corpus::passes_in_the_sandbox(&dir(), 20);
}

/// Over the whole case corpus, under `repair = "truncate"`: whatever repair forwards passes the
/// component's own check and has no over-long text left; what the component accepts has
/// nothing to repair; and every case refused only for over-long free text is repaired.
#[test]
fn over_the_corpus_a_repaired_report_always_passes_the_check_and_only_over_long_text_is_mended() {
    let mut repaired = Vec::new();
    for entry in corpus::entries() {
        let config = with_repair(&entry.overrides);
        let original = check_both(&config, &entry.request);
        let repairing = repair::repair(
            sandbox(),
            &config,
            config.serve.temporary_credentials,
            &entry.request,
            entry.request.received_at,
            "0123456789abcdef0123456789abcdef",
        );
        match (&original, repairing) {
            (Verdict::Reject(_), Repairing::Repaired(repair)) => {
                let again = check_both(&config, &repair.request);
                assert!(
                    matches!(again, Verdict::Forward(_)),
                    "{}: {again:?}",
                    entry.name
                );
                let left = taskgate_filter::repair::truncate(&repair.request, config.as_ref());
                assert_eq!(left.err(), Some(NotRepaired::Nothing), "{}", entry.name);
                repaired.push(entry.name.clone());
            }
            (Verdict::Reject(_), Repairing::Nothing | Repairing::Refused(_)) => {}
            (_, Repairing::Nothing) => {
                let nothing = taskgate_filter::repair::truncate(&entry.request, config.as_ref());
                assert_eq!(nothing.err(), Some(NotRepaired::Nothing), "{}", entry.name);
            }
            (_, got) => panic!("{}: accepted, yet repair says {got:?}", entry.name),
        }
    }
    // The corpus's own over-long cases, each refused for that alone.
    for name in [
        "acs3_error_of_129_characters_is_invalid_argument",
        "cause_of_4097_characters_is_invalid_argument",
        "send_task_failure_over_its_longest_member_is_validation_error",
        "put_job_failure_result_over_its_longest_member_is_validation_error",
    ] {
        assert!(
            repaired.iter().any(|n| n == name),
            "{name} was not repaired; repaired: {repaired:?}"
        );
    }
    assert!(repaired.len() >= 5, "only {repaired:?} were repaired");
}

/// The corpus's base configuration with `overrides` and repair on.
fn with_repair(overrides: &str) -> Arc<Config> {
    let mut table: toml::Table = toml::from_str(overrides).expect("overrides are TOML");
    let serve = table
        .entry("serve")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(serve) = serve {
        serve.insert(
            "repair".to_owned(),
            toml::Value::String("truncate".to_owned()),
        );
    }
    corpus::config(&toml::to_string(&table).expect("TOML"))
}
