import { createEmbeddedBroker } from '../../../broker/embedded-broker.js';
import { createLogger } from '../../log.js';
import { intOption, parse } from '../args.js';
import { EXIT_HELP } from '../exit-codes.js';
import { runUntilStopped } from '../lifecycle.js';

export const BROKER_HELP = `fieldmesh broker [--host ADDR] [--port N]
       fieldmesh broker passwd FILE USER [--delete] [--password-stdin]   (see its --help)

Runs the embedded MQTT 3.1.1 broker on its own, for sites without one.

Options:
  --host ADDR        address to listen on (default 127.0.0.1; 0.0.0.0 for the whole LAN)
  --port N           TCP port (default 1883)
  --log-level LEVEL  fatal, error, warn, info, debug, trace (default info)
  -h, --help         this help

${EXIT_HELP}`;

export async function brokerCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'passwd') {
    const { brokerPasswdCommand } = await import('./broker-passwd.js');
    return brokerPasswdCommand(argv.slice(1));
  }
  const { values } = parse('broker', argv, {
    host: { type: 'string' },
    port: { type: 'string' },
    'log-level': { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${BROKER_HELP}\n`);
    return 0;
  }
  const logger = createLogger({ level: values['log-level'] ?? 'info', format: 'json' });
  const broker = createEmbeddedBroker(
    { host: values.host ?? '127.0.0.1', port: intOption('broker', 'port', values.port, 0, 65535) ?? 1883 },
    { logger: logger.child({ component: 'broker' }) },
  );
  await runUntilStopped(
    [
      {
        start: async () => {
          await broker.start();
          logger.info({ url: broker.url }, 'broker listening');
        },
        stop: () => broker.stop(),
      },
    ],
    { logger },
  );
  return 0;
}
