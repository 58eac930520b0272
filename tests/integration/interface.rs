//! The built component exposes the documented, versioned WIT interface and nothing unexpected.

use taskgate::EMBEDDED_COMPONENT;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;
use wasmtime::{Config, Engine};

#[test]
fn the_component_exports_the_versioned_validator_and_imports_only_keyring_settings_and_wasi() {
    let engine = Engine::new(&Config::new()).expect("engine");
    let component = Component::new(&engine, EMBEDDED_COMPONENT).expect("component");
    let ty = component.component_type();

    let exports: Vec<(String, ComponentItem)> = ty
        .exports(&engine)
        .map(|(n, i)| (n.to_owned(), i.ty))
        .collect();
    let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["taskgate:filter/validator@0.8.0"]);
    let ComponentItem::ComponentInstance(validator) = &exports[0].1 else {
        panic!("validator is not an instance");
    };
    assert_eq!(
        function_names(validator, &engine),
        [
            "check",
            "decode-token",
            "default-limits",
            "explain",
            "respond",
            "settles"
        ]
    );

    let mut keyring = None;
    for (name, item) in ty.imports(&engine) {
        let allowed = name.starts_with("taskgate:filter/") && name.ends_with("@0.8.0")
            || name.starts_with("wasi:cli/")
            || name.starts_with("wasi:io/");
        assert!(allowed, "unexpected import {name}");
        if name == "taskgate:filter/keyring@0.8.0" {
            keyring = Some(item.ty);
        }
    }
    // The keyring is asked to verify; nothing it offers hands a secret to the guest.
    let Some(ComponentItem::ComponentInstance(keyring)) = keyring else {
        panic!("the keyring is not imported");
    };
    assert_eq!(
        function_names(&keyring, &engine),
        ["access-key-account", "verify-signature", "verify-token-mac"]
    );
}

/// The functions of a component instance type, sorted.
fn function_names<'a>(
    instance: &'a wasmtime::component::types::ComponentInstance,
    engine: &'a Engine,
) -> Vec<&'a str> {
    let mut names: Vec<&str> = instance
        .exports(engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
        .map(|(n, _)| n)
        .collect();
    names.sort_unstable();
    names
}

/// The host's `digest` gives the same SHA-256 as the library: a report's recall keys (made
/// from host-computed digests in the component) equal the native ones.
#[test]
fn digests_computed_by_the_host_match_the_native_ones() {
    let config = crate::demo();
    let sandbox = taskgate::sandbox::Sandbox::embedded(&config).expect("sandbox");
    let request = taskgate_tests::Call::new(taskgate_tests::Layout::Acs3).build();
    let native = taskgate_filter::check(&request, config.as_ref());
    let component = sandbox.check(&config, request).expect("check");
    let taskgate_filter::Verdict::Forward(report) = &component else {
        panic!("not forwarded: {component:?}");
    };
    assert!(report.recall.nonce.is_some() && report.recall.task.is_some());
    assert_eq!(component, native);
}

#[test]
fn the_release_component_is_at_most_256_kib() {
    assert!(
        EMBEDDED_COMPONENT.len() <= 256 * 1024,
        "{} bytes",
        EMBEDDED_COMPONENT.len()
    );
}

/// `respond` in the component renders every failure a host finds itself exactly as the native
/// table does, in every dialect: the host's fallback (for a component that cannot answer even
/// that) gives the same bytes.
#[test]
fn respond_through_the_component_matches_the_native_table() {
    use taskgate_filter::{EdgeFailure, Request};
    let config = crate::demo();
    let failures = [
        EdgeFailure::Internal,
        EdgeFailure::Throttled { limit: 64 },
        EdgeFailure::EntityTooLarge { limit: 65_536 },
        EdgeFailure::NoRoute {
            host: "evil.example".to_owned(),
        },
        EdgeFailure::Tunnel,
        EdgeFailure::Malformed {
            detail: "more than one Host header".to_owned(),
        },
        EdgeFailure::SlowClient,
        EdgeFailure::NonceUsed,
        EdgeFailure::Unverifiable {
            access_key_id: "ASIATEMPORARY".to_owned(),
        },
        EdgeFailure::TaskSettled {
            task_token: "tok-1".to_owned(),
        },
        EdgeFailure::TaskBusy,
        EdgeFailure::RateLimited { retry_after: 3 },
    ];
    let heads = [
        vec![("Host".to_owned(), "cn-hangzhou.fnf.aliyuncs.com".to_owned())],
        vec![(
            "X-Amz-Target".to_owned(),
            "AWSStepFunctions.SendTaskFailure".to_owned(),
        )],
        vec![(
            "X-Amz-Target".to_owned(),
            "SimpleWorkflowService.RespondActivityTaskFailed".to_owned(),
        )],
        vec![(
            "X-Amz-Target".to_owned(),
            "CodePipeline_20150709.PutJobFailureResult".to_owned(),
        )],
    ];
    for headers in heads {
        let request = Request {
            method: "POST".to_owned(),
            path_with_query: "/".to_owned(),
            headers,
            body: Vec::new(),
            received_at: 1_795_334_400,
            request_id: Some("R-1".to_owned()),
        };
        for failure in &failures {
            let native = taskgate_filter::edge_response(&request, failure.clone());
            let component = crate::sandbox()
                .respond(&config, &request, failure.clone())
                .expect("the component answers");
            assert_eq!(native, component, "{failure:?} for {:?}", request.headers);
        }
    }
}

/// `settles`: a 2xx settles, a 5xx never does, and a 4xx only when it carries the code the
/// dialect's own answer to a settled task carries; the component and the native table agree.
#[test]
fn the_upstreams_already_closed_answers_settle_a_task_and_nothing_else_does() {
    use taskgate_filter::Dialect;
    let config = crate::demo();
    let cases: [(Dialect, u16, &str, bool); 12] = [
        (Dialect::Fnf, 200, r#"{"RequestId":"x"}"#, true),
        (
            Dialect::Fnf,
            400,
            r#"{"Code":"TaskAlreadyCompleted","Message":"m"}"#,
            true,
        ),
        (
            Dialect::Fnf,
            400,
            r#"{"Code":"InvalidArgument","Message":"m"}"#,
            false,
        ),
        (
            Dialect::Fnf,
            409,
            r#"{"Code":"TaskInvalidState","Message":"m"}"#,
            false,
        ),
        (
            Dialect::Fnf,
            500,
            r#"{"Code":"TaskAlreadyCompleted"}"#,
            false,
        ),
        (
            Dialect::States,
            400,
            r#"{"__type":"TaskTimedOut","message":"m"}"#,
            true,
        ),
        (
            Dialect::States,
            400,
            r#"{"__type":"com.amazonaws.swf.base.model#TaskTimedOut"}"#,
            true,
        ),
        (Dialect::States, 400, r#"{"__type":"InvalidToken"}"#, false),
        (
            Dialect::Swf,
            400,
            r#"{"__type":"UnknownResourceFault"}"#,
            true,
        ),
        (
            Dialect::CodePipeline,
            400,
            r#"{"__type":"InvalidJobStateException"}"#,
            true,
        ),
        (
            Dialect::CodePipeline,
            400,
            r#"{"__type":"JobNotFoundException"}"#,
            false,
        ),
        (Dialect::CodePipeline, 400, "not json", false),
    ];
    let sandbox = crate::sandbox();
    for (dialect, status, body, settles) in cases {
        let native = taskgate_filter::settles(dialect, status, body.as_bytes());
        let component = sandbox
            .settles(&config, dialect, status, body.as_bytes())
            .expect("the component answers");
        assert_eq!(
            (native, component),
            (settles, settles),
            "{dialect:?} {status} {body}"
        );
    }
}

/// The component's `default-limits` (what the bindings use when their user sets none) are the
/// ones the gateway applies natively.
#[test]
fn the_components_default_limits_are_the_native_ones() {
    let engine = Engine::new(&Config::new()).expect("engine");
    let component = Component::new(&engine, EMBEDDED_COMPONENT).expect("component");
    let mut linker = wasmtime::component::Linker::<()>::new(&engine);
    linker
        .define_unknown_imports_as_traps(&component)
        .expect("trapping imports");
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = linker
        .instantiate(&mut store, &component)
        .expect("instance");
    let validator = instance
        .get_export_index(&mut store, None, "taskgate:filter/validator@0.8.0")
        .expect("validator");
    let index = instance
        .get_export_index(&mut store, Some(&validator), "default-limits")
        .expect("default-limits");
    let func = instance.get_func(&mut store, index).expect("a function");
    let mut results = [wasmtime::component::Val::Bool(false)];
    func.call(&mut store, &[], &mut results).expect("called");
    let wasmtime::component::Val::Record(fields) = &results[0] else {
        panic!("not a record: {:?}", results[0]);
    };
    let field = |name: &str| match fields.iter().find(|(n, _)| n == name) {
        Some((_, wasmtime::component::Val::U32(value))) => *value,
        other => panic!("{name}: {other:?}"),
    };
    let (body, aws_body, skew) = (
        field("max-body-bytes"),
        field("max-aws-body-bytes"),
        field("max-clock-skew-seconds"),
    );
    let native = taskgate_filter::Limits::default();
    assert_eq!(
        (body, aws_body, skew),
        (
            native.max_body_bytes,
            native.max_aws_body_bytes,
            native.max_clock_skew_seconds
        )
    );
}
