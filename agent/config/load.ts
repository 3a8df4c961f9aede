import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { deepFreeze, describeValue, problemFromIssue } from '../../protocol/field-problems.js';
import { crossReferenceProblems } from './cross-check.js';
import { ConfigInvalidError, type ConfigProblem, ConfigUnreadableError } from './errors.js';
import { type Config, configSchema } from './schema.js';

const WORDING = { knownFields: 'only the fields in the configuration reference', objectWord: 'a mapping' };

/** Deployment-specific values that may come from the environment instead of the file. */
export const ENV_OVERRIDES: readonly { env: string; path: readonly string[]; kind: 'string' | 'number' }[] = [
  { env: 'FIELDMESH_DATA_DIR', path: ['node', 'dataDir'], kind: 'string' },
  { env: 'FIELDMESH_NODE_NAME', path: ['node', 'name'], kind: 'string' },
  { env: 'FIELDMESH_LOG_LEVEL', path: ['log', 'level'], kind: 'string' },
  { env: 'FIELDMESH_MQTT_URL', path: ['mqtt', 'url'], kind: 'string' },
  { env: 'FIELDMESH_MQTT_USERNAME', path: ['mqtt', 'username'], kind: 'string' },
  { env: 'FIELDMESH_MQTT_PASSWORD', path: ['mqtt', 'password'], kind: 'string' },
  { env: 'FIELDMESH_BROKER_PORT', path: ['broker', 'port'], kind: 'number' },
  { env: 'FIELDMESH_SETTLEMENT_URL', path: ['settlement', 'url'], kind: 'string' },
];

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
}

/** Reads, validates, resolves and freezes a config file. Throws ConfigInvalidError listing every problem. */
export async function loadConfigFile(file: string, options: LoadOptions = {}): Promise<Readonly<Config>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file; pass --config with the path of a YAML file'
        : `cannot read (${code})`;
    throw new ConfigUnreadableError(file, why, err);
  }
  return parseConfigText(text, file, options);
}

export function parseConfigText(text: string, file: string, options: LoadOptions = {}): Readonly<Config> {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => ({
      path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '',
      found: 'invalid YAML',
      expected: e.message.split('\n')[0] ?? 'valid YAML',
    }));
    throw new ConfigInvalidError(file, problems);
  }
  const raw: unknown = doc.toJS() ?? {};
  return validateConfig(raw, file, options);
}

/** Validates already-parsed data (from YAML, JSON or code), applies env overrides, freezes. */
export function validateConfig(raw: unknown, file: string, options: LoadOptions = {}): Readonly<Config> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigInvalidError(file, [
      { path: '', found: describeValue(raw, 'a mapping'), expected: 'a mapping of sections' },
    ]);
  }
  const withEnv = applyEnvOverrides(
    expandShorthands(structuredClone(raw) as Record<string, unknown>),
    options.env ?? process.env,
  );
  const result = configSchema.safeParse(withEnv.data);
  const problems = [...withEnv.problems, ...crossReferenceProblems(withEnv.data)];
  if (!result.success)
    problems.push(...result.error.issues.map((i) => problemFromIssue(i, withEnv.data, WORDING)));
  if (problems.length > 0 || !result.success) throw new ConfigInvalidError(file, problems);
  return deepFreeze(resolvePaths(result.data, path.dirname(path.resolve(file))));
}

/** `broker: auto` (or on / off) stands for `broker: { mode: auto }`. */
function expandShorthands(data: Record<string, unknown>): Record<string, unknown> {
  const broker = data.broker;
  if (broker === 'auto' || broker === 'on' || broker === 'off') data.broker = { mode: broker };
  return data;
}

function applyEnvOverrides(data: Record<string, unknown>, env: NodeJS.ProcessEnv) {
  const problems: ConfigProblem[] = [];
  for (const o of ENV_OVERRIDES) {
    const value = env[o.env];
    if (value === undefined || value === '') continue;
    let parsed: string | number = value;
    if (o.kind === 'number') {
      parsed = Number(value);
      if (!Number.isFinite(parsed)) {
        problems.push({ path: `$${o.env}`, found: JSON.stringify(value), expected: 'a number' });
        continue;
      }
    }
    let target = data;
    for (const key of o.path.slice(0, -1)) {
      const next = target[key];
      if (typeof next !== 'object' || next === null) target[key] = {};
      target = target[key] as Record<string, unknown>;
    }
    target[o.path.at(-1) as string] = parsed;
  }
  return { data, problems };
}

function resolvePaths(cfg: Config, baseDir: string): Config {
  const at = (p: string) => path.resolve(baseDir, p);
  const opt = (p: string | undefined) => (p === undefined ? undefined : at(p));
  const { broker } = cfg;
  const tls = broker.tls && {
    ...broker.tls,
    cert: at(broker.tls.cert),
    key: at(broker.tls.key),
    ca: opt(broker.tls.ca),
  };
  const mqttTls = cfg.mqtt.tls && {
    ...cfg.mqtt.tls,
    ca: opt(cfg.mqtt.tls.ca),
    cert: opt(cfg.mqtt.tls.cert),
    key: opt(cfg.mqtt.tls.key),
  };
  const bridge = cfg.bridge && {
    ...cfg.bridge,
    upstream: {
      ...cfg.bridge.upstream,
      caFile: opt(cfg.bridge.upstream.caFile),
      certFile: opt(cfg.bridge.upstream.certFile),
      keyFile: opt(cfg.bridge.upstream.keyFile),
    },
    store: { ...cfg.bridge.store, dir: opt(cfg.bridge.store.dir) },
  };
  return {
    ...cfg,
    ...(bridge === undefined ? {} : { bridge }),
    mqtt: { ...cfg.mqtt, ...(mqttTls === undefined ? {} : { tls: mqttTls }) },
    broker: {
      ...broker,
      ...(tls === undefined ? {} : { tls }),
      auth: { ...broker.auth, credentialsFile: opt(broker.auth.credentialsFile) },
      aclFile: opt(broker.aclFile),
    },
    node: { ...cfg.node, dataDir: path.resolve(baseDir, cfg.node.dataDir) },
    api: cfg.api.tokenFile === undefined ? cfg.api : { ...cfg.api, tokenFile: at(cfg.api.tokenFile) },
    models: cfg.models.map((m) => ({
      ...m,
      manifest: path.resolve(baseDir, m.manifest),
      ...(m.shadow === undefined ? {} : { shadow: { manifest: path.resolve(baseDir, m.shadow.manifest) } }),
    })),
  };
}
