// The live view: a source (phone motion or a BLE IMU) -> Windower -> the bundle's Predictor -> the screen.
// window.imuedgeApp is the same object the buttons drive; the tests drive it too (tests/android_demo/).
import {argmax, loadBundle, threadsAvailable, wasmSimd} from './bundle.js';
import {BleSource, MotionSource, Windower} from './sources.js';
import {sensorImages} from './spectrogram.js';
import {quantile} from './stats.js';

const $ = (id) => document.getElementById(id);
const PLOT_SECONDS = 10;
const COLOURS = ['#e63946', '#2a9d8f', '#457b9d', '#f4a261', '#8e44ad', '#264653'];


function softmax(xs) {
  const m = Math.max(...xs);
  const e = Array.from(xs, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

class LiveApp {
  constructor() {
    this.predictor = null;
    this.source = null;
    this.log = [];  // every prediction: {logits, latencyMs} (and the window when keepWindows)
    this.latencies = [];
    this.busy = false;
    this.queue = [];
    this.skipped = 0;
    this.dropWhenBusy = true;  // live: predict the newest window; replay: every window
    this.keepWindows = false;
    this.trace = [];  // [tMs, values] of the last PLOT_SECONDS for the plot
    this.lastWindow = null;
  }

  async useBundle(url) {
    this.stop();
    this.predictor?.dispose();
    this.predictor = null;
    this.showError('');
    try {
      this.predictor = await loadBundle(url, {threads: navigator.hardwareConcurrency || 1});
    } catch (e) {
      this.showError(e.message);
      throw e;
    }
    if ([...$('bundle').options].some((o) => o.value === url)) $('bundle').value = url;
    this.showEnv();
    return this.predictor.manifest;
  }

  windower() {
    const m = this.predictor.manifest.input;
    return new Windower({channels: m.channels, rateHz: m.sample_rate_hz, window: m.window, hop: m.hop,
      onWindow: (w) => this.onWindow(w)});
  }

  onSample(tMs, values) {
    this.windowerNow.push(tMs, values);
    this.trace.push([tMs, values]);
    while (this.trace.length && this.trace[0][0] < tMs - PLOT_SECONDS * 1000) this.trace.shift();
  }

  // A source in replay mode: the motion path without the sensor (a test or a recording feeds handleMotion).
  startReplay({dropWhenBusy = false, keepWindows = true} = {}) {
    return this.start('replay', {dropWhenBusy, keepWindows});
  }

  async start(kind, {dropWhenBusy = true, keepWindows = false} = {}) {
    if (!this.predictor) throw new Error('load a bundle first');
    this.stop();
    this.showError('');
    Object.assign(this, {dropWhenBusy, keepWindows, log: [], latencies: [], skipped: 0, trace: [], queue: []});
    this.windowerNow = this.windower();
    const onSample = (t, v) => this.onSample(t, v);
    if (kind === 'ble') {
      this.source = new BleSource(onSample, {onGap: () => this.windowerNow.reset()});
    } else {
      this.source = new MotionSource(onSample);
    }
    this.sourceKind = kind;
    if (kind !== 'replay') {
      try { await this.source.start(); } catch (e) { this.showError(e.message); this.source = null; throw e; }
    }
    $('stop').disabled = false;
    this.render();
    return this.source;
  }

  stop() {
    if (this.source && this.sourceKind !== 'replay') this.source.stop();
    this.source = null;
    $('stop').disabled = true;
  }

  onWindow(w) {
    if (this.dropWhenBusy && this.busy) { this.skipped += this.queue.length; this.queue = [w]; return; }
    this.queue.push(w);
    if (!this.busy) this.drain();
  }

  async drain() {
    this.busy = true;
    while (this.queue.length) {
      const w = this.queue.shift();
      const t0 = performance.now();
      const logits = await this.predictor.predict(w);
      const latencyMs = performance.now() - t0;
      this.latencies.push(latencyMs);
      if (this.latencies.length > 500) this.latencies.shift();
      this.log.push(this.keepWindows ? {logits: Array.from(logits), latencyMs, window: Array.from(w)}
        : {logits: Array.from(logits), latencyMs});
      if (this.log.length > 5000 && !this.keepWindows) this.log.shift();
      this.lastWindow = w;
      this.lastLogits = logits;
    }
    this.busy = false;
  }

  idle() { return !this.busy && this.queue.length === 0; }

  // ---------------------------------------------------------------- screen
  showError(msg) { $('error').textContent = msg; }

  showEnv() {
    const p = this.predictor;
    $('env').textContent = `${p.manifest.format}-${p.manifest.precision} · ${p.runtime} · threads ` +
      `${p.threadsUsed > 1 ? `on (${p.threadsUsed})` : `off${threadsAvailable() ? '' : ' (page not cross-origin isolated)'}`}` +
      ` · SIMD ${wasmSimd() ? 'on' : 'off'} · loaded in ${p.loadMs.toFixed(0)} ms`;
  }

  render() {
    const p = this.predictor;
    if (this.lastLogits && p.classNames) {
      const probs = softmax(this.lastLogits);
      const k = argmax(probs);
      $('label').textContent = p.classNames[k];
      $('confidence').textContent = `confidence ${(100 * probs[k]).toFixed(1)} %`;
      $('bars').innerHTML = p.classNames.map((c, i) =>
        `<div class="bar"><span>${c}</span><div style="width:${(300 * probs[i]).toFixed(0)}px"></div>` +
        `&nbsp;${(100 * probs[i]).toFixed(1)}%</div>`).join('');
    }
    this.drawPlot();
    if (this.lastWindow) this.drawSpectrogram(this.lastWindow);
    const s = this.source || {};
    const rate = s.rate?.hz;
    const rows = [
      ['inference latency median / p95 (ms)', `${quantile(this.latencies, 0.5).toFixed(2)} / ${quantile(this.latencies, 0.95).toFixed(2)}`],
      ['predictions', this.log.length], ['windows skipped (inference busy)', this.skipped],
      ['sample rate measured (Hz)', rate ? rate.toFixed(1) : '–'],
      ['model rate (Hz)', p ? p.manifest.input.sample_rate_hz : '–'],
      ['lost packets (sequence gaps)', s.gaps ? s.gaps.lost : 0], ['corrupt packets', s.corrupt || 0],
      ['device overflow (samples)', s.overflow || 0], ['window restarts (gaps)', this.windowerNow ? this.windowerNow.gaps : 0],
    ];
    $('stats').innerHTML = rows.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join('');
    if (this.source && this.sourceKind !== 'replay') requestAnimationFrame(() => this.render());
  }

  drawPlot() {
    const cv = $('plot'), g = cv.getContext('2d');
    g.clearRect(0, 0, cv.width, cv.height);
    if (this.trace.length < 2) return;
    const tEnd = this.trace[this.trace.length - 1][0], tStart = tEnd - PLOT_SECONDS * 1000;
    const halves = [[0, 3, 0], [3, 6, cv.height / 2]];  // acc on top, gyro below
    for (const [c0, c1, y0] of halves) {
      let lo = Infinity, hi = -Infinity;
      for (const [, v] of this.trace) for (let c = c0; c < c1; c++) if (!Number.isNaN(v[c])) { lo = Math.min(lo, v[c]); hi = Math.max(hi, v[c]); }
      if (!Number.isFinite(lo)) continue;
      const h = cv.height / 2 - 8, span = Math.max(hi - lo, 1e-3);
      g.fillStyle = '#555'; g.font = '11px sans-serif';
      g.fillText(`${c0 ? 'gyro' : 'acc'} ${lo.toFixed(1)}..${hi.toFixed(1)}`, 4, y0 + 12);
      for (let c = c0; c < c1; c++) {
        g.strokeStyle = COLOURS[c]; g.beginPath();
        this.trace.forEach(([t, v], i) => {
          const x = ((t - tStart) / (PLOT_SECONDS * 1000)) * cv.width, y = y0 + 4 + h - ((v[c] - lo) / span) * h;
          if (i) g.lineTo(x, y); else g.moveTo(x, y);
        });
        g.stroke();
      }
    }
  }

  drawSpectrogram(w) {
    const p = this.predictor;
    for (const img of sensorImages(w, p.channels, p.samples)) {
      const cv = $(`spec-${img.sensor}`);
      const tmp = new OffscreenCanvas(img.width, img.height);
      tmp.getContext('2d').putImageData(new ImageData(img.rgba, img.width, img.height), 0, 0);
      const g = cv.getContext('2d');
      g.imageSmoothingEnabled = false;
      g.drawImage(tmp, 0, 0, cv.width, cv.height);
      g.fillStyle = '#fff'; g.font = '12px sans-serif'; g.fillText(img.sensor, 4, 14);
    }
  }
}

const app = new LiveApp();
window.imuedgeApp = app;

async function listBundles() {
  const r = await fetch('bundles/index.json', {cache: 'no-store'});
  const names = r.ok ? await r.json() : [];
  $('bundle').innerHTML = names.map((n) => `<option value="bundles/${n}">${n}</option>`).join('');
  return names;
}

$('bundle').addEventListener('change', () => app.useBundle($('bundle').value).catch(() => {}));
$('motion').addEventListener('click', () => app.start('motion').catch(() => {}));
$('ble').addEventListener('click', () => app.start('ble').catch(() => {}));
$('stop').addEventListener('click', () => app.stop());
if ('serviceWorker' in navigator && !new URLSearchParams(location.search).has('nosw')) {
  navigator.serviceWorker.register('sw.js').catch(() => {});
}
app.ready = listBundles().then((names) => (names.length ? app.useBundle(`bundles/${names[0]}`).catch(() => {}) : null));
