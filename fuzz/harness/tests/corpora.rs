//! Replays every committed fuzz input through its target's body on the stable toolchain: the
//! minimized corpus of each target (`fuzz/corpus/<target>/`) and the inputs that once found a
//! bug (`fuzz/regressions/<target>/`). A panic or failed assertion on any file fails the test
//! for its target, naming the file.

#![expect(clippy::panic, reason = "a test fails by panicking")]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use taskgate_fuzz::TARGETS;

/// `fuzz/`.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of one directory, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every corpus and regression file of `name` through its body.
fn replay(name: &str) {
    let Some(target) = TARGETS.iter().find(|t| t.name == name) else {
        panic!("no target named {name}");
    };
    let corpus = files(&fuzz_dir().join("corpus").join(name));
    assert!(!corpus.is_empty(), "the corpus of {name} is empty");
    let regressions = files(&fuzz_dir().join("regressions").join(name));
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = match std::fs::read(path) {
            Ok(data) => data,
            Err(error) => panic!("reading {}: {error}", path.display()),
        };
        if catch_unwind(AssertUnwindSafe(|| (target.run)(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{name}: {} of {} inputs failed (messages above): {failed:#?}",
        failed.len(),
        corpus.len() + regressions.len()
    );
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*

        #[test]
        fn every_target_is_replayed_and_every_corpus_belongs_to_a_target() {
            let replayed = [$(stringify!($name)),*];
            let targets: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
            assert_eq!(replayed.as_slice(), targets.as_slice());
            for kind in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    assert!(targets.contains(&name.as_str()), "fuzz/{kind}/{name} is no target's");
                }
            }
        }
    };
}

replay_tests!(
    percent_decode,
    form_params,
    fnf_json,
    output_json,
    aws_json,
    rpc_v1,
    acs3,
    sigv4,
    token_decode,
    token_round_trip,
    http_file,
    case_file,
    check,
    differential,
    repair,
);
