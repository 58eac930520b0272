//! The AWS task callbacks, all awsJson (a `POST /` with an `X-Amz-Target` header and a JSON
//! body) signed with SigV4: Step Functions `SendTaskFailure`, `SendTaskSuccess` and
//! `SendTaskHeartbeat`; SWF `RespondActivityTaskFailed`, `RespondActivityTaskCompleted`,
//! `RespondActivityTaskCanceled` and `RecordActivityTaskHeartbeat`; CodePipeline
//! `PutJobFailureResult`, `PutJobSuccessResult` and `AcknowledgeJob`.
//!
//! The rules run in the order the services' front end applies them: size, method, operation
//! and content type, then who is asking (signature and time), and only then the body against
//! the published model, so an unauthenticated caller learns nothing about valid reports.

pub(crate) mod auth;
pub(crate) mod model;

use super::Accepted;
use crate::error::{AwsFailure, Common, EdgeFailure};
use crate::explain_steps::step;
use crate::json_body::parse_object;
use crate::request_id;
use crate::types::{Callback, Dialect, Env, OtherCalls, Report, Request, SignatureCheck};

/// What tells the calls apart, in one place.
pub struct Call {
    /// The dialect (service) it belongs to.
    pub dialect: Dialect,
    /// The `X-Amz-Target` value.
    pub target: &'static str,
    /// The operation name.
    pub action: &'static str,
    /// What it does to its task.
    pub callback: Callback,
    /// The only content type the service accepts, and the one it answers with.
    pub content_type: &'static str,
    /// The SigV4 service name in the credential scope.
    pub service: &'static str,
    /// The body's constraints from the published model.
    pub model: model::Model,
    /// The service's answer to an accepted call (its output shape with nothing to report).
    pub success_body: &'static str,
}

const JSON_10: &str = "application/x-amz-json-1.0";
const JSON_11: &str = "application/x-amz-json-1.1";

/// One call of a service: the service's own parts and the call's.
const fn call(
    dialect: Dialect,
    target: &'static str,
    callback: Callback,
    model: model::Model,
) -> Call {
    let (prefix_len, content_type, service) = match dialect {
        Dialect::Swf => ("SimpleWorkflowService.".len(), JSON_10, "swf"),
        Dialect::CodePipeline => ("CodePipeline_20150709.".len(), JSON_11, "codepipeline"),
        Dialect::States | Dialect::Fnf => ("AWSStepFunctions.".len(), JSON_10, "states"),
    };
    let (_, action) = target.split_at(prefix_len);
    // The outputs with a required member: SWF says whether a cancel was asked for, CodePipeline
    // the job's status; the others answer an empty structure.
    let success_body = match callback {
        Callback::Heartbeat if matches!(dialect, Dialect::Swf) => r#"{"cancelRequested":false}"#,
        Callback::Heartbeat if matches!(dialect, Dialect::CodePipeline) => {
            r#"{"status":"InProgress"}"#
        }
        _ => "{}",
    };
    Call {
        dialect,
        target,
        action,
        callback,
        content_type,
        service,
        model,
        success_body,
    }
}

/// The calls, each service's failure call first.
pub const CALLS: [Call; 10] = [
    call(
        Dialect::States,
        "AWSStepFunctions.SendTaskFailure",
        Callback::Failed,
        model::send_task_failure,
    ),
    call(
        Dialect::States,
        "AWSStepFunctions.SendTaskSuccess",
        Callback::Succeeded,
        model::send_task_success,
    ),
    call(
        Dialect::States,
        "AWSStepFunctions.SendTaskHeartbeat",
        Callback::Heartbeat,
        model::send_task_heartbeat,
    ),
    call(
        Dialect::Swf,
        "SimpleWorkflowService.RespondActivityTaskFailed",
        Callback::Failed,
        model::respond_activity_task_failed,
    ),
    call(
        Dialect::Swf,
        "SimpleWorkflowService.RespondActivityTaskCompleted",
        Callback::Succeeded,
        model::respond_activity_task_completed,
    ),
    call(
        Dialect::Swf,
        "SimpleWorkflowService.RespondActivityTaskCanceled",
        Callback::Canceled,
        model::respond_activity_task_canceled,
    ),
    call(
        Dialect::Swf,
        "SimpleWorkflowService.RecordActivityTaskHeartbeat",
        Callback::Heartbeat,
        model::record_activity_task_heartbeat,
    ),
    call(
        Dialect::CodePipeline,
        "CodePipeline_20150709.PutJobFailureResult",
        Callback::Failed,
        model::put_job_failure_result,
    ),
    call(
        Dialect::CodePipeline,
        "CodePipeline_20150709.PutJobSuccessResult",
        Callback::Succeeded,
        model::put_job_success_result,
    ),
    call(
        Dialect::CodePipeline,
        "CodePipeline_20150709.AcknowledgeJob",
        Callback::Heartbeat,
        model::acknowledge_job,
    ),
];

/// The failure call of a dialect (`None` for Alibaba): the service's content type and SigV4
/// name are the same for all its calls.
pub fn call_of(dialect: Dialect) -> Option<&'static Call> {
    CALLS.iter().find(|call| call.dialect == dialect)
}

/// The dialect whose error format answers a request with this `X-Amz-Target`: the call's own,
/// else the service named before the `.` (another operation of the same service), else Step
/// Functions' awsJson 1.0 format.
pub fn dialect_of_target(target: &str) -> Dialect {
    let service = target.split('.').next().unwrap_or("");
    CALLS
        .iter()
        .find(|call| call.target == target)
        .or_else(|| {
            CALLS
                .iter()
                .find(|call| call.target.split('.').next() == Some(service))
        })
        .map_or(Dialect::States, |call| call.dialect)
}

/// Checks one AWS request whose `X-Amz-Target` gave `dialect`.
pub fn check(request: &Request, dialect: Dialect, env: &dyn Env) -> Result<Accepted, AwsFailure> {
    let limits = env.limits();
    let limit = limits.body_limit(dialect);
    if request.body.len() > limit as usize {
        return Err(EdgeFailure::EntityTooLarge { limit }.into());
    }
    step("size: the body is within max_aws_body_bytes");
    let target = request.header("x-amz-target").unwrap_or("").trim();
    let conflicting = request.has_conflicting("x-amz-target");
    let modelled = CALLS
        .iter()
        .find(|call| call.target == target && call.dialect == dialect);
    let other_calls = env.other_calls();
    if modelled.is_none() && !conflicting && !target.is_empty() && other_calls != OtherCalls::Reject
    {
        return other_call(request, target, dialect, env, other_calls);
    }
    if request.method != "POST" {
        return Err(Common::MethodNotAllowed {
            method: request.method.clone(),
        }
        .into());
    }
    let call = modelled
        .filter(|_| !conflicting)
        .ok_or_else(|| AwsFailure::UnknownOperation {
            target: target.to_owned(),
        })?;
    step("operation: POST, a known X-Amz-Target");
    check_content_type(request, call)?;
    step("content type: the call's awsJson content type");
    let (access_key_id, signature) = auth::authenticate(request, Some(call.service), env, limits)?;
    if signature == SignatureCheck::Edge {
        step("signature: SigV4 verified with the access key's secret");
    }

    let members = parse_object(&request.body).map_err(AwsFailure::from)?;
    step("body: a JSON object, no member repeated");
    let fields = (call.model)(&members)?;
    step("model: every constraint of the call's published model holds");
    // AWS requests carry no nonce (an SDK resends the same signature on retry): the ledger is
    // what catches a repeated report.
    let recall = crate::store_keys::report(
        None,
        call.dialect,
        &fields.task_token,
        call.callback,
        signature,
        limits,
    );
    Ok(Accepted::Report(Report {
        dialect: call.dialect,
        action: call.action.to_owned(),
        callback: call.callback,
        request_id: request_id::fallback(request),
        access_key_id,
        signature,
        task_token: fields.task_token,
        token: None,
        error: fields.error,
        cause: fields.cause,
        output: fields.output,
        recall,
    }))
}

/// A call this filter does not model (`StartExecution`, `GetActivityTask`, another service's
/// operation, ...), under `other_calls` = forward or authenticate. Method and content type are
/// the service's to judge; the signature is checked as for the modelled calls, scoped to the
/// target's service when it is one of the three (else to the service the credential names).
fn other_call(
    request: &Request,
    target: &str,
    dialect: Dialect,
    env: &dyn Env,
    other_calls: OtherCalls,
) -> Result<Accepted, AwsFailure> {
    let (prefix, action) = target.split_once('.').unwrap_or(("", target));
    let service = CALLS
        .iter()
        .find(|call| call.target.split('.').next() == Some(prefix))
        .map(|call| call.service);
    let signer = match other_calls {
        OtherCalls::Forward => {
            step("operation: not a modelled call: passed on unchecked (other_calls = forward)");
            None
        }
        OtherCalls::Reject | OtherCalls::Authenticate => {
            let signer = auth::authenticate(request, service, env, env.limits())?;
            if signer.1 == SignatureCheck::Edge {
                step("signature: SigV4 verified with the access key's secret");
            }
            step(
                "operation: not a modelled call: passed on authenticated (other_calls = authenticate)",
            );
            Some(signer)
        }
    };
    Ok(super::passed(
        dialect,
        action,
        request_id::fallback(request),
        signer,
        crate::types::Recall::default(),
    ))
}

/// The call's own content type is the only one accepted (parameters such as `charset` aside);
/// two different `Content-Type` fields are refused as for Alibaba requests.
fn check_content_type(request: &Request, call: &Call) -> Result<(), AwsFailure> {
    let sent = request.header("content-type").unwrap_or("");
    let essence = sent.split(';').next().unwrap_or("").trim();
    if request.has_conflicting("content-type") || !essence.eq_ignore_ascii_case(call.content_type) {
        return Err(Common::UnsupportedMediaType {
            content_type: sent.to_owned(),
        }
        .into());
    }
    Ok(())
}
