import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../../agent/agent.js';
import { renderMetrics } from '../../../agent/http/metrics.js';
import { RecentActivity } from '../../../agent/http/recent.js';

const base: AgentStatus = {
  node: { id: '12D3KooWnode', name: 'press-line', version: '0.1.0' },
  mqtt: { url: 'mqtt://127.0.0.1:1883', connected: true },
  models: [],
  pipelines: [],
  failures: [],
};

const receipts = {
  pending: 4,
  inFlightBatch: null,
  appended: 40,
  refused: 0,
  acknowledgedReceipts: 36,
  lastAckAtMs: 1,
  lastError: null,
  url: 'http://settlement:8710',
};

const series = (text: string, name: string) =>
  text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

describe('metrics of the optional parts', () => {
  it('writes receipts and credits only when settlement runs, credits once the service answered', () => {
    const off = renderMetrics(base, new RecentActivity(), true);
    expect(series(off, 'fieldmesh_receipts')).toEqual([]);
    expect(off).not.toMatch(/fieldmesh_credits/);

    const unanswered = renderMetrics(
      { ...base, receipts: { ...receipts, credits: null } },
      new RecentActivity(),
      true,
    );
    expect(series(unanswered, 'fieldmesh_receipts')).toEqual([
      'fieldmesh_receipts{state="pending"} 4',
      'fieldmesh_receipts{state="acknowledged"} 36',
    ]);
    expect(unanswered).not.toMatch(/fieldmesh_credits/);

    const credits = {
      credited: 120,
      pending: 8,
      voided: 2,
      receipts: { valid: 36 },
      openChallenges: 0,
      registered: true,
      lastEpoch: null,
      epochs: [],
      atMs: 5,
    };
    const answered = renderMetrics(
      { ...base, receipts: { ...receipts, credits } },
      new RecentActivity(),
      true,
    );
    expect(series(answered, 'fieldmesh_credits')).toEqual([
      'fieldmesh_credits{state="credited"} 120',
      'fieldmesh_credits{state="pending"} 8',
      'fieldmesh_credits{state="voided"} 2',
    ]);
    expect(answered).toMatch(/# TYPE fieldmesh_credits gauge/);
  });
});
