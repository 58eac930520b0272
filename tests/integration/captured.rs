//! Requests captured from the real official SDKs (tests/sdk/capture_fixtures.sh) are forwarded
//! with the right secret and rejected with a wrong one, natively and in the component.

use crate::{check_both, code, root};
use serde::Deserialize;
use std::sync::Arc;
use taskgate::config::Config;
use taskgate::request_file;
use taskgate_filter::{Verdict, parse_timestamp};

#[derive(Deserialize)]
struct Meta {
    received_at: String,
    access_key_id: String,
    secret: String,
    token_key: String,
    account: String,
    expect: Expect,
}

#[derive(Deserialize)]
struct Expect {
    task_token: String,
    error: String,
    cause: String,
    execution_id: String,
    event_id: u64,
}

fn config(meta: &Meta, secret: &str) -> Arc<Config> {
    let text = format!(
        "[[access_keys]]\nid = {:?}\nsecret = {:?}\naccount = {:?}\n[[token_keys]]\naccount = {:?}\nsecret = {:?}\n",
        meta.access_key_id, secret, meta.account, meta.account, meta.token_key
    );
    Arc::new(Config::parse(&text).expect("config"))
}

#[test]
fn every_captured_sdk_request_forwards_with_the_right_secret_and_not_with_a_wrong_one() {
    let dir = root().join("tests/fixtures/fnf/captured");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("captured dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "http") {
            continue;
        }
        seen += 1;
        let meta: Meta =
            toml::from_str(&std::fs::read_to_string(path.with_extension("toml")).expect("meta"))
                .expect("meta toml");
        let at = parse_timestamp(&meta.received_at).expect("received_at");
        let request =
            request_file::parse(&std::fs::read(&path).expect("capture"), at).expect("parses");
        let name = path.display().to_string();

        let Verdict::Forward(report) = check_both(&config(&meta, &meta.secret), &request) else {
            panic!(
                "{name}: {:?}",
                check_both(&config(&meta, &meta.secret), &request)
            );
        };
        assert_eq!(report.task_token, meta.expect.task_token, "{name}");
        assert_eq!(
            report.error.as_deref(),
            Some(meta.expect.error.as_str()),
            "{name}"
        );
        assert_eq!(
            report.cause.as_deref(),
            Some(meta.expect.cause.as_str()),
            "{name}"
        );
        let Some(token) = &report.token else {
            panic!("{name}: an Alibaba report without its decoded token");
        };
        assert_eq!(token.execution_id, meta.expect.execution_id, "{name}");
        assert_eq!(token.event_id, meta.expect.event_id, "{name}");
        assert_eq!(
            token.account.as_deref(),
            Some(meta.account.as_str()),
            "{name}"
        );

        let wrong = check_both(&config(&meta, "not-the-secret"), &request);
        assert_eq!(code(&wrong), "SignatureNotMatch", "{name}");
        let late =
            request_file::parse(&std::fs::read(&path).expect("capture"), at + 901).expect("parses");
        assert_eq!(
            code(&check_both(&config(&meta, &meta.secret), &late)),
            "RequestTimeTooSkewed",
            "{name}"
        );
    }
    assert!(
        seen >= 6,
        "expected the six captured SDK layouts, found {seen}"
    );
}
