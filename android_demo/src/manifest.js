// The bundle manifest (imuedge.json) checked in the page exactly as imuedge/manifest.py checks it:
// the same fields, the same order, the same one-line messages (BundleError), so a bundle the Python
// loader refuses is refused here with the same words.
//
// binding() must hash the same bytes as Python's json.dumps(..., sort_keys=True, separators=(",", ":")),
// and Python writes 50.0 where JavaScript would write 50; so the manifest text is also read by a small JSON
// reader (readJson) that remembers which numbers were written as floats.

export const SCHEMA = 'imuedge-bundle';
export const SCHEMA_VERSION = 1;
export const MANIFEST = 'imuedge.json';
export const CHANNELS = ['acc_x', 'acc_y', 'acc_z', 'gyro_x', 'gyro_y', 'gyro_z'];
const FORMATS = ['pte', 'tflite', 'onnx', 'torch'];
const TASKS = ['classify', 'embed', 'generate'];
const PRECISIONS = ['fp32', 'int8'];

export class BundleError extends Error {
  constructor(message) { super(message); this.name = 'BundleError'; }
}

// ---------------------------------------------------------------- Python-compatible JSON
// A float read from JSON text (Python's json gives a float for a number with '.', 'e' or 'E').
class PyFloat { constructor(value) { this.value = value; } }

// JSON text -> values, where numbers written as floats become PyFloat (for binding and messages only).
export function readJson(text) {
  let i = 0;
  const ws = () => { while (' \t\n\r'.includes(text[i]) && i < text.length) i++; };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++; const o = {}; ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) { ws(); const k = value(); ws(); i++; o[k] = value(); ws(); if (text[i++] === '}') return o; }
    }
    if (c === '[') {
      i++; const a = []; ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) { a.push(value()); ws(); if (text[i++] === ']') return a; }
    }
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const s = JSON.parse(text.slice(i, j + 1)); i = j + 1; return s;
    }
    const m = /^-?\d+(\.\d+)?([eE][-+]?\d+)?|^true|^false|^null/.exec(text.slice(i, i + 400));
    i += m[0].length;
    if (m[0] === 'true') return true;
    if (m[0] === 'false') return false;
    if (m[0] === 'null') return null;
    return m[1] || m[2] ? new PyFloat(Number(m[0])) : Number(m[0]);
  };
  return value();
}

// repr(float) in Python: shortest round-trip digits, exponent form below 1e-4 or from 1e16.
function floatRepr(x) {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : (x > 0 ? 'Infinity' : '-Infinity');
  const [mant, e] = x.toExponential().split('e');
  const exp = Number(e);
  if (exp >= -4 && exp < 16) {
    if (Number.isInteger(x)) return x.toFixed(1);
    return String(x);
  }
  return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

const escapeAscii = (s) => JSON.stringify(s).replace(/[\u007f-\uffff]/g,
  (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));

// json.dumps(v, sort_keys=True, separators=(",", ":")) of a readJson value.
export function pyDumps(v) {
  if (v === null || v === undefined) return 'null';
  if (v instanceof PyFloat) return floatRepr(v.value);
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return escapeAscii(v);
  if (Array.isArray(v)) return '[' + v.map(pyDumps).join(',') + ']';
  const keys = Object.keys(v).sort();
  return '{' + keys.map((k) => escapeAscii(k) + ':' + pyDumps(v[k])).join(',') + '}';
}

// repr() of a JSON value in Python, cut like manifest._short.
function pyRepr(v) {
  if (v === null || v === undefined) return 'None';
  if (v instanceof PyFloat) return floatRepr(v.value);
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') {
    const q = v.includes("'") && !v.includes('"') ? '"' : "'";
    return q + v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')
      .replace(q === "'" ? /'/g : /$^/g, "\\'") + q;
  }
  if (Array.isArray(v)) return '[' + v.map(pyRepr).join(', ') + ']';
  return '{' + Object.keys(v).map((k) => pyRepr(k) + ': ' + pyRepr(v[k])).join(', ') + '}';
}
function short(v, limit = 60) {
  const text = pyRepr(v);
  return text.length <= limit ? text : `${text.slice(0, limit)}... (${text.length} characters)`;
}

// A readJson value -> plain JavaScript values (PyFloat -> number).
export function plain(v) {
  if (v instanceof PyFloat) return v.value;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

// ---------------------------------------------------------------- schema
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof PyFloat);
const isInt = (v) => typeof v === 'number' && Number.isInteger(v);
const isNumber = (v) => (typeof v === 'number' || v instanceof PyFloat) && Number.isFinite(num(v));
const num = (v) => (v instanceof PyFloat ? v.value : v);
const listRepr = (xs) => '[' + xs.map((x) => `'${x}'`).join(', ') + ']';

// `manifest` is a readJson value; returns it, or throws BundleError naming the field.
export function checkManifest(manifest, path = MANIFEST) {
  const failField = (field, problem) => { throw new BundleError(`${path}: manifest field '${field}' ${problem}`); };
  const get = (d, key, where, kind, test, optional = false) => {
    const field = where ? `${where}.${key}` : key;
    if (!(key in d)) {
      if (optional) return null;
      failField(field, `is missing (expected ${kind})`);
    }
    if (!test(d[key])) failField(field, `must be ${kind}, got ${short(d[key])}`);
    return d[key];
  };
  if (!isObject(manifest) || manifest.schema !== SCHEMA) {
    throw new BundleError(`${path}: not an imuedge bundle manifest (no 'schema': '${SCHEMA}')`);
  }
  const version = get(manifest, 'schema_version', '', 'an integer', isInt);
  if (version > SCHEMA_VERSION) {
    throw new BundleError(`${path}: bundle schema version ${version} is newer than this imuedge understands ` +
      `(${SCHEMA_VERSION}); upgrade imuedge to load it`);
  }
  if (version < 1) failField('schema_version', `must be 1..${SCHEMA_VERSION}, got ${version}`);
  const task = get(manifest, 'task', '', `one of ${listRepr(TASKS)}`, (v) => TASKS.includes(v));
  get(manifest, 'format', '', `one of ${listRepr(FORMATS)}`, (v) => FORMATS.includes(v));
  get(manifest, 'precision', '', `one of ${listRepr(PRECISIONS)}`, (v) => PRECISIONS.includes(v));

  const art = get(manifest, 'artifact', '', 'an object', isObject);
  get(art, 'file', 'artifact', 'a file name inside the bundle folder',
    (v) => typeof v === 'string' && !['', '.', '..'].includes(v) && !v.includes('/') && !v.includes('\\'));
  get(art, 'sha256', 'artifact', '64 hex digits', (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v));

  const inp = get(manifest, 'input', '', 'an object', isObject);
  if (task === 'classify' || task === 'embed' || 'channels' in inp) {
    get(inp, 'channels', 'input', `a list of channel names from ${listRepr(CHANNELS)}, in that order`,
      (v) => Array.isArray(v) && v.length > 0 && v.every((x) => CHANNELS.includes(x)) && new Set(v).size === v.length
        && v.every((x, k) => k === 0 || CHANNELS.indexOf(v[k - 1]) < CHANNELS.indexOf(x)));
    get(inp, 'sample_rate_hz', 'input', 'a positive number', (v) => isNumber(v) && num(v) > 0);
    get(inp, 'window', 'input', 'a positive integer', (v) => isInt(v) && v > 0);
    get(inp, 'hop', 'input', 'a positive integer', (v) => isInt(v) && v > 0);
  }
  get(inp, 'batch', 'input', 'a positive integer or null', (v) => v === null || (isInt(v) && v > 0), true);

  const out = get(manifest, 'output', '', 'an object', isObject);
  if (task === 'classify') {
    get(out, 'class_names', 'output', 'a non-empty list of distinct strings',
      (v) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string') && new Set(v).size === v.length);
  } else if (task === 'embed') {
    get(out, 'embedding_size', 'output', 'a positive integer', (v) => isInt(v) && v > 0);
  }
  get(manifest, 'quantization', '', 'an object or null', (v) => v === null || isObject(v), true);
  for (const key of ['backend', 'parity', 'provenance', 'fingerprint']) get(manifest, key, '', 'an object', isObject, true);
  return manifest;
}

// ---------------------------------------------------------------- binding
export async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

// sha256 over the artifact's sha256 and every manifest field a prediction depends on (manifest.binding).
export async function binding(manifest) {
  const inp = manifest.input || {};
  const pick = (k) => (k in inp ? inp[k] : null);
  const bound = {artifact_sha256: (manifest.artifact || {}).sha256 ?? null, task: manifest.task ?? null,
    format: manifest.format ?? null, precision: manifest.precision ?? null,
    input: {channels: pick('channels'), sample_rate_hz: pick('sample_rate_hz'), window: pick('window'),
      batch: pick('batch')},
    output: manifest.output ?? null};
  return sha256Hex(new TextEncoder().encode(pyDumps(bound)));
}

export async function checkBinding(manifest, path = MANIFEST) {
  const recorded = (manifest.fingerprint || {}).binding_sha256;
  if (recorded === undefined || recorded === null) return;
  const actual = await binding(manifest);
  if (recorded !== actual) {
    throw new BundleError(`${path}: the manifest's input or output fields (channels, rate, window, class names) ` +
      `are not those this model file was exported with (binding ${actual.slice(0, 12)} != ` +
      `recorded ${String(recorded).slice(0, 12)}); re-export the model instead of editing its manifest`);
  }
}
