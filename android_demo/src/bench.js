// The benchmark page: load each chosen bundle, warm up, time N single-window inferences, and report
// median / p95 / p99, load time, memory where the browser exposes it, the device and browser, and whether
// threads and SIMD were on -- as JSON in the host benchmark's row schema (benchmarks/export_bench.py),
// which benchmarks/browser_bench.py merges beside the host rows.
// URL: bench.html?bundle=bundles/NAME&bundle=...&runs=200&warmup=20&threads=1&auto (auto: run at once).
import {loadBundle, threadsAvailable, wasmSimd} from './bundle.js';
import {quantile} from './stats.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// A test window: the first probe window recorded in the manifest (a real one) or a 2 Hz movement + gravity.
function benchWindow(p) {
  const w = new Float32Array(p.channels.length * p.samples);
  const probe = p.manifest.fingerprint?.probe;
  if (probe) {
    p.channels.forEach((c, k) => w.set(probe.channels[c][0], k * p.samples));
    return w;
  }
  const rate = p.manifest.input.sample_rate_hz;
  p.channels.forEach((c, k) => {
    for (let i = 0; i < p.samples; i++) w[k * p.samples + i] = Math.sin(2 * Math.PI * 2 * i / rate + k) + (c === 'acc_z' ? 9.81 : 0);
  });
  return w;
}

function memory() {
  const m = performance.memory;  // Chrome: the JS heap only (the WASM heap is not in it)
  return m ? {js_heap_used_mb: m.usedJSHeapSize / 2 ** 20, js_heap_total_mb: m.totalJSHeapSize / 2 ** 20} : null;
}

export async function device() {
  const ua = navigator.userAgentData;
  let high = {};
  if (ua?.getHighEntropyValues) {
    try { high = await ua.getHighEntropyValues(['model', 'platformVersion', 'fullVersionList', 'architecture']); } catch { /* refused */ }
  }
  const brand = (high.fullVersionList || ua?.brands || []).find((b) => /Chrom|Edge|Opera|Samsung/.test(b.brand));
  return {device_model: high.model || null, platform: ua?.platform || navigator.platform, platform_version: high.platformVersion || null,
    architecture: high.architecture || null, mobile: ua?.mobile ?? null,
    browser: brand ? `${brand.brand} ${brand.version}` : navigator.userAgent, user_agent: navigator.userAgent,
    hardware_concurrency: navigator.hardwareConcurrency, cross_origin_isolated: threadsAvailable(), simd: wasmSimd()};
}

export async function benchBundle(url, {runs = 200, warmup = 20, threads = 1} = {}) {
  const before = memory();
  const p = await loadBundle(url, {threads});
  const w = benchWindow(p);
  for (let i = 0; i < warmup; i++) await p.predict(w);
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await p.predict(w);
    ms.push(performance.now() - t0);
  }
  const after = memory();
  const m = p.manifest;
  const row = {name: `${url.split('/').pop()}`, format: m.format, precision: m.precision, runtime: p.runtime,
    threads: p.threadsUsed, bytes: p.bytes, load_s: p.loadMs / 1000,
    latency: {median_ms: quantile(ms, 0.5), p95_ms: quantile(ms, 0.95), p99_ms: quantile(ms, 0.99),
      mean_ms: ms.reduce((a, b) => a + b, 0) / ms.length, runs},
    memory: after && before ? {...after, js_heap_growth_mb: after.js_heap_used_mb - before.js_heap_used_mb} : null,
    sha256: m.artifact.sha256};
  p.dispose();
  return row;
}

export async function runAll(urls, opts) {
  const out = {schema: 'imuedge-browser-bench', schema_version: 1, machine: await device(),
    statistic: `median, p95, p99 of ${opts.runs} single-window runs after ${opts.warmup} warm-up runs (performance.now)`,
    threads_requested: opts.threads, rows: [], date: new Date().toISOString()};
  for (const url of urls) out.rows.push(await benchBundle(url, opts));
  return out;
}

function show(result) {
  const f = (x) => x.toFixed(3);
  $('table').innerHTML = '<tr><th>bundle</th><th>median ms</th><th>p95</th><th>p99</th><th>load s</th><th>threads</th></tr>' +
    result.rows.map((r) => `<tr><td>${r.name}</td><td>${f(r.latency.median_ms)}</td><td>${f(r.latency.p95_ms)}</td>` +
      `<td>${f(r.latency.p99_ms)}</td><td>${r.load_s.toFixed(2)}</td><td>${r.threads}</td></tr>`).join('');
  const text = JSON.stringify(result, null, 2);
  $('json').textContent = text;
  const a = $('save');
  a.href = URL.createObjectURL(new Blob([text], {type: 'application/json'}));
  a.hidden = false;
}

async function main() {
  const r = await fetch('bundles/index.json', {cache: 'no-store'});
  const names = r.ok ? await r.json() : [];
  const chosen = new Set(params.getAll('bundle').map((b) => b.split('/').pop()));
  $('bundles').innerHTML = names.map((n) => `<label><input type="checkbox" value="bundles/${n}" ` +
    `${!chosen.size || chosen.has(n) ? 'checked' : ''}> ${n}</label>`).join(' ');
  for (const k of ['runs', 'warmup', 'threads']) if (params.has(k)) $(k).value = params.get(k);
  $('env').textContent = `SIMD ${wasmSimd() ? 'on' : 'off'} · threads ${threadsAvailable() ? 'available' : 'off (page not cross-origin isolated)'} · ${navigator.hardwareConcurrency} cores`;
  const go = async () => {
    $('error').textContent = '';
    const urls = [...document.querySelectorAll('#bundles input:checked')].map((i) => i.value);
    try {
      window.benchResult = await runAll(urls, {runs: +$('runs').value, warmup: +$('warmup').value, threads: +$('threads').value});
      show(window.benchResult);
    } catch (e) {
      $('error').textContent = e.message;
      window.benchError = e.message;
    }
  };
  $('go').addEventListener('click', go);
  if (params.has('auto')) await go();
}
main();

// For scripted runs (benchmarks/browser_bench.py): bundles kept loaded, timed in rounds between native rounds.
const loaded = {};
window.imuedgeBench = {
  runAll,
  async load(url) { loaded[url] = await loadBundle(url, {threads: 1}); loaded[url].w = benchWindow(loaded[url]); return loaded[url].runtime; },
  async time(url, runs) {
    const p = loaded[url];
    const ms = [];
    for (let i = 0; i < runs; i++) { const t0 = performance.now(); await p.predict(p.w); ms.push(performance.now() - t0); }
    return ms;
  },
};
