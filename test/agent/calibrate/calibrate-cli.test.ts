import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { calibrateCommand } from '../../../agent/cli/commands/calibrate.js';
import type { EmbeddedBroker } from '../../../broker/embedded-broker.js';
import { connectTestClient, startTestBroker } from '../../helpers/broker.js';
import { Collector } from '../../helpers/collect.js';

let work: string;
let broker: EmbeddedBroker;
let client: MqttClient;
let configFile: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'fm-calibrate-cli-'));
  broker = await startTestBroker();
  client = await connectTestClient(broker.url, { clientId: 'operator' });
  configFile = path.join(work, 'site.yaml');
  const manifest = path.resolve('models/examples/vibration-ae/manifest.json');
  await writeFile(
    configFile,
    [
      `node: { name: cli, dataDir: ${JSON.stringify(path.join(work, 'data'))} }`,
      `mqtt: { url: ${JSON.stringify(broker.url)}, connectTimeoutMs: 3000 }`,
      `models: [{ id: vibration, manifest: ${JSON.stringify(manifest)} }]`,
      'pipelines:',
      '  - { id: vib, model: vibration, input: { topic: plant/+/vib }, calibration: { windows: 100 } }',
      '  - { id: plain, model: vibration, input: { topic: plant/+/raw } }',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await client.endAsync(true);
  await broker.stop();
  await rm(work, { recursive: true, force: true });
});

describe('fieldmesh calibrate', () => {
  it('publishes the recalibrate command for the pipeline through the configured broker', async () => {
    const commands = new Collector(client, (t) => t.endsWith('/calibrate'));
    await client.subscribeAsync('fieldmesh/v1/pipelines/+/calibrate', { qos: 1 });
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(
        await calibrateCommand(['--config', configFile, '--pipeline', 'vib', '--node', '12D3KooWx']),
      ).toBe(0);
    } finally {
      out.mockRestore();
    }
    await commands.until((m) => m.length > 0, 'the command on the broker');
    expect(commands.messages[0]?.topic).toBe('fieldmesh/v1/pipelines/vib/calibrate');
    expect(commands.messages[0]?.body).toEqual({ command: 'recalibrate', node: '12D3KooWx' });
  });

  it('refuses a pipeline without a calibration section, naming those that have one', async () => {
    await expect(calibrateCommand(['--config', configFile, '--pipeline', 'plain'])).rejects.toThrow(
      /pipeline "plain" has no calibration section; pipelines that calibrate: vib/,
    );
    await expect(calibrateCommand(['--config', configFile])).rejects.toThrow(/--pipeline ID are required/);
  });
});
