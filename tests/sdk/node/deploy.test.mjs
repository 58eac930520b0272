// taskgate at the service's own host name, on its TLS listener, with the official Node SDKs:
// a CA made at test time (`test-pki`) issues the gateway's certificate for the vendors' names;
// the clients trust that CA and resolve the service's name to 127.0.0.1 (split-horizon DNS, as
// a deployment would); taskgate checks each call and carries it over TLS to an HTTPS "service"
// on 127.0.0.1 (tests/sdk/recorder.py), which records what it receives.
//
// - the AWS SDK for JavaScript v3 (SendTaskFailure; StartExecution and DescribeExecution, calls
//   taskgate does not model, passed on authenticated) at
//   https://states.us-east-1.amazonaws.com:PORT, and the Alibaba SDKs (pop-core RPC v1, the tea
//   openapi-client with RPC v1 and ACS3) at https://localhost:PORT: the service's answer comes
//   back, a wrong secret is answered at the edge and never forwarded;
// - byte for byte: each of them once more through a TLS tap in front of the gateway (a relay that
//   terminates TLS with the same certificate, keeps what the client wrote, and dials the gateway's
//   listener with the client's own SNI name), what the client wrote against what the service got;
// - a client that does not trust the gateway's CA gets no answer at all.
//
// Run: tests/sdk/setup.sh && cargo build --release --workspace --bins && node --test tests/sdk/node/deploy.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as c from './common.mjs';

const require = createRequire(import.meta.url);
const SFN_HOST = 'states.us-east-1.amazonaws.com';
const { SFN_TOKEN } = c;
// For the calls taskgate does not model (other_calls = "authenticate", the default).
const STATE_MACHINE_ARN = `arn:aws:states:us-east-1:${c.AWS_ACCOUNT}:stateMachine:deploy-demo`;
const EXECUTION_ARN = `arn:aws:states:us-east-1:${c.AWS_ACCOUNT}:execution:deploy-demo:run-1`;

let work;
let pki;
let caPem;
let service; // the AWS "service": answers as an AWS JSON service
let fnfService; // the CloudFlow "service": answers as CloudFlow
let serve;

/** `test-pki DIR`: ca.pem, vendors.pem/.key (the vendors' names, localhost, 127.0.0.1), ... */
function makePki(dir) {
  const bin = path.join(path.dirname(c.taskgateBin()), 'test-pki');
  const run = spawnSync(bin, [dir], { encoding: 'utf8' });
  assert.equal(run.status, 0, `test-pki failed: ${run.stderr}`);
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'taskgate-deploy-'));
  pki = path.join(work, 'pki');
  makePki(pki);
  caPem = fs.readFileSync(path.join(pki, 'ca.pem'), 'utf8');
  const chain = { cert: path.join(pki, 'vendors.pem'), key: path.join(pki, 'vendors.key') };
  service = await c.startRecorder({ answer: 'aws', tls: chain });
  fnfService = await c.startRecorder({ answer: 'fnf', tls: chain });
  const route = (host, to) => `\n[[serve.routes]]\nhost = "${host}"\nupstream = "https://{host}"\nconnect_to = "${to.endpoint}"\nca_file = "${path.join(pki, 'ca.pem')}"\n`;
  const extra = `${route('*.amazonaws.com', service)}${route('localhost', fnfService)}`
    + `\n[[serve.tls.certificates]]\ncert_file = "${path.join(pki, 'vendors.pem')}"\nkey_file = "${path.join(pki, 'vendors.key')}"\n`;
  const configPath = path.join(work, 'taskgate.toml');
  fs.writeFileSync(configPath, c.serveConfigToml({ extraAccessKeys: c.AWS_ACCESS_KEYS, maxBodyBytes: c.AWS_MAX_BODY_BYTES, extra }));
  serve = await c.startServe(configPath);
  assert.match(serve.stdoutLines[0], /^listening on https:\/\//, 'the listener speaks TLS');
});

after(async () => {
  if (serve) {
    const { code, signal } = await serve.stop();
    assert.equal(code, 0, `taskgate serve exited with ${code ?? signal}`);
  }
  if (service) await service.stop();
  if (fnfService) await fnfService.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/**
 * A TLS relay on 127.0.0.1 in front of the gateway's listener: it serves the same certificate,
 * keeps every byte each client writes, and passes the stream on over a TLS connection to the
 * gateway with the client's SNI name, trusting only the test CA.
 */
function startTlsTap() {
  return c.startRelay(
    (onClient) => tls.createServer({
      cert: fs.readFileSync(path.join(pki, 'vendors.pem')),
      key: fs.readFileSync(path.join(pki, 'vendors.key')),
      ALPNProtocols: ['http/1.1'],
    }, onClient),
    (client) => tls.connect({
      host: '127.0.0.1', port: serve.port, servername: client.servername || 'localhost', ca: caPem, ALPNProtocols: ['http/1.1'],
    }),
  );
}

/** An agent for the gateway's TLS listener: trusts only the test CA; every name is 127.0.0.1. */
function agent(ca = caPem) {
  return new https.Agent({
    ca,
    keepAlive: false,
    lookup: (hostname, options, callback) => (options?.all
      ? callback(null, [{ address: '127.0.0.1', family: 4 }])
      : callback(null, '127.0.0.1', 4)),
  });
}

/** The AWS SDK's SFN client at the service's own name, through `agent`; records what it sends. */
function sfnClient({ secretAccessKey = c.AWS_SECRET_ACCESS_KEY, ca, port = serve.port } = {}) {
  const { SFNClient } = require('@aws-sdk/client-sfn');
  const { NodeHttpHandler } = require('@smithy/node-http-handler');
  const client = new SFNClient({
    endpoint: `https://${SFN_HOST}:${port}`,
    region: c.AWS_REGION,
    credentials: { accessKeyId: c.AWS_ACCESS_KEY_ID, secretAccessKey },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpsAgent: agent(ca) }),
  });
  const sent = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request;
      sent.push({
        method: req.method,
        path: req.path,
        headers: Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), String(v)]),
        body: Buffer.from(req.body ?? ''),
      });
      return next(args);
    },
    { step: 'deserialize', name: 'taskgateDeployCapture', priority: 'low' },
  );
  return { client, sent };
}

/** The service got exactly what the client sent: method, path, every end-to-end header, body. */
function assertForwardedUnchanged(sentRequest, raw) {
  const up = c.parseRaw(raw);
  assert.equal(up.method, sentRequest.method);
  assert.equal(up.path, sentRequest.path);
  assert.deepEqual(Buffer.from(up.body), sentRequest.body, 'the body reached the service changed');
  const got = new Map(up.headers);
  for (const [name, value] of sentRequest.headers) {
    if (c.PROXY_HOP_BY_HOP.has(name)) continue;
    assert.equal(got.get(name), value, `header ${name}`);
  }
  assert.equal(got.get('x-forwarded-for'), '127.0.0.1');
}

test('the AWS SDK reaches the service through the TLS listener at its own host name', async () => {
  const { SendTaskFailureCommand, StartExecutionCommand, DescribeExecutionCommand } = require('@aws-sdk/client-sfn');
  service.takeCaptures();
  const { client, sent } = sfnClient();
  const output = await client.send(new SendTaskFailureCommand({ taskToken: SFN_TOKEN, error: c.ERROR, cause: c.CAUSE }));
  assert.equal(output.$metadata.httpStatusCode, 200);
  let captures = service.takeCaptures();
  assert.equal(captures.length, 1);
  assert.equal(output.$metadata.requestId, captures[0].requestId, "the service's answer came back");
  assert.equal(c.parseRaw(captures[0].raw).headers.find(([k]) => k === 'host')[1], `${SFN_HOST}:${serve.port}`);
  assertForwardedUnchanged(sent[0], captures[0].raw);

  // A call taskgate does not model, of the same endpoint: authenticated, then passed on
  // (other_calls default).
  const started = await client.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: '{"ok":true}' }));
  assert.equal(started.$metadata.httpStatusCode, 200);
  captures = service.takeCaptures();
  assert.equal(captures.length, 1);
  assert.equal(started.$metadata.requestId, captures[0].requestId, "the service's answer came back");
  assert.equal(c.parseRaw(captures[0].raw).header('x-amz-target'), 'AWSStepFunctions.StartExecution');
  assertForwardedUnchanged(sent[1], captures[0].raw);

  // A wrong secret: the modeled exception, from the edge; nothing forwarded.
  const { client: wrong } = sfnClient({ secretAccessKey: 'not-the-secret' });
  for (const command of [
    new SendTaskFailureCommand({ taskToken: SFN_TOKEN, error: 'e' }),
    new DescribeExecutionCommand({ executionArn: EXECUTION_ARN }),
  ]) {
    const err = await c.expectSdkError(() => wrong.send(command)).catch((e) => e);
    assert.equal(err.name, 'InvalidSignatureException', String(err));
    assert.equal(err.$metadata.httpStatusCode, 400);
  }
  assert.equal(service.takeCaptures().length, 0);
});

test('a client that does not trust the gateway CA gets no answer', async () => {
  const { SendTaskFailureCommand } = require('@aws-sdk/client-sfn');
  service.takeCaptures();
  const other = fs.readFileSync(path.join(pki, 'untrusted.pem'), 'utf8').split(/(?=-----BEGIN CERTIFICATE-----)/).pop();
  const { client } = sfnClient({ ca: other });
  await assert.rejects(
    client.send(new SendTaskFailureCommand({ taskToken: SFN_TOKEN, error: 'e' })),
    (err) => /certificate|self.signed|issuer/i.test(String(err?.message ?? err)),
  );
  assert.equal(service.takeCaptures().length, 0);
});

/** The Alibaba tea openapi-client over https at localhost:PORT, trusting the test CA. */
async function teaReport(signatureAlgorithm, secret = c.ACCESS_KEY_SECRET, port = serve.port) {
  const OpenApi = require('@alicloud/openapi-client');
  const Util = require('@alicloud/tea-util');
  const client = new OpenApi.default(new OpenApi.Config({
    accessKeyId: c.ACCESS_KEY_ID,
    accessKeySecret: secret,
    endpoint: `localhost:${port}`,
    protocol: 'https',
    regionId: 'cn-hangzhou',
    signatureAlgorithm,
  }));
  const params = new OpenApi.Params({
    action: 'ReportTaskFailed', version: '2019-03-15', protocol: 'HTTPS', pathname: '/', method: 'POST',
    authType: 'AK', style: 'RPC', reqBodyType: 'formData', bodyType: 'json',
  });
  const token = c.makeTaskToken(c.FIXTURE_EXECUTION_ID, c.FIXTURE_EVENT_ID);
  const request = new OpenApi.OpenApiRequest({ query: { TaskToken: token }, body: { Cause: c.CAUSE, Error: c.ERROR } });
  return client.callApi(params, request, new Util.RuntimeOptions({ ca: caPem }));
}

test('the Alibaba tea client reaches the service through the TLS listener, RPC v1 and ACS3', async () => {
  for (const algorithm of ['v2', 'ACS3-HMAC-SHA256']) {
    fnfService.takeCaptures();
    const resp = await teaReport(algorithm);
    assert.equal(resp.statusCode, 200, algorithm);
    const captures = fnfService.takeCaptures();
    assert.equal(captures.length, 1, algorithm);
    assert.deepEqual(resp.body, { EventId: c.RECORDER_EVENT_ID, RequestId: captures[0].requestId }, "the service's answer");
    const up = c.parseRaw(captures[0].raw);
    assert.equal(up.headers.find(([k]) => k === 'host')[1], `localhost:${serve.port}`, 'the signed Host');
    assert.equal(up.form.Error, c.ERROR, algorithm);
    assert.equal(up.form.Cause, c.CAUSE, algorithm);
    // A wrong secret: the SDK raises the service's code; nothing forwarded.
    const err = await c.expectSdkError(() => teaReport(algorithm, c.WRONG_SECRET));
    assert.match(String(err.code), /SignatureNotMatch/, algorithm);
    assert.equal(fnfService.takeCaptures().length, 0, algorithm);
  }
});

/**
 * pop-core's fnf client at https://localhost:PORT, in a child process: pop-core has no CA option,
 * so the private CA is trusted process-wide (NODE_EXTRA_CA_CERTS), as a deployment would.
 * Resolves to { ok: body } or { code }.
 */
function popCoreReport(secret, port = serve.port) {
  const token = c.makeTaskToken(c.FIXTURE_EXECUTION_ID, c.FIXTURE_EVENT_ID);
  const script = `
    const FnF = require('@alicloud/fnf-2019-03-15');
    const client = new FnF({ endpoint: process.argv[1], accessKeyId: ${JSON.stringify(c.ACCESS_KEY_ID)}, accessKeySecret: process.argv[2] });
    client.reportTaskFailed({ TaskToken: process.argv[3], Error: process.argv[4], Cause: process.argv[5] })
      .then((body) => console.log(JSON.stringify({ ok: body })), (err) => console.log(JSON.stringify({ code: err.code })));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, `https://localhost:${port}`, secret, token, c.ERROR, c.CAUSE], {
      cwd: path.dirname(fileURLToPath(import.meta.url)),
      env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(pki, 'ca.pem') },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`pop-core child exited ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()));
    });
  });
}

test('the Alibaba pop-core client reaches the service through the TLS listener', async () => {
  fnfService.takeCaptures();
  const good = await popCoreReport(c.ACCESS_KEY_SECRET);
  assert.equal(good.ok?.EventId, c.RECORDER_EVENT_ID, JSON.stringify(good));
  const captures = fnfService.takeCaptures();
  assert.equal(captures.length, 1);
  assert.equal(good.ok.RequestId, captures[0].requestId, "the service's answer came back");
  const bad = await popCoreReport(c.WRONG_SECRET);
  assert.match(String(bad.code), /SignatureNotMatch/, JSON.stringify(bad));
  assert.equal(fnfService.takeCaptures().length, 0);
});

test('every client\'s request reaches the service byte for byte', async () => {
  const { SendTaskFailureCommand, StartExecutionCommand } = require('@aws-sdk/client-sfn');
  const tap = await startTlsTap();
  try {
    service.takeCaptures();
    fnfService.takeCaptures();
    const { client } = sfnClient({ port: tap.port });
    await client.send(new SendTaskFailureCommand({ taskToken: SFN_TOKEN, error: c.ERROR, cause: c.CAUSE }));
    await client.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: '{"ok":true}' }));
    for (const algorithm of ['v2', 'ACS3-HMAC-SHA256']) {
      assert.equal((await teaReport(algorithm, c.ACCESS_KEY_SECRET, tap.port)).statusCode, 200, algorithm);
    }
    assert.ok((await popCoreReport(c.ACCESS_KEY_SECRET, tap.port)).ok);
    const sent = tap.requests();
    const received = [...service.takeCaptures(), ...fnfService.takeCaptures()].map((capture) => capture.raw);
    assert.equal(sent.length, 5);
    assert.equal(received.length, 5);
    const expectedHosts = [SFN_HOST, SFN_HOST, 'localhost', 'localhost', 'localhost'].map((h) => `${h}:${tap.port}`);
    assert.deepEqual(received.map((raw) => c.headOf(raw).header('host')), expectedHosts, 'the Host each client signed');
    assert.ok(c.headOf(sent[2]).header('transfer-encoding'), 'the tea client sends its body chunked');
    sent.forEach((raw, i) => c.assertForwardedExactly(raw, received[i]));
  } finally {
    await tap.close();
  }
});
