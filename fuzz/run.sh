#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that sees request bytes, with cargo-fuzz and libFuzzer
# on the nightly toolchain (RELIABILITY.md, "Fuzzing"). For each target in turn, with one
# worker: build it, fuzz it for the given time starting from its corpus (fuzz/corpus/<target>)
# and the inputs of fixed findings (fuzz/regressions/<target>), minimize the corpus, and print
# its executions.
#
#   fuzz/run.sh [seconds-per-target] [target...]     (default: 60 seconds, every target)
#
# A finding ends that target's run: libFuzzer saves the input under fuzz/artifacts/<target>/,
# the script goes on with the next target and exits 1 at the end. Logs: fuzz/logs/<target>.log.
# The corpora are replayed on stable by `cargo test --release -p taskgate-fuzz --test corpora`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
shift || true
toolchain=${FUZZ_TOOLCHAIN:-nightly}
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi

# The differential target checks against the component as the host embeds it: built by the
# project's toolchain with the `component` profile, as host/build.rs builds it. The fuzz build
# itself skips that nested build, which would inherit the fuzzer's compiler flags.
component_dir=${CARGO_TARGET_DIR:-target}/component-build
cargo build --quiet -p taskgate-filter --profile component --target wasm32-wasip2 \
    --target-dir "$component_dir"
TASKGATE_FUZZ_COMPONENT=$(realpath "$component_dir/wasm32-wasip2/component/taskgate_filter.wasm")
export TASKGATE_FUZZ_COMPONENT
export TASKGATE_SKIP_COMPONENT_BUILD=1
# cargo-fuzz builds into fuzz/target, whatever target directory the caller uses.
unset CARGO_TARGET_DIR

# No sanitizer: the code under test is safe Rust (unsafe_code is denied), so ASan would find
# nothing and cost half the speed. Debug assertions on, so that an arithmetic overflow is a
# finding too.
flags=(--sanitizer none --debug-assertions)
mkdir -p fuzz/logs
status=0
rows=()
for target in "${targets[@]}"; do
    cargo "+$toolchain" fuzz build "${flags[@]}" "$target"
    dirs=("fuzz/corpus/$target")
    mkdir -p "${dirs[0]}"
    if [ -d "fuzz/regressions/$target" ]; then
        dirs+=("fuzz/regressions/$target")
    fi
    log=fuzz/logs/$target.log
    outcome=clean
    started=$SECONDS
    cargo "+$toolchain" fuzz run "${flags[@]}" "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 >"$log" 2>&1 ||
        { outcome="FINDING (see $log, fuzz/artifacts/$target/)"; status=1; }
    elapsed=$((SECONDS - started))
    executions=$(awk '/stat::number_of_executed_units/ {n = $2} END {print n + 0}' "$log")
    # Minimized on edges alone (-use_counters=0; hit-count buckets would keep several times
    # more files for no new code reached), choosing files by greedy set cover rather than in
    # size order, which keeps about half as many.
    cargo "+$toolchain" fuzz cmin "${flags[@]}" "$target" "${dirs[0]}" -- -use_counters=0 \
        -set_cover_merge=1 >>"$log" 2>&1
    corpus=$(find "${dirs[0]}" -type f | wc -l)
    rows+=("$(printf '%-18s %14s %8s %10s %8s  %s' "$target" "$executions" "$elapsed" \
        "$((executions / (elapsed > 0 ? elapsed : 1)))" "$corpus" "$outcome")")
    printf '%s\n' "${rows[-1]}"
done

printf '\n%-18s %14s %8s %10s %8s  %s\n' target executions seconds exec/s corpus outcome
printf '%s\n' "${rows[@]}"
exit "$status"
