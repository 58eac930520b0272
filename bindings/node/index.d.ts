// Types of index.mjs. The WIT records are jco's, from dist/ (`npm run build`).
// jco passes a WIT enum as its case name: `Report.callback` is 'failed', 'succeeded', 'canceled'
// or 'heartbeat'; `Report.signature` is 'edge' or 'service' (`PassedCall.signature` too, or
// undefined when the call was passed unchecked).
import type {
    Callback, Dialect, EdgeFailure, PassedCall, Recall, Report, Response, SignatureCheck, TaskToken, TokenError,
    Verdict,
} from './dist/interfaces/taskgate-filter-types.js';

export type {
    Callback, Dialect, EdgeFailure, PassedCall, Recall, Report, Response, SignatureCheck, TaskToken, TokenError,
    Verdict,
};

/**
 * What the filter does with calls it does not model (anything but the task callbacks: failure,
 * success, cancel and heartbeat calls).
 */
export type OtherCalls = 'reject' | 'authenticate' | 'forward';

/**
 * What the filter does with a callback signed with temporary credentials (a session token: AWS
 * `X-Amz-Security-Token`, Alibaba `SecurityToken` / `x-acs-security-token`) whose access key is
 * not in `accessKeys`.
 */
export type TemporaryCredentials = 'refuse' | 'forward';

/** One access key: the secret it signs with and the account that owns it. */
export interface AccessKeyConfig {
    secret: string;
    account: string;
}

/** One task-token MAC key. A string secret is used as its UTF-8 bytes. */
export interface TokenKeyConfig {
    secret: string | Uint8Array;
    account: string;
}

export interface Limits {
    /** Largest Alibaba request body, bytes. Default: the component's (`default-limits`), 65536. */
    maxBodyBytes?: number;
    /** Largest AWS request body, bytes. Default: the component's, 1048576. */
    maxAwsBodyBytes?: number;
    /** Largest distance between a request's timestamp and receivedAt, seconds. Default: the component's, 900. */
    maxClockSkewSeconds?: number;
}

export interface FilterConfig {
    /** Access key id -> key. */
    accessKeys?: Map<string, AccessKeyConfig> | Record<string, AccessKeyConfig>;
    /** Tried in order; none configured means task-token MACs are not checked. */
    tokenKeys?: TokenKeyConfig[];
    limits?: Limits;
    /**
     * Calls other than the task callbacks: `'authenticate'` (default: signature, clock and key
     * checked, then `{ tag: 'pass' }`), `'reject'` (the vendor's unknown-operation error) or
     * `'forward'` (passed unchecked).
     */
    otherCalls?: OtherCalls;
    /**
     * Callbacks signed with temporary credentials whose access key is not in `accessKeys`:
     * `'refuse'` (default: the vendor's unknown-key error) or `'forward'` (every rule but the MAC
     * checked, then `{ tag: 'forward' }` with `signature: 'service'`: the service verifies the
     * MAC; forward such a request unchanged and never answer it as the service would).
     */
    temporaryCredentials?: TemporaryCredentials;
    /** Another jco transpilation of the component (a directory URL ending in `/`); default ./dist/. */
    dist?: URL;
}

/** One HTTP request exactly as received. */
export interface FilterRequest {
    method: string;
    /** Path and query, still percent-encoded. */
    pathWithQuery: string;
    /** In the order received; repeated fields repeated. */
    headers: Array<[string, string]>;
    /** The body after transfer decoding; a string is used as its UTF-8 bytes. */
    body?: Uint8Array | ArrayBufferView | ArrayBuffer | string;
    /** When the request was received, whole seconds since the Unix epoch. */
    receivedAt: number | bigint;
    /** The host's id for this request, used when the caller sent none. */
    requestId?: string;
}

/** A reject response; `failure` is set (not enumerable) when the component trapped. */
export type RejectResponse = Response & { readonly failure?: unknown };

export interface Filter {
    /**
     * `{ tag: 'forward', val: Report }`, `{ tag: 'pass', val: PassedCall }` (a call the filter
     * does not model, passed per `otherCalls`) or `{ tag: 'reject', val: Response }` (`body` a
     * Uint8Array). Never throws for any HTTP request; a component trap is the component's own
     * 500 reject in the request's dialect (from a fresh instance). Throws TypeError only for a request object of the wrong shape.
     */
    check(request: FilterRequest): Verdict;
    /**
     * The vendor's answer to a failure the host found itself (e.g. `{ tag: 'throttled', val:
     * 64 }`, `{ tag: 'entity-too-large', val: 65536 }`, `{ tag: 'internal' }`, or `{ tag:
     * 'unverifiable', val: report.accessKeyId }` for a report with `signature: 'service'` that
     * the host cannot forward), in the request's dialect, rendered by the component from the
     * request's head. Throws if the component fails.
     */
    respond(request: FilterRequest, failure: EdgeFailure): Response;
    /**
     * Whether the upstream's answer to a forwarded report settles its task (`report.recall.task`):
     * a 2xx, or the service's own "already closed" refusal. Only asked for a report whose
     * `recall.settles` is true (a heartbeat settles nothing). Throws if the component fails.
     */
    settles(dialect: Dialect, status: number, body: Uint8Array): boolean;
    /** Decodes a task token and, with token keys configured, verifies its MAC. */
    decodeToken(token: string): { tag: 'ok'; val: TaskToken } | { tag: 'err'; val: TokenError };
}

/** Loads (compiling once per process) and instantiates the filter with this configuration. */
export function loadFilter(config?: FilterConfig): Promise<Filter>;
