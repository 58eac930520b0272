#!/usr/bin/env bash
# Packs the Node binding as the npm package taskgate-filter and tests the tarball the way a user
# gets it: installed by `npm install` into a project of its own, nothing of this checkout in
# reach at run time. Idempotent and without prompting; needs Node 20 or later and the npm
# registry (for the package's dependencies and the test's own).
#   1. setup.sh: `npm ci` and the jco transpilation into dist/ (skipped when up to date)
#   2. `npm pack` into target/npm-dist/, and the tarball's file list checked (what ships, only that)
#   3. a clean project, target/npm-consumer/, that installs the tarball (plus smol-toml for the
#      case files, TypeScript and @types/node for a type check, all pinned)
#   4. there: test/cases.test.mjs (the shared case corpus tests/cases), test/keyring.test.mjs
#      (the shared keyring vectors tests/fixtures/keyring-vectors.toml, against the keyring.mjs
#      that ships) and example.mjs, copied in and importing `taskgate-filter` by name
#      (TASKGATE_FILTER_MODULE), which the tests assert resolves to node_modules/taskgate-filter;
#      and tsc on a file using the typings.
# With TASKGATE_FAULTS_COMPONENT set (tests/run.sh sets it) the trap test runs too, on that
# build transpiled into the clean project (TASKGATE_FAULTS_DIST).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/target/npm-dist"
consumer="$root/target/npm-consumer"
# Pinned for the clean project: smol-toml as bindings/node pins it, the type check's tools here.
typescript=5.9.3
types_node=20.19.43

bash "$here/setup.sh"

cd "$here"
field() { node -p "require('./package.json').$1"; }
name="$(field name)"
version="$(field version)"
smol_toml="$(field "devDependencies['smol-toml']")"
tarball="$out/$name-$version.tgz"

echo "npm package: packing $name@$version" >&2
mkdir -p "$out"
rm -f "$tarball"
npm pack --pack-destination "$out" --loglevel=error </dev/null >/dev/null
[[ -f "$tarball" ]] || { echo "npm package: npm pack made no $tarball" >&2; exit 1; }

# What ships is exactly the wrapper, its typings, the README and jco's output in dist/.
expected="$(
    {
        printf 'package/%s\n' package.json README.md index.mjs index.d.ts keyring.mjs
        (cd dist && find . -type f \( -name '*.js' -o -name '*.d.ts' -o -name '*.core*.wasm' \)) |
            sed 's|^\./|package/dist/|'
    } | LC_ALL=C sort
)"
packed="$(tar tzf "$tarball" | LC_ALL=C sort)"
if [[ "$packed" != "$expected" ]]; then
    echo "npm package: the tarball's files are not the expected ones (< expected, > packed):" >&2
    diff <(echo "$expected") <(echo "$packed") >&2 || true
    exit 1
fi
echo "npm package: $tarball ($(echo "$packed" | wc -l) files)" >&2

# A clean project of its own: only what npm installs from the tarball and the registry.
rm -rf "$consumer"
mkdir -p "$consumer/test"
cat >"$consumer/package.json" <<'EOF'
{
  "name": "taskgate-filter-consumer",
  "version": "0.0.0",
  "private": true,
  "type": "module"
}
EOF
(cd "$consumer" && CI=true npm install --save-exact --no-audit --no-fund --loglevel=error \
    "../npm-dist/$name-$version.tgz" "smol-toml@$smol_toml" \
    "typescript@$typescript" "@types/node@$types_node" </dev/null >/dev/null)
installed="$consumer/node_modules/$name"
if [[ ! -d "$installed" || -L "$installed" ]]; then
    echo "npm package: $installed is not an installed copy" >&2
    exit 1
fi
resolved="$(cd "$consumer" && node --input-type=module \
    -e "import { fileURLToPath } from 'node:url'; console.log(fileURLToPath(import.meta.resolve('$name')))")"
if [[ "$resolved" != "$installed/index.mjs" ]]; then
    echo "npm package: '$name' resolves to $resolved in $consumer, not $installed/index.mjs" >&2
    exit 1
fi
echo "npm package: '$name' resolves to target/npm-consumer/node_modules/$name/index.mjs" >&2

cp "$here/test/cases.test.mjs" "$consumer/test/cases.test.mjs"
cp "$here/test/keyring.test.mjs" "$consumer/test/keyring.test.mjs"
cp "$here/example.mjs" "$consumer/example.mjs"

# The trap test needs the fault build transpiled; the copied test has no build.mjs, so it is
# transpiled here, with this checkout's jco.
faults_env=()
if [[ -n "${TASKGATE_FAULTS_COMPONENT:-}" ]]; then
    TASKGATE_COMPONENT="$TASKGATE_FAULTS_COMPONENT" node "$here/build.mjs" "$consumer/faults-dist" </dev/null
    faults_env=(TASKGATE_FAULTS_DIST="$consumer/faults-dist")
fi

echo "npm package: the shared case corpus and keyring vectors against the installed package" >&2
(cd "$consumer" && env -u TASKGATE_FAULTS_COMPONENT "${faults_env[@]}" \
    TASKGATE_FILTER_MODULE="$name" TASKGATE_CASES="$root/tests/cases" \
    TASKGATE_KEYRING_VECTORS="$root/tests/fixtures/keyring-vectors.toml" \
    node --test test/cases.test.mjs test/keyring.test.mjs)

echo "npm package: example.mjs against the installed package" >&2
verdict="$(cd "$consumer" && TASKGATE_FILTER_MODULE="$name" node example.mjs "$root/examples/report-task-failed.http")"
echo "$verdict"
if [[ "$verdict" != "forward fnf ReportTaskFailed (failed) by LTAI5tDemoAccessKeyId, task event 42" ]]; then
    echo "npm package: example.mjs did not forward the example request" >&2
    exit 1
fi

echo "npm package: the typings, as a TypeScript user imports them" >&2
cat >"$consumer/typings.ts" <<EOF
import { loadFilter, type Filter, type FilterConfig, type Verdict } from '$name';

const config: FilterConfig = {
    accessKeys: { LTAI5tDemoAccessKeyId: { secret: 'demo-access-key-secret', account: '1234567890123456' } },
    tokenKeys: [{ secret: 'demo-token-key', account: '1234567890123456' }],
    limits: { maxClockSkewSeconds: 900 },
    otherCalls: 'authenticate',
    temporaryCredentials: 'refuse',
};
const filter: Filter = await loadFilter(config);
const verdict: Verdict = filter.check({ method: 'POST', pathWithQuery: '/', headers: [], body: '', receivedAt: 0 });
if (verdict.tag === 'forward') {
    const callback: 'failed' | 'succeeded' | 'canceled' | 'heartbeat' = verdict.val.callback;
    const signature: 'edge' | 'service' = verdict.val.signature;
    console.log(callback, signature, verdict.val.recall.settles);
} else if (verdict.tag === 'pass') {
    const signature: 'edge' | 'service' | undefined = verdict.val.signature;
    console.log(signature);
} else if (verdict.tag === 'reject') {
    const status: number = verdict.val.status;
    console.log(status, verdict.val.body.byteLength);
}
EOF
(cd "$consumer" && node_modules/.bin/tsc --noEmit --strict --target es2022 --module nodenext \
    --moduleResolution nodenext --types node typings.ts)

echo "npm package: $name@$version passed, installed from target/npm-dist/$name-$version.tgz" >&2
