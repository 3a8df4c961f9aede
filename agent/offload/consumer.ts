import { randomInt } from 'node:crypto';
import type { NodeIdentity } from '../../protocol/identity.js';
import {
  decodeOffloadResponse,
  encodeOffloadRequest,
  encodeVoucherMessage,
  OffloadMessageError,
  type OffloadResponse,
} from '../../protocol/offload.js';
import { tensorBytes } from '../../protocol/tensors.js';
import { DEFAULT_TOPIC_ROOT, type Topics, topicsFor } from '../../protocol/topics.js';
import type { Logger } from '../log.js';
import type { MeshPeer, PeerDirectory } from '../mesh/peer.js';
import type { MqttLink } from '../mqtt/link.js';
import { type AttemptOutcome, PendingRequests } from './consumer-pending.js';
import { type ConsumerSession, ConsumerSessions } from './consumer-sessions.js';
import {
  OffloadConfigError,
  type OffloadFailure,
  OffloadInputError,
  OffloadUnavailableError,
} from './errors.js';
import { type PeerCandidate, rankPeers } from './peer-choice.js';
import { type OffloadTensor, outputsFromWire } from './tensor-codec.js';

export interface OffloadClientInit {
  /** How long one attempt waits for its response before trying another peer. */
  readonly timeoutMs: number;
  /** Most requests this node keeps in flight at one peer (also bounded by the peer's slots). */
  readonly maxInFlightPerPeer: number;
  /** Sign a voucher after this many ok responses in a session… */
  readonly voucherEveryResponses: number;
  /** …or this long after the last one, whichever comes first (when there is something new). */
  readonly voucherIntervalMs: number;
  /** Topic root (default `fieldmesh/v1/`). */
  readonly topicRoot?: string;
}

export interface OffloadClientComponents {
  readonly link: MqttLink;
  readonly identity: NodeIdentity;
  readonly peers: PeerDirectory;
  readonly logger: Logger;
  /** Wall clock, Unix epoch ms (default Date.now), for deadlines and voucher times. */
  readonly now?: () => number;
  /** Session ids (default crypto.randomBytes). */
  readonly random?: (n: number) => Uint8Array;
}

export interface OffloadResult {
  /** Every model output by name; structurally a ModelOutputs record. */
  readonly outputs: Readonly<Record<string, OffloadTensor>>;
  /** PeerId of the provider that ran it. */
  readonly provider: string;
  /** Compute time the provider reported, µs. */
  readonly computeUs: number;
}

export interface OffloadClientStats {
  /** Requests published (attempts, so a retried run counts twice). */
  readonly sent: number;
  readonly ok: number;
  readonly failed: Readonly<Partial<Record<OffloadFailure, number>>>;
  /** Runs that went on to a second peer. */
  readonly retried: number;
  readonly timeouts: number;
  /** Runs rejected with OffloadUnavailableError. */
  readonly unavailable: number;
  readonly inFlight: number;
  readonly vouchersSigned: number;
  /** Responses for no request in flight (timed out, failed over, or not ours). */
  readonly lateOrUnknown: number;
  readonly malformedResponses: number;
  /** Sessions given up because their provider no longer knew them (it restarted), then opened anew. */
  readonly sessionsRestarted: number;
}

const ATTEMPTS = 2;

/**
 * Failures after which the provider may have opened the session without this node seeing an ok:
 * an `opening` request that ends so retires the session, lest a restarted provider open it again
 * and number its receipts from 1 a second time.
 */
const MAY_HAVE_OPENED: ReadonlySet<OffloadFailure> = new Set<OffloadFailure>([
  'timeout',
  'peer_removed',
  'publish_failed',
  'bad_response',
  'inference_failed',
]);

/**
 * Hands windows to peers that have the model: picks the least loaded (then fastest) peer with
 * free capacity, waits `timeoutMs`, tries one other peer on any failure, and otherwise rejects
 * with OffloadUnavailableError so the caller runs the windows itself. Keeps one session per
 * provider and signs cumulative vouchers over what came back ok.
 */
export class OffloadClient {
  private readonly topics: Topics;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly sessions: ConsumerSessions;
  private readonly pending = new PendingRequests();
  private readonly tally = {
    sent: 0,
    ok: 0,
    retried: 0,
    timeouts: 0,
    unavailable: 0,
    vouchersSigned: 0,
    lateOrUnknown: 0,
    malformedResponses: 0,
    sessionsRestarted: 0,
  };
  private readonly failed: Partial<Record<OffloadFailure, number>> = {};
  private readonly voucherPublishes = new Set<Promise<void>>();
  private nextCorrelationId = randomInt(0, 2 ** 31);
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly onPeerRemoved = (peer: MeshPeer): void => {
    const failed = this.pending.failAll('peer_removed', peer.peerId);
    if (failed > 0)
      this.log.info({ peer: peer.peerId, failed }, 'peer left; its offloaded windows go elsewhere');
  };

  constructor(
    private readonly init: OffloadClientInit,
    private readonly components: OffloadClientComponents,
  ) {
    for (const field of [
      'timeoutMs',
      'maxInFlightPerPeer',
      'voucherEveryResponses',
      'voucherIntervalMs',
    ] as const) {
      if (!Number.isInteger(init[field]) || init[field] < 1) {
        throw new OffloadConfigError(field, `is ${init[field]}; use a whole number ≥ 1`);
      }
    }
    this.topics = topicsFor(init.topicRoot ?? DEFAULT_TOPIC_ROOT);
    this.log = components.logger.child({ component: 'offload-client' });
    this.now = components.now ?? Date.now;
    this.sessions = new ConsumerSessions(components.identity, components.random);
  }

  async start(): Promise<void> {
    if (this.running) return;
    const topic = this.topics.offloadResponses(this.components.identity.peerId);
    await this.components.link.subscribe(topic, 1, (_t, payload) => this.onResponse(payload));
    this.components.peers.on('removed', this.onPeerRemoved);
    const tick = Math.max(10, Math.min(this.init.voucherIntervalMs, 1000));
    this.timer = setInterval(() => this.voucherTick(), tick);
    this.timer.unref();
    this.running = true;
  }

  /** Fails what is in flight (callers fall back to local), then publishes a final voucher per session. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.components.peers.off('removed', this.onPeerRemoved);
    this.pending.failAll('stopped');
    for (const session of this.sessions.all()) this.publishVoucher(session);
    await Promise.allSettled([...this.voucherPublishes]);
    const topic = this.topics.offloadResponses(this.components.identity.peerId);
    await this.components.link
      .unsubscribe(topic)
      .catch((err: unknown) => this.log.debug({ err }, 'unsubscribe'));
  }

  stats(): OffloadClientStats {
    return { ...this.tally, failed: { ...this.failed }, inFlight: this.pending.size };
  }

  /**
   * Runs `rows` windows of `width` float32 values (row-major in `input`) on a peer that has the
   * model `modelSha256` (lower-case hex). Rejects with OffloadUnavailableError when no peer can.
   */
  async run(modelSha256: string, input: Float32Array, rows: number, width: number): Promise<OffloadResult> {
    const model = checkRun(modelSha256, input, rows, width);
    const attempts: { peerId: string; failure: OffloadFailure }[] = [];
    for (let i = 0; i < ATTEMPTS && this.running; i++) {
      const peer = this.choose(model, new Set(attempts.map((a) => a.peerId)));
      if (peer === undefined) break;
      if (i > 0) this.tally.retried++;
      const outcome = await this.attemptAt(peer, model, input, rows, width);
      if (outcome.ok) {
        this.tally.ok++;
        const { response } = outcome;
        return {
          outputs: outputsFromWire(response.outputs),
          provider: peer.peerId,
          computeUs: response.computeUs,
        };
      }
      this.failed[outcome.failure] = (this.failed[outcome.failure] ?? 0) + 1;
      if (outcome.failure === 'timeout') this.tally.timeouts++;
      attempts.push({ peerId: peer.peerId, failure: outcome.failure });
    }
    this.tally.unavailable++;
    const why = !this.running
      ? 'the offload client is stopped'
      : attempts.length === 0
        ? 'no peer has the model and a free slot'
        : 'no peer answered in time with a result';
    throw new OffloadUnavailableError(modelSha256, attempts, why);
  }

  /**
   * The peer a run for `modelSha256` would go to now, with its free slots and speed (placement.ts
   * bestPeer), or null when none has the model and room: a cheap check before queueing a window.
   */
  bestPeer(modelSha256: string): PeerCandidate | null {
    return this.rank(modelSha256.toLowerCase(), new Set())[0] ?? null;
  }

  private choose(model: string, exclude: ReadonlySet<string>): MeshPeer | undefined {
    return this.rank(model, exclude)[0]?.peer;
  }

  private rank(model: string, exclude: ReadonlySet<string>): PeerCandidate[] {
    return rankPeers(this.components.peers.peers(), {
      modelSha256: model,
      self: this.components.identity.peerId,
      exclude,
      inFlight: (id) => this.pending.inFlight(id),
      maxInFlightPerPeer: this.init.maxInFlightPerPeer,
    });
  }

  /**
   * One attempt at `peer`, plus one more there when it no longer knows the session (it restarted):
   * the session is retired and the request goes again in a fresh one, which it may open.
   */
  private async attemptAt(
    peer: MeshPeer,
    model: string,
    input: Float32Array,
    rows: number,
    width: number,
  ): Promise<AttemptOutcome> {
    const first = await this.attempt(peer, model, input, rows, width);
    if (first.outcome.ok || first.outcome.failure !== 'unknown_session' || !this.running) {
      return first.outcome;
    }
    this.failed.unknown_session = (this.failed.unknown_session ?? 0) + 1;
    if (this.sessions.retire(first.session)) {
      this.tally.sessionsRestarted++;
      this.log.info({ provider: peer.peerId }, 'provider no longer knows the session; opening a new one');
    }
    return (await this.attempt(peer, model, input, rows, width)).outcome;
  }

  private async attempt(
    peer: MeshPeer,
    model: string,
    input: Float32Array,
    rows: number,
    width: number,
  ): Promise<{ session: ConsumerSession; outcome: AttemptOutcome }> {
    const session = this.sessions.open(peer.peerId, peer.publicKey, this.now());
    const opening = !session.opened;
    const correlationId = this.nextCorrelationId;
    this.nextCorrelationId = (this.nextCorrelationId + 1) % Number.MAX_SAFE_INTEGER;
    const bytes = encodeOffloadRequest({
      correlationId,
      sessionId: session.sessionId,
      consumer: this.components.identity.peerId,
      modelSha256: Buffer.from(model, 'hex'),
      rows,
      width,
      input: tensorBytes(input),
      deadlineMs: this.now() + this.init.timeoutMs,
      opening,
    });
    const outcome: Promise<AttemptOutcome> = this.pending.add(
      correlationId,
      peer.peerId,
      session,
      this.init.timeoutMs,
    );
    this.tally.sent++;
    this.components.link
      .publish(this.topics.offloadRequests(peer.peerId), bytes, { qos: 1 })
      .catch(() => this.pending.fail(correlationId, 'publish_failed'));
    const settled = await outcome;
    if (!settled.ok && opening && MAY_HAVE_OPENED.has(settled.failure)) this.sessions.retire(session);
    return { session, outcome: settled };
  }

  private onResponse(payload: Uint8Array): void {
    let response: OffloadResponse;
    try {
      response = decodeOffloadResponse(payload);
    } catch (err) {
      this.tally.malformedResponses++;
      this.log.debug({ err: (err as Error).message }, 'malformed offload response dropped');
      // When the id could be read, the request fails now instead of at its timeout.
      if (err instanceof OffloadMessageError && err.correlationId !== undefined) {
        this.pending.fail(err.correlationId, 'bad_response');
      }
      return;
    }
    if (response.status !== 'ok') {
      if (!this.pending.fail(response.correlationId, response.status as OffloadFailure))
        this.tally.lateOrUnknown++;
      return;
    }
    const answered = this.pending.answer(response);
    if (answered === null) {
      this.tally.lateOrUnknown++;
      return;
    }
    const { session, roundTripUs } = answered;
    this.sessions.credit(session, response.computeUs, roundTripUs, response.receiptSequence);
    if (session.unvouched >= this.init.voucherEveryResponses) this.publishVoucher(session);
  }

  private voucherTick(): void {
    const now = this.now();
    for (const session of this.sessions.all()) {
      if (session.unvouched > 0 && now - session.lastVoucherAtMs >= this.init.voucherIntervalMs) {
        this.publishVoucher(session);
      }
    }
  }

  private publishVoucher(session: ConsumerSession): void {
    let payload: Uint8Array;
    try {
      const signed = this.sessions.sign(session, this.now());
      if (signed === null) return;
      payload = encodeVoucherMessage(signed);
    } catch (err) {
      this.log.warn({ err, provider: session.providerId }, 'voucher not signed');
      return;
    }
    this.tally.vouchersSigned++;
    const sent: Promise<void> = this.components.link
      .publish(this.topics.vouchers(session.providerId), payload, { qos: 1 })
      .catch((err: unknown) => this.log.debug({ err, provider: session.providerId }, 'voucher not delivered'))
      .finally(() => this.voucherPublishes.delete(sent));
    this.voucherPublishes.add(sent);
  }
}

/** The model digest, normalised; throws OffloadInputError for arguments that cannot form a request. */
function checkRun(modelSha256: string, input: Float32Array, rows: number, width: number): string {
  const model = modelSha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(model))
    throw new OffloadInputError(`modelSha256 "${modelSha256}" is not 64 hex digits`);
  if (!Number.isInteger(rows) || rows < 1)
    throw new OffloadInputError(`rows is ${rows}; use a whole number ≥ 1`);
  if (!Number.isInteger(width) || width < 1)
    throw new OffloadInputError(`width is ${width}; use a whole number ≥ 1`);
  if (input.length !== rows * width) {
    throw new OffloadInputError(`input holds ${input.length} values, not rows × width = ${rows * width}`);
  }
  return model;
}
