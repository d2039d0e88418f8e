// The spectrogram the model computes inside its graph (imuedge/spectrogram.py, before resizing and
// normalisation), for the live view: per channel log(eps + |STFT|) with a periodic Hann frame and scipy's
// "spectrum" scaling; x, y, z of a sensor are the R, G, B of its image.

export const DEFAULTS = {n_fft: 32, hop: 2, log_eps: 1e-2};

// x: Float32Array of one channel -> {data: Float32Array (freqs x frames, frequency-major), freqs, frames}.
export function logMagnitude(x, {n_fft = 32, hop = 2, log_eps = 1e-2} = {}) {
  const freqs = Math.floor(n_fft / 2) + 1;
  const frames = Math.floor((x.length - n_fft) / hop) + 1;
  const win = Float64Array.from({length: n_fft}, (_, n) => 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / n_fft));
  const sum = win.reduce((a, b) => a + b, 0);
  const data = new Float32Array(freqs * frames);
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < freqs; k++) {
      let re = 0, im = 0;
      for (let n = 0; n < n_fft; n++) {
        const v = (x[f * hop + n] * win[n]) / sum;
        const ph = (2 * Math.PI * k * n) / n_fft;
        re += v * Math.cos(ph);
        im -= v * Math.sin(ph);
      }
      data[k * frames + f] = Math.log(log_eps + Math.hypot(re, im));
    }
  }
  return {data, freqs, frames};
}

// One RGBA image per sensor ('acc', 'gyro') of a window (channel-major Float32Array), low frequencies at
// the bottom; each colour is stretched to 0..255 over its image for display.
export function sensorImages(window, channels, samples, cfg = DEFAULTS) {
  const images = [];
  for (const sensor of ['acc', 'gyro']) {
    const axes = ['x', 'y', 'z'].map((a) => channels.indexOf(`${sensor}_${a}`));
    if (axes.every((i) => i < 0)) continue;
    const mags = axes.map((i) => (i < 0 ? null : logMagnitude(window.subarray(i * samples, (i + 1) * samples), cfg)));
    const {freqs, frames} = mags.find((m) => m);
    const rgba = new Uint8ClampedArray(freqs * frames * 4);
    mags.forEach((m, colour) => {
      if (!m) return;
      let lo = Infinity, hi = -Infinity;
      for (const v of m.data) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      for (let k = 0; k < freqs; k++) {
        for (let f = 0; f < frames; f++) {
          const row = freqs - 1 - k;  // DC on the bottom row
          rgba[(row * frames + f) * 4 + colour] = (255 * (m.data[k * frames + f] - lo)) / Math.max(hi - lo, 1e-6);
        }
      }
    });
    for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
    images.push({sensor, width: frames, height: freqs, rgba});
  }
  return images;
}
