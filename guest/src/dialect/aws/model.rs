//! The calls' input shapes and constraints, from the services' published models; each
//! violation is a structured `Violation`, worded in `error/aws.rs`. Lengths count Unicode
//! characters after JSON decoding (an escaped surrogate pair is one character), as Smithy's
//! `@length` does, except where the model says it counts UTF-8 bytes (Step Functions' `output`).

use crate::error::{AwsFailure, Common, Violation};
use crate::json_body::Json;

/// The members the report carries, once the body passed the model.
#[derive(Default)]
pub struct Fields {
    /// Task token, or CodePipeline's job id.
    pub task_token: String,
    /// SFN `error`, SWF `reason`, CodePipeline `failureDetails.type` (sensitive).
    pub error: Option<String>,
    /// SFN `cause`, SWF `details`, CodePipeline `failureDetails.message` (sensitive).
    pub cause: Option<String>,
    /// SFN `output`, SWF `result` or a cancel's or heartbeat's `details`, CodePipeline
    /// `outputVariables` as a JSON object (sensitive).
    pub output: Option<String>,
}

const JOB_ID_PATTERN: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const OUTPUT_VARIABLE_KEY_PATTERN: &str = r"[A-Za-z0-9@\-_]+";
const FAILURE_TYPES: [&str; 6] = [
    "JobFailed",
    "ConfigurationError",
    "PermissionError",
    "RevisionOutOfSync",
    "RevisionUnavailable",
    "SystemUnavailable",
];

/// How a string member's length is counted.
#[derive(Clone, Copy)]
enum Unit {
    /// Unicode characters (Smithy's `@length`).
    Chars,
    /// UTF-8 bytes (where the model's documentation says so).
    Bytes,
}

/// A string member's constraints.
struct Member {
    /// Path in the model (`failureDetails.message`), as AWS names it in messages.
    path: &'static str,
    required: bool,
    min: usize,
    max: usize,
    unit: Unit,
}

impl Member {
    /// An optional member counted in characters.
    const fn optional(path: &'static str, min: usize, max: usize) -> Member {
        Member {
            path,
            required: false,
            min,
            max,
            unit: Unit::Chars,
        }
    }

    /// A required member counted in characters.
    const fn required(path: &'static str, min: usize, max: usize) -> Member {
        Member {
            required: true,
            ..Member::optional(path, min, max)
        }
    }
}

/// The error for a member of the wrong JSON type: the front end cannot deserialize it.
fn wrong_type(path: &str, what: &str) -> AwsFailure {
    Common::BadJson {
        detail: format!("'{path}' must be {what}"),
    }
    .into()
}

/// Collects every violation, in model order, then fails with all of them at once.
#[derive(Default)]
struct Violations(Vec<Violation>);

impl Violations {
    fn missing(&mut self, path: &'static str) {
        self.0.push(Violation::Null { path });
    }

    /// A string member (named by the last part of its path) of `object`: `Ok(None)` when
    /// absent, a type error when not a string.
    fn string<'a>(
        &mut self,
        object: &'a Json,
        member: &Member,
    ) -> Result<Option<&'a str>, AwsFailure> {
        let name = member.path.rsplit('.').next().unwrap_or(member.path);
        let value = match object.get(name) {
            None | Some(Json::Null) => {
                if member.required {
                    self.missing(member.path);
                }
                return Ok(None);
            }
            Some(Json::String(value)) => value.as_str(),
            Some(_) => return Err(wrong_type(member.path, "a string")),
        };
        let length = match member.unit {
            Unit::Chars => value.chars().count(),
            Unit::Bytes => value.len(),
        };
        // The value itself is never shown: these members are free text or credentials.
        if length < member.min {
            self.0.push(Violation::TooShort {
                path: member.path,
                min: member.min,
            });
        } else if length > member.max {
            self.0.push(Violation::TooLong {
                path: member.path,
                max: member.max,
            });
        }
        Ok(Some(value))
    }

    /// A nested structure: `Ok(None)` when absent (a violation when required), a type error
    /// when not an object.
    fn structure<'a>(
        &mut self,
        object: &'a Json,
        path: &'static str,
        required: bool,
    ) -> Result<Option<&'a Json>, AwsFailure> {
        let name = path.rsplit('.').next().unwrap_or(path);
        match object.get(name) {
            None | Some(Json::Null) => {
                if required {
                    self.missing(path);
                }
                Ok(None)
            }
            Some(structure @ Json::Object(_)) => Ok(Some(structure)),
            Some(_) => Err(wrong_type(path, "an object")),
        }
    }

    /// CodePipeline's `jobId`: required, of a fixed pattern (lower-case hex only).
    fn job_id<'a>(&mut self, body: &'a Json) -> Result<Option<&'a str>, AwsFailure> {
        match body.get("jobId") {
            None | Some(Json::Null) => {
                self.missing("jobId");
                Ok(None)
            }
            Some(Json::String(id)) => {
                if !crate::token::uuid_shaped(id, true) {
                    self.0.push(Violation::Pattern {
                        path: "jobId",
                        value: id.clone(),
                        pattern: JOB_ID_PATTERN,
                    });
                }
                Ok(Some(id.as_str()))
            }
            Some(_) => Err(wrong_type("jobId", "a string")),
        }
    }

    fn finish(self) -> Result<(), AwsFailure> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AwsFailure::Validation { violations: self.0 })
        }
    }
}

/// The failure calls' free text: Step Functions `error` and `cause`, SWF `reason` and
/// `details`, CodePipeline `failureDetails.message`. The only members repair mode may cut
/// (`crate::repair`), so their bounds are written here once, for both.
const SFN_ERROR: Member = Member::optional("error", 0, 256);
const SFN_CAUSE: Member = Member::optional("cause", 0, 32768);
const SWF_REASON: Member = Member::optional("reason", 0, 256);
const SWF_DETAILS: Member = Member::optional("details", 0, 32768);
const PIPELINE_MESSAGE: Member = Member::required("failureDetails.message", 1, 5000);

/// The free-text members of a failure call (by `X-Amz-Target`) as `(path, most characters)`:
/// what repair mode may cut to length. Empty for any other call. Native only, as repair is.
#[cfg(not(target_arch = "wasm32"))]
pub fn free_text(target: &str) -> &'static [(&'static str, usize)] {
    match target {
        "AWSStepFunctions.SendTaskFailure" => &[
            (SFN_ERROR.path, SFN_ERROR.max),
            (SFN_CAUSE.path, SFN_CAUSE.max),
        ],
        "SimpleWorkflowService.RespondActivityTaskFailed" => &[
            (SWF_REASON.path, SWF_REASON.max),
            (SWF_DETAILS.path, SWF_DETAILS.max),
        ],
        "CodePipeline_20150709.PutJobFailureResult" => {
            &[(PIPELINE_MESSAGE.path, PIPELINE_MESSAGE.max)]
        }
        _ => &[],
    }
}

/// A call's model: checks its body and returns the report's fields.
pub type Model = fn(&Json) -> Result<Fields, AwsFailure>;

/// Which member of [`Fields`] a text of a token call fills.
#[derive(Clone, Copy)]
enum Slot {
    Error,
    Cause,
    Output,
}

/// Step Functions `SendTaskFailure`.
pub fn send_task_failure(body: &Json) -> Result<Fields, AwsFailure> {
    token_call(
        body,
        2048,
        &[(SFN_ERROR, Slot::Error), (SFN_CAUSE, Slot::Cause)],
    )
}

/// Step Functions `SendTaskSuccess`: `output` is required, at most 256 KiB of UTF-8, and JSON.
pub fn send_task_success(body: &Json) -> Result<Fields, AwsFailure> {
    let output = Member {
        unit: Unit::Bytes,
        ..Member::required("output", 0, 262_144)
    };
    let fields = token_call(body, 2048, &[(output, Slot::Output)])?;
    crate::json_syntax::check(fields.output.as_deref().unwrap_or(""))
        .map_err(|detail| AwsFailure::InvalidOutput { detail })?;
    Ok(fields)
}

/// Step Functions `SendTaskHeartbeat`: the token alone.
pub fn send_task_heartbeat(body: &Json) -> Result<Fields, AwsFailure> {
    token_call(body, 2048, &[])
}

/// SWF `RespondActivityTaskFailed`.
pub fn respond_activity_task_failed(body: &Json) -> Result<Fields, AwsFailure> {
    token_call(
        body,
        1024,
        &[(SWF_REASON, Slot::Error), (SWF_DETAILS, Slot::Cause)],
    )
}

/// SWF `RespondActivityTaskCompleted`: an optional `result`.
pub fn respond_activity_task_completed(body: &Json) -> Result<Fields, AwsFailure> {
    token_call(
        body,
        1024,
        &[(Member::optional("result", 0, 32768), Slot::Output)],
    )
}

/// SWF `RespondActivityTaskCanceled`: optional `details`.
pub fn respond_activity_task_canceled(body: &Json) -> Result<Fields, AwsFailure> {
    token_call(
        body,
        1024,
        &[(Member::optional("details", 0, 32768), Slot::Output)],
    )
}

/// SWF `RecordActivityTaskHeartbeat`: optional `details`, shorter.
pub fn record_activity_task_heartbeat(body: &Json) -> Result<Fields, AwsFailure> {
    token_call(
        body,
        1024,
        &[(Member::optional("details", 0, 2048), Slot::Output)],
    )
}

/// The Step Functions and SWF calls: a required opaque `taskToken` of at most `token_max`
/// characters, then `texts`, each checked against its constraints and put in its slot.
fn token_call(
    body: &Json,
    token_max: usize,
    texts: &[(Member, Slot)],
) -> Result<Fields, AwsFailure> {
    let mut violations = Violations::default();
    let token = violations.string(body, &Member::required("taskToken", 1, token_max))?;
    let mut fields = Fields::default();
    for (member, slot) in texts {
        let value = violations.string(body, member)?.map(str::to_owned);
        match slot {
            Slot::Error => fields.error = value,
            Slot::Cause => fields.cause = value,
            Slot::Output => fields.output = value,
        }
    }
    violations.finish()?;
    let token = token.unwrap_or("");
    check_opaque_token(token)?;
    fields.task_token = token.to_owned();
    Ok(fields)
}

/// AWS task tokens are opaque, but never contain whitespace or control characters: such a
/// token was mangled on its way (a newline from a file, a `+` decoded to a space).
/// Each service names the failure with its own code (`error/aws.rs`).
fn check_opaque_token(token: &str) -> Result<(), AwsFailure> {
    match token.chars().find(|c| c.is_whitespace() || c.is_control()) {
        Some(c) => Err(Common::MalformedToken {
            reason: format!(
                "contains whitespace or a control character (U+{:04X})",
                u32::from(c)
            ),
        }
        .into()),
        None => Ok(()),
    }
}

/// CodePipeline `PutJobFailureResult`: a job id of a fixed pattern and a failure details object.
pub fn put_job_failure_result(body: &Json) -> Result<Fields, AwsFailure> {
    let mut violations = Violations::default();
    let job_id = violations.job_id(body)?;
    let (mut kind, mut message) = (None, None);
    if let Some(details) = violations.structure(body, "failureDetails", true)? {
        match details.get("type") {
            None | Some(Json::Null) => violations.missing("failureDetails.type"),
            Some(Json::String(value)) => {
                if !FAILURE_TYPES.contains(&value.as_str()) {
                    violations.0.push(Violation::NotInEnum {
                        path: "failureDetails.type",
                        value: value.clone(),
                        values: &FAILURE_TYPES,
                    });
                }
                kind = Some(value.as_str());
            }
            Some(_) => return Err(wrong_type("failureDetails.type", "a string")),
        }
        message = violations.string(details, &PIPELINE_MESSAGE)?;
        violations.string(
            details,
            &Member::optional("failureDetails.externalExecutionId", 1, 1500),
        )?;
    }
    violations.finish()?;
    Ok(Fields {
        task_token: job_id.unwrap_or("").to_owned(),
        error: kind.map(str::to_owned),
        cause: message.map(str::to_owned),
        output: None,
    })
}

/// CodePipeline `PutJobSuccessResult`: the job id, then the optional current revision,
/// continuation token, execution details and output variables, each with its constraints;
/// output variables only without a continuation token.
pub fn put_job_success_result(body: &Json) -> Result<Fields, AwsFailure> {
    let mut violations = Violations::default();
    let job_id = violations.job_id(body)?;
    if let Some(revision) = violations.structure(body, "currentRevision", false)? {
        violations.string(
            revision,
            &Member::required("currentRevision.revision", 1, 1500),
        )?;
        violations.string(
            revision,
            &Member::required("currentRevision.changeIdentifier", 1, 100),
        )?;
        // A timestamp: epoch seconds, as every awsJson SDK sends it.
        match revision.get("created") {
            None | Some(Json::Null | Json::Number(_)) => {}
            Some(_) => {
                return Err(wrong_type(
                    "currentRevision.created",
                    "a timestamp (epoch seconds)",
                ));
            }
        }
        violations.string(
            revision,
            &Member::optional("currentRevision.revisionSummary", 1, 2048),
        )?;
    }
    let continuation = violations.string(body, &Member::optional("continuationToken", 1, 2048))?;
    if let Some(details) = violations.structure(body, "executionDetails", false)? {
        violations.string(
            details,
            &Member::optional("executionDetails.summary", 1, 2048),
        )?;
        violations.string(
            details,
            &Member::optional("executionDetails.externalExecutionId", 1, 1500),
        )?;
        let path = "executionDetails.percentComplete";
        match details.get("percentComplete") {
            None | Some(Json::Null) => {}
            Some(Json::Number(value)) if value.fract() == 0.0 => {
                if !(0.0..=100.0).contains(value) {
                    violations.0.push(Violation::OutOfRange {
                        path,
                        // Integral (checked above); a huge one saturates, still out of range.
                        value: *value as i64,
                        min: 0,
                        max: 100,
                    });
                }
            }
            Some(_) => return Err(wrong_type(path, "an integer")),
        }
    }
    let variables = output_variables(body, &mut violations)?;
    violations.finish()?;
    // An empty map is what an SDK sends for "no variables": only variables conflict.
    if variables.as_deref().is_some_and(|text| text != "{}") && continuation.is_some() {
        return Err(AwsFailure::NotAllowed {
            message: "outputVariables can be included only when there is no continuation token on the request.",
        });
    }
    Ok(Fields {
        task_token: job_id.unwrap_or("").to_owned(),
        output: variables,
        ..Fields::default()
    })
}

/// `outputVariables`: a map of strings whose keys match their pattern; given back as a JSON
/// object (for the report), members in the order sent.
fn output_variables(
    body: &Json,
    violations: &mut Violations,
) -> Result<Option<String>, AwsFailure> {
    let path = "outputVariables";
    let members = match body.get(path) {
        None | Some(Json::Null) => return Ok(None),
        Some(Json::Object(members)) => members,
        Some(_) => return Err(wrong_type(path, "an object")),
    };
    let mut text = String::from("{");
    for (i, (key, value)) in members.iter().enumerate() {
        let Json::String(value) = value else {
            return Err(wrong_type("outputVariables values", "strings"));
        };
        let key_ok = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'-' | b'_'));
        if !key_ok {
            violations.0.push(Violation::KeyPattern {
                path,
                key: key.clone(),
                pattern: OUTPUT_VARIABLE_KEY_PATTERN,
            });
        }
        if i > 0 {
            text.push(',');
        }
        // Serializing a string cannot fail.
        text.push_str(&serde_json::to_string(key).unwrap_or_default());
        text.push(':');
        text.push_str(&serde_json::to_string(value).unwrap_or_default());
    }
    text.push('}');
    Ok(Some(text))
}

/// CodePipeline `AcknowledgeJob`: the job id and the nonce `PollForJobs` gave the worker.
pub fn acknowledge_job(body: &Json) -> Result<Fields, AwsFailure> {
    let mut violations = Violations::default();
    let job_id = violations.job_id(body)?;
    violations.string(body, &Member::required("nonce", 1, 50))?;
    violations.finish()?;
    Ok(Fields {
        task_token: job_id.unwrap_or("").to_owned(),
        ..Fields::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Dialect;

    fn validate(dialect: Dialect, body: &Json) -> Result<Fields, AwsFailure> {
        match crate::dialect::aws::call_of(dialect) {
            Some(call) => (call.model)(body),
            None => panic!("not an AWS dialect: {dialect:?}"),
        }
    }

    fn object(json: &str) -> Json {
        match crate::json_body::parse_object(json.as_bytes()) {
            Ok(object) => object,
            Err(error) => panic!("not an object: {error:?}"),
        }
    }

    fn errors(dialect: Dialect, json: &str) -> Vec<String> {
        match validate(dialect, &object(json)) {
            Err(AwsFailure::Validation { violations }) => {
                violations.iter().map(Violation::wording).collect()
            }
            other => panic!(
                "expected a validation failure, got {:?}",
                other.map(|f| f.task_token)
            ),
        }
    }

    #[test]
    fn lengths_count_characters_and_an_escaped_surrogate_pair_is_one() {
        let emoji = "\\ud83d\\ude00".repeat(32768);
        let body = format!(r#"{{"taskToken":"t","cause":"{emoji}"}}"#);
        assert!(validate(Dialect::States, &object(&body)).is_ok());
        let body = format!(r#"{{"taskToken":"t","cause":"{emoji}x"}}"#);
        assert_eq!(
            errors(Dialect::States, &body),
            [
                "Value at 'cause' failed to satisfy constraint: Member must have length less than or equal to 32768"
            ]
        );
    }

    #[test]
    fn every_violation_is_reported_in_model_order() {
        let long = "x".repeat(257);
        let body = format!(r#"{{"reason":"{long}"}}"#);
        assert_eq!(
            errors(Dialect::Swf, &body),
            [
                "Value null at 'taskToken' failed to satisfy constraint: Member must not be null",
                "Value at 'reason' failed to satisfy constraint: Member must have length less than or equal to 256",
            ]
        );
    }

    #[test]
    fn job_id_pattern_and_failure_type_enum_echo_only_those_values() {
        let got = errors(
            Dialect::CodePipeline,
            r#"{"jobId":"ABC","failureDetails":{"type":"Oops","message":""}}"#,
        );
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got[0].starts_with("Value 'ABC' at 'jobId' failed"),
            "{}",
            got[0]
        );
        assert!(
            got[1].contains("enum value set: [JobFailed, "),
            "{}",
            got[1]
        );
        assert_eq!(
            got[2],
            "Value at 'failureDetails.message' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
    }

    #[test]
    fn a_token_with_whitespace_is_a_token_error_not_a_validation_error() {
        let result = validate(Dialect::States, &object(r#"{"taskToken":"a b"}"#));
        assert!(matches!(
            result,
            Err(AwsFailure::Common(Common::MalformedToken { .. }))
        ));
    }

    #[test]
    fn a_member_of_the_wrong_type_is_a_serialization_error() {
        let result = validate(Dialect::States, &object(r#"{"taskToken":"t","cause":5}"#));
        assert!(matches!(
            result,
            Err(AwsFailure::Common(Common::BadJson { .. }))
        ));
    }
}
