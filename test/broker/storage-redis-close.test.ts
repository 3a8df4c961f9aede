import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRedisStorage } from '../../broker/storage-redis.js';
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js';

/** mqemitter's close() as aedes.close() calls it: QUIT on both connections, its callback on their end. */
function closeEmitter(mq: unknown): void {
  (mq as { close(cb: () => void): void }).close(() => undefined);
}

describe('broker Redis storage closing', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('leaves no unhandled rejection when Redis dies before it answers the QUITs', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const storage = await openRedisStorage(
        { url: redis.url, prefix: 'closing', connectTimeoutMs: 2000 },
        pino({ level: 'silent' }),
      );
      // A Redis too busy to answer: the QUITs are sent and stay unanswered until close() cuts them.
      redis.freeze(true);
      closeEmitter(storage.mq);
      await storage.close();
      // Redis dies before it answers: the connections end with their QUITs failed.
      await redis.halt();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(unhandled.map(String)).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
      redis.freeze(false);
      await redis.start();
    }
  });
});
