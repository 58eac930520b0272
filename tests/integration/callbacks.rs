//! The AWS callbacks besides the failure calls: Step Functions `SendTaskSuccess` and
//! `SendTaskHeartbeat`, SWF `RespondActivityTaskCompleted`, `RespondActivityTaskCanceled` and
//! `RecordActivityTaskHeartbeat`, CodePipeline `PutJobSuccessResult` and `AcknowledgeJob`,
//! against the rule tables of docs/checks.md: each boundary at the limit and one past it. The rules run
//! in `aws::every_aws_rule_gives_its_verdict_natively_and_in_the_component` (natively and
//! through the component) and are pinned in the corpus like the failure calls' rules.

use crate::{check_both, demo};
use taskgate_filter::{Callback, Dialect, Verdict};
use taskgate_tests::aws_rules::{
    Expect, JOB_ID, Rule, SIGNATURE_MISMATCH, Says, configured, contains, is, member, null, object,
    pattern, rejected, rejected_saying, rule, too_long, too_short, violations, x,
};
use taskgate_tests::{AwsCall, AwsDialect};

use AwsDialect::{CodePipeline, States, Swf};

const SUCCESS: &str = "AWSStepFunctions.SendTaskSuccess";
const HEARTBEAT: &str = "AWSStepFunctions.SendTaskHeartbeat";
const COMPLETED: &str = "SimpleWorkflowService.RespondActivityTaskCompleted";
const CANCELED: &str = "SimpleWorkflowService.RespondActivityTaskCanceled";
const SWF_HEARTBEAT: &str = "SimpleWorkflowService.RecordActivityTaskHeartbeat";
const JOB_SUCCESS: &str = "CodePipeline_20150709.PutJobSuccessResult";
const ACKNOWLEDGE: &str = "CodePipeline_20150709.AcknowledgeJob";

/// A call of `dialect` to `target` with this body, signed.
fn call(dialect: AwsDialect, target: &str, body: &str) -> AwsCall {
    AwsCall::new(dialect).target(target).body(body.as_bytes())
}

/// `SendTaskSuccess` with this raw `output` member (JSON string escapes stay escapes).
fn success(output: &str) -> AwsCall {
    call(
        States,
        SUCCESS,
        &object(&[member("taskToken", "tok-123"), member("output", output)]),
    )
}

/// An SWF call to `target` with this one text member.
fn swf(target: &str, name: &str, value: &str) -> AwsCall {
    call(
        Swf,
        target,
        &object(&[
            member("taskToken", "AAAAKgAAAAIAAAAAAAAAAswf-token"),
            member(name, value),
        ]),
    )
}

/// `PutJobSuccessResult` with these raw members after the job id.
fn job_success(members: &str) -> AwsCall {
    let comma = if members.is_empty() { "" } else { ", " };
    call(
        CodePipeline,
        JOB_SUCCESS,
        &format!(r#"{{"jobId": "{JOB_ID}"{comma}{members}}}"#),
    )
}

/// A job id of the right shape but in upper case: the pattern allows lower-case hex only.
const UPPER_JOB_ID: &str = "ABCDEF01-2222-4333-8444-555555555555";

/// A complete `PutJobSuccessResult` as a job worker sends one.
const FULL_SUCCESS: &str = r#""currentRevision": {"revision": "r-42", "changeIdentifier": "c-7", "created": 1700000000, "revisionSummary": "the change"}, "executionDetails": {"summary": "built", "externalExecutionId": "build-42", "percentComplete": 100}, "outputVariables": {"IMAGE_TAG": "v1.2.3", "@build-id_2": "42"}"#;

/// `AcknowledgeJob` with this nonce.
fn acknowledge(nonce: &str) -> AwsCall {
    call(
        CodePipeline,
        ACKNOWLEDGE,
        &format!(r#"{{"jobId": "{JOB_ID}", "nonce": "{nonce}"}}"#),
    )
}

/// `"` + `text` + `"`: a JSON string of `text`, as a raw member value (escaped quotes).
fn json_string(text: &str) -> String {
    format!("\\\"{text}\\\"")
}

pub fn rules() -> Vec<Rule> {
    let mut rules = step_functions();
    rules.extend(swf_rules());
    rules.extend(pipeline_rules());
    rules
}

fn step_functions() -> Vec<Rule> {
    use Expect::Forward;
    vec![
        rule(
            "send_task_success_as_boto3_sends_it_is_forwarded",
            success(r#"{\"ok\": true}"#),
            Forward,
        ),
        rule(
            "send_task_success_as_the_js_sdk_sends_it_is_forwarded",
            success(r#"{\"ok\": true}"#).js_sdk(),
            Forward,
        ),
        // The model counts `output` in UTF-8 bytes: "é" is two. The JSON string's quotes are
        // two more bytes.
        rule(
            "send_task_success_output_of_262144_bytes_is_forwarded",
            success(&json_string(&"é".repeat(131_071))),
            Forward,
        ),
        rule(
            "send_task_success_output_of_262145_bytes_is_too_long",
            success(&json_string(&format!("{}x", "é".repeat(131_071)))),
            violations(&[too_long("output", 262_144)]),
        ),
        rule(
            "send_task_success_output_of_131074_characters_in_262148_bytes_is_too_long",
            success(&json_string(&"é".repeat(131_073))),
            violations(&[too_long("output", 262_144)]),
        ),
        rule(
            "send_task_success_without_output_is_null",
            call(States, SUCCESS, r#"{"taskToken": "tok-123"}"#),
            violations(&[null("output")]),
        ),
        rule(
            "send_task_success_without_token_or_output_is_two_nulls",
            call(States, SUCCESS, "{}"),
            violations(&[null("taskToken"), null("output")]),
        ),
        rule(
            "send_task_success_token_of_2049_is_too_long",
            call(
                States,
                SUCCESS,
                &object(&[member("taskToken", &x(2049)), member("output", "{}")]),
            ),
            violations(&[too_long("taskToken", 2048)]),
        ),
        rule(
            "send_task_success_token_of_2048_is_forwarded",
            call(
                States,
                SUCCESS,
                &object(&[member("taskToken", &x(2048)), member("output", "{}")]),
            ),
            Forward,
        ),
        rule(
            "send_task_success_with_output_that_is_not_json_is_invalid_output",
            success("not json"),
            rejected_saying(
                400,
                "InvalidOutput",
                contains("The provided JSON output data is not valid: "),
            ),
        ),
        rule(
            "send_task_success_with_an_object_closed_by_a_bracket_is_invalid_output",
            success(r#"{\"a\": 1]"#),
            rejected_saying(
                400,
                "InvalidOutput",
                is(
                    "The provided JSON output data is not valid: expected ',' or '}' at character 8.",
                ),
            ),
        ),
        rule(
            "send_task_success_with_empty_output_is_invalid_output",
            success(""),
            rejected(400, "InvalidOutput"),
        ),
        rule(
            "send_task_success_with_two_values_as_output_is_invalid_output",
            success("{} {}"),
            rejected_saying(
                400,
                "InvalidOutput",
                is(
                    "The provided JSON output data is not valid: trailing characters at character 4.",
                ),
            ),
        ),
        // What the grammar allows is taken, whatever a parser's limits: a member name twice,
        // any depth, any number, a lone surrogate escape.
        rule(
            "send_task_success_with_output_repeating_a_member_is_forwarded",
            success(r#"{\"a\": 1, \"a\": 2}"#),
            Forward,
        ),
        rule(
            "send_task_success_with_output_nested_1000_deep_is_forwarded",
            success(&format!("{}{}", "[".repeat(1000), "]".repeat(1000))),
            Forward,
        ),
        rule(
            "send_task_success_with_output_holding_1e400_is_forwarded",
            success(r#"{\"x\": 1e400}"#),
            Forward,
        ),
        rule(
            "send_task_success_with_output_holding_a_lone_surrogate_escape_is_forwarded",
            success(r#"{\"a\": \"\\ud800\"}"#),
            Forward,
        ),
        rule(
            "send_task_success_with_output_a_bare_number_is_forwarded",
            success("42"),
            Forward,
        ),
        rule(
            "send_task_success_with_output_a_number_is_serialization_error",
            call(States, SUCCESS, r#"{"taskToken": "tok-123", "output": 42}"#),
            rejected_saying(400, "SerializationException", contains("'output'")),
        ),
        rule(
            "send_task_success_with_a_token_with_a_space_is_invalid_token",
            call(
                States,
                SUCCESS,
                r#"{"taskToken": "tok 123", "output": "{}"}"#,
            ),
            rejected(400, "InvalidToken"),
        ),
        rule(
            "send_task_success_with_a_wrong_secret_is_invalid_signature",
            success("{}").secret("not-the-secret"),
            rejected_saying(400, "InvalidSignatureException", is(SIGNATURE_MISMATCH)),
        ),
        rule(
            "send_task_success_without_authorization_is_missing_authentication_token",
            success("{}").unsigned(),
            rejected(400, "MissingAuthenticationTokenException"),
        ),
        rule(
            "send_task_success_with_content_type_1_1_is_unknown_operation",
            success("{}").content_type("application/x-amz-json-1.1"),
            rejected(400, "UnknownOperationException"),
        ),
        rule(
            "send_task_heartbeat_is_forwarded",
            call(States, HEARTBEAT, r#"{"taskToken": "tok-123"}"#),
            Forward,
        ),
        rule(
            "send_task_heartbeat_token_of_2048_is_forwarded",
            call(States, HEARTBEAT, &object(&[member("taskToken", &x(2048))])),
            Forward,
        ),
        rule(
            "send_task_heartbeat_token_of_2049_is_too_long",
            call(States, HEARTBEAT, &object(&[member("taskToken", &x(2049))])),
            violations(&[too_long("taskToken", 2048)]),
        ),
        rule(
            "send_task_heartbeat_with_an_empty_token_is_too_short",
            call(States, HEARTBEAT, r#"{"taskToken": ""}"#),
            violations(&[too_short("taskToken", 1)]),
        ),
        rule(
            "send_task_heartbeat_without_token_is_null",
            call(States, HEARTBEAT, "{}"),
            violations(&[null("taskToken")]),
        ),
        rule(
            "send_task_heartbeat_with_a_token_with_a_newline_is_invalid_token",
            call(States, HEARTBEAT, r#"{"taskToken": "tok-123\n"}"#),
            rejected(400, "InvalidToken"),
        ),
        rule(
            "send_task_heartbeat_with_a_wrong_secret_is_invalid_signature",
            call(States, HEARTBEAT, r#"{"taskToken": "tok-123"}"#).secret("not-the-secret"),
            rejected(400, "InvalidSignatureException"),
        ),
    ]
}

fn swf_rules() -> Vec<Rule> {
    use Expect::Forward;
    let emoji = "\\ud83d\\ude00";
    vec![
        rule(
            "respond_activity_task_completed_is_forwarded",
            swf(COMPLETED, "result", "done"),
            Forward,
        ),
        rule(
            "respond_activity_task_completed_as_the_js_sdk_sends_it_is_forwarded",
            swf(COMPLETED, "result", "done").js_sdk(),
            Forward,
        ),
        rule(
            "respond_activity_task_completed_without_result_is_forwarded",
            call(Swf, COMPLETED, r#"{"taskToken": "t"}"#),
            Forward,
        ),
        rule(
            "respond_activity_task_completed_result_of_32768_characters_is_forwarded",
            swf(COMPLETED, "result", &emoji.repeat(32768)),
            Forward,
        ),
        rule(
            "respond_activity_task_completed_result_of_32769_characters_is_too_long",
            swf(COMPLETED, "result", &x(32769)),
            violations(&[too_long("result", 32768)]),
        ),
        rule(
            "respond_activity_task_completed_token_of_1025_is_too_long",
            call(Swf, COMPLETED, &object(&[member("taskToken", &x(1025))])),
            violations(&[too_long("taskToken", 1024)]),
        ),
        rule(
            "respond_activity_task_completed_token_of_1024_is_forwarded",
            call(Swf, COMPLETED, &object(&[member("taskToken", &x(1024))])),
            Forward,
        ),
        rule(
            "respond_activity_task_completed_without_token_is_null",
            call(Swf, COMPLETED, r#"{"result": "done"}"#),
            violations(&[null("taskToken")]),
        ),
        rule(
            "respond_activity_task_completed_with_a_token_with_a_space_is_unknown_resource",
            call(Swf, COMPLETED, r#"{"taskToken": "a b"}"#),
            rejected(400, "UnknownResourceFault"),
        ),
        rule(
            "respond_activity_task_completed_scoped_to_states_is_invalid_signature",
            swf(COMPLETED, "result", "done").scope_service("states"),
            rejected_saying(
                400,
                "InvalidSignatureException",
                contains("Credential should be scoped to correct service: 'swf'"),
            ),
        ),
        rule(
            "respond_activity_task_canceled_is_forwarded",
            swf(CANCELED, "details", "the order was withdrawn"),
            Forward,
        ),
        rule(
            "respond_activity_task_canceled_details_of_32768_is_forwarded",
            swf(CANCELED, "details", &x(32768)),
            Forward,
        ),
        rule(
            "respond_activity_task_canceled_details_of_32769_is_too_long",
            swf(CANCELED, "details", &x(32769)),
            violations(&[too_long("details", 32768)]),
        ),
        rule(
            "respond_activity_task_canceled_with_a_wrong_secret_is_invalid_signature",
            swf(CANCELED, "details", "d").secret("not-the-secret"),
            rejected(400, "InvalidSignatureException"),
        ),
        rule(
            "record_activity_task_heartbeat_is_forwarded",
            swf(SWF_HEARTBEAT, "details", "40% done"),
            Forward,
        ),
        rule(
            "record_activity_task_heartbeat_details_of_2048_characters_is_forwarded",
            swf(SWF_HEARTBEAT, "details", &emoji.repeat(2048)),
            Forward,
        ),
        rule(
            "record_activity_task_heartbeat_details_of_2049_characters_is_too_long",
            swf(SWF_HEARTBEAT, "details", &"é".repeat(2049)),
            violations(&[too_long("details", 2048)]),
        ),
        rule(
            "record_activity_task_heartbeat_details_a_number_is_serialization_error",
            call(Swf, SWF_HEARTBEAT, r#"{"taskToken": "t", "details": 40}"#),
            rejected(400, "SerializationException"),
        ),
        rule(
            "record_activity_task_heartbeat_without_authorization_is_missing_authentication_token",
            swf(SWF_HEARTBEAT, "details", "d").unsigned(),
            rejected(400, "MissingAuthenticationTokenException"),
        ),
    ]
}

fn percent(value: i64, relation: &str, bound: i64) -> String {
    format!(
        "Value '{value}' at 'executionDetails.percentComplete' failed to satisfy constraint: Member must have value {relation} than or equal to {bound}"
    )
}

fn key_pattern(key: &str) -> String {
    format!(
        "Value '{key}' at 'outputVariables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [A-Za-z0-9@\\-_]+]"
    )
}

fn pipeline_rules() -> Vec<Rule> {
    use Expect::Forward;
    let revision = |members: &str| job_success(&format!(r#""currentRevision": {{{members}}}"#));
    let execution = |members: &str| job_success(&format!(r#""executionDetails": {{{members}}}"#));
    let variables = |members: &str| job_success(&format!(r#""outputVariables": {{{members}}}"#));
    let ok_revision = r#""revision": "r-42", "changeIdentifier": "c-7""#;
    vec![
        rule(
            "put_job_success_result_with_the_job_id_alone_is_forwarded",
            job_success(""),
            Forward,
        ),
        rule(
            "put_job_success_result_as_boto3_sends_it_is_forwarded",
            job_success(FULL_SUCCESS),
            Forward,
        ),
        rule(
            "put_job_success_result_as_the_js_sdk_sends_it_is_forwarded",
            job_success(FULL_SUCCESS).js_sdk(),
            Forward,
        ),
        rule(
            "put_job_success_result_with_a_continuation_token_is_forwarded",
            job_success(r#""continuationToken": "deployment-7""#),
            Forward,
        ),
        rule(
            "put_job_success_result_without_a_job_id_is_null",
            call(CodePipeline, JOB_SUCCESS, "{}"),
            violations(&[null("jobId")]),
        ),
        rule(
            "put_job_success_result_with_an_upper_case_job_id_breaks_the_pattern",
            call(
                CodePipeline,
                JOB_SUCCESS,
                &object(&[member("jobId", UPPER_JOB_ID)]),
            ),
            violations(&[pattern(UPPER_JOB_ID)]),
        ),
        rule(
            "put_job_success_result_revision_of_1500_is_forwarded",
            revision(&format!(
                r#""revision": "{}", "changeIdentifier": "c""#,
                x(1500)
            )),
            Forward,
        ),
        rule(
            "put_job_success_result_revision_of_1501_is_too_long",
            revision(&format!(
                r#""revision": "{}", "changeIdentifier": "c""#,
                x(1501)
            )),
            violations(&[too_long("currentRevision.revision", 1500)]),
        ),
        rule(
            "put_job_success_result_change_identifier_of_100_is_forwarded",
            revision(&format!(
                r#""revision": "r", "changeIdentifier": "{}""#,
                x(100)
            )),
            Forward,
        ),
        rule(
            "put_job_success_result_change_identifier_of_101_is_too_long",
            revision(&format!(
                r#""revision": "r", "changeIdentifier": "{}""#,
                x(101)
            )),
            violations(&[too_long("currentRevision.changeIdentifier", 100)]),
        ),
        rule(
            "put_job_success_result_revision_without_its_required_members_is_two_nulls",
            revision(r#""revisionSummary": "s""#),
            violations(&[
                null("currentRevision.revision"),
                null("currentRevision.changeIdentifier"),
            ]),
        ),
        rule(
            "put_job_success_result_empty_revision_summary_is_too_short",
            revision(&format!(r#"{ok_revision}, "revisionSummary": """#)),
            violations(&[too_short("currentRevision.revisionSummary", 1)]),
        ),
        rule(
            "put_job_success_result_revision_summary_of_2049_is_too_long",
            revision(&format!(
                r#"{ok_revision}, "revisionSummary": "{}""#,
                x(2049)
            )),
            violations(&[too_long("currentRevision.revisionSummary", 2048)]),
        ),
        rule(
            "put_job_success_result_created_as_text_is_serialization_error",
            revision(&format!(r#"{ok_revision}, "created": "yesterday""#)),
            rejected_saying(
                400,
                "SerializationException",
                contains("currentRevision.created"),
            ),
        ),
        rule(
            "put_job_success_result_created_with_a_fraction_is_forwarded",
            revision(&format!(r#"{ok_revision}, "created": 1700000000.25"#)),
            Forward,
        ),
        rule(
            "put_job_success_result_empty_continuation_token_is_too_short",
            job_success(r#""continuationToken": """#),
            violations(&[too_short("continuationToken", 1)]),
        ),
        rule(
            "put_job_success_result_continuation_token_of_2049_is_too_long",
            job_success(&format!(r#""continuationToken": "{}""#, x(2049))),
            violations(&[too_long("continuationToken", 2048)]),
        ),
        rule(
            "put_job_success_result_summary_of_2048_is_forwarded",
            execution(&format!(r#""summary": "{}""#, x(2048))),
            Forward,
        ),
        rule(
            "put_job_success_result_summary_of_2049_is_too_long",
            execution(&format!(r#""summary": "{}""#, x(2049))),
            violations(&[too_long("executionDetails.summary", 2048)]),
        ),
        rule(
            "put_job_success_result_external_execution_id_of_1501_is_too_long",
            execution(&format!(r#""externalExecutionId": "{}""#, x(1501))),
            violations(&[too_long("executionDetails.externalExecutionId", 1500)]),
        ),
        rule(
            "put_job_success_result_percent_complete_of_0_is_forwarded",
            execution(r#""percentComplete": 0"#),
            Forward,
        ),
        rule(
            "put_job_success_result_percent_complete_of_100_is_forwarded",
            execution(r#""percentComplete": 100"#),
            Forward,
        ),
        rule(
            "put_job_success_result_percent_complete_of_101_is_out_of_range",
            execution(r#""percentComplete": 101"#),
            violations(&[percent(101, "less", 100)]),
        ),
        rule(
            "put_job_success_result_percent_complete_of_minus_1_is_out_of_range",
            execution(r#""percentComplete": -1"#),
            violations(&[percent(-1, "greater", 0)]),
        ),
        rule(
            "put_job_success_result_percent_complete_with_a_fraction_is_serialization_error",
            execution(r#""percentComplete": 50.5"#),
            rejected_saying(400, "SerializationException", contains("an integer")),
        ),
        rule(
            "put_job_success_result_output_variable_keys_of_the_pattern_are_forwarded",
            variables(r#""Az09": "1", "@": "2", "-": "3", "_": "4""#),
            Forward,
        ),
        rule(
            "put_job_success_result_output_variable_key_with_a_space_breaks_the_pattern",
            variables(r#""bad key": "secret value""#),
            rejected_saying(
                400,
                "ValidationException",
                Says::Hides(
                    "1 validation error detected: Value 'bad key' at 'outputVariables'",
                    "secret value",
                ),
            ),
        ),
        rule(
            "put_job_success_result_empty_output_variable_key_breaks_the_pattern",
            variables(r#""": "v""#),
            violations(&[key_pattern("")]),
        ),
        rule(
            "put_job_success_result_output_variable_value_a_number_is_serialization_error",
            variables(r#""COUNT": 3"#),
            rejected(400, "SerializationException"),
        ),
        rule(
            "put_job_success_result_output_variables_with_a_continuation_token_are_refused",
            job_success(r#""continuationToken": "d-7", "outputVariables": {"A": "1"}"#),
            rejected_saying(
                400,
                "ValidationException",
                is(
                    "outputVariables can be included only when there is no continuation token on the request.",
                ),
            ),
        ),
        rule(
            "put_job_success_result_empty_output_variables_with_a_continuation_token_are_forwarded",
            job_success(r#""continuationToken": "d-7", "outputVariables": {}"#),
            Forward,
        ),
        rule(
            "put_job_success_result_violations_are_reported_in_model_order",
            call(
                CodePipeline,
                JOB_SUCCESS,
                &format!(
                    r#"{{"outputVariables": {{"a b": "1"}}, "executionDetails": {{"percentComplete": 101}}, "currentRevision": {{"revision": "{}"}}, "jobId": "nope"}}"#,
                    x(1501)
                ),
            ),
            violations(&[
                pattern("nope"),
                too_long("currentRevision.revision", 1500),
                null("currentRevision.changeIdentifier"),
                percent(101, "less", 100),
                key_pattern("a b"),
            ]),
        ),
        rule(
            "put_job_success_result_with_a_wrong_secret_is_invalid_signature",
            job_success("").secret("not-the-secret"),
            rejected(400, "InvalidSignatureException"),
        ),
        rule(
            "put_job_success_result_with_content_type_1_0_is_unknown_operation",
            job_success("").content_type("application/x-amz-json-1.0"),
            rejected(400, "UnknownOperationException"),
        ),
        rule("acknowledge_job_is_forwarded", acknowledge("3"), Forward),
        rule(
            "acknowledge_job_as_the_js_sdk_sends_it_is_forwarded",
            acknowledge("3").js_sdk(),
            Forward,
        ),
        rule(
            "acknowledge_job_nonce_of_50_is_forwarded",
            acknowledge(&x(50)),
            Forward,
        ),
        rule(
            "acknowledge_job_nonce_of_51_is_too_long",
            acknowledge(&x(51)),
            violations(&[too_long("nonce", 50)]),
        ),
        rule(
            "acknowledge_job_empty_nonce_is_too_short",
            acknowledge(""),
            violations(&[too_short("nonce", 1)]),
        ),
        rule(
            "acknowledge_job_without_job_id_or_nonce_is_two_nulls",
            call(CodePipeline, ACKNOWLEDGE, "{}"),
            violations(&[null("jobId"), null("nonce")]),
        ),
        // Modelled calls are checked whatever `other_calls` says.
        configured(
            "acknowledge_job_is_checked_and_forwarded_when_other_calls_are_rejected",
            acknowledge("3"),
            "[serve]\nother_calls = \"reject\"\n",
            Forward,
        ),
    ]
}

/// A forwarded report says which call it was, what it does to its task and what it carries.
#[test]
fn each_call_is_reported_with_its_callback_and_output() {
    let report = |call: AwsCall| match check_both(&demo(), &call.build()) {
        Verdict::Forward(report) => report,
        other => panic!("expected a forward, got {}", crate::code(&other)),
    };
    let sent = report(success(r#"{\"ok\": true}"#));
    assert_eq!(
        (sent.dialect, sent.action.as_str(), sent.callback),
        (Dialect::States, "SendTaskSuccess", Callback::Succeeded)
    );
    assert_eq!(sent.output.as_deref(), Some(r#"{"ok": true}"#));
    assert_eq!((sent.error, sent.cause), (None, None));
    assert!(sent.recall.settles && sent.recall.task.is_some());

    let beat = report(call(States, HEARTBEAT, r#"{"taskToken": "tok-123"}"#));
    assert_eq!(beat.callback, Callback::Heartbeat);
    assert_eq!(beat.output, None);
    // The same task as the success's: a heartbeat consults the ledger, never settles it.
    assert_eq!(beat.recall.task, sent.recall.task);
    assert!(!beat.recall.settles);

    let canceled = report(swf(CANCELED, "details", "withdrawn"));
    assert_eq!(
        (canceled.action.as_str(), canceled.callback),
        ("RespondActivityTaskCanceled", Callback::Canceled)
    );
    assert_eq!(canceled.output.as_deref(), Some("withdrawn"));
    assert!(canceled.recall.settles);

    let beat = report(swf(SWF_HEARTBEAT, "details", "40%"));
    assert_eq!(
        (beat.callback, beat.output.as_deref()),
        (Callback::Heartbeat, Some("40%"))
    );

    let done = report(swf(COMPLETED, "result", "r"));
    assert_eq!(
        (done.callback, done.output.as_deref()),
        (Callback::Succeeded, Some("r"))
    );

    // CodePipeline: the job id is the task; the output variables are the output, in order.
    let job = report(job_success(FULL_SUCCESS));
    assert_eq!(
        (job.task_token.as_str(), job.callback),
        (JOB_ID, Callback::Succeeded)
    );
    assert_eq!(
        job.output.as_deref(),
        Some(r#"{"IMAGE_TAG":"v1.2.3","@build-id_2":"42"}"#)
    );
    let taken = report(acknowledge("3"));
    assert_eq!(
        (taken.task_token.as_str(), taken.callback, taken.output),
        (JOB_ID, Callback::Heartbeat, None)
    );
    assert_eq!(taken.recall.task, job.recall.task);
    assert!(!taken.recall.settles);
}

/// The sink answers each call with the service's own output shape.
#[test]
fn the_sink_answers_each_call_with_its_services_output() {
    let body = |call: AwsCall| match check_both(&demo(), &call.build()) {
        Verdict::Forward(report) => {
            String::from_utf8(taskgate_filter::success_response(&report, 1).body).unwrap()
        }
        other => panic!("expected a forward, got {}", crate::code(&other)),
    };
    assert_eq!(
        body(swf(SWF_HEARTBEAT, "details", "d")),
        r#"{"cancelRequested":false}"#
    );
    assert_eq!(body(acknowledge("3")), r#"{"status":"InProgress"}"#);
    assert_eq!(body(success("{}")), "{}");
    assert_eq!(body(job_success("")), "{}");
}
