import type { NodeIdentity } from '../../protocol/identity.js';
import type { ActionAnswer, ActivityTracker } from '../activity.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { VoucherSink } from '../offload/voucher-sink.js';
import type { PartFailures } from '../part-failures.js';
import type { PipelineReceipts } from '../pipeline/pipeline.js';
import type { ReceiptSink } from '../pipeline/receipt-sink.js';
import { createReceiptService, type ReceiptService } from './service.js';
import type { ReceiptsStatus } from './status-file.js';

export interface AgentReceiptsParts {
  readonly logger: Logger;
  readonly activities: ActivityTracker;
  readonly failures: PartFailures;
}

/**
 * The agent's hold on its receipt parts. Receipts run only when settlement is configured. A
 * receipt part that cannot start (say the outbox is locked by another agent on the same data
 * dir) is a part failure: the pipelines still run, without receipts, and status and the log
 * say so.
 */
export class AgentReceipts {
  private service: ReceiptService | null = null;
  private identity: NodeIdentity | null = null;
  private last: ReceiptsStatus | undefined;

  constructor(
    private readonly config: Readonly<Config>,
    private readonly parts: AgentReceiptsParts,
  ) {}

  async start(identity: NodeIdentity): Promise<void> {
    const settlement = this.config.settlement;
    if (settlement === undefined) return;
    try {
      const service = createReceiptService(
        { settlement, dataDir: this.config.node.dataDir },
        { logger: this.parts.logger, identity, activities: this.parts.activities },
      );
      await service.start();
      this.service = service;
      this.identity = identity;
    } catch (err) {
      this.parts.failures.fail('receipts', err);
    }
  }

  /** Call after the pipelines stopped: their last receipts are flushed and, if the service answers, sent. */
  async stop(): Promise<void> {
    await this.service
      ?.stop()
      .catch((err: Error) => this.parts.logger.warn({ err: err.message }, 'receipts stop failed'));
    this.last = this.service?.status();
    this.service = null;
  }

  /** What every local pipeline records into; undefined while receipts are off. */
  forPipelines(): PipelineReceipts | undefined {
    if (!this.service || !this.identity) return undefined;
    // Local pipelines run for the site that owns the sensors: this node is its own consumer.
    return { sink: this.service.sink, consumerKey: this.identity.publicKey };
  }

  /** What the offload provider records into: work for peers and their vouchers. */
  forOffload(): { receipts?: ReceiptSink; vouchers?: VoucherSink } {
    return this.service ? { receipts: this.service.sink, vouchers: this.service.vouchers } : {};
  }

  /** For /v1/status: present while the receipt parts run. */
  status(): (ReceiptsStatus & { url: string }) | undefined {
    const url = this.config.settlement?.url;
    return this.service && url !== undefined ? { ...this.service.status(), url } : undefined;
  }

  /** The counts now, or as they stood when the agent stopped (after its last send). */
  latest(): ReceiptsStatus | undefined {
    return this.service?.status() ?? this.last;
  }

  /** `POST /v1/receipts/flush`: send the outbox now rather than at the batch timer. */
  flush(): ActionAnswer {
    if (!this.service) {
      const why = this.config.settlement
        ? 'the receipt parts failed to start (see failures)'
        : 'no settlement section';
      return { accepted: false, status: 503, code: 'RECEIPTS_OFF', reason: `receipts are off: ${why}` };
    }
    const activity = this.service.flush();
    if (activity === null) {
      return {
        accepted: false,
        status: 409,
        code: 'RECEIPTS_NONE_PENDING',
        reason: 'no receipts are pending: the outbox is empty',
      };
    }
    return { accepted: true, activity };
  }
}
