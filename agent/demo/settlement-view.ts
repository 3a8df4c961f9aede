/**
 * What the settlement service says about this node, polled over its HTTP API the way an
 * operator's own tooling would: receipts judged, credit, spot checks, the last epoch.
 */
export interface SettlementViewState {
  reachable: boolean;
  credited: number;
  pending: number;
  voided: number;
  valid: number;
  duplicate: number;
  openChallenges: number;
  epoch: number | null;
}

const POLL_MS = 1_000;
const TIMEOUT_MS = 900;

export class SettlementView {
  readonly state: SettlementViewState = {
    reachable: false,
    credited: 0,
    pending: 0,
    voided: 0,
    valid: 0,
    duplicate: 0,
    openChallenges: 0,
    epoch: null,
  };
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly init: { url: string; nodeId: string }) {}

  async start(): Promise<void> {
    await this.poll();
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }

  async poll(): Promise<void> {
    try {
      const res = await fetch(`${this.init.url}/v1/nodes/${this.init.nodeId}`, {
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const node = (await res.json()) as {
        credited: number;
        pending: number;
        voided: number;
        openChallenges: number;
        receipts: Record<string, number>;
        lastEpoch: { epoch: number } | null;
      };
      Object.assign(this.state, {
        reachable: true,
        credited: node.credited,
        pending: node.pending,
        voided: node.voided,
        valid: node.receipts.valid ?? 0,
        duplicate: node.receipts.duplicate ?? 0,
        openChallenges: node.openChallenges,
        epoch: node.lastEpoch?.epoch ?? null,
      });
    } catch {
      this.state.reachable = false;
    }
  }
}
