// The gateway's memory seen by the Node SDKs: two `taskgate serve` nodes sharing one real
// `redis-server` (started here on a free loopback port; tests/run.sh installs Debian's), in front
// of recording upstreams. A duplicate report to node B of a task node A forwarded gets the
// service's own closed-task error (TaskAlreadyCompleted; the AWS SDK v3's modeled TaskTimedOut,
// UnknownResourceFault, InvalidJobStateException) and the upstream saw one report; an access key
// over its rate across both nodes gets ResourceThrottled / ThrottlingException.
//
// Run: tests/sdk/setup.sh && TASKGATE_BIN=target/release/taskgate node --test tests/sdk/node/memory.test.mjs

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';

import * as c from './common.mjs';

const TEST_TIMEOUT_MS = 120_000;
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'taskgate-memory-node-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** A free loopback port (listened on and closed again). */
async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Debian's redis-server on a free port, nothing persisted. Resolves to { url, stop() }. */
async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' });
  const failed = new Promise((_, reject) => child.once('error', (e) =>
    reject(new Error(`redis-server could not start (tests/run.sh installs Debian's package): ${e.message}`))));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await Promise.race([failed, new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    })]);
    if (up) break;
    assert.ok(Date.now() < deadline, 'redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill(); }),
  };
}

/** A node of the fleet: its own config and directory, the shared Redis, both upstreams. */
function nodeConfig(name, redis, fnf, aws, before = '') {
  const dir = fs.mkdtempSync(path.join(tmpRoot, `${name}-`));
  const config = path.join(dir, 'taskgate.toml');
  const toml = c.serveConfigToml({
    extraAccessKeys: c.AWS_ACCESS_KEYS,
    upstreams: { fnf: `http://${fnf.endpoint}`, states: `http://${aws.endpoint}`, swf: `http://${aws.endpoint}`, codepipeline: `http://${aws.endpoint}` },
    store: `kind = "redis"\nurl = "${redis.url}"`,
  });
  fs.writeFileSync(config, `${before}\n${toml}`);
  return config;
}

/** Two nodes sharing a fresh Redis in front of fresh recorders: fn({ a, b, fnf, aws }). */
async function withFleet(before, fn) {
  const redis = await startRedis();
  const fnf = await c.startRecorder();
  const aws = await c.startRecorder({ answer: 'aws' });
  try {
    await c.withServe(nodeConfig('a', redis, fnf, aws, before), {}, (a) =>
      c.withServe(nodeConfig('b', redis, fnf, aws, before), {}, (b) => fn({ a, b, fnf, aws })));
  } finally {
    await fnf.stop();
    await aws.stop();
    await redis.stop();
  }
}

const AWS_DUPLICATES = [
  ['sfn', { taskToken: 'node-memory-sfn-token', error: 'E' }, 'TaskTimedOut'],
  ['swf', { taskToken: 'node-memory-swf-token', reason: 'E' }, 'UnknownResourceFault'],
  ['codepipeline', { jobId: '5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c', failureDetails: { type: 'JobFailed', message: 'm' } },
    'InvalidJobStateException'],
];

it('a duplicate report to another node is the service\'s closed-task error, and the upstream sees one', { timeout: TEST_TIMEOUT_MS }, async () => {
  await withFleet('', async ({ a, b, fnf, aws }) => {
    for (const [i, layout] of c.LAYOUTS.entries()) {
      const token = c.makeTaskToken(c.FIXTURE_EXECUTION_ID, 7000 + i);
      await layout.send(a.endpoint, token, 'E', 'c');
      const err = await c.expectSdkError(() => layout.send(b.endpoint, token, 'E', 'c'));
      assert.match(String(err.code), /TaskAlreadyCompleted/, `${layout.name}: ${err.message}`);
    }
    assert.equal(fnf.takeCaptures().length, c.LAYOUTS.length);
    for (const [name, input, code] of AWS_DUPLICATES) {
      const call = c.AWS_CALL_BY_NAME[name];
      await c.awsClient(call, a.endpoint).send(input);
      const again = c.awsClient(call, b.endpoint);
      const modeled = c.awsModule(call)[code];
      await assert.rejects(again.send(input), (err) => err instanceof modeled && err.name === code, name);
    }
    assert.equal(aws.takeCaptures().length, AWS_DUPLICATES.length);
  });
});

it('an access key over its rate across nodes is throttled in each SDK', { timeout: TEST_TIMEOUT_MS }, async () => {
  // Two requests at once, then one a minute, per access key, for the whole fleet.
  await withFleet('[throttle]\nrate_per_second = 0.0167\nburst = 2\n', async ({ a, b, fnf, aws }) => {
    const [layout] = c.LAYOUTS;
    const token = (n) => c.makeTaskToken(c.FIXTURE_EXECUTION_ID, 8000 + n);
    await layout.send(a.endpoint, token(1), 'E', 'c');
    await layout.send(b.endpoint, token(2), 'E', 'c');
    const err = await c.expectSdkError(() => layout.send(a.endpoint, token(3), 'E', 'c'));
    assert.match(String(err.code), /ResourceThrottled/, err.message);

    const sfn = c.AWS_CALL_BY_NAME.sfn;
    await c.awsClient(sfn, a.endpoint).send({ taskToken: 'node-rate-1', error: 'E' });
    await c.awsClient(sfn, b.endpoint).send({ taskToken: 'node-rate-2', error: 'E' });
    await assert.rejects(c.awsClient(sfn, a.endpoint).send({ taskToken: 'node-rate-3', error: 'E' }),
      (e) => e.name === 'ThrottlingException' && e.$metadata.httpStatusCode === 400);
    assert.equal(fnf.takeCaptures().length, 2);
    assert.equal(aws.takeCaptures().length, 2);
  });
});
