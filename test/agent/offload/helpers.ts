import { EventEmitter } from 'node:events';
import path from 'node:path';
import { validateConfig } from '../../../agent/config/load.js';
import { ModelRuntime } from '../../../agent/infer/model-runtime.js';
import type { MeshPeer, PeerDirectory, PeerEvent } from '../../../agent/mesh/peer.js';
import { createMqttLink, type MqttLink } from '../../../agent/mqtt/link.js';
import type { VoucherOutcome, VoucherSink } from '../../../agent/offload/voucher-sink.js';
import type { ReceiptJob, ReceiptSink } from '../../../agent/pipeline/receipt-sink.js';
import { identityFromSeed, type NodeIdentity } from '../../../protocol/identity.js';
import {
  compareVouchers,
  type SignedVoucher,
  type Voucher,
  verifyVoucher,
} from '../../../protocol/voucher.js';
import { quietLogger } from '../../helpers/broker.js';

export const MODEL_IDS = ['vibration-ae', 'temperature-ae'] as const;

/** Loads the example models with real onnxruntime sessions. */
export async function loadExampleModels(): Promise<ModelRuntime[]> {
  const cfg = validateConfig(
    {
      models: MODEL_IDS.map((id) => ({ id, manifest: path.resolve(`models/examples/${id}/manifest.json`) })),
      pipelines: [
        { id: 'p', model: 'vibration-ae', input: { topic: 'a/+/v', sensor: { from: 'level', level: 1 } } },
      ],
    },
    'test.yaml',
    { env: {} },
  );
  return Promise.all(cfg.models.map((m) => ModelRuntime.load(m, { logger: quietLogger })));
}

let seeds = 10;
export function newIdentity(): NodeIdentity {
  return identityFromSeed(new Uint8Array(32).fill(++seeds));
}

let clients = 0;
/** A real MQTT link for one node, MQTT 3.1.1 as aedes speaks it. */
export function nodeLink(url: string, identity: NodeIdentity): MqttLink {
  return createMqttLink(
    {
      url,
      clientId: `${identity.peerId.slice(-8)}-${++clients}`,
      keepaliveS: 30,
      protocolVersion: 4,
      reconnect: { minMs: 20, maxMs: 200 },
      connectTimeoutMs: 3000,
      stopFlushMs: 200,
    },
    { logger: quietLogger },
  );
}

/** A MeshPeer record as discovery would hold it after verifying the peer's node record. */
export function meshPeer(
  identity: NodeIdentity,
  models: readonly ModelRuntime[],
  opts: { slots?: number; loadPermille?: number; computeUs?: number } = {},
): MeshPeer {
  return {
    peerId: identity.peerId,
    publicKey: identity.publicKey,
    name: identity.peerId.slice(-6),
    version: 'test',
    apiUrl: 'http://127.0.0.1:1',
    brokerUrl: null,
    brokerPriority: 0,
    models: models.map((m) => ({
      id: m.id,
      version: m.manifest.version,
      sha256: m.sha256,
      computeUs: opts.computeUs ?? 0,
    })),
    offloadSlots: opts.slots ?? 4,
    loadPermille: opts.loadPermille ?? 0,
    issuedAtMs: Date.now(),
    verifiedAtMs: Date.now(),
  };
}

/** The directory discovery keeps, in memory: the test adds and removes peers. */
export class MemoryPeerDirectory implements PeerDirectory {
  private readonly byId = new Map<string, MeshPeer>();
  private readonly emitter = new EventEmitter();

  set(peer: MeshPeer): void {
    const event: PeerEvent = this.byId.has(peer.peerId) ? 'updated' : 'added';
    this.byId.set(peer.peerId, peer);
    this.emitter.emit(event, peer);
  }

  remove(peerId: string): void {
    const peer = this.byId.get(peerId);
    if (peer === undefined) return;
    this.byId.delete(peerId);
    this.emitter.emit('removed', peer);
  }

  peers(): readonly MeshPeer[] {
    return [...this.byId.values()];
  }

  get(peerId: string): MeshPeer | undefined {
    return this.byId.get(peerId);
  }

  on(event: PeerEvent, listener: (peer: MeshPeer) => void): void {
    this.emitter.on(event, listener);
  }

  off(event: PeerEvent, listener: (peer: MeshPeer) => void): void {
    this.emitter.off(event, listener);
  }

  probe(peerId: string): Promise<boolean> {
    return Promise.resolve(this.byId.has(peerId));
  }
}

/** Keeps every receipt job, copying the tensors the sink contract says are only lent. */
export class RecordingReceiptSink implements ReceiptSink {
  readonly jobs: ReceiptJob[] = [];

  record(job: ReceiptJob): void {
    this.jobs.push({ ...job, input: job.input.slice(), output: job.output.slice() });
  }
}

/** Keeps the latest voucher per session, as the real sink does, and says what became of each. */
export class MemoryVoucherSink implements VoucherSink {
  readonly latest = new Map<string, Voucher>();
  readonly outcomes: VoucherOutcome[] = [];

  accept(signed: SignedVoucher): VoucherOutcome {
    const outcome = this.judge(signed);
    this.outcomes.push(outcome);
    return outcome;
  }

  private judge(signed: SignedVoucher): VoucherOutcome {
    const voucher = verifyVoucher(signed);
    const key = Buffer.from(voucher.sessionId).toString('hex');
    const held = this.latest.get(key);
    if (held !== undefined) {
      const verdict = compareVouchers(voucher, held);
      if (verdict.verdict === 'stale') return { outcome: 'stale' };
      if (verdict.verdict !== 'supersedes') return { outcome: 'refused', reason: verdict.verdict };
    }
    this.latest.set(key, voucher);
    return { outcome: 'stored' };
  }
}

/** Wraps a real model so its calls wait for the test to open the gate. */
export function gatedModel(model: ModelRuntime, onEnter: () => void, gate: Promise<void>): ModelRuntime {
  const gated = Object.create(model) as ModelRuntime;
  gated.run = async (input, rows) => {
    onEnter();
    await gate;
    return model.run(input, rows);
  };
  return gated;
}

/** Float32 windows with values a sensor could produce. */
export function windows(rows: number, width: number, seed: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let i = 0; i < out.length; i++) out[i] = Math.sin(seed * 7.3 + i * 0.37) * 1.5;
  return out;
}

/** The bytes of every output of a result, by name. */
export function bytesByName(
  outputs: Readonly<Record<string, { data: ArrayBufferView }>>,
): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [name, t] of Object.entries(outputs)) {
    out[name] = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  }
  return out;
}
