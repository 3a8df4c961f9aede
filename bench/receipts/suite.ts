import { median, newReport, type SuiteReport } from '../lib/report.js';
import { measureJobCost } from './job-cost.js';
import { loadModel } from './jobs.js';
import { LOOP_RATE, measureLoop } from './loop.js';
import { measureRunnerLoop } from './runner-loop.js';

const ROWS = [1, 16] as const;

/**
 * receipts: what contribution receipts cost the agent — per receipt, in a pipeline's runner
 * beside the same runner without receipts, and in isolation; per sensor reading in the real
 * agent under a fixed load, beside the same agent without receipts. The in-process parts run
 * first, before the child processes share the machine.
 */
export async function runReceiptsSuite(opts: { quick: boolean }): Promise<SuiteReport> {
  const q = opts.quick;
  const report = newReport('receipts', q);
  const put = (name: string, values: number[], unit: string) => {
    report.metrics[name] = { value: median(values), unit };
    report.rounds[name] = values;
  };
  const m = (k: string) => report.metrics[k]?.value ?? Number.NaN;

  const model = await loadModel();
  try {
    for (const rows of ROWS) {
      const calls = (q ? 3000 : 15_000) / (rows === 1 ? 1 : 2);
      const r = await measureRunnerLoop(model, rows, { rounds: q ? 5 : 9, calls });
      log(`rows ${rows} runner: with ${fmt(r.withUs)} µs, without ${fmt(r.withoutUs)} µs per call`);
      // Round by round, so that each difference is taken between two neighbouring runs.
      put(
        `receipt_us_per_job_rows${rows}`,
        r.withUs.map((w, i) => w - (r.withoutUs[i] as number)),
        'µs CPU',
      );
      put(`call_with_receipts_us_rows${rows}`, r.withUs, 'µs CPU');
      put(`call_without_receipts_us_rows${rows}`, r.withoutUs, 'µs CPU');
      const isolated = await measureJobCost(model, rows, { rounds: q ? 5 : 9, jobs: calls });
      log(`rows ${rows} isolated: ${fmt(isolated)} µs per receipt`);
      put(`receipt_isolated_us_rows${rows}`, isolated, 'µs CPU');
    }
  } finally {
    await model.close();
  }

  const loop = await measureLoop({
    rounds: q ? 3 : 5,
    warmupMs: q ? 1000 : 2000,
    measureMs: q ? 3000 : 8000,
  });
  put('loop_with_us_per_reading', loop.with.total, 'µs CPU');
  put('loop_without_us_per_reading', loop.without.total, 'µs CPU');
  put('loop_with_event_loop_us_per_reading', loop.with.main, 'µs CPU');
  put('loop_without_event_loop_us_per_reading', loop.without.main, 'µs CPU');
  report.metrics.loop_receipts_acknowledged = { value: loop.acknowledged, unit: 'receipts' };

  report.ratios.loop_with_receipts_vs_without = {
    value: m('loop_with_us_per_reading') / m('loop_without_us_per_reading'),
    of: `loop_with_us_per_reading / loop_without_us_per_reading: agent CPU (all threads) per sensor reading, receipts on (settled by a real settlement service) / off, at a fixed ${LOOP_RATE} readings/s through the embedded broker (16 sensors, window 32, stride 4)`,
    goal: '≤ 1.05',
  };
  report.ratios.loop_event_loop_with_vs_without = {
    value: m('loop_with_event_loop_us_per_reading') / m('loop_without_event_loop_us_per_reading'),
    of: 'the same, counting only the agent thread that runs the event loop',
  };
  report.ratios.single_call_with_receipts_vs_without = {
    value: m('call_with_receipts_us_rows1') / m('call_without_receipts_us_rows1'),
    of: 'call_with_receipts_us_rows1 / call_without_receipts_us_rows1: agent CPU per BatchRunner call of one window, in-process with nothing else running (worst case)',
  };
  report.ratios.call_rows16_with_receipts_vs_without = {
    value: m('call_with_receipts_us_rows16') / m('call_without_receipts_us_rows16'),
    of: 'call_with_receipts_us_rows16 / call_without_receipts_us_rows16: the same with 16 windows per call (a busy pipeline)',
  };
  return report;
}

const fmt = (xs: readonly number[]) => xs.map((x) => x.toFixed(1)).join(' ');
const log = (line: string) => process.stderr.write(`  ${line}\n`);
