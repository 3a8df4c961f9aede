import { FieldmeshError } from '../../protocol/errors.js';
import { SOFTWARE_VERSION } from '../node-record.js';
import { UsageError } from './args.js';
import { EXIT, EXIT_HELP, exitCodeFor } from './exit-codes.js';

type Command = (argv: string[]) => Promise<number>;

// Commands load on demand: `fieldmesh keys` on a Pi should not pay for onnxruntime and aedes.
const COMMANDS: Record<string, { load: () => Promise<Command>; summary: string }> = {
  agent: {
    load: async () => (await import('./commands/agent.js')).agentCommand,
    summary: 'run an agent from a YAML configuration',
  },
  broker: {
    load: async () => (await import('./commands/broker.js')).brokerCommand,
    summary: 'run the embedded MQTT broker on its own',
  },
  calibrate: {
    load: async () => (await import('./commands/calibrate.js')).calibrateCommand,
    summary: 'make the agents of a pipeline learn its calibration again',
  },
  demo: {
    load: async () => (await import('./commands/demo.js')).demoCommand,
    summary: 'a live local site: broker, agent, simulated machines, live view',
  },
  keys: {
    load: async () => (await import('./commands/keys.js')).keysCommand,
    summary: 'create or show the node identity',
  },
  mesh: {
    load: async () => (await import('./commands/mesh.js')).meshCommand,
    summary: 'find and list the verified peers on this LAN',
  },
  models: {
    load: async () => (await import('./commands/models.js')).modelsCommand,
    summary: 'inspect an ONNX model file',
  },
  receipts: {
    load: async () => (await import('./commands/receipts.js')).receiptsCommand,
    summary: 'show the receipt outbox and what settlement credited this node',
  },
  settlement: {
    load: async () => (await import('./commands/settlement.js')).settlementCommand,
    summary: 'run the settlement service that verifies and credits receipts',
  },
};

export const MAIN_HELP = `fieldmesh ${SOFTWARE_VERSION} — inference next to the data, on an MQTT mesh of edge boxes

Usage: fieldmesh <command> [options]     (fieldmesh <command> --help for each)

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

${EXIT_HELP}`;

/** The CLI's lifecycle boundary: the one place that turns an error into an exit code. */
export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(`${MAIN_HELP}\n`);
      return name === undefined ? EXIT.usage : EXIT.ok;
    }
    if (name === '--version' || name === '-v') {
      process.stdout.write(`${SOFTWARE_VERSION}\n`);
      return EXIT.ok;
    }
    const command = COMMANDS[name];
    if (!command)
      throw new UsageError(
        `fieldmesh: unknown command "${name}". Commands: ${Object.keys(COMMANDS).join(', ')}.`,
      );
    return await (await command.load())(rest);
  } catch (err) {
    if (err instanceof FieldmeshError) {
      process.stderr.write(`error [${err.code}]: ${err.message}\n`);
      return exitCodeFor(err.code);
    }
    process.stderr.write(
      `unexpected failure: ${(err as Error)?.stack ?? String(err)}\nThis is a bug in fieldmesh; please report it with the lines above.\n`,
    );
    return EXIT.failure;
  }
}
