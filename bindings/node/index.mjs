// The taskgate filter component in Node: a thin wrapper around jco's transpilation in dist/
// (`npm run build`). Every rule is the component's; this file only supplies its imports from
// a configuration (the keyring, which keeps every secret on this side) and converts the request.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';
import { keyringImport } from './keyring.mjs';

// The limits a configuration may set; their defaults are the component's (`default-limits`).
const LIMIT_NAMES = Object.freeze(['maxBodyBytes', 'maxAwsBodyBytes', 'maxClockSkewSeconds']);

const OTHER_CALLS = Object.freeze(['reject', 'authenticate', 'forward']);

const TEMPORARY_CREDENTIALS = Object.freeze(['refuse', 'forward']);

// One compilation per transpilation directory, shared by every loadFilter() of the process.
const compiled = new Map();

function compile(dist) {
    let entry = compiled.get(dist.href);
    if (!entry) {
        entry = (async () => {
            let bindings;
            try {
                bindings = await import(new URL('taskgate_filter.js', dist).href);
            } catch (error) {
                throw new Error(`taskgate: no transpiled component in ${dist.pathname} (run \`npm run build\`)`, { cause: error });
            }
            const names = ['taskgate_filter.core.wasm', 'taskgate_filter.core2.wasm', 'taskgate_filter.core3.wasm'];
            const modules = new Map();
            for (const name of names) {
                modules.set(name, await WebAssembly.compile(await readFile(new URL(name, dist))));
            }
            // The component's own defaults, from an instance whose imports are never called.
            const never = () => {
                throw new Error('taskgate: default-limits called an import');
            };
            const probe = bindings.instantiate((name) => modules.get(name), {
                'taskgate:filter/keyring': { accessKeyAccount: never, verifySignature: never, verifyTokenMac: never },
                'taskgate:filter/digest': { sha256: never },
                'taskgate:filter/settings': { getLimits: never, getOtherCalls: never, getTemporaryCredentials: never },
                ...wasiImports(),
            }, (module, imports) => new WebAssembly.Instance(module, imports));
            const defaults = Object.freeze({ ...probe.validator.defaultLimits() });
            return { instantiate: bindings.instantiate, modules, defaults };
        })();
        compiled.set(dist.href, entry);
        entry.catch(() => compiled.delete(dist.href));
    }
    return entry;
}

/**
 * Loads the filter with one configuration. See index.d.ts for the types.
 */
export async function loadFilter({
    accessKeys = {}, tokenKeys = [], limits = {}, otherCalls = 'authenticate', temporaryCredentials = 'refuse', dist,
} = {}) {
    const keys = accessKeyTable(accessKeys);
    const tokens = tokenKeyList(tokenKeys);
    checkLimits(limits);
    if (!OTHER_CALLS.includes(otherCalls)) {
        throw new TypeError(`taskgate: otherCalls must be one of ${OTHER_CALLS.join(', ')}`);
    }
    if (!TEMPORARY_CREDENTIALS.includes(temporaryCredentials)) {
        throw new TypeError(`taskgate: temporaryCredentials must be one of ${TEMPORARY_CREDENTIALS.join(', ')}`);
    }
    const { instantiate, modules, defaults } = await compile(new URL(dist ?? './dist/', import.meta.url));
    const settings = { ...defaults, ...definedLimits(limits) };

    // The guest names a key and asks for a MAC to be verified; it never receives a secret.
    const imports = {
        'taskgate:filter/keyring': keyringImport(keys, tokens),
        // Hashing for the component, with the CPU's SHA instructions (the sandbox has none).
        'taskgate:filter/digest': { sha256: (bytes) => createHash('sha256').update(bytes).digest() },
        'taskgate:filter/settings': {
            getLimits: () => ({ ...settings }),
            // jco passes WIT enums as their case names.
            getOtherCalls: () => otherCalls,
            getTemporaryCredentials: () => temporaryCredentials,
        },
        ...wasiImports(),
    };

    // Synchronous getCoreModule and instantiateCore make jco's instantiate return the instance
    // itself, so an instance that trapped can be replaced inside a synchronous call.
    const fresh = () =>
        instantiate((name) => modules.get(name), imports, (module, imports) => new WebAssembly.Instance(module, imports))
            .validator;
    let validator = fresh();

    // After a trap jco refuses further calls into that instance: drop it, use a new one.
    function call(fn) {
        validator ??= fresh();
        try {
            return fn(validator);
        } catch (error) {
            validator = undefined;
            throw error;
        }
    }

    // The component's own answer to a failure found outside it, from the request's head.
    const respond = (wit, failure) => call((v) => v.respond({ ...wit, body: new Uint8Array() }, failure));

    return {
        check(request) {
            const wit = witRequest(request);
            try {
                return call((v) => v.check(wit));
            } catch (error) {
                // Conversions are done, so this is the component failing (a trap): answer the
                // way `taskgate serve` does, with the component's own 500 for it, from a fresh
                // instance.
                let response;
                try {
                    response = respond(wit, { tag: 'internal' });
                } catch (again) {
                    throw new Error('taskgate: the filter component failed', { cause: again });
                }
                // Not part of the WIT response: why there was no verdict, for the host's logs.
                Object.defineProperty(response, 'failure', { value: error, enumerable: false });
                return { tag: 'reject', val: response };
            }
        },
        respond(request, failure) {
            return respond(witRequest(request), failure);
        },
        settles(dialect, status, body) {
            return call((v) => v.settles(dialect, status, body));
        },
        decodeToken(token) {
            if (typeof token !== 'string') throw new TypeError('taskgate: token must be a string');
            try {
                return { tag: 'ok', val: call((v) => v.decodeToken(token)) };
            } catch (error) {
                // jco throws a result's error case as a ComponentError carrying it in `payload`.
                if (error && Object.hasOwn(error, 'payload')) return { tag: 'err', val: error.payload };
                throw new Error('taskgate: the filter component failed', { cause: error });
            }
        },
    };
}

function accessKeyTable(accessKeys) {
    const entries = accessKeys instanceof Map ? [...accessKeys] : Object.entries(accessKeys ?? {});
    const table = new Map();
    for (const [id, key] of entries) {
        if (typeof key?.secret !== 'string' || typeof key?.account !== 'string') {
            throw new TypeError(`taskgate: access key ${id}: secret and account must be strings`);
        }
        table.set(String(id), { secret: key.secret, account: key.account });
    }
    return table;
}

function tokenKeyList(tokenKeys) {
    if (!Array.isArray(tokenKeys)) throw new TypeError('taskgate: tokenKeys must be an array');
    return tokenKeys.map((key, i) => {
        const secret = typeof key?.secret === 'string' ? new TextEncoder().encode(key.secret)
            : key?.secret instanceof Uint8Array ? Uint8Array.from(key.secret) : undefined;
        if (!secret || typeof key.account !== 'string') {
            throw new TypeError(`taskgate: token key ${i}: secret (string or Uint8Array) and account (string) required`);
        }
        return { secret, account: key.account };
    });
}

// wasi:cli/* and wasi:io/*, imported by Rust std and never called at run time, from
// preview2-shim; an empty environment so nothing of the process's own is visible.
function wasiImports() {
    return {
        ...new WASIShim().getImportObject(),
        'wasi:cli/environment': { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined },
    };
}

function checkLimits(limits) {
    for (const name of LIMIT_NAMES) {
        const value = limits?.[name];
        if (value === undefined) continue;
        if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
            throw new TypeError(`taskgate: limits.${name} must be an integer from 0 to 4294967295`);
        }
    }
}

/** The limits the caller set (checked by checkLimits). */
function definedLimits(limits) {
    return Object.fromEntries(LIMIT_NAMES.filter((name) => limits?.[name] !== undefined).map((name) => [name, limits[name]]));
}

const encoder = new TextEncoder();

/** The WIT request record from the wrapper's request; TypeError on a wrong shape. */
function witRequest(request) {
    const { method, pathWithQuery, headers = [], body, receivedAt, requestId } = request ?? {};
    if (typeof method !== 'string' || typeof pathWithQuery !== 'string') {
        throw new TypeError('taskgate: request.method and request.pathWithQuery must be strings');
    }
    if (!Array.isArray(headers) || !headers.every((h) => Array.isArray(h) && h.length === 2
        && typeof h[0] === 'string' && typeof h[1] === 'string')) {
        throw new TypeError('taskgate: request.headers must be an array of [name, value] strings');
    }
    let bytes;
    if (body === undefined || body === null) bytes = new Uint8Array(0);
    else if (typeof body === 'string') bytes = encoder.encode(body);
    else if (body instanceof Uint8Array) bytes = body;
    else if (ArrayBuffer.isView(body)) bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    else if (body instanceof ArrayBuffer) bytes = new Uint8Array(body);
    else throw new TypeError('taskgate: request.body must be a Uint8Array or a string');
    let at;
    if (typeof receivedAt === 'bigint') at = receivedAt;
    else if (Number.isSafeInteger(receivedAt)) at = BigInt(receivedAt);
    if (at === undefined || at < 0n || at > 0xffffffffffffffffn) {
        throw new TypeError('taskgate: request.receivedAt must be whole seconds since the epoch (number or bigint)');
    }
    if (requestId !== undefined && requestId !== null && typeof requestId !== 'string') {
        throw new TypeError('taskgate: request.requestId must be a string when given');
    }
    return {
        method,
        pathWithQuery,
        headers,
        body: bytes,
        receivedAt: at,
        requestId: requestId ?? undefined,
    };
}

