// Transpiles the taskgate filter component into dist/ with jco: `npm run build`.
//
//   TASKGATE_COMPONENT   the component to transpile (default: the workspace's release build,
//                        ../../target/component-build/wasm32-wasip2/component/taskgate_filter.wasm)
//   node build.mjs [DIR] writes into DIR instead of dist/ (the tests use it for the fault build)
//
// Why `--instantiation async`: without it jco emits a module that imports
// `taskgate:filter/keyring` and `taskgate:filter/settings` as ES modules, so there could be
// only one set of keys per process, fixed when the module is first imported (or, with `--map`,
// by a module of ours holding global state). With instantiation the generated module exports
// `instantiate(getCoreModule, imports)`, and every `loadFilter(config)` passes its own
// keyring and limits as plain JS functions: several configurations side by side, a new
// configuration without restarting, and the WASI imports (never called, but imported by Rust
// std) supplied by preview2-shim's WASIShim. "async" rather than "sync" lets jco compile the
// core modules without blocking when the caller wants it; index.mjs compiles them once with
// WebAssembly.compile and then instantiates synchronously (a sync getCoreModule and
// instantiateCore make the "async" instantiate return at once), which it needs to replace an
// instance that trapped inside a synchronous `check`.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const component = resolve(
    process.env.TASKGATE_COMPONENT ||
        resolve(here, '../../target/component-build/wasm32-wasip2/component/taskgate_filter.wasm'),
);
const outDir = resolve(process.argv[2] ?? resolve(here, 'dist'));

if (!existsSync(component)) {
    console.error(`taskgate: no component at ${component}
build it first (cd ../.. && cargo build --release -p taskgate) or set TASKGATE_COMPONENT`);
    process.exit(1);
}

// jco's own CLI, run with this Node: `jco transpile` is its documented, stable interface.
const jco = fileURLToPath(new URL('./jco.js', import.meta.resolve('@bytecodealliance/jco')));
rmSync(outDir, { recursive: true, force: true });
const args = [jco, 'transpile', component,
    '--instantiation', 'async', // imports supplied per instance, see above
    '--name', 'taskgate_filter', // dist/taskgate_filter.js, .d.ts, .core*.wasm
    '--out-dir', outDir,
    '--quiet'];
const run = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (run.status !== 0) {
    console.error(`taskgate: jco transpile failed (${run.error ?? `exit status ${run.status}`})`);
    process.exit(1);
}
console.error(`taskgate: ${component} -> ${outDir}`);
