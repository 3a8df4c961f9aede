import { FieldmeshError } from '../../../protocol/errors.js';
import { Agent } from '../../agent.js';
import { loadConfigFile } from '../../config/load.js';
import { createAgentApi } from '../../http/agent-api.js';
import { createLogging } from '../../log.js';
import { parse, UsageError } from '../args.js';
import { EXIT_HELP } from '../exit-codes.js';
import { runUntilStopped } from '../lifecycle.js';
import { systemdNotify } from '../systemd-notify.js';

export const AGENT_HELP = `fieldmesh agent --config FILE

Runs an agent: connects to the site broker (or embeds one), loads the models and runs the
pipelines of the configuration file until Ctrl-C or SIGTERM.

Options:
  -c, --config FILE   YAML configuration (see deploy/examples/ and README.md)
  -h, --help          this help

Environment: FIELDMESH_DATA_DIR, FIELDMESH_MQTT_URL, FIELDMESH_LOG_LEVEL, FIELDMESH_NODE_NAME,
FIELDMESH_MQTT_USERNAME, FIELDMESH_MQTT_PASSWORD, FIELDMESH_BROKER_PORT, FIELDMESH_SETTLEMENT_URL
override the file.

${EXIT_HELP}`;

export async function agentCommand(argv: string[]): Promise<number> {
  const { values } = parse('agent', argv, { config: { type: 'string', short: 'c' } });
  if (values.help) {
    process.stdout.write(`${AGENT_HELP}\n`);
    return 0;
  }
  if (!values.config)
    throw new UsageError('fieldmesh agent: --config FILE is required. Run "fieldmesh agent --help".');
  const config = await loadConfigFile(values.config);
  // logging.levels changes component levels at run time (for the HTTP API).
  const logging = createLogging(config.log);
  const logger = logging.logger;
  const api = createAgentApi(config, { logger, logLevels: logging.levels });
  const agent = new Agent(config, { logger, pipelineObserver: api.observer });
  // Does nothing unless systemd started us with Type=notify (NOTIFY_SOCKET set).
  const systemd = systemdNotify({ logger });
  await runUntilStopped(
    [
      {
        start: async () => {
          await agent.start();
          const status = agent.status();
          if (config.pipelines.some((p) => p.enabled) && status.pipelines.length === 0) {
            throw new FieldmeshError(
              'AGENT_NOTHING_TO_RUN',
              `no pipeline could start (${status.failures.map((f) => `${f.part}: ${f.message}`).join('; ')})`,
            );
          }
          await api.start(agent);
          systemd.ready(
            `running ${status.pipelines.length} pipeline(s), ${status.failures.length} failure(s)`,
          );
        },
        stop: async () => {
          await systemd.stopping('stopping');
          await api.stop();
          await agent.stop();
        },
      },
    ],
    { logger },
  );
  return 0;
}
