// Feeds notifications (hex on stdin, one packet each) to BleSource.handlePacket; prints what came out.
import {BleSource} from '../../android_demo/src/sources.js';

let text = '';
process.stdin.on('data', (d) => { text += d; });
process.stdin.on('end', () => {
  const samples = [];
  const gaps = [];
  const src = new BleSource((t, v) => samples.push([t, ...v.map((x) => (Number.isNaN(x) ? null : x))]),
    {onGap: (n) => gaps.push(n)});
  for (const hex of JSON.parse(text)) src.handlePacket(Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16)));
  process.stdout.write(JSON.stringify({samples, gaps, lost: src.gaps.lost, corrupt: src.corrupt, errors: src.errors,
    overflow: src.overflow, rate: src.rate.hz}));
});
