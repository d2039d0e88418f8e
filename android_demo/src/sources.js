// Sources of samples for the live view, and the one path every source feeds:
//   MotionSource (the phone's DeviceMotionEvent) | BleSource (Web Bluetooth, imuedge wire protocol)
//     -> Windower.push(tMs, values)   resample to the bundle's rate, cut (channels, window) every hop samples
// Samples are [acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z] in m/s^2 and rad/s (the window contract);
// NaN for a channel the source does not have.
import {Command, GapTracker, ProtocolError, TimestampUnwrapper, decodePacket, encodeCommand, toChannels, CHANNELS}
  from './protocol.js';

export const IMU_SERVICE_UUID = '3af90001-5f72-4bec-9a33-c84ef5b715e1';
export const IMU_DATA_UUID = '3af90002-5f72-4bec-9a33-c84ef5b715e1';
export const IMU_CONTROL_UUID = '3af90003-5f72-4bec-9a33-c84ef5b715e1';
const DEG_TO_RAD = Math.PI / 180;

// Resamples timestamped samples to `rateHz` by linear interpolation between neighbours and cuts windows of
// `window` samples every `hop` samples, in the bundle's channel order. A hole in time longer than
// `maxGapMs` (or a reset() by the source for lost packets) restarts the window: never glued silently.
export class Windower {
  constructor({channels, rateHz, window, hop, maxGapMs = 250, onWindow}) {
    this.index = channels.map((c) => CHANNELS.indexOf(c));
    this.channels = channels;
    this.periodMs = 1000 / rateHz;
    this.window = window;
    this.hop = hop;
    this.maxGapMs = maxGapMs;
    this.onWindow = onWindow;
    this.buf = channels.map(() => new Float32Array(window));
    this.gaps = 0;
    this.windows = 0;
    this.reset(false);
  }

  reset(countGap = true) {
    if (countGap) this.gaps += 1;
    this.prev = null;  // [tMs, values]
    this.k = 0;  // output samples made since the restart; the next is at t0 + k * period
    this.filled = 0;
  }

  push(tMs, values) {
    if (this.prev && (tMs <= this.prev[0] || tMs - this.prev[0] > this.maxGapMs)) {
      if (tMs <= this.prev[0] && tMs > this.prev[0] - this.maxGapMs) return;  // duplicate / out of order: drop
      this.reset();
    }
    if (!this.prev) { this.prev = [tMs, values]; this.t0 = tMs; this.emitSample(values); return; }
    const [ta, va] = this.prev;
    for (let t = this.t0 + this.k * this.periodMs; t <= tMs; t = this.t0 + this.k * this.periodMs) {
      const f = (t - ta) / (tMs - ta);
      this.emitSample(this.index.map((i) => (1 - f) * va[i] + f * values[i]), true);  // exact at both ends
    }
    this.prev = [tMs, values];
  }

  emitSample(v, picked = false) {
    const row = picked ? v : this.index.map((i) => v[i]);
    this.k += 1;
    const n = this.window;
    for (let c = 0; c < row.length; c++) {
      const b = this.buf[c];
      b.copyWithin(0, 1);
      b[n - 1] = row[c];
    }
    this.filled += 1;
    if (this.filled >= n && (this.filled - n) % this.hop === 0) {
      const w = new Float32Array(this.channels.length * n);
      this.buf.forEach((b, c) => w.set(b, c * n));
      this.windows += 1;
      this.onWindow(w);
    }
  }
}

// Sample rate from arrival times: the median interval of the last `n` samples.
export class RateMeter {
  constructor(n = 64) { this.n = n; this.dts = []; this.last = null; }

  tick(tMs) {
    if (this.last !== null && tMs > this.last) {
      this.dts.push(tMs - this.last);
      if (this.dts.length > this.n) this.dts.shift();
    }
    this.last = tMs;
  }

  get hz() {
    if (!this.dts.length) return null;
    const s = [...this.dts].sort((a, b) => a - b);
    return 1000 / s[Math.floor(s.length / 2)];
  }
}

// The phone's own sensors. DeviceMotionEvent gives accelerationIncludingGravity (m/s^2, the device's axes:
// x to the right of the screen, y up the screen, z out of the screen -- the axes of Android's sensor frame,
// so of a phone recording like HAPT's) and rotationRate in deg/s (alpha about z, beta about x, gamma
// about y). The rate is measured from the events' times, never assumed; the Windower resamples.
export class MotionSource {
  constructor(onSample) {
    this.onSample = onSample;
    this.rate = new RateMeter();
    this.events = 0;
    this.withoutGyro = 0;
    this.listener = (e) => this.handleMotion(e);
  }

  // iOS asks the user (from a tap); Android Chrome grants motion sensors to secure pages without asking.
  async start() {
    if (typeof DeviceMotionEvent === 'undefined') throw new Error('this browser has no DeviceMotionEvent');
    if (typeof DeviceMotionEvent.requestPermission === 'function') {
      const answer = await DeviceMotionEvent.requestPermission();
      if (answer !== 'granted') throw new Error(`motion sensors: permission ${answer}`);
    }
    if (!window.isSecureContext) throw new Error('motion sensors need a secure page (https or localhost; see README)');
    window.addEventListener('devicemotion', this.listener);
  }

  stop() { window.removeEventListener('devicemotion', this.listener); }

  // One event -> one sample at time tMs (the event's own timeStamp unless a replay gives the time).
  handleMotion(e, tMs = e.timeStamp) {
    const a = e.accelerationIncludingGravity;
    const r = e.rotationRate;
    if (!a || a.x === null) return;
    this.events += 1;
    this.rate.tick(tMs);
    const gyro = r && r.alpha !== null ? [r.beta * DEG_TO_RAD, r.gamma * DEG_TO_RAD, r.alpha * DEG_TO_RAD] : [NaN, NaN, NaN];
    if (Number.isNaN(gyro[0])) this.withoutGyro += 1;
    this.onSample(tMs, [a.x, a.y, a.z, ...gyro]);
  }
}

// A BLE IMU speaking the imuedge wire protocol (firmware_bridge/PROTOCOL.md section 6): one packet per
// notification on the data characteristic, commands written to the control characteristic.
export class BleSource {
  constructor(onSample, {onGap = () => {}} = {}) {
    this.onSample = onSample;
    this.onGap = onGap;
    this.gaps = new GapTracker();
    this.clock = new TimestampUnwrapper();
    this.rate = new RateMeter();
    this.packets = 0; this.corrupt = 0; this.errors = {}; this.overflow = 0; this.info = null;
    this.seq = 0;
  }

  async start() {
    if (!navigator.bluetooth) throw new Error('this browser has no Web Bluetooth (Chrome on Android has it)');
    this.device = await navigator.bluetooth.requestDevice({filters: [{services: [IMU_SERVICE_UUID]}]});
    const server = await this.device.gatt.connect();
    const service = await server.getPrimaryService(IMU_SERVICE_UUID);
    this.data = await service.getCharacteristic(IMU_DATA_UUID);
    this.control = await service.getCharacteristic(IMU_CONTROL_UUID);
    this.data.addEventListener('characteristicvaluechanged',
      (e) => this.handlePacket(new Uint8Array(e.target.value.buffer, e.target.value.byteOffset, e.target.value.byteLength)));
    await this.data.startNotifications();
    await this.command(Command.GET_INFO);
    await this.command(Command.START);
  }

  async command(cmd, args = []) {
    await this.control.writeValueWithResponse(encodeCommand(this.seq++, cmd, args));
  }

  async stop() {
    try { await this.command(Command.STOP); } finally { this.device?.gatt.disconnect(); }
  }

  // One notification = one packet. Corrupt packets are counted and skipped; lost ones (sequence gap)
  // restart the window via onGap.
  handlePacket(bytes) {
    let p;
    try {
      p = decodePacket(bytes);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.corrupt += 1;
      this.errors[e.name] = (this.errors[e.name] || 0) + 1;
      return;
    }
    this.packets += 1;
    const lost = this.gaps.update(p.seq);
    if (p.type === 'DEVICE_INFO') { this.info = p; return; }
    if (p.type !== 'DATA') return;
    if (lost) this.onGap(lost);
    this.overflow += p.overflowCount;
    const t0 = this.clock.update(p.timestampUs) / 1000;
    const cols = toChannels(p);
    const idx = p.channels.map((c) => CHANNELS.indexOf(c));
    for (let i = 0; i < p.nSamples; i++) {
      const v = [NaN, NaN, NaN, NaN, NaN, NaN];
      idx.forEach((ch, k) => { v[ch] = cols[k][i]; });
      const t = t0 + (i * p.samplePeriodUs) / 1000;
      this.rate.tick(t);
      this.onSample(t, v);
    }
  }
}
