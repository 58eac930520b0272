//! The facts every build shares are written once, in the filter library: a build that spells a
//! counter's name or a request's code itself can drift from the others (the Envoy plugin once
//! counted a client that went away as `client_closed` where `taskgate serve` says
//! `ClientClosedRequest`). These tests read the builds' sources for such spellings.

use crate::root;

/// The source files of the builds that log and count requests.
const BUILDS: [&str; 4] = [
    "host/src/serve",
    "proxy-wasm/src",
    "http-filter/src",
    "host/src/store",
];

/// Every line of every Rust file under `dir`, with its place, comments left out.
fn code_lines(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![root().join(dir)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("a source directory")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                for (i, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    out.push((format!("{}:{}", path.display(), i + 1), code.to_owned()));
                }
            }
        }
    }
    out
}

#[test]
fn no_build_spells_a_shared_counter_name_or_request_code_itself() {
    let shared = [
        "\"taskgate_requests_total",
        "\"taskgate_shadow_total",
        "\"taskgate_other_calls_total",
        "\"taskgate_store_unavailable_total",
        "\"taskgate_repaired_total",
        "\"taskgate_resigned_total",
        "\"taskgate_signature_left_to_service_total",
        "\"ClientClosedRequest\"",
        "\"client_closed\"",
        "\"forwarded\"",
        "\"recorded\"",
    ];
    let mut found = Vec::new();
    for build in BUILDS {
        let lines = code_lines(build);
        assert!(lines.len() > 100, "{build}: {} lines read", lines.len());
        for (place, code) in lines {
            if let Some(spelling) = shared.iter().find(|s| code.contains(*s)) {
                found.push(format!("{place}: {spelling}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "spelled outside taskgate_filter::record:\n{}",
        found.join("\n")
    );
}

/// docs/envoy.md's sample log line has the record's fields, in its order: the page shows what
/// the plugin writes.
#[test]
fn the_envoy_pages_log_line_is_the_shared_record() {
    let record: taskgate_filter::record::LogRecord<'_> = taskgate_filter::record::LogRecord {
        request_id: None,
        client_request_id: None,
        trace_id: None,
        client: None,
        method: "POST",
        path: "/",
        dialect: "fnf",
        action: None,
        access_key_id: None,
        signature: None,
        sign_as: None,
        repaired: None,
        not_repaired: None,
        code: "SignatureNotMatch",
        status: 403,
        upstream: None,
        component_us: None,
        upstream_us: None,
        total_us: None,
        shadow_code: None,
        shadow_status: None,
    };
    let keys = |json: &str| -> Vec<String> {
        let value: serde_json::Value = serde_json::from_str(json).expect("a JSON line");
        value
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    };
    let page = std::fs::read_to_string(root().join("docs/envoy.md")).expect("docs/envoy.md");
    let line = page
        .lines()
        .find_map(|line| {
            line.split_once("taskgate {")
                .map(|(_, rest)| format!("{{{rest}"))
        })
        .expect("a sample log line");
    let written = serde_json::to_string(&record).expect("a record serializes");
    assert_eq!(keys(&line), keys(&written));
}

/// Three words once meant several things each (`admit`: connection caps, the request phase,
/// the store's step, the plugin's; `exchange`: a request's passage, wasi:http I/O, a test's
/// round trip; `respond`: the WIT function, the gateway's last phase, writing a wasi:http
/// answer). Each now has one meaning, held here: a definition of the word outside its places
/// is a second meaning creeping back.
#[test]
fn admit_exchange_and_respond_each_mean_one_thing() {
    let meanings: [(&str, &str, &[&str]); 4] = [
        (
            "fn admit",
            "the memory's rate → nonce → task",
            &[
                "guest/src/memory.rs",
                "host/src/store/",
                "proxy-wasm/src/remember.rs",
            ],
        ),
        (
            "fn respond",
            "the WIT `respond`: a failure the host found, in the vendor's words",
            &["guest/src/component.rs", "host/src/sandbox.rs"],
        ),
        (
            "mod exchange",
            "one request's passage through a build",
            &["host/src/serve/mod.rs", "proxy-wasm/src/lib.rs"],
        ),
        (
            "struct Exchange",
            "one request's passage through a build",
            &["host/src/serve/exchange.rs", "proxy-wasm/src/exchange.rs"],
        ),
    ];
    let sources = [
        "host/src",
        "guest/src",
        "proxy-wasm/src",
        "http-filter/src",
        "keyring-config/src",
    ];
    let root = root();
    let mut found = Vec::new();
    let mut seen = vec![0; meanings.len()];
    for dir in sources {
        for (place, code) in code_lines(dir) {
            let relative = place
                .strip_prefix(&format!("{}/", root.display()))
                .unwrap_or(&place)
                .to_owned();
            for (i, (word, meaning, places)) in meanings.iter().enumerate() {
                let defined = code.contains(&format!("{word}("))
                    || code.contains(&format!("{word};"))
                    || code.contains(&format!("{word} {{"));
                if defined {
                    seen[i] += 1;
                    if !places.iter().any(|p| relative.starts_with(p)) {
                        found.push(format!("{relative}: `{word}` here is not {meaning}"));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
    for ((word, _, _), count) in meanings.iter().zip(seen) {
        assert!(
            count > 0,
            "`{word}` is defined nowhere: the scan reads the wrong files"
        );
    }
}

/// The quoted words of the first line of `file` that starts with `start` (trimmed), in order.
fn quoted_on(file: &str, start: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(file)).expect("a binding's source");
    let line = text
        .lines()
        .map(str::trim_start)
        .find(|line| line.starts_with(start))
        .unwrap_or_else(|| panic!("{file}: no line starts with {start:?}"));
    line.split(['"', '\''])
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The bindings spell the enum settings as the configuration file does (the WIT's enum cases
/// are the same words): every spelling, and the default, are the filter library's `Choice`.
#[test]
fn the_bindings_spell_the_enum_settings_as_the_filter_does() {
    use taskgate_filter::{Choice, OtherCalls, TemporaryCredentials};
    fn spellings<T: Choice>() -> Vec<String> {
        T::CHOICES.iter().map(|c| c.spelling().to_owned()).collect()
    }
    let cases: [(&str, &str, Vec<String>, String); 2] = [
        (
            "OtherCalls",
            "OTHER_CALLS",
            spellings::<OtherCalls>(),
            OtherCalls::default().spelling().to_owned(),
        ),
        (
            "TemporaryCredentials",
            "TEMPORARY_CREDENTIALS",
            spellings::<TemporaryCredentials>(),
            TemporaryCredentials::default().spelling().to_owned(),
        ),
    ];
    let python = "bindings/python/taskgate_filter.py";
    let node = "bindings/node/index.mjs";
    let types = "bindings/node/index.d.ts";
    for (name, constant, all, default) in cases {
        assert_eq!(
            quoted_on(python, &format!("{name}: TypeAlias")),
            all,
            "{python}: {name}"
        );
        assert_eq!(
            quoted_on(python, &format!("_{constant} = ")),
            all,
            "{python}: _{constant}"
        );
        assert_eq!(
            quoted_on(node, &format!("const {constant} = ")),
            all,
            "{node}: {constant}"
        );
        assert_eq!(
            quoted_on(types, &format!("export type {name} = ")),
            all,
            "{types}: {name}"
        );
        let snake = if name == "OtherCalls" {
            "other_calls"
        } else {
            "temporary_credentials"
        };
        let camel = if name == "OtherCalls" {
            "otherCalls"
        } else {
            "temporaryCredentials"
        };
        assert_eq!(
            quoted_on(python, &format!("{snake}: {name} = ")),
            std::slice::from_ref(&default),
            "{python}: the default of {snake}"
        );
        let index = std::fs::read_to_string(root().join(node)).expect("index.mjs");
        assert!(
            index.contains(&format!("{camel} = '{default}'")),
            "{node}: the default of {camel} is not {default:?}"
        );
    }
}
