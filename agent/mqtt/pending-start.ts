/**
 * The link's start() while it is under way: one promise for every caller, settled once, by the
 * first connection, a final failure, stop(), or the deadline (which calls `onDeadline`).
 */
export class PendingStart {
  readonly promise: Promise<void>;
  private resolveFn!: () => void;
  private rejectFn!: (err: Error) => void;
  private readonly deadline: NodeJS.Timeout;

  constructor(timeoutMs: number, onDeadline: () => void) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    this.deadline = setTimeout(onDeadline, timeoutMs);
  }

  resolve(): void {
    clearTimeout(this.deadline);
    this.resolveFn();
  }

  reject(err: Error): void {
    clearTimeout(this.deadline);
    this.rejectFn(err);
  }
}
