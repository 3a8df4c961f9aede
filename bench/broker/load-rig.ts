import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { LoadIdentities } from './fixture.js';
import { WireClient } from './wire-client.js';
import { encodeTopic } from './wire-codec.js';

export type Qos = 0 | 1;

/** One saturation slice; slices of the same broker are summed (mergeSaturation). */
export interface SaturationSample {
  /** Messages the subscriber received during the measured part. */
  measured: number;
  elapsedMs: number;
  /** Broker CPU (user + system, all threads) over the measured part. */
  brokerCpuMs: number;
  /** This process's CPU over the measured part: near elapsedMs means the load is the limit. */
  loadCpuMs: number;
  sent: number;
  received: number;
  /** Sent and never received (QoS 0 only: at QoS 1 a loss fails the run). */
  lost: number;
}

/** One paced slice: every publish → receive latency of the measured part, in ms. */
export interface LatencySample {
  sent: number;
  received: number;
  lost: number;
  latencies: number[];
}

/** The payload: phase (u8) at 0, publisher (u32) at 4, sequence (u32) at 8, send time (f64 ms) at 16. */
const PAYLOAD_BYTES = 64;
/** A drain gives up after this long without a message: a broker stalled or lost them. */
const QUIET_MS = 5000;
const TICK_MS = 1;

type OnMessage = (publisher: number, seq: number, sentAt: number, now: number) => void;

/** The message-level errors of a run: a QoS 1 loss, a stalled window, a client that failed. */
export class LoadRunError extends Error {
  override readonly name = 'LoadRunError';
}

/**
 * P publishers and one subscriber on one broker (WireClient: MQTT 3.1.1, TCP_NODELAY). Every message
 * carries its run phase, publisher, sequence and send time, so the subscriber can match it
 * without any lookup and ignore stragglers of an earlier phase.
 */
export class LoadRig {
  private pubs: WireClient[] = [];
  private sub: WireClient | null = null;
  private readonly topics: Buffer[];
  private phase = 0;
  private onMessage: OnMessage | null = null;

  constructor(
    private readonly url: string,
    private readonly ids: LoadIdentities,
    private readonly brokerPid: number,
  ) {
    this.topics = ids.publishers.map((p) => encodeTopic(p.topic));
  }

  async start(): Promise<void> {
    const sub = await WireClient.connect(this.url, this.ids.subscriber);
    this.sub = sub;
    sub.onPublish = (payload) => {
      const now = performance.now();
      if (payload.length < PAYLOAD_BYTES || payload[0] !== this.phase) return;
      this.onMessage?.(payload.readUInt32BE(4), payload.readUInt32BE(8), payload.readDoubleBE(16), now);
    };
    const granted = await sub.subscribe(this.ids.subscriber.filter, 1);
    if (granted !== 1) throw new LoadRunError(`${this.url}: subscription refused (SUBACK ${granted})`);
    this.pubs = await Promise.all(this.ids.publishers.map((p) => WireClient.connect(this.url, p)));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.pubs, this.sub].map((c) => c?.end()));
  }

  /**
   * Each publisher keeps `window` messages in flight — sent and not yet both received by the
   * subscriber and (QoS 1) acknowledged — for warmupMs + durationMs; the second part is measured.
   * End to end, so no broker queue grows past P × window whatever its internal limits.
   */
  async saturate(
    qos: Qos,
    opts: { window: number; warmupMs: number; durationMs: number },
  ): Promise<SaturationSample> {
    const phase = this.nextPhase();
    const n = this.pubs.length;
    const sent = new Array<number>(n).fill(0);
    const acked = new Array<number>(n).fill(0);
    const received = new Array<number>(n).fill(0);
    // Next sequence the subscriber expects from each publisher: everything below it arrived or is lost.
    const next = new Array<number>(n).fill(0);
    let running = true;
    let counting = false;
    let inWindow = 0;
    let failure: Error | null = null;
    let progressAt = performance.now();
    const done = (i: number) =>
      qos === 1 ? Math.min(next[i] as number, acked[i] as number) : (next[i] as number);
    const pump = (i: number) => {
      const pub = this.pubs[i] as WireClient;
      const topic = this.topics[i] as Buffer;
      while (running && (sent[i] as number) - done(i) < opts.window) {
        const seq = sent[i] as number;
        sent[i] = seq + 1;
        pub.publish(topic, encode(phase, i, seq), qos, acks[i]);
      }
    };
    const acks = Array.from({ length: n }, (_, i) => (err?: Error) => {
      if (err) failure ??= err;
      acked[i] = (acked[i] as number) + 1;
      pump(i);
    });
    this.onMessage = (i, seq) => {
      received[i] = (received[i] as number) + 1;
      if (seq >= (next[i] as number)) next[i] = seq + 1;
      if (counting) inWindow++;
      progressAt = performance.now();
      pump(i);
    };
    // At QoS 0 a broker may drop messages, and a window whose messages are all gone would wait
    // for ever: after 500 ms without a message, write the windows off and go on. At QoS 1 nothing
    // may be lost; a stall shows up as a loss once the drain below gives up.
    const watchdog = setInterval(() => {
      if (qos === 1 || performance.now() - progressAt < 500) return;
      for (let i = 0; i < n; i++) next[i] = Math.max(next[i] as number, sent[i] as number);
      progressAt = performance.now();
      for (let i = 0; i < n; i++) pump(i);
    }, 100);
    for (let i = 0; i < n; i++) pump(i);
    await sleep(opts.warmupMs);
    counting = true;
    const cpu0 = brokerCpuMs(this.brokerPid);
    const load0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(opts.durationMs);
    counting = false;
    const elapsed = performance.now() - t0;
    const measured = inWindow;
    const cpu1 = brokerCpuMs(this.brokerPid);
    const load1 = process.cpuUsage(load0);
    running = false;
    clearInterval(watchdog);
    const total = () => sum(received);
    await this.drain(() => total() >= sum(sent) && (qos === 0 || sum(acked) >= sum(sent)), total);
    this.onMessage = null;
    if (failure) throw failure;
    const lost = sum(sent) - total();
    if (qos === 1 && lost !== 0)
      throw new LoadRunError(
        `${this.url}: QoS 1 saturation: ${lost} of ${sum(sent)} messages never reached the subscriber ` +
          `(per publisher sent/acked/received: ${sent.map((x, i) => `${x}/${acked[i]}/${received[i]}`).join(', ')})`,
      );
    return {
      measured,
      elapsedMs: elapsed,
      brokerCpuMs: cpu1 - cpu0,
      loadCpuMs: (load1.user + load1.system) / 1000,
      sent: sum(sent),
      received: total(),
      lost,
    };
  }

  /** Publishes `rate` messages per second round-robin over the publishers; latency after warmupMs. */
  async paced(
    qos: Qos,
    opts: { rate: number; warmupMs: number; durationMs: number },
  ): Promise<LatencySample> {
    const phase = this.nextPhase();
    const n = this.pubs.length;
    const seqs = new Array<number>(n).fill(0);
    const latencies: number[] = [];
    let received = 0;
    let sent = 0;
    const started = performance.now();
    const measureFrom = started + opts.warmupMs;
    const total = opts.warmupMs + opts.durationMs;
    this.onMessage = (_i, _seq, sentAt, now) => {
      received++;
      if (sentAt >= measureFrom) latencies.push(now - sentAt);
    };
    let tick = started;
    while (performance.now() - started < total) {
      const due = Math.floor(((performance.now() - started) / 1000) * opts.rate);
      for (; sent < due; sent++) {
        const i = sent % n;
        const seq = seqs[i] as number;
        seqs[i] = seq + 1;
        (this.pubs[i] as WireClient).publish(this.topics[i] as Buffer, encode(phase, i, seq), qos);
      }
      tick += TICK_MS;
      await sleep(Math.max(0, tick - performance.now()));
    }
    await this.drain(
      () => received >= sent,
      () => received,
    );
    this.onMessage = null;
    const lost = sent - received;
    if (qos === 1 && lost !== 0)
      throw new LoadRunError(
        `${this.url}: QoS 1 at ${opts.rate} msg/s: ${lost} of ${sent} messages never arrived`,
      );
    return { sent, received, lost, latencies };
  }

  private nextPhase(): number {
    this.phase = (this.phase % 255) + 1;
    return this.phase;
  }

  /** Until `finished`, or until `progress` has not moved for QUIET_MS. */
  private async drain(finished: () => boolean, progress: () => number): Promise<void> {
    let last = progress();
    let quietSince = performance.now();
    while (!finished() && performance.now() - quietSince < QUIET_MS) {
      await sleep(10);
      if (progress() !== last) {
        last = progress();
        quietSince = performance.now();
      }
    }
  }
}

function encode(phase: number, publisher: number, seq: number): Buffer {
  const b = Buffer.alloc(PAYLOAD_BYTES);
  b[0] = phase;
  b.writeUInt32BE(publisher, 4);
  b.writeUInt32BE(seq, 8);
  b.writeDoubleBE(performance.now(), 16);
  return b;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * CPU time of a process, every thread, in ms: the sum of its threads' run time from
 * /proc/<pid>/task/<tid>/schedstat (nanoseconds), or utime + stime from /proc/<pid>/stat
 * (10 ms ticks) where schedstat is missing.
 */
function brokerCpuMs(pid: number): number {
  if (!existsSync(`/proc/${pid}/schedstat`)) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  }
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // A thread that ended since the listing; its time is gone from the process anyway.
    }
  }
  return ns / 1e6;
}
