//! Arbitrary input never panics natively and never traps in the component: every request gets a
//! verdict. Also: the component's memory cap holds, and a failure inside it is an error, not a crash.

use crate::{check_both, demo, sandbox};
use proptest::prelude::*;
use std::sync::Arc;
use taskgate::config::Config;
use taskgate::request_file;
use taskgate_filter::{Request, Verdict};
use taskgate_tests::{AwsCall, AwsDialect, Call, Layout, signed_at};

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Content-Type".to_owned()),
        Just("Authorization".to_owned()),
        Just("x-acs-date".to_owned()),
        Just("x-acs-content-sha256".to_owned()),
        Just("x-acs-action".to_owned()),
        Just("Host".to_owned()),
        Just("X-Amz-Target".to_owned()),
        Just("X-Amz-Date".to_owned()),
        "[a-zA-Z-]{1,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/x-www-form-urlencoded".to_owned()),
        Just("application/json".to_owned()),
        Just(
            "ACS3-HMAC-SHA256 Credential=LTAI5tDemoAccessKeyId,SignedHeaders=host,Signature=00"
                .to_owned()
        ),
        Just("ReportTaskFailed".to_owned()),
        Just("AWSStepFunctions.SendTaskFailure".to_owned()),
        Just("SimpleWorkflowService.RespondActivityTaskFailed".to_owned()),
        Just("CodePipeline_20150709.PutJobFailureResult".to_owned()),
        Just("application/x-amz-json-1.0".to_owned()),
        Just("application/x-amz-json-1.1".to_owned()),
        Just(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/states/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
                .to_owned()
        ),
        Just("20240102T030405Z".to_owned()),
        ".{0,40}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "(Action|Version|TaskToken|Error|Cause|Timestamp|AccessKeyId|Signature|RequestId|%[0-9A-Fa-f]{0,2}|\\+|&|=|[a-z]{1,5}){0,24}",
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        prop_oneof![
            Just("POST".to_owned()),
            Just("GET".to_owned()),
            "[A-Z]{1,7}"
        ],
        query(),
        proptest::collection::vec((header_name(), header_value()), 0..8),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..256),
            "(Error|Cause|TaskToken|[=&+%]|[a-z0-9]{1,6}|\\{|\\}|\"|:|,){0,40}"
                .prop_map(String::into_bytes),
            // JSON-ish AWS bodies: members of the three calls, nesting, escapes, duplicates.
            "(\\{|\\}|\\[|\\]|\"|:|,|taskToken|cause|jobId|failureDetails|type|message|null|1|\\\\u[0-9a-fA-F]{4}|[a-z ]{1,4}){0,48}"
                .prop_map(String::into_bytes),
        ],
        any::<u64>(),
    )
        .prop_map(|(method, query, headers, body, received_at)| Request {
            method,
            path_with_query: format!("/?{query}"),
            headers,
            body,
            received_at,
            request_id: None,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_requests_get_the_same_verdict_natively_and_in_the_component(request in request()) {
        check_both(&demo(), &request);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parser_or_the_filter(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(request) = request_file::parse(&bytes, 0) {
            taskgate_filter::check(&request, demo().as_ref());
        }
    }

    #[test]
    fn a_changed_byte_in_a_signed_form_body_is_never_forwarded_with_other_content(
        index in any::<prop::sample::Index>(), byte in any::<u8>()
    ) {
        let original = Call::new(Layout::QueryAndForm).build();
        let mut request = original.clone();
        let at = index.index(request.body.len());
        prop_assume!(request.body[at] != byte);
        request.body[at] = byte;
        let config = demo();
        if let (Verdict::Forward(got), Verdict::Forward(want)) = (check_both(&config, &request), check_both(&config, &original)) {
            // Only an equivalent encoding of the same values ('+' for a space) may still verify.
            prop_assert_eq!((got.error, got.cause), (want.error, want.cause));
        }
    }

    #[test]
    fn a_changed_byte_in_a_sigv4_signed_request_is_never_forwarded(
        dialect in prop::sample::select(AwsDialect::ALL.to_vec()),
        js_sdk in any::<bool>(),
        in_body in any::<bool>(),
        index in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        // SigV4 covers the body through its hash and every signed header: no byte of either may
        // change (and a header value only up to surrounding spaces, which signing trims).
        let call = AwsCall::new(dialect);
        let original = if js_sdk { call.js_sdk() } else { call }.build();
        let mut request = original.clone();
        if in_body {
            let at = index.index(request.body.len());
            prop_assume!(request.body[at] != byte);
            request.body[at] = byte;
        } else {
            let (name, value) = index.get(&request.headers).clone();
            prop_assume!(name.eq_ignore_ascii_case("x-amz-date") || name.eq_ignore_ascii_case("x-amz-target") || name.eq_ignore_ascii_case("host"));
            let mut bytes = value.into_bytes();
            let at = index.index(bytes.len());
            prop_assume!(bytes[at] != byte && byte.is_ascii_graphic());
            bytes[at] = byte;
            let at_header = request.headers.iter().position(|(n, _)| *n == name).unwrap_or(0);
            request.headers[at_header].1 = String::from_utf8_lossy(&bytes).into_owned();
        }
        let verdict = check_both(&demo(), &request);
        prop_assert!(matches!(verdict, Verdict::Reject(_)), "a changed request was forwarded: {:?}", verdict);
    }
}

#[test]
fn a_hostile_body_of_thousands_of_parameters_is_answered() {
    // One name thousands of times: the first repeat is named.
    let body = "a=1&".repeat(16_000).into_bytes();
    let request = Call::new(Layout::QueryAndForm).body(&body).build();
    let answer = rejected(check_both(&demo(), &request));
    assert_eq!(
        (answer.status, answer.code.as_str()),
        (400, "InvalidArgument")
    );
    assert!(
        String::from_utf8_lossy(&answer.body)
            .contains("Parameter error. The parameter 'a' is given more than once."),
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    // Thousands of names: all of them are signed, so the body no longer matches its signature.
    let body: String = (0..7_000).map(|i| format!("p{i}=1&")).collect();
    let request = Call::new(Layout::QueryAndForm)
        .body(body.as_bytes())
        .build();
    let answer = rejected(check_both(&demo(), &request));
    assert_eq!(
        (answer.status, answer.code.as_str()),
        (403, "SignatureNotMatch")
    );
}

fn rejected(verdict: Verdict) -> taskgate_filter::Response {
    match verdict {
        Verdict::Reject(answer) => answer,
        other => panic!("not rejected: {other:?}"),
    }
}

#[test]
fn the_memory_cap_turns_an_oversized_request_into_an_internal_error_not_a_crash() {
    let config = Arc::new(
        Config::parse("[limits]\nmax_aws_body_bytes = 65536\n[sandbox]\nmemory_bytes = 3145728\n")
            .expect("config"),
    );
    // Hosts never pass a body this far over the limit; the cap must hold even if one does.
    let request = Call::new(Layout::QueryAndForm)
        .body(&vec![b'x'; 8 << 20])
        .received_at(signed_at())
        .build();
    let result = sandbox().check(&config, request.clone());
    assert!(
        result.is_err(),
        "an 8 MiB body cannot fit in 3 MiB of memory"
    );
    let answer = taskgate_filter::edge_response(&request, taskgate_filter::EdgeFailure::Internal);
    assert_eq!(
        (answer.status, answer.code.as_str()),
        (500, "InternalServerError")
    );
    let body: serde_json::Value = serde_json::from_slice(&answer.body).expect("JSON body");
    assert_eq!(body["Code"], "InternalServerError");
    // The same sandbox keeps working for the next request.
    let ok = sandbox()
        .check(&demo(), Call::new(Layout::QueryAndForm).build())
        .expect("next check");
    assert!(matches!(ok, Verdict::Forward(_)));
}

/// Every check runs in memory of its own: the pooling allocator hands the next instance the same
/// slot, with only the pages the last one dirtied reset (sandbox.rs), and a request must never
/// find what the one before it left there. The fault build leaves a mark in a static and on its
/// heap for a body with `taskgate-test-remember`, and traps on `taskgate-test-recall` if it
/// finds one; with instance reuse on, the same pair must trap (the probe can see a leak).
#[test]
fn a_request_never_sees_what_the_one_before_it_left_in_memory() {
    let config = demo();
    let component = std::fs::read(taskgate_tests::gateway::faults_component()).expect("component");
    let with = |marker: &str| {
        Call::new(Layout::QueryAndForm)
            .set("Cause", &format!("x {marker} y"))
            .received_at(signed_at())
            .build()
    };
    let (remember, recall) = (with("taskgate-test-remember"), with("taskgate-test-recall"));
    let fresh = taskgate::sandbox::Sandbox::for_gateway(&component, config.sandbox.memory_bytes, 1)
        .expect("sandbox");
    for round in 0..50 {
        let left = fresh.check(&config, remember.clone()).expect("remember");
        assert!(
            matches!(left, Verdict::Forward(_)),
            "round {round}: {left:?}"
        );
        let next = fresh.check(&config, recall.clone());
        assert!(
            matches!(next, Ok(Verdict::Forward(_))),
            "round {round}: the next instance saw the last one's memory: {next:?}"
        );
    }
    let reused =
        taskgate::sandbox::Sandbox::for_gateway(&component, config.sandbox.memory_bytes, 2)
            .expect("sandbox");
    reused.check(&config, remember).expect("remember");
    assert!(
        reused.check(&config, recall).is_err(),
        "a reused instance keeps its memory: the probe must notice"
    );
}

#[test]
fn a_reused_instance_gives_the_same_verdicts_as_fresh_ones() {
    let config = demo();
    let warm = taskgate::sandbox::Sandbox::new(
        taskgate::EMBEDDED_COMPONENT,
        config.sandbox.memory_bytes,
        50,
    )
    .expect("sandbox");
    let requests = [
        Call::new(Layout::QueryAndForm).build(),
        Call::new(Layout::Acs3).secret("wrong").build(),
        Call::new(Layout::Json)
            .set("Cause", &"é".repeat(4096))
            .build(),
        Call::new(Layout::FormOnly).set("Error", "").build(),
        Call::new(Layout::QueryAndForm)
            .body(&vec![b'a'; 70_000])
            .build(),
    ];
    for round in 0..20 {
        for request in &requests {
            let fresh = check_both(&config, request);
            assert_eq!(
                warm.check(&config, request.clone()).expect("warm check"),
                fresh,
                "round {round}"
            );
        }
    }
}
