// Runs android_demo/src/protocol.js over the shared vectors and prints what it decoded, in the shape of
// emulation/make_vectors.expect(); test_protocol_js.py compares it with the vectors' own answers.
// Usage: node protocol_vectors.mjs <vectors folder>
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import * as P from '../../android_demo/src/protocol.js';

const dir = process.argv[2];
const load = (name) => JSON.parse(readFileSync(join(dir, name), 'utf8')).vectors;
const bytes = (hex) => Uint8Array.from(hex.match(/../g) || [], (h) => parseInt(h, 16));
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const f32bits = (x) => { const v = new DataView(new ArrayBuffer(4)); v.setFloat32(0, x); return v.getUint32(0).toString(16).padStart(8, '0'); };
const commandName = (c) => Object.keys(P.Command).find((k) => P.Command[k] === c);

function expect(p) {
  const d = {type: p.type, seq: p.seq, version: p.version};
  if (p.type === 'DATA') {
    const nch = p.channels.length;
    const rows = [];
    for (let i = 0; i < p.nSamples; i++) rows.push(Array.from(p.samples.subarray(i * nch, (i + 1) * nch)));
    Object.assign(d, {timestamp_us: p.timestampUs, sample_period_us: p.samplePeriodUs, channel_mask: p.channelMask,
      channels: p.channels, acc_scale: p.accScale, acc_scale_bits: f32bits(p.accScale), gyro_scale: p.gyroScale,
      gyro_scale_bits: f32bits(p.gyroScale), flags: p.flags, overflow_count: p.overflowCount, n_samples: p.nSamples,
      samples: rows});
  } else if (p.type === 'COMMAND') {
    Object.assign(d, {command: commandName(p.command), rate_hz: p.rateHz, acc_range_g: p.accRangeG,
      gyro_range_dps: p.gyroRangeDps, channel_mask: p.channelMask});
  } else if (p.type === 'ACK') {
    Object.assign(d, {acked_seq: p.ackedSeq, command: p.command, status: P.AckStatus[p.status], value: p.value});
  } else {
    Object.assign(d, {supported_mask: p.supportedMask, active_mask: p.activeMask, acc_range_g: p.accRangeG,
      gyro_range_dps: p.gyroRangeDps, streaming: p.streaming, sample_period_us: p.samplePeriodUs,
      acc_scale_bits: f32bits(p.accScale), gyro_scale_bits: f32bits(p.gyroScale),
      max_samples_per_packet: p.maxSamplesPerPacket, name: p.name});
  }
  return d;
}

const commandArgs = (p) => ({[P.Command.SET_RATE]: [p.rateHz], [P.Command.SET_RANGES]: [p.accRangeG, p.gyroRangeDps],
  [P.Command.SET_CHANNELS]: [p.channelMask]})[p.command] || [];
const errorName = (fn) => { try { fn(); return null; } catch (e) { if (!(e instanceof P.ProtocolError)) throw e; return [e.name, e.message]; } };

const out = {valid: {}, invalid: {}, cobs: {}, sequences: {}, streams: {}};
for (const v of load('packets_valid.json')) {
  const raw = bytes(v.hex), frame = bytes(v.frame_hex);
  const dec = new P.FrameDecoder();
  const viaFrames = dec.feed(frame).map(expect);
  const p = P.decodePacket(raw);
  out.valid[v.name] = {expect: expect(p), frame_decodes_to_raw: hex(P.cobsDecode(frame.subarray(0, -1))) === v.hex,
    frame_packets: viaFrames,
    reencoded_command: p.type === 'COMMAND' ? hex(P.encodeCommand(p.seq, p.command, commandArgs(p))) : null};
}
for (const v of load('packets_invalid.json')) {
  const err = 'hex' in v ? errorName(() => P.decodePacket(bytes(v.hex)))
    : errorName(() => P.decodePacket(P.cobsDecode(bytes(v.frame_hex))));
  const dec = new P.FrameDecoder();
  const framed = 'hex' in v ? Uint8Array.from([...P.cobsEncode(bytes(v.hex)), 0]) : Uint8Array.from([...bytes(v.frame_hex), 0]);
  const got = dec.feed(framed);
  out.invalid[v.name] = {error: err, stream_packets: got.length, stream_corrupt: dec.corrupt, stream_errors: dec.errors};
}
for (const v of load('cobs.json')) {
  const enc = bytes(v.cobs_hex);
  const err = errorName(() => P.cobsDecode(enc));
  out.cobs[v.name] = err ? {error: err[0]} : {decoded: hex(P.cobsDecode(enc)),
    encoded: 'raw_hex' in v ? hex(P.cobsEncode(bytes(v.raw_hex))) : null};
}
for (const v of load('sequences.json')) {
  const g = new P.GapTracker();
  out.sequences[v.name] = {gaps: v.seqs.map((s) => g.update(s)), lost: g.lost, out_of_order: g.outOfOrder};
}
for (const v of load('streams.json')) {
  const data = bytes(v.stream_hex);
  out.streams[v.name] = {};
  for (const chunk of [null, 1, 7, 64]) {
    const dec = new P.FrameDecoder();
    const got = [];
    if (chunk === null) got.push(...dec.feed(data));
    else for (let i = 0; i < data.length; i += chunk) got.push(...dec.feed(data.subarray(i, i + chunk)));
    out.streams[v.name][String(chunk)] = {seqs: got.map((p) => p.seq), corrupt: dec.corrupt};
  }
}
const crcCheck = P.crc16(new TextEncoder().encode('123456789'));
const u = new P.TimestampUnwrapper();
out.unwrap = [0xFFFFFF00, 0x00000010, 0x00000020].map((t) => u.update(t));
out.crc_check = crcCheck;
process.stdout.write(JSON.stringify(out));
