import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';

describe('fieldmesh demo (npm start)', () => {
  it('runs a live local mesh that publishes results, detects the injected fault, offloads to a peer and reports bad readings', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'fm-demo-'));
    const run = await runCli(['demo', '--duration', '13', '--port', '0', '--data-dir', dataDir], {
      timeoutMs: 60_000,
    });
    expect(run.stderr).not.toMatch(/unexpected failure/);
    expect(run.code).toBe(0);
    const summary = run.stdout.slice(run.stdout.lastIndexOf('fieldmesh demo:'));
    const results = Number(/results (\d+)/.exec(summary)?.[1]);
    const detections = Number(/detections (\d+)/.exec(summary)?.[1]);
    expect(results).toBeGreaterThan(100);
    // The first fault (a growing imbalance on press-1, from 4 s on) must be caught.
    expect(detections).toBeGreaterThanOrEqual(1);
    expect(summary).toMatch(/on: .*press-1/);
    expect(summary).toMatch(/rejected readings: .*(malformed_payload|non_finite)/);
    // Receipts went to the demo's settlement service, were acknowledged and credited.
    const receipts = /demo-gateway receipts made (\d+)\s+acknowledged (\d+).*credited (\d+)/.exec(summary);
    expect(Number(receipts?.[1])).toBeGreaterThan(0);
    expect(Number(receipts?.[2])).toBeGreaterThan(0);
    expect(Number(receipts?.[3])).toBeGreaterThan(0);
    // The peer found the gateway over mDNS on loopback, ran windows for it and had its receipts taken.
    expect(Number(/demo-peer-1 ran (\d+) windows for the gateway/.exec(summary)?.[1])).toBeGreaterThan(0);
    const peerReceipts = /demo-peer-1 receipts made (\d+)\s+acknowledged (\d+)/.exec(summary);
    expect(Number(peerReceipts?.[1])).toBeGreaterThan(0);
    expect(Number(peerReceipts?.[2])).toBeGreaterThan(0);
    expect(run.stdout).toContain('sees demo-gateway');
    // The periodic frames of the live view show machines, scores and the injected fault.
    expect(run.stdout).toContain('press-1');
    expect(run.stdout).toContain('vibration:growth');
  });
});
