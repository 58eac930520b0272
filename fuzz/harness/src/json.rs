//! JSON bodies: Alibaba's flat object of strings, the AWS calls' models, Step Functions'
//! output.

use crate::check::assert_vendor_error;
use taskgate_filter::fuzzing::{
    AwsFields, Json, ObjectError, aws_body, aws_call_dialect, fnf_json_body, json_object,
    output_syntax, parameters,
};
use taskgate_filter::{Callback, Dialect, Request};

/// `output_json` target: Step Functions' output check (the JSON grammar, on its own scanner)
/// agrees with serde_json wherever serde_json's own limits do not apply: what serde_json reads
/// it takes, and what it refuses serde_json refuses too; where they differ, serde_json stopped
/// at its nesting limit, a number beyond a double, or a lone surrogate escape, all of which
/// the grammar allows.
pub fn output_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = output_syntax(text);
    let reference = serde_json::from_str::<serde_json::Value>(text);
    match (&ours, &reference) {
        (Ok(()), Ok(_)) => {}
        (Err(detail), Err(_)) => assert!(
            detail.contains(" at character ") && detail.len() <= 80,
            "an error message without its place: {detail}"
        ),
        (Err(detail), Ok(_)) => panic!("refused what serde_json reads: {detail}"),
        (Ok(()), Err(error)) => {
            let why = error.to_string();
            assert!(
                [
                    "recursion limit",
                    "number out of range",
                    "surrogate",
                    "hex escape"
                ]
                .iter()
                .any(|limit| why.contains(limit)),
                "took what serde_json refuses for another reason: {why}"
            );
        }
    }
}

/// `fnf_json` target: the body parser agrees with serde_json (what it accepts serde_json reads
/// as the same members; what serde_json refuses it refuses); the accepted members, written out
/// again, read back the same; and a request with this body gets the same parameters.
pub fn fnf_json(data: &[u8]) {
    let parsed = fnf_json_body(data);
    let reference = serde_json::from_slice::<serde_json::Value>(data);
    match &parsed {
        Ok(members) => {
            let Ok(serde_json::Value::Object(object)) = &reference else {
                panic!("accepted what serde_json reads as {reference:?}");
            };
            let expected: Vec<(String, String)> = object
                .iter()
                .filter_map(|(n, v)| v.as_str().map(|v| (n.clone(), v.to_owned())))
                .collect();
            assert_eq!(members, &expected, "members differ from serde_json's");
            let written = serde_json::Value::Object(
                members
                    .iter()
                    .map(|(n, v)| (n.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            );
            let again = fnf_json_body(written.to_string().as_bytes());
            assert_eq!(again.as_ref(), Ok(members), "{written}");
            assert!(matches!(json_object(data), Ok(Json::Object(_))));
        }
        Err(ObjectError::Duplicate(_)) => {}
        Err(ObjectError::Invalid(detail)) => assert!(
            !detail.is_empty() && detail.len() <= 200,
            "an error message of {} bytes",
            detail.len()
        ),
    }
    if reference.is_err() {
        assert!(parsed.is_err(), "accepted what serde_json refuses");
    }

    let request = Request {
        method: "POST".to_owned(),
        path_with_query: "/".to_owned(),
        headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
        body: data.to_vec(),
        ..Request::default()
    };
    match (parameters(&request), parsed) {
        (Ok(params), Ok(mut members)) => {
            members.sort();
            let got: Vec<(String, String)> = params.into_iter().map(|(n, v, _)| (n, v)).collect();
            assert_eq!(got, members);
        }
        (Err(response), Err(_)) => assert_vendor_error(Dialect::Fnf, &response),
        // An empty body is no body: no parameters, and nothing to refuse.
        (Ok(params), Err(_)) if data.is_empty() => assert!(params.is_empty()),
        (params, parsed) => {
            panic!("the parameters ({params:?}) disagree with the body ({parsed:?})")
        }
    }
}

/// `aws_json` target. The first byte picks one of the modelled AWS calls, the rest is its body:
/// an accepted body holds the call's model (the token's or job id's form, the members'
/// lengths, CodePipeline's failure types, output variables and percentages, Step Functions'
/// output as JSON); a refused one is the call's awsJson error, status 400.
pub fn aws_json(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let fields = match aws_body(usize::from(selector), body) {
        Ok(fields) => fields,
        Err(response) => {
            assert_eq!(response.status, 400, "{response:?}");
            return assert_vendor_error(aws_call_dialect(usize::from(selector)), &response);
        }
    };
    assert!(json_object(body).is_ok());
    let chars = |text: &Option<String>| text.as_deref().map_or(0, |t| t.chars().count());
    let AwsFields {
        dialect,
        action,
        callback,
        task_token,
        error,
        cause,
        output,
    } = &fields;
    assert_eq!(
        callback.settles(),
        *callback != Callback::Heartbeat,
        "{fields:?}"
    );
    if *callback != Callback::Failed {
        assert!(error.is_none() && cause.is_none(), "{fields:?}");
    }
    match dialect {
        Dialect::States | Dialect::Swf => {
            let token_max = if *dialect == Dialect::States {
                2048
            } else {
                1024
            };
            assert!(
                (1..=token_max).contains(&task_token.chars().count()),
                "{fields:?}"
            );
            assert!(
                !task_token
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control()),
                "{fields:?}"
            );
            assert!(chars(error) <= 256 && chars(cause) <= 32768, "{fields:?}");
            match *action {
                "SendTaskSuccess" => {
                    let output = output.as_deref().unwrap_or_default();
                    assert!(output.len() <= 262_144, "{fields:?}");
                    assert_eq!(output_syntax(output), Ok(()), "{fields:?}");
                }
                "RecordActivityTaskHeartbeat" => assert!(chars(output) <= 2048, "{fields:?}"),
                _ => assert!(chars(output) <= 32768, "{fields:?}"),
            }
        }
        Dialect::CodePipeline => {
            let job_id = task_token.as_bytes();
            assert!(
                job_id.len() == 36
                    && job_id.iter().enumerate().all(|(i, b)| match i {
                        8 | 13 | 18 | 23 => *b == b'-',
                        _ => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
                    }),
                "{fields:?}"
            );
            match callback {
                Callback::Failed => {
                    const TYPES: [&str; 6] = [
                        "JobFailed",
                        "ConfigurationError",
                        "PermissionError",
                        "RevisionOutOfSync",
                        "RevisionUnavailable",
                        "SystemUnavailable",
                    ];
                    assert!(
                        error.as_deref().is_some_and(|t| TYPES.contains(&t)),
                        "{fields:?}"
                    );
                    assert!((1..=5000).contains(&chars(cause)), "{fields:?}");
                }
                // The output variables, as a JSON object of strings whose keys keep their
                // pattern.
                Callback::Succeeded => {
                    if let Some(output) = output {
                        let Ok(serde_json::Value::Object(variables)) =
                            serde_json::from_str::<serde_json::Value>(output)
                        else {
                            panic!("output variables that are not an object: {fields:?}");
                        };
                        assert!(
                            variables.iter().all(|(key, value)| {
                                value.is_string()
                                    && !key.is_empty()
                                    && key.bytes().all(|b| {
                                        b.is_ascii_alphanumeric() || matches!(b, b'@' | b'-' | b'_')
                                    })
                            }),
                            "{fields:?}"
                        );
                    }
                }
                _ => assert!(output.is_none(), "{fields:?}"),
            }
        }
        Dialect::Fnf => panic!("an AWS call of the Alibaba dialect: {fields:?}"),
    }
}
