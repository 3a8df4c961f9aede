import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';

/**
 * A typed emitter with one argument per event whose emit never throws: a listener that throws
 * is logged and the other listeners still run. The link emits from inside mqtt.js callbacks,
 * where an exception would break mqtt.js's own state.
 */
export class SafeEmitter<Events extends { [K in keyof Events]: unknown }> {
  private readonly emitter = new EventEmitter();

  constructor(private readonly log: Logger) {}

  on<E extends keyof Events & string>(event: E, listener: (info: Events[E]) => void): void {
    this.emitter.on(event, listener);
  }

  once<E extends keyof Events & string>(event: E, listener: (info: Events[E]) => void): void {
    this.emitter.once(event, listener);
  }

  off<E extends keyof Events & string>(event: E, listener: (info: Events[E]) => void): void {
    this.emitter.off(event, listener);
  }

  emit<E extends keyof Events & string>(event: E, info: Events[E]): void {
    // rawListeners keeps once-wrappers, so a once listener is removed as it runs.
    for (const listener of this.emitter.rawListeners(event)) {
      try {
        (listener as (info: Events[E]) => void)(info);
      } catch (err) {
        this.log.warn(
          { event, err: err instanceof Error ? err.message : String(err) },
          'event listener threw',
        );
      }
    }
  }
}
