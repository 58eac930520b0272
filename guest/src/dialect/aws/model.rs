//! The three calls' input shapes and constraints, from the services' published models; each
//! violation is a structured `Violation`, worded in `error/aws.rs`. Lengths count Unicode
//! characters after JSON decoding (an escaped surrogate pair is one character), as Smithy's
//! `@length` does.

use crate::error::{AwsFailure, Common, Violation};
use crate::json_body::Json;

/// The members the report carries, once the body passed the model.
pub struct Fields {
    /// Task token, or CodePipeline's job id.
    pub task_token: String,
    /// SFN `error`, SWF `reason`, CodePipeline `failureDetails.type` (sensitive).
    pub error: Option<String>,
    /// SFN `cause`, SWF `details`, CodePipeline `failureDetails.message` (sensitive).
    pub cause: Option<String>,
}

const JOB_ID_PATTERN: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const FAILURE_TYPES: [&str; 6] = [
    "JobFailed",
    "ConfigurationError",
    "PermissionError",
    "RevisionOutOfSync",
    "RevisionUnavailable",
    "SystemUnavailable",
];

/// A string member's constraints.
struct Member {
    /// Path in the model (`failureDetails.message`), as AWS names it in messages.
    path: &'static str,
    required: bool,
    min: usize,
    max: usize,
}

/// Collects every violation, in model order, then fails with all of them at once.
#[derive(Default)]
struct Violations(Vec<Violation>);

impl Violations {
    fn missing(&mut self, path: &'static str) {
        self.0.push(Violation::Null { path });
    }

    /// A string member: `Ok(None)` when absent, a type error when not a string.
    fn string<'a>(
        &mut self,
        object: &'a Json,
        name: &str,
        member: &Member,
    ) -> Result<Option<&'a str>, AwsFailure> {
        let value = match object.get(name) {
            None | Some(Json::Null) => {
                if member.required {
                    self.missing(member.path);
                }
                return Ok(None);
            }
            Some(Json::String(value)) => value.as_str(),
            Some(_) => {
                return Err(Common::BadJson {
                    detail: format!("'{}' must be a string", member.path),
                }
                .into());
            }
        };
        let length = value.chars().count();
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

    fn finish(self) -> Result<(), AwsFailure> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AwsFailure::Validation { violations: self.0 })
        }
    }
}

/// A call's model: checks its body and returns the report's fields.
pub type Model = fn(&Json) -> Result<Fields, AwsFailure>;

/// Step Functions `SendTaskFailure`.
pub fn send_task_failure(body: &Json) -> Result<Fields, AwsFailure> {
    opaque_token_call(body, 2048, ("error", 256), ("cause", 32768))
}

/// SWF `RespondActivityTaskFailed`.
pub fn respond_activity_task_failed(body: &Json) -> Result<Fields, AwsFailure> {
    opaque_token_call(body, 1024, ("reason", 256), ("details", 32768))
}

/// SendTaskFailure and RespondActivityTaskFailed: a token and two optional texts.
fn opaque_token_call(
    body: &Json,
    token_max: usize,
    (error_name, error_max): (&'static str, usize),
    (cause_name, cause_max): (&'static str, usize),
) -> Result<Fields, AwsFailure> {
    let mut violations = Violations::default();
    let token = violations.string(
        body,
        "taskToken",
        &Member {
            path: "taskToken",
            required: true,
            min: 1,
            max: token_max,
        },
    )?;
    let error = violations.string(
        body,
        error_name,
        &Member {
            path: error_name,
            required: false,
            min: 0,
            max: error_max,
        },
    )?;
    let cause = violations.string(
        body,
        cause_name,
        &Member {
            path: cause_name,
            required: false,
            min: 0,
            max: cause_max,
        },
    )?;
    violations.finish()?;
    let token = token.unwrap_or("");
    check_opaque_token(token)?;
    Ok(Fields {
        task_token: token.to_owned(),
        error: error.map(str::to_owned),
        cause: cause.map(str::to_owned),
    })
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
    let job_id = match body.get("jobId") {
        None | Some(Json::Null) => {
            violations.missing("jobId");
            None
        }
        Some(Json::String(id)) => {
            if !is_job_id(id) {
                violations.0.push(Violation::Pattern {
                    path: "jobId",
                    value: id.clone(),
                    pattern: JOB_ID_PATTERN,
                });
            }
            Some(id.as_str())
        }
        Some(_) => {
            return Err(Common::BadJson {
                detail: "'jobId' must be a string".to_owned(),
            }
            .into());
        }
    };
    let (mut kind, mut message) = (None, None);
    match body.get("failureDetails") {
        None | Some(Json::Null) => violations.missing("failureDetails"),
        Some(details @ Json::Object(_)) => {
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
                Some(_) => {
                    return Err(Common::BadJson {
                        detail: "'failureDetails.type' must be a string".to_owned(),
                    }
                    .into());
                }
            }
            message = violations.string(
                details,
                "message",
                &Member {
                    path: "failureDetails.message",
                    required: true,
                    min: 1,
                    max: 5000,
                },
            )?;
            violations.string(
                details,
                "externalExecutionId",
                &Member {
                    path: "failureDetails.externalExecutionId",
                    required: false,
                    min: 1,
                    max: 1500,
                },
            )?;
        }
        Some(_) => {
            return Err(Common::BadJson {
                detail: "'failureDetails' must be an object".to_owned(),
            }
            .into());
        }
    }
    violations.finish()?;
    Ok(Fields {
        task_token: job_id.unwrap_or("").to_owned(),
        error: kind.map(str::to_owned),
        cause: message.map(str::to_owned),
    })
}

/// `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`, lower-case hex only.
fn is_job_id(text: &str) -> bool {
    crate::token::uuid_shaped(text, true)
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
