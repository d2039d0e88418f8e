// The Windower (android_demo/src/sources.js) on made-up streams; prints what it cut, for test_windower_js.py.
import {Windower} from '../../android_demo/src/sources.js';

function cut(times, value, opts = {}) {
  const windows = [];
  const w = new Windower({channels: ['acc_x', 'gyro_z'], rateHz: 50, window: 8, hop: 4, onWindow: (x) => windows.push(Array.from(x)), ...opts});
  for (const t of times) w.push(t, [value(t), 0, 0, 0, 0, -value(t)]);
  return {windows, gaps: w.gaps};
}
const ramp = (t) => 0.5 + 0.001 * t;  // linear in time: linear interpolation reproduces it
// a phone at ~60 Hz with jitter (deterministic)
const jittered = Array.from({length: 120}, (_, k) => k * 16.6667 + 3 * Math.sin(k * 1.7));
// a 300 ms hole after sample 40 of a 50 Hz stream
const holed = Array.from({length: 80}, (_, k) => k * 20 + (k > 40 ? 300 : 0));
process.stdout.write(JSON.stringify({jittered: {times: jittered, ...cut(jittered, ramp)},
  holed: {times: holed, ...cut(holed, ramp)}}));
