import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigInvalidError } from '../../../agent/config/errors.js';
import { loadConfigFile, parseConfigText } from '../../../agent/config/load.js';

const MINIMAL = `
models:
  - id: vib
    manifest: models/vib/manifest.json
pipelines:
  - id: press
    model: vib
    input: { topic: plant/+/vibration, field: value }
`;

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, '/etc/fieldmesh/site.yaml', { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigInvalidError);
    return (err as ConfigInvalidError).problems;
  }
  throw new Error('expected the config to be refused');
}

describe('config loading', () => {
  it('fills defaults, resolves paths against the config file and freezes the result', () => {
    const cfg = parseConfigText(MINIMAL, '/etc/fieldmesh/site.yaml', { env: {} });
    expect(cfg.mqtt.url).toBe('mqtt://127.0.0.1:1883');
    expect(cfg.mqtt.reconnect).toEqual({ minMs: 500, maxMs: 30_000 });
    expect(cfg.node.dataDir).toBe('/etc/fieldmesh/data');
    expect(cfg.models[0]?.manifest).toBe('/etc/fieldmesh/models/vib/manifest.json');
    expect(cfg.pipelines[0]?.window.stride).toBe(1);
    expect(cfg.pipelines[0]?.results.qos).toBe(1);
    expect(Object.isFrozen(cfg.pipelines[0]?.window)).toBe(true);
    expect(() => {
      (cfg.mqtt as { url: string }).url = 'mqtt://elsewhere';
    }).toThrow(TypeError);
  });

  it('applies environment overrides for deployment values', () => {
    const cfg = parseConfigText(MINIMAL, '/srv/site.yaml', {
      env: {
        FIELDMESH_MQTT_URL: 'mqtt://10.0.0.5:1884',
        FIELDMESH_DATA_DIR: '/var/lib/fieldmesh',
        FIELDMESH_LOG_LEVEL: 'debug',
      },
    });
    expect(cfg.mqtt.url).toBe('mqtt://10.0.0.5:1884');
    expect(cfg.node.dataDir).toBe('/var/lib/fieldmesh');
    expect(cfg.log.level).toBe('debug');
  });

  it('names the field path, what was found and what was expected', () => {
    const problems = problemsOf(`${MINIMAL}    window: { stride: -1 }\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.path).toBe('pipelines[0].window.stride');
    expect(problems[0]?.found).toBe('-1');
    expect(problems[0]?.expected).toMatch(/>=\s?1/);
  });

  it('reports every problem at once, including unknown fields and dangling model references', () => {
    const problems = problemsOf(`
mqtt: { url: "htp:/broken", keepaliveS: "soon" }
logg: { level: debug }
models: []
pipelines:
  - id: Press Line
    model: missing
    input: { topic: a/b }
`);
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'mqtt.url',
        'mqtt.keepaliveS',
        'logg',
        'pipelines[0].id',
        'pipelines[0].model',
      ]),
    );
    const keepalive = problems.find((p) => p.path === 'mqtt.keepaliveS');
    expect(keepalive?.found).toBe('"soon"');
    expect(keepalive?.expected).toBe('a number');
    expect(problems.find((p) => p.path === 'pipelines[0].model')?.found).toContain('no model "missing"');
  });

  it('puts the file name and every problem in the error message', () => {
    expect(() => parseConfigText('log: { level: loud }\n', '/srv/site.yaml', { env: {} })).toThrow(
      /\/srv\/site\.yaml: 1 problem[\s\S]*log\.level: found "loud"/,
    );
  });

  it('reports YAML syntax errors with line and column', () => {
    const problems = problemsOf('mqtt:\n  url: [unclosed\n');
    expect(problems[0]?.found).toBe('invalid YAML');
    expect(problems[0]?.path).toMatch(/^line \d+, column \d+$/);
  });

  it('refuses a non-numeric port from the environment, naming the variable', () => {
    const problems = problemsOf(MINIMAL, { FIELDMESH_BROKER_PORT: 'eighteen' });
    expect(problems[0]?.path).toBe('$FIELDMESH_BROKER_PORT');
  });

  it('refuses a document that is not a mapping', () => {
    expect(problemsOf('- just\n- a list\n')[0]?.expected).toBe('a mapping of sections');
  });

  it('says when the file does not exist', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fm-config-'));
    await expect(loadConfigFile(path.join(dir, 'nope.yaml'))).rejects.toThrow(/no such file; pass --config/);
    await writeFile(path.join(dir, 'ok.yaml'), MINIMAL);
    const cfg = await loadConfigFile(path.join(dir, 'ok.yaml'), { env: {} });
    expect(cfg.models[0]?.manifest).toBe(path.join(dir, 'models/vib/manifest.json'));
  });
});
