// Used by tests/sdk/capture_fixtures.sh: sends the fixed fixture request through every Node SDK
// layout and prints one JSON line per capture: { name, sdk, layout, raw_base64 }.
import * as c from './common.mjs';

const recorder = await c.startRecorder();
try {
  const token = c.makeTaskToken(c.FIXTURE_EXECUTION_ID, c.FIXTURE_EVENT_ID);
  for (const layout of c.LAYOUTS) {
    recorder.takeCaptures();
    const sdk = await layout.send(recorder.endpoint, token, c.ERROR, c.CAUSE);
    const captures = recorder.takeCaptures();
    if (captures.length !== 1 || sdk.requestId !== captures[0].requestId) {
      throw new Error(`${layout.name}: expected one capture answered to the SDK`);
    }
    process.stdout.write(
      JSON.stringify({ name: layout.name, sdk: layout.sdk, layout: layout.description, raw_base64: captures[0].raw.toString('base64') }) + '\n',
    );
  }
} finally {
  await recorder.stop();
}
