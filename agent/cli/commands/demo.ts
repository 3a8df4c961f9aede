import { fileURLToPath } from 'node:url';
import { hasCode } from '../../../protocol/errors.js';
import { topicsFor } from '../../../protocol/topics.js';
import { Agent } from '../../agent.js';
import { loadConfigFile } from '../../config/load.js';
import { LiveView } from '../../demo/live-view.js';
import { renderScreen } from '../../demo/render.js';
import { demoFaultPlan, demoSensor } from '../../demo/scenario.js';
import { Simulator } from '../../demo/simulator.js';
import { createLogger } from '../../log.js';
import { intOption, numberOption, parse } from '../args.js';
import { EXIT_HELP } from '../exit-codes.js';
import { runUntilStopped } from '../lifecycle.js';

export const DEMO_HELP = `fieldmesh demo [--duration S] [--machines N] [--port N]

A live local site on embedded defaults: the embedded MQTT broker, an agent running the
example vibration and temperature models, simulated machines with injected faults, and a
live view of readings, scores and detected anomalies. Ctrl-C stops it.

Options:
  --duration S     stop after S seconds and print a summary (default: run until Ctrl-C)
  --machines N     simulated machines, 1-26 (default 4)
  --rate HZ        vibration readings per second per machine, 1-1000 (default 50)
  --port N         port of the embedded broker (default 1883; any free port if taken)
  --data-dir DIR   where the demo node keeps its key (default ./data/demo)
  --config FILE    agent configuration (default deploy/examples/demo.yaml)
  -h, --help       this help

${EXIT_HELP}`;

const DEFAULT_CONFIG = fileURLToPath(new URL('../../../../deploy/examples/demo.yaml', import.meta.url));
const TOPIC_PREFIX = 'demo/line-1';

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse('demo', argv, {
    duration: { type: 'string' },
    machines: { type: 'string' },
    rate: { type: 'string' },
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
  const port = intOption('demo', 'port', values.port, 0, 65535);
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (port !== undefined) env.FIELDMESH_BROKER_PORT = String(port);
  if (values['data-dir']) env.FIELDMESH_DATA_DIR = values['data-dir'];
  const configFile = values.config ?? DEFAULT_CONFIG;
  const config = await loadConfigFile(configFile, { env });
  const logger = createLogger({ level: config.log.level, format: 'json', destination: process.stderr });

  let agent = new Agent(config, { logger });
  try {
    await agent.start();
  } catch (err) {
    if (!hasCode(err, 'BROKER_LISTEN_FAILED') || port !== undefined) throw err;
    process.stderr.write(`port ${config.broker.port} is taken; the demo broker uses a free port instead\n`);
    agent = new Agent(await loadConfigFile(configFile, { env: { ...env, FIELDMESH_BROKER_PORT: '0' } }), {
      logger,
    });
    await agent.start();
  }
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
      }),
    );
  let timer: NodeJS.Timeout | undefined;
  await runUntilStopped(
    [
      { start: () => view.start(), stop: () => view.stop() },
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
  await agent.stop();
  screen.final(summary(view, simulator, agent, faults.filter((f) => f.startS < simulator.elapsedS()).length));
  return 0;
}

function machineName(i: number): string {
  const kinds = ['press', 'pump', 'fan', 'mill'];
  return `${kinds[i % kinds.length]}-${Math.floor(i / kinds.length) + 1}`;
}

function summary(view: LiveView, sim: Simulator, agent: Agent, faultsInjected: number): string {
  const s = view.state;
  const rejected = [...s.rejected].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const machines = [...new Set(s.detections.map((d) => d.machine))].sort().join(', ') || 'none';
  const pipelines = agent
    .status()
    .pipelines.map((p) => `${p.id} ${p.results} results`)
    .join(', ');
  return [
    `fieldmesh demo: ${sim.elapsedS().toFixed(1)} s, ${sim.stats().published} readings published`,
    `results ${s.results} (${pipelines}), anomalous windows ${s.anomalies}`,
    `faults injected ${faultsInjected}, detections ${s.detections.length} on: ${machines}`,
    `rejected readings: ${rejected}`,
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
