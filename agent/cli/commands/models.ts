import { readFile } from 'node:fs/promises';
import { inspectModel } from '../../../models/onnx/inspect.js';
import { FieldmeshError } from '../../../protocol/errors.js';
import { parse, UsageError } from '../args.js';
import { EXIT_HELP } from '../exit-codes.js';
import { MODELS_FETCH_HELP, modelsFetchVerb, TARGET_OPTIONS } from './agent-actions.js';
import { signVerb, verifyVerb } from './models-sign.js';

export const MODELS_HELP = `fieldmesh models inspect FILE.onnx [--json]
fieldmesh models sign MANIFEST --key-dir DIR [--name NAME] [--out FILE]
fieldmesh models verify MANIFEST [--publisher ID]... [--json]
${MODELS_FETCH_HELP.split('\n')[0]}

  inspect  reads an ONNX file and prints its inputs, outputs (names, element types, shapes),
           opsets, producer and sha256 — the digest a manifest must carry
  sign     checks that the manifest describes its .onnx (sha256, inputs, outputs), then signs
           it with the publisher key in DIR (made by: fieldmesh keys create --data-dir DIR);
           writes the manifest in place, or to FILE
  verify   checks the sha256 of the .onnx, its inputs and outputs against the manifest and the
           publisher signature; with --publisher, also that one of those keys signed it (what
           an agent with modelPublishers checks before it loads a model)
${MODELS_FETCH_HELP.split('\n').slice(2).join('\n')}

Options:
  --key-dir DIR     folder of the publisher key (node-key.json)
  --name NAME       publisher name written beside the key id (signed too)
  --out FILE        write the signed manifest here instead of in place
  --publisher ID    an accepted publisher key id (12D3KooW…); repeat for several
  --json            machine-readable output
  -h, --help        this help

Options of fetch (it asks the running agent's operator API):
${TARGET_OPTIONS}

${EXIT_HELP}`;

export async function modelsCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'fetch') return modelsFetchVerb(argv.slice(1));
  const { values, positionals } = parse('models', argv, {
    json: { type: 'boolean' },
    'key-dir': { type: 'string' },
    name: { type: 'string' },
    out: { type: 'string' },
    publisher: { type: 'string', multiple: true },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${MODELS_HELP}\n`);
    return positionals.length === 0 && !values.help ? 2 : 0;
  }
  const [verb, file, ...rest] = positionals;
  if (verb !== 'inspect' && verb !== 'sign' && verb !== 'verify')
    throw new UsageError(
      `fieldmesh models: unknown verb "${verb}"; the verbs are inspect, sign, verify and fetch`,
    );
  const what = verb === 'inspect' ? '.onnx file' : 'manifest';
  if (!file || rest.length > 0) throw new UsageError(`fieldmesh models ${verb}: give exactly one ${what}`);
  if (verb === 'sign')
    return signVerb(file, { keyDir: values['key-dir'], name: values.name, out: values.out });
  if (verb === 'verify')
    return verifyVerb(file, { publishers: values.publisher ?? [], json: values.json === true });
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
