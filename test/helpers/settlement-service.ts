import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { createDatabase } from '../../bench/lib/postgres-server.js';
import type { NodeIdentity } from '../../protocol/identity.js';
import { DEFAULT_SETTLEMENT_INIT, type SettlementInit } from '../../settlement/service/context.js';
import { createSettlementService, type SettlementService } from '../../settlement/service/service.js';
import { quietLogger } from './broker.js';
import type { StoreKind } from './settlement-store.js';
import { EXAMPLE_MANIFESTS } from './spotcheck.js';

export interface TestSettlement {
  readonly service: SettlementService;
  readonly url: string;
  readonly dataDir: string;
  close(): Promise<void>;
}

/** The real settlement service on a free loopback port, with the example models registered. */
export async function startTestSettlement(
  options: {
    store?: StoreKind;
    init?: Partial<SettlementInit>;
    identity?: NodeIdentity;
    now?: () => number;
    registerNodes?: string[];
    dataDir?: string;
    port?: number;
    /** The built page (settlement/page/build.ts) the service serves at `/`. */
    pageDir?: string;
  } = {},
): Promise<TestSettlement> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'fm-settlement-')));
  const databaseUrl =
    options.store === 'postgres'
      ? await createDatabase(inject('postgresUrl'), `s_${Math.random().toString(16).slice(2, 12)}`)
      : undefined;
  const service = createSettlementService(
    { ...DEFAULT_SETTLEMENT_INIT, port: options.port ?? 0, epochMs: 3_600_000, ...options.init },
    {
      logger: quietLogger,
      dataDir,
      ...(databaseUrl ? { databaseUrl } : {}),
      models: EXAMPLE_MANIFESTS.map((manifest) => ({ manifest })),
      ...(options.identity ? { identity: options.identity } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.registerNodes ? { registerNodes: options.registerNodes } : {}),
      ...(options.pageDir ? { pageDir: options.pageDir } : {}),
    },
  );
  await service.start();
  return {
    service,
    url: service.url,
    dataDir,
    close: async () => {
      await service.stop();
      if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
