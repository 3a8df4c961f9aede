import { type NodeIdentity, publicKeyFromPeerId } from '../../protocol/identity.js';
import {
  decodeOffloadRequest,
  encodeOffloadResponse,
  OFFLOAD_STATUSES,
  OffloadMessageError,
  type OffloadRequest,
  type OffloadResponse,
  type OffloadStatus,
  offloadPipelineId,
} from '../../protocol/offload.js';
import { inputDigest, outputBytes, outputDigest, tensorBytes } from '../../protocol/tensors.js';
import { DEFAULT_TOPIC_ROOT, type Topics, topicsFor } from '../../protocol/topics.js';
import type { ModelRuntime } from '../infer/model-runtime.js';
import type { Logger } from '../log.js';
import type { MqttLink } from '../mqtt/link.js';
import { SafeEmitter } from '../mqtt/safe-emitter.js';
import type { ReceiptSink } from '../pipeline/receipt-sink.js';
import { OffloadConfigError } from './errors.js';
import { type OffloadCall, runWindows } from './provider-run.js';
import { type ServedSession, ServedSessions } from './provider-sessions.js';
import { judgeVoucher, type VoucherVerdict } from './provider-vouchers.js';
import { float32FromBytes, outputsToWire } from './tensor-codec.js';
import type { VoucherSink } from './voucher-sink.js';

export interface OffloadProviderInit {
  /** Requests run at once for other nodes; past it a request is answered `overloaded` at once. */
  readonly slots: number;
  /** Topic root (default `fieldmesh/v1/`). */
  readonly topicRoot?: string;
  /** Most windows in one request (default 1024) and most input bytes (default 8 MiB). */
  readonly maxRows?: number;
  readonly maxBytes?: number;
  /** Most sessions remembered for voucher checks (default 1024); the least recently used go first. */
  readonly maxSessions?: number;
}

export interface OffloadProviderComponents {
  readonly link: MqttLink;
  readonly identity: NodeIdentity;
  /** The models loaded on this node, asked per request (so a model loaded later counts). */
  readonly models: () => Iterable<ModelRuntime>;
  readonly receipts?: ReceiptSink | undefined;
  readonly vouchers?: VoucherSink | undefined;
  readonly logger: Logger;
  /** Wall clock, Unix epoch ms (default Date.now), for deadlines. */
  readonly now?: () => number;
}

export interface OffloadProviderStats {
  /** Request messages received, well-formed or not. */
  readonly received: number;
  /** Answers sent (or, for malformed requests without a reply topic, decided), by status. */
  readonly answered: Readonly<Record<OffloadStatus, number>>;
  /** Requests that did not decode, by the field at fault. */
  readonly malformed: Readonly<Record<string, number>>;
  /** Requests running now. */
  readonly active: number;
  readonly sessions: number;
  /** Model calls run for others (one receipt each when a sink is set). */
  readonly calls: number;
  readonly vouchers: {
    readonly received: number;
    readonly stored: number;
    readonly stale: number;
    /** Passed every check, but no sink keeps them. */
    readonly accepted: number;
    readonly refused: Readonly<Record<string, number>>;
  };
}

export interface OffloadProviderEvents {
  /** A request was answered (or, malformed without a reply topic, dropped). */
  handled: { readonly correlationId: number | undefined; readonly status: OffloadStatus };
  voucher: VoucherVerdict;
}

const DEFAULT_MAX_SESSIONS = 1024;

/**
 * Runs windows for other nodes: answers requests on `offload/<self>/req` on the consumer's
 * `offload/<consumer>/res` (QoS 1), records a receipt per model call under the session's offload
 * pipeline id, and takes the consumers' vouchers on `offload/<self>/vouchers`. Nothing a peer
 * sends can make it throw; every refusal is counted.
 */
export class OffloadProvider {
  private readonly topics: Topics;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly sessions: ServedSessions;
  private readonly events: SafeEmitter<OffloadProviderEvents>;
  private readonly running = new Set<Promise<void>>();
  private readonly answered = Object.fromEntries(OFFLOAD_STATUSES.map((s) => [s, 0])) as Record<
    OffloadStatus,
    number
  >;
  private readonly malformed: Record<string, number> = {};
  private readonly voucherTally = { received: 0, stored: 0, stale: 0, accepted: 0 };
  private readonly voucherRefused: Record<string, number> = {};
  private received = 0;
  private calls = 0;
  private active = 0;
  private started = false;

  constructor(
    private readonly init: OffloadProviderInit,
    private readonly components: OffloadProviderComponents,
  ) {
    if (!Number.isInteger(init.slots) || init.slots < 0) {
      throw new OffloadConfigError('slots', `is ${init.slots}; use a whole number ≥ 0 (0 takes no work)`);
    }
    this.topics = topicsFor(init.topicRoot ?? DEFAULT_TOPIC_ROOT);
    this.log = components.logger.child({ component: 'offload-provider' });
    this.now = components.now ?? Date.now;
    this.sessions = new ServedSessions(init.maxSessions ?? DEFAULT_MAX_SESSIONS);
    this.events = new SafeEmitter(this.log);
  }

  on<E extends keyof OffloadProviderEvents>(
    event: E,
    listener: (info: OffloadProviderEvents[E]) => void,
  ): this {
    this.events.on(event, listener);
    return this;
  }

  off<E extends keyof OffloadProviderEvents>(
    event: E,
    listener: (info: OffloadProviderEvents[E]) => void,
  ): this {
    this.events.off(event, listener);
    return this;
  }

  async start(): Promise<void> {
    if (this.started) return;
    const self = this.components.identity.peerId;
    await this.components.link.subscribe(this.topics.offloadRequests(self), 1, (_t, p) => this.onRequest(p));
    await this.components.link.subscribe(this.topics.vouchers(self), 1, (_t, p) => this.onVoucher(p));
    this.started = true;
    this.log.info({ slots: this.init.slots }, 'offload provider on');
  }

  /** Stops taking requests and waits for the running ones to answer. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const self = this.components.identity.peerId;
    const unsubscribe = (topic: string) =>
      this.components.link
        .unsubscribe(topic)
        .catch((err: unknown) => this.log.debug({ err, topic }, 'unsubscribe'));
    await unsubscribe(this.topics.offloadRequests(self));
    await unsubscribe(this.topics.vouchers(self));
    await Promise.allSettled([...this.running]);
    this.log.info(this.stats(), 'offload provider off');
  }

  stats(): OffloadProviderStats {
    return {
      received: this.received,
      answered: { ...this.answered },
      malformed: { ...this.malformed },
      active: this.active,
      sessions: this.sessions.size,
      calls: this.calls,
      vouchers: { ...this.voucherTally, refused: { ...this.voucherRefused } },
    };
  }

  private onRequest(payload: Uint8Array): void {
    this.received++;
    let request: OffloadRequest;
    try {
      request = decodeOffloadRequest(payload, {
        ...(this.init.maxRows === undefined ? {} : { maxRows: this.init.maxRows }),
        ...(this.init.maxBytes === undefined ? {} : { maxBytes: this.init.maxBytes }),
      });
    } catch (err) {
      this.onMalformed(err);
      return;
    }
    const work = this.serve(request)
      .catch((err: unknown) =>
        this.log.warn({ err, consumer: request.consumer }, 'offload request not served'),
      )
      .finally(() => this.running.delete(work));
    this.running.add(work);
  }

  private onMalformed(err: unknown): void {
    const field = err instanceof OffloadMessageError ? err.field : 'body';
    this.malformed[field] = (this.malformed[field] ?? 0) + 1;
    const correlationId = err instanceof OffloadMessageError ? err.correlationId : undefined;
    const consumer = err instanceof OffloadMessageError ? err.consumer : undefined;
    this.log.debug({ err: (err as Error).message, consumer }, 'malformed offload request');
    if (correlationId !== undefined && consumer !== undefined) {
      this.reply(consumer, failure(correlationId, 'bad_request', (err as Error).message));
    } else {
      this.answered.bad_request++;
      this.events.emit('handled', { correlationId, status: 'bad_request' });
    }
  }

  private async serve(req: OffloadRequest): Promise<void> {
    const refusal = this.refusal(req);
    if (refusal !== null) {
      this.reply(req.consumer, failure(req.correlationId, refusal.status, refusal.why));
      return;
    }
    const model = this.findModel(req.modelSha256) as ModelRuntime;
    const consumerKey = publicKeyFromPeerId(req.consumer);
    const session = this.sessions.touch(req.sessionId, req.consumer, consumerKey, req.opening);
    if (session === 'taken') {
      const why = 'sessionId belongs to another consumer; open a new session with a fresh random id';
      this.reply(req.consumer, failure(req.correlationId, 'bad_request', why));
      return;
    }
    if (session === 'unknown') {
      const why = 'session not open here (this provider restarted or forgot it); open a new session';
      this.reply(req.consumer, failure(req.correlationId, 'unknown_session', why));
      return;
    }
    this.active++;
    try {
      const run = await runWindows(model, float32FromBytes(req.input), req.rows, (call) =>
        this.recordCall(session, model, call),
      );
      session.jobs++;
      this.reply(req.consumer, {
        correlationId: req.correlationId,
        status: 'ok',
        receiptSequence: session.receipts,
        computeUs: run.computeUs,
        outputs: outputsToWire(run.outputs),
        error: '',
      });
    } catch (err) {
      const why = `model ${model.id} failed: ${(err as Error).message}`.slice(0, 1000);
      this.reply(req.consumer, failure(req.correlationId, 'inference_failed', why, session.receipts));
    } finally {
      this.active--;
    }
  }

  /** The answer for a request this node will not run, or null when it will. */
  private refusal(req: OffloadRequest): { status: OffloadStatus; why: string } | null {
    if (req.deadlineMs <= this.now()) return { status: 'expired', why: 'deadline passed before it ran' };
    if (req.consumer === this.components.identity.peerId) {
      return { status: 'bad_request', why: 'a node does not offload to itself' };
    }
    const model = this.findModel(req.modelSha256);
    if (model === undefined) {
      return { status: 'no_such_model', why: `no model with sha256 ${hex(req.modelSha256)} is loaded here` };
    }
    if (req.width !== model.windowSize) {
      return {
        status: 'bad_request',
        why: `width ${req.width} ≠ model ${model.id} window ${model.windowSize}`,
      };
    }
    if (this.active >= this.init.slots) {
      return { status: 'overloaded', why: `all ${this.init.slots} offload slots busy; try another peer` };
    }
    return null;
  }

  private findModel(digest: Uint8Array): ModelRuntime | undefined {
    const wanted = hex(digest);
    for (const model of this.components.models()) if (model.sha256.toLowerCase() === wanted) return model;
    return undefined;
  }

  private recordCall(session: ServedSession, model: ModelRuntime, call: OffloadCall): void {
    this.calls++;
    session.receipts++;
    const sink = this.components.receipts;
    if (sink === undefined) return;
    try {
      sink.record({
        pipelineId: offloadPipelineId(session.sessionId),
        consumerKey: session.consumerKey,
        modelSha256: Buffer.from(model.sha256, 'hex'),
        inputDigest: inputDigest(call.input),
        outputDigest: outputDigest(call.outputs as never),
        startTimeMs: call.startTimeMs,
        computeTimeUs: call.computeTimeUs,
        sampleCount: call.rows,
        sequence: session.receipts,
        input: tensorBytes(call.input),
        output: outputBytes(call.outputs as never),
      });
    } catch (err) {
      this.log.warn({ err }, 'offload receipt not recorded');
    }
  }

  private reply(consumer: string, response: OffloadResponse): void {
    this.answered[response.status]++;
    this.events.emit('handled', { correlationId: response.correlationId, status: response.status });
    let bytes: Uint8Array;
    try {
      bytes = encodeOffloadResponse(response);
    } catch (err) {
      this.log.warn({ err, consumer }, 'offload response not encodable');
      return;
    }
    this.components.link
      .publish(this.topics.offloadResponses(consumer), bytes, { qos: 1 })
      .catch((err: unknown) => this.log.debug({ err, consumer }, 'offload response not delivered'));
  }

  private onVoucher(payload: Uint8Array): void {
    this.voucherTally.received++;
    const verdict = judgeVoucher(payload, this.components.identity, this.sessions, this.components.vouchers);
    if (verdict.outcome === 'refused') {
      this.voucherRefused[verdict.reason] = (this.voucherRefused[verdict.reason] ?? 0) + 1;
      this.log.debug({ reason: verdict.reason }, 'voucher refused');
    } else {
      this.voucherTally[verdict.outcome]++;
    }
    this.events.emit('voucher', verdict);
  }
}

function failure(
  correlationId: number,
  status: OffloadStatus,
  error: string,
  receiptSequence = 0,
): OffloadResponse {
  return { correlationId, status, receiptSequence, computeUs: 0, outputs: [], error };
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
