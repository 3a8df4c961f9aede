import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { hasCode } from '../../protocol/errors.js';
import { DEFAULT_SETTLEMENT_INIT } from '../../settlement/service/context.js';
import { createSettlementService, type SettlementService } from '../../settlement/service/service.js';
import { validateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';

/** Demo epochs are short so credit shows up while someone is watching. */
const DEMO_EPOCH_MS = 10_000;
const DEMO_SPOT_CHECK_PPM = 20_000;
const DEMO_REVEAL_WINDOW_MS = 30_000;
const DEMO_PORT = 8710;

/**
 * The demo's own settlement service, on loopback next to the agent: the example models are
 * registered (credit 1 per window), epochs close every 10 s and 2 % of receipts are
 * spot-checked, so receipts go from sent to acknowledged to credited within a minute.
 */
export async function startDemoSettlement(
  manifests: readonly string[],
  options: { dataDir: string; logger: Logger },
): Promise<SettlementService> {
  const make = (port: number) =>
    createSettlementService(
      {
        ...DEFAULT_SETTLEMENT_INIT,
        port,
        epochMs: DEMO_EPOCH_MS,
        spotCheckPpm: DEMO_SPOT_CHECK_PPM,
        revealWindowMs: DEMO_REVEAL_WINDOW_MS,
      },
      {
        logger: options.logger,
        dataDir: options.dataDir,
        models: manifests.map((manifest) => ({ manifest })),
      },
    );
  let service = make(DEMO_PORT);
  try {
    await service.start();
  } catch (err) {
    if (!hasCode(err, 'SETTLEMENT_START_FAILED')) throw err;
    await service.stop();
    service = make(0);
    await service.start();
  }
  return service;
}

/**
 * The demo configuration with a settlement section pointing at `service`, unless the file
 * already names a settlement service of its own.
 */
export async function demoConfigWithSettlement(
  configFile: string,
  env: NodeJS.ProcessEnv,
  service: { url: string; peerId: string } | undefined,
): Promise<Readonly<Config>> {
  const raw = parseYaml(await readFile(configFile, 'utf8')) as Record<string, unknown>;
  if (service !== undefined && raw.settlement === undefined) {
    raw.settlement = {
      url: service.url,
      servicePublicKey: service.peerId,
      batch: { maxAgeMs: 2_000 },
      challengePollMs: 2_000,
    };
  }
  return validateConfig(raw, configFile, { env });
}

/** Where the demo keeps its settlement service: beside the node's data directory. */
export function demoSettlementDir(nodeDataDir: string): string {
  return path.join(path.dirname(nodeDataDir), `${path.basename(nodeDataDir)}-settlement`);
}
