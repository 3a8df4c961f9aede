import path from 'node:path';
import { hasCode } from '../../../protocol/errors.js';
import { topicsFor } from '../../../protocol/topics.js';
import { Agent } from '../../agent.js';
import { loadConfigFile } from '../../config/load.js';
import { type DemoNode, startDemoPeers, stopDemoPeers } from '../../demo/demo-mesh.js';
import {
  demoConfigWithSettlement,
  demoSettlementDir,
  startDemoSettlement,
} from '../../demo/demo-settlement.js';
import { LiveView } from '../../demo/live-view.js';
import { formatReceipts, type ReceiptsLine, renderScreen } from '../../demo/render.js';
import { demoFaultPlan, demoSensor } from '../../demo/scenario.js';
import { SettlementView } from '../../demo/settlement-view.js';
import { Simulator } from '../../demo/simulator.js';
import { createAgentApi } from '../../http/agent-api.js';
import { createLogger } from '../../log.js';
import type { PipelineStats } from '../../pipeline/pipeline.js';
import { projectFile } from '../../project-files.js';
import type { ReceiptsStatus } from '../../receipts/status-file.js';
import { intOption, numberOption, parse } from '../args.js';
import { EXIT_HELP } from '../exit-codes.js';
import { runUntilStopped } from '../lifecycle.js';

export const DEMO_HELP = `fieldmesh demo [--duration S] [--machines N] [--peers N] [--port N]

A live local mesh on embedded defaults: a gateway agent embedding the MQTT broker and running
the example vibration and temperature models, peer agents that find it over mDNS (on loopback
only) and run its temperature windows, simulated machines with injected faults, a settlement
service crediting every node's receipts, and a live view of readings, scores, detected
anomalies, where windows ran and receipts sent, acknowledged and credited. Ctrl-C stops it.

Options:
  --duration S     stop after S seconds and print a summary (default: run until Ctrl-C)
  --machines N     simulated machines, 1-26 (default 4)
  --rate HZ        vibration readings per second per machine, 1-1000 (default 50)
  --peers N        peer agents beside the gateway, 0-3 (default 1; 0: the gateway alone)
  --port N         port of the embedded broker (default 1883; any free port if taken)
  --data-dir DIR   where the demo gateway keeps its key and receipts (default ./data/demo);
                   peer i keeps its own in DIR-peer-i, the settlement service in DIR-settlement
  --config FILE    agent configuration (default deploy/examples/demo.yaml)
  -h, --help       this help

${EXIT_HELP}`;

const DEFAULT_CONFIG = projectFile('deploy', 'examples', 'demo.yaml');
const TOPIC_PREFIX = 'demo/line-1';

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse('demo', argv, {
    duration: { type: 'string' },
    machines: { type: 'string' },
    rate: { type: 'string' },
    peers: { type: 'string' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    config: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${DEMO_HELP}\n`);
    return 0;
  }
  const durationS = numberOption('demo', 'duration', values.duration, 1);
  const machineCount = intOption('demo', 'machines', values.machines, 1, 26) ?? 4;
  const rate = intOption('demo', 'rate', values.rate, 1, 1000) ?? 50;
  const peerCount = intOption('demo', 'peers', values.peers, 0, 3) ?? 1;
  const port = intOption('demo', 'port', values.port, 0, 65535);
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (port !== undefined) env.FIELDMESH_BROKER_PORT = String(port);
  if (values['data-dir']) env.FIELDMESH_DATA_DIR = values['data-dir'];
  // The built-in demo keeps its data under the working folder, as its help says: a release
  // executable unpacks demo.yaml into a cache, which is no place for keys and receipts.
  else if (values.config === undefined) env.FIELDMESH_DATA_DIR ??= path.resolve('data', 'demo');
  const configFile = values.config ?? DEFAULT_CONFIG;
  const base = await loadConfigFile(configFile, { env });
  const logger = createLogger({ level: base.log.level, format: 'json', destination: process.stderr });
  // Without a settlement service of its own, the demo runs one beside the agent.
  const service =
    base.settlement === undefined
      ? await startDemoSettlement(
          base.models.map((m) => m.manifest),
          { dataDir: demoSettlementDir(base.node.dataDir), logger },
        )
      : undefined;
  const serviceRef = service && { url: service.url, peerId: service.identity.peerId };
  const config = await demoConfigWithSettlement(configFile, env, serviceRef);

  const api = createAgentApi(config, { logger });
  let agent = new Agent(config, { logger, pipelineObserver: api.observer });
  try {
    await agent.start();
  } catch (err) {
    if (!hasCode(err, 'BROKER_LISTEN_FAILED') || port !== undefined) {
      await service?.stop();
      throw err;
    }
    process.stderr.write(`port ${config.broker.port} is taken; the demo broker uses a free port instead\n`);
    const freePort = { ...env, FIELDMESH_BROKER_PORT: '0' };
    agent = new Agent(await demoConfigWithSettlement(configFile, freePort, serviceRef), {
      logger,
      pipelineObserver: api.observer,
    });
    await agent.start();
  }
  let peers: DemoNode[] = [];
  try {
    peers = await startDemoPeers(peerCount, {
      gatewayDataDir: config.node.dataDir,
      settlement: serviceRef,
      logger,
    });
  } catch (err) {
    // Multicast on loopback can be missing (some containers): the site still runs, on one node.
    process.stderr.write(
      `the demo's peers could not join (${(err as Error).message}); the gateway runs alone\n`,
    );
  }
  // The demo runs without it rather than not at all (another demo may hold the port).
  await api.start(agent).then(
    () =>
      process.stderr.write(
        `dashboard: ${api.url}/  operator API: ${api.url}/v1/status  metrics: ${api.url}/metrics\n`,
      ),
    (err: Error) => process.stderr.write(`the operator API is off: ${err.message}\n`),
  );
  const viewOf = (nodeId: string) =>
    config.settlement && new SettlementView({ url: config.settlement.url, nodeId });
  const settlement = viewOf(agent.nodeId);
  const peerViews = peers.map((p) => ({ node: p, settlement: viewOf(p.agent.nodeId) }));
  const url = agent.brokerUrl ?? config.mqtt.url;
  const machines = Array.from({ length: machineCount }, (_, i) => machineName(i));
  const faults = demoFaultPlan(machines, durationS ?? 3600);
  const simulator = new Simulator(
    {
      url,
      topicPrefix: TOPIC_PREFIX,
      machines,
      rateHz: { vibration: rate, temperature: Math.max(1, Math.round(rate / 5)) },
      faults,
      garbageEveryS: 15,
    },
    { sensor: demoSensor, logger },
  );
  const view = new LiveView({ url, topics: topicsFor(config.mqtt.topicRoot), machineOf: (sensor) => sensor });
  const screen = new Screen(process.stdout.isTTY === true);
  const draw = () =>
    screen.draw(
      renderScreen({
        state: view.state,
        elapsedS: simulator.elapsedS(),
        published: simulator.stats().published,
        activeFaults: machines.flatMap((m) =>
          (['vibration', 'temperature'] as const).flatMap((k) => simulator.activeFault(m, k) ?? []),
        ),
        pipelines: config.pipelines.map((p) => p.id),
        colour: screen.tty,
        brokerUrl: url,
        nodeId: agent.nodeId,
        ...(config.node.name ? { nodeName: config.node.name } : {}),
        ...liveReceipts(agent, settlement),
        peers: peerViews.map(({ node, settlement: v }) => ({
          name: node.name,
          nodeId: node.agent.nodeId,
          sees: peerNames(node.agent),
          ...liveReceipts(node.agent, v),
        })),
      }),
    );
  let timer: NodeJS.Timeout | undefined;
  await runUntilStopped(
    [
      { start: () => view.start(), stop: () => view.stop() },
      { start: async () => settlement?.start(), stop: async () => settlement?.stop() },
      ...peerViews.map(({ settlement: v }) => ({
        start: async () => v?.start(),
        stop: async () => v?.stop(),
      })),
      { start: () => simulator.start(), stop: () => simulator.stop() },
      {
        start: async () => {
          timer = setInterval(draw, screen.tty ? 500 : 5000);
        },
        stop: async () => clearInterval(timer),
      },
    ],
    durationS === undefined ? { logger } : { logger, durationMs: durationS * 1000 },
  );
  const pipelines = agent.status().pipelines;
  await api.stop();
  await stopDemoPeers(peers); // first, so no peer sees the site broker go and elects itself
  await agent.stop();
  // The demo's epochs are short but the run may be shorter: close one so the summary shows credit.
  await service?.closeEpoch().catch(() => undefined);
  const nodes = [
    { name: config.node.name ?? 'gateway', agent, settlement, gateway: true },
    ...peerViews.map((p) => ({ ...p.node, settlement: p.settlement, gateway: false })),
  ];
  await Promise.all(nodes.map((n) => n.settlement?.poll()));
  await service?.stop();
  const injected = faults.filter((f) => f.startS < simulator.elapsedS()).length;
  const lines = nodes.map(({ name, agent: a, settlement: v, gateway }) => {
    const r = a.lastReceiptsStatus;
    const ran = gateway ? undefined : (view.state.ranOn.get(a.nodeId) ?? 0);
    return { name, ran, receipts: r && v ? receiptsLine(r, v) : undefined };
  });
  screen.final(summary(view, simulator, pipelines, injected, lines));
  return 0;
}

function peerNames(agent: Agent): string[] {
  const mesh = agent.status().mesh as { peers?: { name: string }[] } | undefined;
  return (mesh?.peers ?? []).map((p) => p.name);
}

/** The receipts figures for the live view: the agent's own counts beside the service's. */
function receiptsLine(r: ReceiptsStatus, view: SettlementView): ReceiptsLine {
  const s = view.state;
  return {
    made: r.appended,
    acknowledged: r.acknowledgedReceipts,
    pending: r.pending,
    reachable: s.reachable,
    credited: s.credited,
    pendingCredit: s.pending,
    voided: s.voided,
    openChallenges: s.openChallenges,
    epoch: s.epoch,
  };
}

function machineName(i: number): string {
  const kinds = ['press', 'pump', 'fan', 'mill'];
  return `${kinds[i % kinds.length]}-${Math.floor(i / kinds.length) + 1}`;
}

function liveReceipts(agent: Agent, view: SettlementView | undefined): { receipts?: ReceiptsLine } {
  const r = agent.status().receipts;
  return r === undefined || view === undefined ? {} : { receipts: receiptsLine(r, view) };
}

function summary(
  view: LiveView,
  sim: Simulator,
  pipelineStats: readonly PipelineStats[],
  faultsInjected: number,
  nodes: readonly { name: string; ran: number | undefined; receipts: ReceiptsLine | undefined }[],
): string {
  const s = view.state;
  const rejected = [...s.rejected].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const machines = [...new Set(s.detections.map((d) => d.machine))].sort().join(', ') || 'none';
  const pipelines = pipelineStats.map((p) => `${p.id} ${p.results} results`).join(', ');
  return [
    `fieldmesh demo: ${sim.elapsedS().toFixed(1)} s, ${sim.stats().published} readings published`,
    `results ${s.results} (${pipelines}), anomalous windows ${s.anomalies}`,
    `faults injected ${faultsInjected}, detections ${s.detections.length} on: ${machines}`,
    `rejected readings: ${rejected}`,
    ...nodes.flatMap((n) => [
      ...(n.ran === undefined ? [] : [`${n.name} ran ${n.ran} windows for the gateway`]),
      ...(n.receipts ? [`${n.name} ${formatReceipts(n.receipts)}`] : []),
    ]),
  ].join('\n');
}

/** Redraws in place on a terminal; prints plain periodic frames when piped to a file. */
class Screen {
  constructor(readonly tty: boolean) {}

  draw(text: string): void {
    if (this.tty) process.stdout.write(`\u001b[H\u001b[2J${text}\n`);
    else process.stdout.write(`${text}\n\n`);
  }

  final(text: string): void {
    process.stdout.write(`${text}\n`);
  }
}
