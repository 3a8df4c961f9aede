import { readFile } from 'node:fs/promises';
import { inspectModel } from '../../../models/onnx/inspect.js';
import { FieldmeshError } from '../../../protocol/errors.js';
import { parse, UsageError } from '../args.js';
import { EXIT_HELP } from '../exit-codes.js';

export const MODELS_HELP = `fieldmesh models inspect FILE.onnx [--json]

Reads an ONNX file and prints its inputs, outputs (names, element types, shapes), opsets,
producer and sha256 — the digest a manifest must carry.

Options:
  --json       machine-readable output
  -h, --help   this help

${EXIT_HELP}`;

export async function modelsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('models', argv, { json: { type: 'boolean' } });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${MODELS_HELP}\n`);
    return positionals.length === 0 && !values.help ? 2 : 0;
  }
  const [verb, file, ...rest] = positionals;
  if (verb !== 'inspect')
    throw new UsageError(`fieldmesh models: unknown verb "${verb}"; the verb is inspect`);
  if (!file || rest.length > 0) throw new UsageError('fieldmesh models inspect: give exactly one .onnx file');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new FieldmeshError(
      'FILE_UNREADABLE',
      `${file}: cannot read (${(err as NodeJS.ErrnoException).code})`,
      { cause: err },
    );
  }
  const info = inspectModel(bytes, file); // a ModelFormatError names the file and what is wrong
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ file, ...info })}\n`);
    return 0;
  }
  const shape = (s: readonly (number | string | null)[] | null) =>
    s === null ? '(no shape)' : `[${s.map((d) => d ?? '?').join(', ')}]`;
  const lines = [
    `file      ${file}`,
    `sha256    ${info.sha256}`,
    `producer  ${[info.producer.name, info.producer.version].filter(Boolean).join(' ') || '(none)'}   ir_version ${info.irVersion}`,
    `opsets    ${info.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')}`,
    'inputs',
    ...info.inputs.map((t) => `  ${t.name}  ${t.type}  ${shape(t.shape)}`),
    'outputs',
    ...info.outputs.map((t) => `  ${t.name}  ${t.type}  ${shape(t.shape)}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
