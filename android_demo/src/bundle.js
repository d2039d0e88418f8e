// An imuedge bundle in the page: loadBundle(url) reads imuedge.json, refuses what imuedge.load_bundle
// refuses (schema, newer version, missing or changed artifact, edited manifest, shapes, probe windows) with
// the same messages, and returns a Predictor over the bundle's runtime:
//   .onnx   -> onnxruntime-web, WASM backend (SIMD; threads only when the page is cross-origin isolated)
//   .tflite -> LiteRT.js (@litertjs/core), 'wasm' accelerator (XNNPACK); its tensors are freed by hand
// int8 bundles run on WASM too (WebGPU int8 is known to give wrong results in onnxruntime-web).
// The spectrogram is inside the model: predict() takes a raw window, (channels, samples) in m/s^2 and rad/s.
import {BundleError, MANIFEST, checkBinding, checkManifest, plain, readJson, sha256Hex} from './manifest.js';

const ORT_DIR = new URL('../node_modules/onnxruntime-web/dist/', import.meta.url).href;
const LITERT_WASM_DIR = new URL('../node_modules/@litertjs/core/wasm/', import.meta.url).href;

// WebAssembly SIMD (fixed-width 128-bit): a module using one v128 instruction validates only where it is on.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8,
  0, 65, 0, 253, 15, 253, 98, 11]);
export const wasmSimd = () => WebAssembly.validate(SIMD_PROBE);
// Threads need SharedArrayBuffer, which the browser gives only to cross-origin isolated pages (COOP + COEP).
export const threadsAvailable = () => globalThis.crossOriginIsolated === true;

const pyList = (xs) => '[' + xs.map((x) => (typeof x === 'string' ? `'${x}'` : x === null ? 'None' : String(x))).join(', ') + ']';
const pyTuple = (xs) => (xs.length === 1 ? `(${pyList(xs).slice(1, -1)},)` : `(${pyList(xs).slice(1, -1)})`);

export class Predictor {
  constructor(manifest, artifactUrl, threads) {
    this.manifest = manifest;
    this.artifact = artifactUrl;
    this.threads = threads;
    this.channels = manifest.input.channels;
    this.samples = manifest.input.window;
    this.batch = manifest.input.batch ?? null;
    this.classNames = manifest.output.class_names || null;
  }

  // The model file's own input / output shapes must be the manifest's (Predictor.check_shapes).
  checkShapes() {
    if (!['classify', 'embed'].includes(this.manifest.task)) return;
    const [gotIn, gotOut] = this.ioShapes();
    const fixed = gotIn.map((d) => (Number.isInteger(d) && d > 0 ? d : null));
    const wantIn = [this.batch, this.channels.length, this.samples];
    if (fixed.length !== 3 || fixed[1] !== wantIn[1] || fixed[2] !== wantIn[2]
        || (this.batch !== null && ![null, this.batch].includes(fixed[0]))) {
      throw new BundleError(`${this.artifact}: the model file takes input ${pyTuple(gotIn)}, the manifest says ` +
        `(batch ${this.batch === null ? 'None' : this.batch}, ${this.channels.length} channels ${pyList(this.channels)}, ` +
        `${this.samples} samples)`);
    }
    const k = this.manifest.task === 'classify' ? this.classNames.length : this.manifest.output.embedding_size;
    if (!gotOut.length || gotOut[gotOut.length - 1] !== k) {
      const what = this.manifest.task === 'classify' ? `${k} classes ${pyList(this.classNames)}` : `embedding size ${k}`;
      throw new BundleError(`${this.artifact}: the model file gives output ${pyTuple(gotOut)}, the manifest says ${what}`);
    }
  }

  // One window, Float32Array (channels x samples, channel-major) -> Float32Array of logits / embedding.
  async predict(window) {
    const n = this.channels.length * this.samples;
    if (window.length !== n) {
      throw new Error(`window of ${window.length} values does not match this bundle's input ` +
        `(channels=${this.channels.length} ${pyList(this.channels)}, samples=${this.samples}): expected ${n}`);
    }
    return this.run(window instanceof Float32Array ? window : Float32Array.from(window));
  }
}

let ort = null;
class OnnxPredictor extends Predictor {
  async load(bytes) {
    if (!ort) {
      ort = await import(`${ORT_DIR}ort.wasm.min.mjs`);
      ort.env.wasm.wasmPaths = ORT_DIR;
      ort.env.wasm.numThreads = threadsAvailable() ? this.threads : 1;  // global: fixed at the first session
    }
    this.runtime = `onnxruntime-web ${ort.env.versions?.web || ''} (wasm)`.replace('  ', ' ');
    this.threadsUsed = ort.env.wasm.numThreads;
    this.session = await ort.InferenceSession.create(bytes, {executionProviders: ['wasm'],
      graphOptimizationLevel: 'all', intraOpNumThreads: this.threadsUsed});
    this.inputName = this.session.inputNames[0];
    this.outputName = this.session.outputNames[0];
  }

  ioShapes() {
    const shape = (m) => (m && m.shape ? Array.from(m.shape, (d) => (typeof d === 'number' ? d : String(d))) : []);
    return [shape(this.session.inputMetadata?.[0]), shape(this.session.outputMetadata?.[0])];
  }

  async run(window) {
    const x = new ort.Tensor('float32', window, [1, this.channels.length, this.samples]);
    const out = await this.session.run({[this.inputName]: x});
    const y = out[this.outputName];
    const data = Float32Array.from(y.data);
    y.dispose?.();
    return data;
  }

  dispose() { this.session?.release(); }
}

let litert = null;
let litertThreaded = false;
class TflitePredictor extends Predictor {
  async load(bytes) {
    if (!litert) {
      const mod = await import('../node_modules/@litertjs/core/dist/index.js');
      const threads = threadsAvailable() && this.threads > 1;
      await mod.loadLiteRt(LITERT_WASM_DIR, {threads});
      litert = mod;
      litertThreaded = threads;
    }
    this.threadsUsed = litertThreaded ? this.threads : 1;
    this.runtime = 'LiteRT.js @litertjs/core (wasm, XNNPACK)';
    this.model = await litert.loadAndCompile(bytes, {accelerator: 'wasm', cpuOptions: {numThreads: this.threadsUsed}});
  }

  ioShapes() {
    return [Array.from(this.model.getInputDetails()[0].shape), Array.from(this.model.getOutputDetails()[0].shape)];
  }

  async run(window) {
    const x = new litert.Tensor(window, [1, this.channels.length, this.samples]);
    let outs;
    try {
      outs = await this.model.run(x);
    } finally {
      x.delete();
    }
    try {
      return Float32Array.from(outs[0].toTypedArray());
    } finally {
      for (const t of outs) t.delete();
    }
  }

  dispose() { this.model?.delete(); }
}

const PREDICTORS = {onnx: OnnxPredictor, tflite: TflitePredictor};

async function fetchOk(url) {
  const r = await fetch(url, {cache: 'no-store'});
  return r.ok ? r : null;
}

// Open the bundle at `base` (a folder URL). verify=false skips the hash and the fingerprint, never the
// schema or the shapes (like load_bundle).
export async function loadBundle(base, {threads = 1, verify = true} = {}) {
  base = base.replace(/\/+$/, '');
  const mpath = `${base}/${MANIFEST}`;
  const t0 = performance.now();
  const mres = await fetchOk(mpath);
  if (!mres) throw new BundleError(`${base}: no ${MANIFEST} (a bundle is a folder with the model file and ${MANIFEST})`);
  const text = await mres.text();
  let raw;
  try {
    JSON.parse(text);
    raw = readJson(text);
  } catch (e) {
    throw new BundleError(`${mpath}: unreadable manifest (${String(e.message).slice(0, 200)})`);
  }
  checkManifest(raw, mpath);
  const manifest = plain(raw);
  const art = manifest.artifact;
  const artifactUrl = `${base}/${art.file}`;
  const ares = await fetchOk(artifactUrl);
  if (!ares) throw new BundleError(`${base}: artifact '${art.file}' named by ${MANIFEST} is missing`);
  const bytes = new Uint8Array(await ares.arrayBuffer());
  if (verify) {
    const actual = await sha256Hex(bytes);
    if (actual !== art.sha256) {
      throw new BundleError(`${artifactUrl}: sha256 ${actual} does not match the manifest's ${art.sha256}; ` +
        'the model file was changed or corrupted after export -- refusing to load it');
    }
    await checkBinding(raw, mpath);
  }
  const Kind = PREDICTORS[manifest.format];
  if (!Kind) {
    throw new BundleError(`${artifactUrl}: .${manifest.format} bundles do not run in the browser; ` +
      'use the bundle\'s .onnx or .tflite sibling (for .pte, ExecuTorch\'s Android benchmark app: see android_demo/README.md)');
  }
  const p = new Kind(manifest, artifactUrl, threads);
  try {
    await p.load(bytes);
  } catch (e) {
    const first = String(e && e.message ? e.message : e).trim().split('\n')[0].slice(0, 300);
    throw new BundleError(`${artifactUrl}: not a loadable ${manifest.format} model file (${e?.name || 'Error'}: ${first})`);
  }
  p.checkShapes();
  if (verify) await checkProbe(p, mpath);
  p.loadMs = performance.now() - t0;
  p.bytes = bytes.length;
  return p;
}

// The fingerprint's probe windows, run in the manifest's channel order, must give the recorded classes.
async function checkProbe(p, path) {
  const probe = (p.manifest.fingerprint || {}).probe;
  if (!probe) return;
  let windows, recorded;
  try {
    recorded = Array.from(probe.classes);
    const n = probe.channels[p.channels[0]].length;
    windows = [];
    for (let i = 0; i < n; i++) {
      const w = new Float32Array(p.channels.length * p.samples);
      p.channels.forEach((c, k) => w.set(probe.channels[c][i], k * p.samples));
      windows.push(w);
    }
  } catch (e) {
    throw new BundleError(`${path}: manifest field 'fingerprint.probe' is malformed (${e.name}: ${e.message})`);
  }
  const got = [];
  for (const w of windows) got.push(p.classNames[argmax(await p.predict(w))]);
  if (JSON.stringify(got) !== JSON.stringify(recorded)) {
    throw new BundleError(`${path}: on the probe windows recorded at export the model now gives ${pyList(got)}, the ` +
      `manifest records ${pyList(recorded)}: its channel order or class names do not belong to this model file`);
  }
}

export function argmax(xs) {
  let k = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[k]) k = i;
  return k;
}
