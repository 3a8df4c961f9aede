import type { Logger } from './log.js';

export interface PartFailure {
  part: string;
  code: string;
  message: string;
}

/**
 * The parts that refused to start (`model x`, `pipeline y`, `receipts`, `bridge`), as /v1/status
 * lists them. A part that starts later (a model fetched on request, its waiting pipelines)
 * is taken off the list again.
 */
export class PartFailures {
  private readonly failures: PartFailure[] = [];

  constructor(private readonly logger: Logger) {}

  get count(): number {
    return this.failures.length;
  }

  fail(part: string, err: unknown): void {
    const e = err as Error & { code?: string };
    const failure = { part, code: e.code ?? 'UNEXPECTED', message: e.message };
    this.failures.push(failure);
    this.logger.error(failure, `${part} refused`);
  }

  drop(part: string): void {
    const i = this.failures.findIndex((f) => f.part === part);
    if (i >= 0) this.failures.splice(i, 1);
  }

  list(): PartFailure[] {
    return [...this.failures];
  }
}
