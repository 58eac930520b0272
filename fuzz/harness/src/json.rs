//! JSON bodies: Alibaba's flat object of strings, and the three AWS calls' models.

use crate::check::assert_vendor_error;
use taskgate_filter::fuzzing::{
    AwsFields, Json, ObjectError, aws_body, fnf_json_body, json_object, parameters,
};
use taskgate_filter::{Dialect, Request};

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

/// The AWS call a target input is for: its first byte picks one of the three.
fn aws_dialect(selector: u8) -> Dialect {
    match selector % 3 {
        0 => Dialect::States,
        1 => Dialect::Swf,
        _ => Dialect::CodePipeline,
    }
}

/// `aws_json` target. The first byte picks the call (Step Functions, SWF, CodePipeline), the
/// rest is its body: an accepted body holds the model's constraints (the token's or job id's
/// form, the members' lengths, CodePipeline's failure types); a refused one is the call's
/// awsJson error, status 400.
pub fn aws_json(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let dialect = aws_dialect(selector);
    let fields = match aws_body(dialect, body) {
        Ok(fields) => fields,
        Err(response) => {
            assert_eq!(response.status, 400, "{response:?}");
            return assert_vendor_error(dialect, &response);
        }
    };
    assert!(json_object(body).is_ok());
    let chars = |text: &Option<String>| text.as_deref().map_or(0, |t| t.chars().count());
    let AwsFields {
        task_token,
        error,
        cause,
    } = &fields;
    let token_chars = task_token.chars().count();
    match dialect {
        Dialect::States | Dialect::Swf => {
            let (token_max, error_max) = if dialect == Dialect::States {
                (2048, 256)
            } else {
                (1024, 256)
            };
            assert!((1..=token_max).contains(&token_chars), "{fields:?}");
            assert!(
                !task_token
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control()),
                "{fields:?}"
            );
            assert!(
                chars(error) <= error_max && chars(cause) <= 32768,
                "{fields:?}"
            );
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
        Dialect::Fnf => unreachable!("aws_dialect picks only AWS calls"),
    }
}
