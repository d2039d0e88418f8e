// Reads {"window": [...], "samples": T, "n_fft":, "hop":, "log_eps":} on stdin; prints log-magnitudes per channel.
import {logMagnitude} from '../../android_demo/src/spectrogram.js';

let text = '';
process.stdin.on('data', (d) => { text += d; });
process.stdin.on('end', () => {
  const a = JSON.parse(text);
  const x = Float32Array.from(a.window);
  const out = [];
  for (let c = 0; c < x.length / a.samples; c++) {
    const m = logMagnitude(x.subarray(c * a.samples, (c + 1) * a.samples), a);
    out.push({freqs: m.freqs, frames: m.frames, data: Array.from(m.data)});
  }
  process.stdout.write(JSON.stringify(out));
});
