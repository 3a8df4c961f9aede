import { readFile } from 'node:fs/promises';
import { FieldmeshError } from '../../protocol/errors.js';
import type { Agent } from '../agent.js';
import type { ApiConfig } from '../config/api-schema.js';
import { brokerMode } from '../config/broker-schema.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { PipelineObserver } from '../pipeline/observer.js';
import type { LogLevelControl } from './log-levels.js';
import { RecentActivity } from './recent.js';
import { type AgentApiServer, createAgentApiServer } from './server.js';

/**
 * The operator API of one agent. Made before the agent (its observer goes to the pipelines),
 * started once the agent is ready and stopped before it, so a probe never sees a half-built one.
 */
export interface AgentApi {
  /** Give to `new Agent(config, { pipelineObserver })`. */
  readonly observer: PipelineObserver;
  /** Listens; throws API_LISTEN_FAILED. Does nothing when api.enabled is false. */
  start(agent: Pick<Agent, 'status' | 'flushReceipts' | 'fetchModel'>): Promise<void>;
  stop(): Promise<void>;
  /** `http://host:port` once started; undefined when off. */
  readonly url: string | undefined;
}

export function createAgentApi(
  config: Readonly<Pick<Config, 'api' | 'broker'>>,
  components: { logger: Logger; logLevels?: LogLevelControl; dashboardDir?: string },
): AgentApi {
  const recent = new RecentActivity();
  const log = components.logger.child({ component: 'api' });
  let server: AgentApiServer | null = null;
  let started = false;
  return {
    observer: recent.observer,
    get url() {
      return server?.url;
    },
    async start(agent) {
      if (!config.api.enabled) return;
      const token = await tokenOf(config.api);
      const s = createAgentApiServer(
        {
          host: config.api.host,
          port: config.api.port,
          ...(token === undefined ? {} : { token }),
          ...(components.dashboardDir === undefined ? {} : { dashboardDir: components.dashboardDir }),
        },
        {
          logger: log,
          recent,
          status: () => agent.status(),
          actions: { flushReceipts: () => agent.flushReceipts(), fetchModel: (id) => agent.fetchModel(id) },
          started: () => started,
          brokerExpected: () => brokerMode(config.broker) === 'on',
          ...(components.logLevels ? { logLevels: components.logLevels } : {}),
        },
      );
      await s.start();
      server = s;
      started = true;
      log.info({ url: s.url, auth: token !== undefined }, 'operator API listening');
    },
    async stop() {
      started = false;
      await server?.stop();
      server = null;
    },
  };
}

async function tokenOf(api: ApiConfig): Promise<string | undefined> {
  if (api.tokenFile === undefined) return api.token;
  let text: string;
  try {
    text = await readFile(api.tokenFile, 'utf8');
  } catch (err) {
    throw new FieldmeshError(
      'FILE_UNREADABLE',
      `api.tokenFile ${api.tokenFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? err}); create it with the token on its first line`,
      { cause: err },
    );
  }
  const token = text.split('\n')[0]?.trim() ?? '';
  if (token.length < 16) {
    throw new FieldmeshError(
      'CONFIG_INVALID',
      `api.tokenFile ${api.tokenFile}: the token on its first line must have at least 16 characters`,
    );
  }
  return token;
}
