import { FieldmeshError } from '../../protocol/errors.js';
import { SOFTWARE_VERSION } from '../node-record.js';
import { UsageError } from './args.js';
import { EXIT, EXIT_HELP, exitCodeFor } from './exit-codes.js';
import { type Style, styleFor } from './style.js';
import { closest } from './suggest.js';

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
    summary: 'inspect, sign and verify models; fetch one from a peer',
  },
  receipts: {
    load: async () => (await import('./commands/receipts.js')).receiptsCommand,
    summary: 'show the receipt outbox and the credit; flush it now',
  },
  settlement: {
    load: async () => (await import('./commands/settlement.js')).settlementCommand,
    summary: 'run the settlement service that verifies and credits receipts',
  },
  status: {
    load: async () => (await import('./commands/status.js')).statusCommand,
    summary: 'one screen about a running agent, from its operator API',
  },
};

/** The top-level help; headings in bold when `style` colours (a terminal). */
export function mainHelp(style: Style): string {
  const heading = (text: string) => style.bold(text);
  const exits = EXIT_HELP.replace(/^Exit codes:/, heading('Exit codes:'));
  return `fieldmesh ${SOFTWARE_VERSION} — inference next to the data, on an MQTT mesh of edge boxes

${heading('Usage:')} fieldmesh <command> [options]
       fieldmesh help <command>     (the same as fieldmesh <command> --help)

${heading('Commands:')}
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}
  ${'version'.padEnd(10)} this build, and the Node runtime and flags it runs with

${exits}`;
}

export const MAIN_HELP = mainHelp(styleFor({ isTTY: false }, {}));

function unknownCommand(name: string): UsageError {
  const names = [...Object.keys(COMMANDS), 'version'];
  const guess = closest(name, names);
  return new UsageError(
    `fieldmesh: unknown command "${name}"${guess ? ` (did you mean ${guess}?)` : ''}. Commands: ${names.join(', ')}. Run "fieldmesh --help".`,
  );
}

export const VERSION_HELP = `fieldmesh version [--json]

The version, and the Node runtime it runs on with the flags it started with: what a bug report
needs. (fieldmesh --version prints the version alone.)

Options:
  --json       machine-readable output
  -h, --help   this help

${EXIT_HELP}`;

/** `fieldmesh version`: this build and its runtime, for bug reports and fleet checks. */
function versionCommand(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${VERSION_HELP}\n`);
    return EXIT.ok;
  }
  const unknown = argv.find((a) => a !== '--json');
  if (unknown !== undefined)
    throw new UsageError(`fieldmesh version: unknown option "${unknown}"; it takes only --json`);
  const info = {
    version: SOFTWARE_VERSION,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    flags: process.execArgv,
  };
  process.stdout.write(
    argv.includes('--json')
      ? `${JSON.stringify(info)}\n`
      : `fieldmesh ${info.version}\nnode ${info.node} on ${info.platform}, flags: ${info.flags.join(' ') || '(none)'}\n`,
  );
  return EXIT.ok;
}

/** The CLI's lifecycle boundary: the one place that turns an error into an exit code. */
export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    // `fieldmesh help status` is `fieldmesh status --help`.
    if (name === 'help' && rest[0] !== undefined) return await run([...rest, '--help']);
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(`${mainHelp(styleFor(process.stdout))}\n`);
      return name === undefined ? EXIT.usage : EXIT.ok;
    }
    if (name === '--version' || name === '-v') {
      process.stdout.write(`${SOFTWARE_VERSION}\n`);
      return EXIT.ok;
    }
    if (name === 'version') return versionCommand(rest);
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!command) throw unknownCommand(name);
    return await (await command.load())(rest);
  } catch (err) {
    if (err instanceof FieldmeshError) {
      const style = styleFor(process.stderr);
      process.stderr.write(
        `${style.red(style.bold('error'))} ${style.dim(`[${err.code}]`)}: ${err.message}\n`,
      );
      return exitCodeFor(err.code);
    }
    process.stderr.write(
      `unexpected failure: ${(err as Error)?.stack ?? String(err)}\nThis is a bug in fieldmesh; please report it with the lines above.\n`,
    );
    return EXIT.failure;
  }
}
