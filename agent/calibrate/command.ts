/**
 * The calibration command, published (not retained) on `<root>pipelines/<id>/calibrate`:
 * an empty payload or `{"command":"recalibrate"}`, optionally `"node": "<peer id>"` to address
 * one node of the pipeline. Pure.
 */
export type CalibrationCommand =
  | { readonly ok: true; readonly command: 'recalibrate'; readonly node?: string }
  | { readonly ok: false; readonly why: string };

const EXPECTED =
  'expected an empty payload or {"command":"recalibrate"} (optionally with "node": "<peer id>")';

export function parseCalibrationCommand(payload: Uint8Array): CalibrationCommand {
  const text = Buffer.from(payload).toString('utf8').trim();
  if (text === '') return { ok: true, command: 'recalibrate' };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, why: `payload is not JSON; ${EXPECTED}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { ok: false, why: EXPECTED };
  const { command, node } = doc as { command?: unknown; node?: unknown };
  if (command !== 'recalibrate') return { ok: false, why: `command ${JSON.stringify(command)}; ${EXPECTED}` };
  if (node !== undefined && typeof node !== 'string')
    return { ok: false, why: `node must be a peer id string; ${EXPECTED}` };
  return node === undefined ? { ok: true, command } : { ok: true, command, node };
}

/** The payload the CLI sends. */
export function calibrationCommandPayload(node?: string): string {
  return JSON.stringify(node === undefined ? { command: 'recalibrate' } : { command: 'recalibrate', node });
}
