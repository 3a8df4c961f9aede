import { FieldmeshError } from '../../../protocol/errors.js';
import { loadOrCreateIdentity } from '../../../protocol/keystore.js';
import { topicsFor } from '../../../protocol/topics.js';
import { nodeLinkOptions } from '../../agent-link.js';
import { calibrationCommandPayload } from '../../calibrate/command.js';
import { brokerHost, brokerMode } from '../../config/broker-schema.js';
import { loadConfigFile } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { createLogger } from '../../log.js';
import { createMqttLink } from '../../mqtt/link.js';
import { parse, UsageError } from '../args.js';
import { EXIT_HELP } from '../exit-codes.js';

export const CALIBRATE_HELP = `fieldmesh calibrate --config FILE --pipeline ID [options]

Tells the agents running a pipeline to forget their calibration and learn it again from a new
probation period (docs/calibration.md). Publishes the command on
<topicRoot>pipelines/<ID>/calibrate through the broker of the configuration and exits; each
agent acknowledges on <topicRoot>pipelines/<ID>/calibration/<node> (retained).

Options:
  -c, --config FILE   the agent's YAML configuration (broker, topic root, node key)
  -p, --pipeline ID   the pipeline to recalibrate; it must have a calibration section
  --node PEER_ID      only the agent with this node id (default: every agent of the pipeline)
  --url URL           the broker to publish to (default: the configuration's)
  -h, --help          this help

${EXIT_HELP}`;

export async function calibrateCommand(argv: string[]): Promise<number> {
  const { values } = parse('calibrate', argv, {
    config: { type: 'string', short: 'c' },
    pipeline: { type: 'string', short: 'p' },
    node: { type: 'string' },
    url: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${CALIBRATE_HELP}\n`);
    return 0;
  }
  if (!values.config || !values.pipeline) {
    throw new UsageError(
      'fieldmesh calibrate: --config FILE and --pipeline ID are required. Run "fieldmesh calibrate --help".',
    );
  }
  const config = await loadConfigFile(values.config);
  const pipeline = config.pipelines.find((p) => p.id === values.pipeline);
  if (pipeline?.calibration === undefined) {
    const calibrated = config.pipelines.filter((p) => p.calibration).map((p) => p.id);
    throw new FieldmeshError(
      'CALIBRATE_NO_SUCH_PIPELINE',
      `${values.config}: ${pipeline ? `pipeline "${values.pipeline}" has no calibration section` : `no pipeline "${values.pipeline}"`}; pipelines that calibrate: ${calibrated.join(', ') || 'none'}`,
    );
  }
  const topic = topicsFor(config.mqtt.topicRoot).calibrate(pipeline.id);
  await publishOnce(config, values.url, topic, calibrationCommandPayload(values.node));
  process.stdout.write(`recalibration requested on ${topic}\n`);
  return 0;
}

/** One QoS 1 publish through a short-lived link, logged in like the node (its key, own client id). */
async function publishOnce(
  config: Config,
  url: string | undefined,
  topic: string,
  payload: string,
): Promise<void> {
  const mode = brokerMode(config.broker);
  if (url === undefined && mode === 'auto') {
    throw new UsageError(
      'fieldmesh calibrate: with broker.mode auto the site broker moves; pass --url mqtt://HOST:PORT',
    );
  }
  const host = brokerHost(config.broker);
  const target =
    url ??
    (mode === 'on'
      ? `mqtt://${host === '0.0.0.0' ? '127.0.0.1' : host}:${config.broker.port}`
      : config.mqtt.url);
  const fieldmeshBroker = mode !== 'off';
  const { identity } = await loadOrCreateIdentity(config.node.dataDir);
  const clientId = `fieldmesh-calibrate-${process.pid}`;
  const link = createMqttLink(nodeLinkOptions(config, identity, target, clientId, fieldmeshBroker), {
    logger: createLogger({ level: 'warn', format: 'json', destination: process.stderr }),
  });
  await link.start();
  try {
    await link.publish(topic, payload, { qos: 1 });
  } finally {
    await link.stop();
  }
}
