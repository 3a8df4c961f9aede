import path from 'node:path';
import { createLan, type NetnsHost, type NetnsLan } from '../lib/netns.js';
import { HEAVY_WIDTH, type HeavyModel } from './model.js';
import { MeshRig } from './rig.js';
import { type BenchAgent, isMsg, startAgent, startLanBroker } from './site.js';

/**
 * Requests B takes at once. onnxruntime-node runs a model call on the event-loop thread, so
 * B's calls still run one after another on one thread; the second slot only keeps the next
 * request waiting at B instead of on its way, so B does not idle for a round trip per window.
 */
const PROVIDER_SLOTS = 2;

/** The bench site: node A reads the sensors, node B serves it, a third host takes joiners. */
export interface Site {
  readonly lan: NetnsLan;
  readonly work: string;
  readonly brokerUrl: string;
  readonly brokerPid: number | undefined;
  readonly a: BenchAgent;
  readonly b: BenchAgent;
  readonly joinHost: NetnsHost;
  readonly rig: MeshRig;
  stop(): Promise<void>;
}

/**
 * Node A's pipelines, one per placement, on one model and one kind of input (one window per
 * message, so ingest costs little beside the model); the rig loads one at a time. `auto`
 * sends windows to B as soon as more than one waits for A's model.
 */
function pipeline(id: string, model: HeavyModel, placement: 'local' | 'peer' | 'auto') {
  return {
    id,
    model: model.id,
    input: { topic: `bench/${id}/+`, field: 'v', timestampField: 'ts', length: HEAVY_WIDTH },
    window: { stride: HEAVY_WIDTH },
    results: { qos: 1 },
    placement,
    maxLocalQueue: 1,
  };
}

/**
 * A LAN of three namespaces, `fieldmesh broker` in the root namespace on its LAN address, and
 * nodes A and B, each holding the model to one onnxruntime thread; B runs one call at a time
 * for peers (PROVIDER_SLOTS). Resolves once A has verified B.
 */
export async function startSite(work: string, model: HeavyModel): Promise<Site> {
  const lan = createLan(3);
  const [hostA, hostB, joinHost] = lan.hosts as [NetnsHost, NetnsHost, NetnsHost];
  const agents: BenchAgent[] = [];
  let broker: Awaited<ReturnType<typeof startLanBroker>> | undefined;
  let rig: MeshRig | undefined;
  const stop = async () => {
    await rig?.stop().catch(() => undefined);
    for (const agent of agents) await agent.kill();
    await broker?.child.stop();
    lan.teardown();
  };
  try {
    broker = await startLanBroker(lan);
    const common = {
      brokerUrl: broker.url,
      models: [{ id: model.id, manifest: model.manifestPath, threads: 1, warmupRuns: 5 }],
    };
    const b = await startAgent(
      lan,
      { ...common, name: 'bench-b', host: hostB, dataDir: path.join(work, 'b'), slots: PROVIDER_SLOTS },
      work,
    );
    agents.push(b);
    const pipelines = (['local', 'peer', 'auto'] as const).map((p) => pipeline(p, model, p));
    const a = await startAgent(
      lan,
      { ...common, name: 'bench-a', host: hostA, dataDir: path.join(work, 'a'), slots: 0, pipelines },
      work,
    );
    agents.push(a);
    await b.waitFor('agent ready', isMsg('agent ready'), 30_000);
    await a.waitFor('agent ready', isMsg('agent ready'), 30_000);
    await a.waitFor('node B verified', isMsg('peer verified and added', { name: 'bench-b' }), 20_000);
    rig = new MeshRig(broker.url);
    await rig.start();
    return { lan, work, brokerUrl: broker.url, brokerPid: broker.child.proc.pid, a, b, joinHost, rig, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
