// wasi:config/store for `jco serve`, which has no wasi:config of its own: the settings (and,
// for the composed keyring provider, the keys) are read once from the JSON object of strings
// in the file that TASKGATE_HTTP_CONFIG names. Map it in with
//   jco serve --jco-map 'wasi:config/store=<this file>' --port 8080 taskgate-http.wasm
// (--jco-map before the other options: it takes a list of mappings).
import { readFileSync } from 'node:fs';
import process from 'node:process';

function load() {
  const path = process.env.TASKGATE_HTTP_CONFIG;
  if (!path) {
    throw { tag: 'upstream', val: 'TASKGATE_HTTP_CONFIG must name a JSON file of settings' };
  }
  let values;
  try {
    values = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw { tag: 'io', val: `${path}: ${e.message}` };
  }
  if (values === null || typeof values !== 'object' || Array.isArray(values)
      || Object.values(values).some((value) => typeof value !== 'string')) {
    throw { tag: 'upstream', val: `${path} must hold one JSON object of strings` };
  }
  return new Map(Object.entries(values));
}

let entries;
const config = () => (entries ??= load());

export function get(key) {
  return config().get(key);
}

export function getAll() {
  return [...config()];
}
