// Checks the example request of examples/report-task-failed.http (an Alibaba ReportTaskFailed
// callback signed at 2026-11-22T08:00:00Z with the demo key) and prints the verdict.
// Run from bindings/node after `npm ci && npm run build`: node example.mjs [REQUEST.http]
//
//   REQUEST.http             another raw request (default ../../examples/report-task-failed.http)
//   TASKGATE_FILTER_MODULE   the wrapper to use (default ./index.mjs); a package name such as
//                            taskgate-filter is the package installed beside this file
//                            (package.sh runs a copy of this file against the packed tarball)
import { readFileSync } from 'node:fs';

const { loadFilter } = await import(process.env.TASKGATE_FILTER_MODULE || './index.mjs');

// The demo configuration of examples/taskgate.toml: public secrets, never use them for real.
const filter = await loadFilter({
    accessKeys: { LTAI5tDemoAccessKeyId: { secret: 'demo-access-key-secret', account: '1234567890123456' } },
    tokenKeys: [{ secret: 'demo-token-key', account: '1234567890123456' }],
    limits: { maxClockSkewSeconds: 900 },
});

// A raw HTTP/1.1 request: request line, header lines, a blank line, the body.
const raw = readFileSync(process.argv[2] ?? new URL('../../examples/report-task-failed.http', import.meta.url), 'latin1');
const blank = raw.match(/\r?\n\r?\n/);
const [requestLine, ...headerLines] = raw.slice(0, blank.index).split(/\r?\n/);
const [method, pathWithQuery] = requestLine.split(' ');
const headers = headerLines.map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
});
const body = Buffer.from(raw.slice(blank.index + blank[0].length), 'latin1');

const verdict = filter.check({
    method,
    pathWithQuery,
    headers,
    body,
    receivedAt: Date.parse('2026-11-22T08:00:00Z') / 1000, // a real host passes the time of receipt
});

if (verdict.tag === 'forward') {
    const report = verdict.val;
    console.log(`forward ${report.dialect} ${report.action} (${report.callback}) by ${report.accessKeyId}, task event ${report.token?.eventId}`);
} else {
    const response = verdict.val;
    console.log(`reject ${response.status} ${response.code}`);
    console.log(new TextDecoder().decode(response.body));
}
