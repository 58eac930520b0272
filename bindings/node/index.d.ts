// Types of index.mjs. The WIT records are jco's, from dist/ (`npm run build`).
// jco passes a WIT enum as its case name: `Report.callback` is 'failed', 'succeeded', 'canceled'
// or 'heartbeat'.
import type {
    Callback, Dialect, EdgeFailure, PassedCall, Recall, Report, Response, TaskToken, TokenError, Verdict,
} from './dist/interfaces/taskgate-filter-types.js';

export type {
    Callback, Dialect, EdgeFailure, PassedCall, Recall, Report, Response, TaskToken, TokenError, Verdict,
};

/**
 * What the filter does with calls it does not model (anything but the task callbacks: failure,
 * success, cancel and heartbeat calls).
 */
export type OtherCalls = 'reject' | 'authenticate' | 'forward';

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
     * 64 }`, `{ tag: 'entity-too-large', val: 65536 }`, `{ tag: 'internal' }`), in the request's
     * dialect, rendered by the component from the request's head. Throws if the component fails.
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
