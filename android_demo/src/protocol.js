// imuedge wire protocol v1.0 in JavaScript: the phone app's decoder.
//
// The byte layout is firmware_bridge/PROTOCOL.md; this file follows the host decoder
// (firmware_bridge/protocol.py) check for check and error class for error class, and is
// tested against the same byte vectors (firmware_bridge/vectors/*.json,
// tests/android_demo/test_protocol_js.py). BLE carries one packet per notification
// (decodePacket); a serial byte pipe (Nordic UART) carries COBS frames (FrameDecoder).

export const CHANNELS = ['acc_x', 'acc_y', 'acc_z', 'gyro_x', 'gyro_y', 'gyro_z'];
export const VERSION_MAJOR = 1;
export const VERSION_MINOR = 0;
const COMMON_HEADER_LEN = 10;
const DATA_HEADER_LEN = 32;
const CRC_LEN = 2;
const MIN_PACKET_LEN = COMMON_HEADER_LEN + CRC_LEN;
const MAX_PAYLOAD_LEN = 255 * CHANNELS.length * 2;
const INFO_LEN = 20;  // fixed part of a DEVICE_INFO payload
const ACK_LEN = 8;

export const PacketType = {DATA: 1, COMMAND: 2, ACK: 3, DEVICE_INFO: 4};
export const Command = {START: 1, STOP: 2, SET_RATE: 3, SET_RANGES: 4, GET_INFO: 5, SET_CHANNELS: 6};
export const AckStatus = ['OK', 'UNKNOWN_COMMAND', 'BAD_ARGUMENT', 'BAD_STATE', 'UNSUPPORTED', 'BAD_PACKET'];
const COMMAND_ARG_BYTES = {1: 0, 2: 0, 3: 2, 4: 3, 5: 0, 6: 1};

// The ProtocolError family; `name` is the Python class name (TruncatedError, CRCError, ...).
export class ProtocolError extends Error {
  constructor(name, message) { super(message); this.name = name; }
}
const fail = (name, message) => { throw new ProtocolError(name, message); };

// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0; crc16("123456789") = 0x29B1.
export function crc16(bytes, crc = 0xFFFF) {
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
  }
  return crc;
}

export function cobsDecode(data) {
  const out = [];
  let i = 0;
  const n = data.length;
  while (i < n) {
    const code = data[i];
    if (code === 0) fail('COBSError', `COBS: 0x00 byte inside a frame at offset ${i}`);
    const j = i + code;
    if (j > n) fail('COBSError', `COBS: code 0x${hex2(code)} at offset ${i} runs past the frame end (${n} bytes)`);
    for (let k = i + 1; k < j; k++) {
      if (data[k] === 0) fail('COBSError', `COBS: 0x00 byte inside a frame at offset ${k}`);
      out.push(data[k]);
    }
    i = j;
    if (code !== 0xFF && i < n) out.push(0);
  }
  return Uint8Array.from(out);
}

export function cobsEncode(data) {
  const out = [];
  let block = [];
  const flush = () => { out.push(block.length + 1, ...block); block = []; };
  for (const b of data) {
    if (b === 0) { flush(); continue; }
    block.push(b);
    if (block.length === 254) { out.push(0xFF, ...block); block = []; }
  }
  flush();
  return Uint8Array.from(out);
}

const hex2 = (v) => v.toString(16).padStart(2, '0');
const hex4 = (v) => v.toString(16).padStart(4, '0');
const popcount = (m) => { let c = 0; for (; m; m >>= 1) c += m & 1; return c; };
export const maskToChannels = (mask) => CHANNELS.filter((_, i) => (mask >> i) & 1);

// Decode one packet (no COBS). Checks, in order: size, magic, CRC, major version, lengths, fields.
export function decodePacket(buf) {
  const b = buf instanceof Uint8Array ? buf : Uint8Array.from(buf);
  const n = b.length;
  if (n < MIN_PACKET_LEN) fail('TruncatedError', `packet of ${n} bytes is shorter than the ${MIN_PACKET_LEN}-byte minimum`);
  if (b[0] !== 0x49 || b[1] !== 0x45) fail('MagicError', `bad magic ${hex2(b[0])}${hex2(b[1])} (expected 4945 'IE')`);
  const want = crc16(b.subarray(0, n - CRC_LEN));
  const got = b[n - 2] | (b[n - 1] << 8);
  if (want !== got) {
    fail('CRCError', `CRC mismatch: packet says 0x${hex4(got)}, CRC-16/CCITT-FALSE of its ${n - 2} bytes is 0x${hex4(want)}`);
  }
  const v = new DataView(b.buffer, b.byteOffset, n);
  const major = b[2], minor = b[3], type = b[4], headerLen = b[5];
  const seq = v.getUint16(6, true), payloadLen = v.getUint16(8, true);
  if (major !== VERSION_MAJOR) {
    fail('VersionError', `packet is protocol v${major}.${minor}; this host decodes v${VERSION_MAJOR}.x only ` +
      `(${major > VERSION_MAJOR ? 'upgrade imuedge' : 'the device firmware is too old'})`);
  }
  if (headerLen < COMMON_HEADER_LEN) fail('LengthError', `header_len ${headerLen} < ${COMMON_HEADER_LEN}`);
  const total = headerLen + payloadLen + CRC_LEN;
  const sizes = `header says ${total} bytes (header ${headerLen} + payload ${payloadLen} + CRC), got ${n}`;
  if (total > n) fail('TruncatedError', sizes);
  if (total < n) fail('LengthError', sizes);
  const version = [major, minor];
  const p = headerLen;  // payload offset
  if (type === PacketType.DATA) {
    if (headerLen < DATA_HEADER_LEN) fail('LengthError', `data packet header_len ${headerLen} < ${DATA_HEADER_LEN}`);
    const mask = b[29], ns = b[28];
    if ((mask & ~0x3F) || mask === 0) fail('FieldError', `channel mask 0x${hex2(mask)}: only bits 0..5 may be set, at least one`);
    const nch = popcount(mask);
    if (ns === 0 || payloadLen !== ns * nch * 2) {
      fail('LengthError', `payload_len ${payloadLen} != ${ns} samples x ${nch} channels x 2 bytes`);
    }
    const samples = new Int16Array(ns * nch);  // (n_samples, n_channels), interleaved by sample
    for (let i = 0; i < samples.length; i++) samples[i] = v.getInt16(p + 2 * i, true);
    return {type: 'DATA', seq, version, timestampUs: v.getUint32(10, true), samplePeriodUs: v.getUint32(14, true),
      accScale: v.getFloat32(18, true), gyroScale: v.getFloat32(22, true), overflowCount: v.getUint16(26, true),
      nSamples: ns, channelMask: mask, channels: maskToChannels(mask), flags: b[30], samples};
  }
  if (type === PacketType.COMMAND) {
    if (payloadLen < 1) fail('LengthError', 'command packet without a command byte');
    const cmd = b[p];
    const name = Object.keys(Command).find((k) => Command[k] === cmd);
    if (!name) fail('UnknownTypeError', `unknown command 0x${hex2(cmd)}`);
    const need = COMMAND_ARG_BYTES[cmd];
    if (payloadLen < 1 + need) fail('LengthError', `command ${name} needs ${need} argument bytes, got ${payloadLen - 1}`);
    const out = {type: 'COMMAND', seq, version, command: cmd, rateHz: 0, accRangeG: 0, gyroRangeDps: 0, channelMask: 0};
    if (cmd === Command.SET_RATE) out.rateHz = v.getUint16(p + 1, true);
    if (cmd === Command.SET_RANGES) { out.accRangeG = b[p + 1]; out.gyroRangeDps = v.getUint16(p + 2, true); }
    if (cmd === Command.SET_CHANNELS) out.channelMask = b[p + 1];
    return out;
  }
  if (type === PacketType.ACK) {
    if (payloadLen < ACK_LEN) fail('LengthError', `ack payload ${payloadLen} bytes < ${ACK_LEN}`);
    return {type: 'ACK', seq, version, command: b[p], status: b[p + 1], ackedSeq: v.getUint16(p + 2, true),
      value: v.getUint32(p + 4, true)};
  }
  if (type === PacketType.DEVICE_INFO) {
    if (payloadLen < INFO_LEN) fail('LengthError', `device info payload ${payloadLen} bytes < ${INFO_LEN}`);
    const nameLen = b[p + 19];
    if (nameLen > 32) fail('FieldError', `device name_len ${nameLen} > 32`);
    if (INFO_LEN + nameLen > payloadLen) fail('LengthError', `device name of ${nameLen} bytes runs past the payload`);
    return {type: 'DEVICE_INFO', seq, version, supportedMask: b[p], activeMask: b[p + 1], accRangeG: b[p + 2],
      streaming: (b[p + 3] & 1) === 1, gyroRangeDps: v.getUint16(p + 4, true), samplePeriodUs: v.getUint32(p + 6, true),
      accScale: v.getFloat32(p + 10, true), gyroScale: v.getFloat32(p + 14, true), maxSamplesPerPacket: b[p + 18],
      name: new TextDecoder('utf-8').decode(b.subarray(p + INFO_LEN, p + INFO_LEN + nameLen))};
  }
  fail('UnknownTypeError', `unknown packet type ${type} (protocol v${major}.${minor})`);
}

// A DATA packet's samples in physical units: Float32Array per channel, in the packet's channel order
// (int16 count * float32 scale, rounded to float32 like DataPacket.to_array()).
export function toChannels(p) {
  const nch = p.channels.length;
  return p.channels.map((c, k) => {
    const scale = c.startsWith('acc') ? p.accScale : p.gyroScale;
    const out = new Float32Array(p.nSamples);
    for (let i = 0; i < p.nSamples; i++) out[i] = p.samples[i * nch + k] * scale;
    return out;
  });
}

// Encode a COMMAND packet (host -> device): what the BLE source writes to the control characteristic.
export function encodeCommand(seq, cmd, args = []) {
  const argBytes = {3: () => u16(args[0]), 4: () => [args[0] & 0xFF, ...u16(args[1])], 6: () => [args[0] & 0xFF]};
  const payload = [cmd, ...(argBytes[cmd] ? argBytes[cmd]() : [])];
  const body = [0x49, 0x45, VERSION_MAJOR, VERSION_MINOR, PacketType.COMMAND, COMMON_HEADER_LEN, ...u16(seq & 0xFFFF),
    ...u16(payload.length), ...payload];
  return Uint8Array.from([...body, ...u16(crc16(body))]);
}
const u16 = (x) => [x & 0xFF, (x >> 8) & 0xFF];

function maxFrameLen() {
  const longest = DATA_HEADER_LEN + MAX_PAYLOAD_LEN + CRC_LEN + 255;
  return longest + Math.floor(longest / 254) + 2;
}

// Serial byte stream (COBS frames, 0x00-delimited) -> packets. A corrupt frame is counted and skipped;
// a good packet glued behind garbage is recovered (see protocol.py FrameDecoder).
export class FrameDecoder {
  constructor() {
    this.maxFrameLen = maxFrameLen();
    this.packets = 0; this.corrupt = 0; this.errors = {}; this.lastError = null;
    this.buf = []; this.skipping = false;
  }

  feed(data) {
    const out = [];
    let start = 0;
    for (;;) {
      const end = data.indexOf(0, start);
      if (end < 0) {
        if (!this.skipping) {
          for (let i = start; i < data.length; i++) this.buf.push(data[i]);
          if (this.buf.length > this.maxFrameLen) {
            this.error(new ProtocolError('OversizeError', `frame longer than ${this.maxFrameLen} bytes without a delimiter`));
            this.buf = []; this.skipping = true;
          }
        }
        return out;
      }
      let chunk = Array.from(data.slice(start, end));
      start = end + 1;
      if (this.skipping) { this.skipping = false; this.buf = []; continue; }
      if (this.buf.length) { chunk = this.buf.concat(chunk); this.buf = []; }
      if (!chunk.length) continue;
      if (chunk.length > this.maxFrameLen) {
        this.error(new ProtocolError('OversizeError', `frame of ${chunk.length} bytes is longer than any packet`));
        continue;
      }
      try {
        out.push(decodePacket(cobsDecode(chunk)));
        this.packets += 1;
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        this.error(e);
        const tail = FrameDecoder.recover(chunk);
        if (tail) { out.push(tail); this.packets += 1; }
      }
    }
  }

  static recover(chunk) {
    for (let i = 2; i + 1 < chunk.length; i++) {
      if (chunk[i] !== 0x49 || chunk[i + 1] !== 0x45) continue;
      try { return decodePacket(cobsDecode(chunk.slice(i - 1))); } catch (e) { if (!(e instanceof ProtocolError)) throw e; }
    }
    return null;
  }

  error(e) { this.corrupt += 1; this.errors[e.name] = (this.errors[e.name] || 0) + 1; this.lastError = e; }
}

// Lost packets from u16 sequence numbers: update(seq) returns how many were lost just before this one;
// 65535 -> 0 is not a gap; a backwards step (duplicate, reorder, reboot) counts in outOfOrder.
export class GapTracker {
  constructor() { this.expected = null; this.received = 0; this.lost = 0; this.outOfOrder = 0; this.gaps = []; }

  update(seq) {
    seq &= 0xFFFF;
    this.received += 1;
    let gap = 0;
    if (this.expected !== null) {
      const delta = (seq - this.expected) & 0xFFFF;
      if (delta >= 0x8000) this.outOfOrder += 1;
      else if (delta) { gap = delta; this.lost += delta; this.gaps.push([this.expected, delta]); }
    }
    this.expected = (seq + 1) & 0xFFFF;
    return gap;
  }
}

// The u32 device µs timestamp extended to 64 bits (exact while packets are < 35 min apart).
export class TimestampUnwrapper {
  constructor() { this.last = null; this.offset = 0; }

  update(ts) {
    ts >>>= 0;
    if (this.last !== null && ts < this.last && this.last - ts > 0x80000000) this.offset += 2 ** 32;
    this.last = ts;
    return this.offset + ts;
  }
}
