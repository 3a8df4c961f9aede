/** Default for every wait: long enough for a loaded 2-core CI box, short enough to fail fast. */
export const DEFAULT_WAIT_MS = 5000;

/**
 * Resolves with `promise`, or rejects after `timeoutMs` with an error that names `what`.
 * Use it instead of a sleep: the test waits exactly as long as the behaviour takes.
 */
export function withTimeout<T>(promise: Promise<T>, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * Anything with Node-style on/off: EventEmitter, mqtt.js clients, typed emitters. Listener
 * arguments differ per event and per emitter, so this one type has to accept them all.
 */
export interface Listenable {
  // biome-ignore lint/suspicious/noExplicitAny: each emitter types its events differently
  on(event: any, listener: (...args: any[]) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: each emitter types its events differently
  off(event: any, listener: (...args: any[]) => void): unknown;
}

export interface WaitForEventOptions<A extends unknown[]> {
  timeoutMs?: number;
  /** Only an emission whose arguments pass this counts; others are ignored. */
  filter?: (...args: A) => boolean;
}

/**
 * Resolves with the arguments of the next `event` from `emitter` (that passes `filter`), or
 * rejects after the timeout. The listener is removed either way. Register the wait before
 * causing the event, or it may already have happened:
 *
 *   const connected = waitForEvent(link, 'connected');
 *   await broker.start();
 *   await connected;
 */
export function waitForEvent<A extends unknown[] = unknown[]>(
  emitter: Listenable,
  event: string,
  options: WaitForEventOptions<A> = {},
): Promise<A> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
  return new Promise<A>((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      const typed = args as A;
      if (options.filter && !options.filter(...typed)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(typed);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    emitter.on(event, listener);
  });
}

/**
 * Calls `listener` for each `event` and keeps the arguments; `next()` waits for the n-th one
 * (counting from the start), so a test can assert on a sequence without racing it.
 */
export function recordEvents<A extends unknown[] = unknown[]>(
  emitter: Listenable,
  event: string,
): { readonly seen: A[]; waitForCount(count: number, timeoutMs?: number): Promise<A[]>; stop(): void } {
  const seen: A[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const listener = (...args: unknown[]) => {
    seen.push(args as A);
    for (const w of waiters.filter((x) => seen.length >= x.count)) w.resolve();
  };
  emitter.on(event, listener);
  return {
    seen,
    waitForCount(count, timeoutMs = DEFAULT_WAIT_MS) {
      if (seen.length >= count) return Promise.resolve(seen);
      const reached = new Promise<A[]>((resolve) => waiters.push({ count, resolve: () => resolve(seen) }));
      return withTimeout(reached, `${count} '${event}' events`, timeoutMs);
    },
    stop: () => emitter.off(event, listener),
  };
}

/**
 * A promise with its resolve/reject pulled out, for a handler to signal "it happened":
 *
 *   const arrived = deferred<string>();
 *   await link.subscribe('a/#', 1, (topic) => arrived.resolve(topic));
 *   expect(await withTimeout(arrived.promise, 'a message on a/#')).toBe('a/b');
 */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
