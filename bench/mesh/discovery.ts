import path from 'node:path';
import type { NetnsHost, NetnsLan } from '../lib/netns.js';
import { type BenchAgent, isMsg, startAgent } from './site.js';

export interface DiscoveryRound {
  /** Spawn of a new agent → its first verified peer ('peer verified and added'). */
  discoverMs: number;
  /** Spawn → 'agent ready', for context: how much of discoverMs is the agent starting at all. */
  readyMs: number;
  /** SIGKILL of that agent → the survivor's 'peer removed' for it. */
  peerLossMs: number;
}

/**
 * One round: a fresh agent (new data dir, so a new node key) joins the LAN where `survivor`
 * already runs; once each has verified the other, the newcomer is killed with SIGKILL and the
 * survivor's discovery has to notice by itself (no goodbye, no closed socket to see).
 */
export async function discoveryRound(
  lan: NetnsLan,
  init: { host: NetnsHost; brokerUrl: string; work: string; round: number },
  survivor: BenchAgent,
): Promise<DiscoveryRound> {
  const name = `bench-joiner-${init.round}`;
  const mark = survivor.logs.length;
  const joiner = await startAgent(
    lan,
    {
      name,
      host: init.host,
      brokerUrl: init.brokerUrl,
      dataDir: path.join(init.work, name),
      slots: 0,
    },
    init.work,
  );
  try {
    const found = await joiner.waitFor('verified peer', isMsg('peer verified and added'), 20_000);
    const ready = await joiner.waitFor('agent ready', isMsg('agent ready'), 20_000);
    await survivor.waitFor(`${name} verified`, isMsg('peer verified and added', { name }), 20_000, mark);
    const lossMark = survivor.logs.length;
    const killedAt = performance.now();
    await joiner.kill();
    const removed = await survivor.waitFor(
      `${name} removed`,
      isMsg('peer removed', { name }),
      30_000,
      lossMark,
    );
    return {
      discoverMs: found.at - joiner.spawnedAt,
      readyMs: ready.at - joiner.spawnedAt,
      peerLossMs: removed.at - killedAt,
    };
  } finally {
    await joiner.kill();
  }
}
