import { FieldmeshError } from '../protocol/errors.js';
import { type FieldProblem, problemsMessage } from '../protocol/field-problems.js';

/** Bytes that are not valid protobuf wire format (truncated, bad wire type, length past the end). */
export class ProtobufDecodeError extends FieldmeshError {
  /** Byte offset where decoding failed, counted from the start of the outermost buffer. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super('PROTOBUF_DECODE', `${message} at byte ${offset}`);
    this.offset = offset;
  }
}

/** A graph the builder refuses to encode (duplicate names, wrong data length, foreign values). */
export class GraphBuildError extends FieldmeshError {
  constructor(graph: string, message: string) {
    super('GRAPH_INVALID', `graph "${graph}": ${message}`);
  }
}

/** Bytes that decode as protobuf but are not an ONNX ModelProto we can describe. */
export class ModelFormatError extends FieldmeshError {
  constructor(source: string, message: string, cause?: unknown) {
    super(
      'MODEL_FORMAT',
      `${source}: not a readable ONNX model: ${message}. ` +
        'Check that the file is the .onnx the manifest refers to and was not truncated or replaced.',
      { cause },
    );
  }
}

/** Field path in the manifest (e.g. `outputs[1].shape[0]`), what was found, what was expected. */
export type ManifestProblem = FieldProblem;

/** Every problem of a manifest at once, so it is fixed in one pass. */
export class ManifestInvalidError extends FieldmeshError {
  readonly source: string;
  readonly problems: readonly ManifestProblem[];

  constructor(source: string, problems: readonly ManifestProblem[]) {
    super(
      'MANIFEST_INVALID',
      problemsMessage(
        source,
        'the model manifest',
        problems,
        'Fix the fields above, or re-generate the manifest with the tool that produced the model.',
      ),
    );
    this.source = source;
    this.problems = problems;
  }
}

/** The manifest file itself cannot be read. */
export class ManifestUnreadableError extends FieldmeshError {
  constructor(source: string, why: string, cause?: unknown) {
    super('MANIFEST_UNREADABLE', `${source}: ${why}`, { cause });
  }
}

/** The .onnx named by a manifest is not there. */
export class ModelFileMissingError extends FieldmeshError {
  readonly file: string;

  constructor(file: string, manifestPath: string, cause?: unknown) {
    super(
      'MODEL_FILE_MISSING',
      `model file ${file} (named by "file" in ${manifestPath}) does not exist or cannot be read. ` +
        'Put the .onnx beside the manifest, or fix the manifest\'s "file" field.',
      { cause },
    );
    this.file = file;
  }
}

/** The .onnx bytes differ from the ones the manifest was made for. */
export class ModelDigestMismatchError extends FieldmeshError {
  readonly file: string;
  readonly expected: string;
  readonly actual: string;

  constructor(file: string, manifestPath: string, expected: string, actual: string) {
    super(
      'MODEL_DIGEST_MISMATCH',
      `model file ${file} does not match its manifest ${manifestPath}: ` +
        `the manifest expects sha256 ${expected} but the file has sha256 ${actual}. ` +
        'If the model was replaced on purpose, re-generate the manifest (npm run models:generate for the ' +
        'example models, or set "sha256" to the new digest); otherwise restore the original model file.',
    );
    this.file = file;
    this.expected = expected;
    this.actual = actual;
  }
}

/** The inputs/outputs a manifest declares are not the ones the model has. */
export class ModelSignatureMismatchError extends FieldmeshError {
  readonly differences: readonly string[];

  constructor(source: string, differences: readonly string[]) {
    super(
      'MODEL_SIGNATURE_MISMATCH',
      `${source}: the manifest does not describe the model's inputs/outputs\n` +
        `${differences.map((d) => `  ${d}`).join('\n')}\n` +
        'Update the manifest\'s "inputs"/"outputs" to match the model, or use the model the manifest was written for.',
    );
    this.differences = differences;
  }
}

/** Options for a synthetic sensor stream that cannot be honoured (e.g. a temperature fault on vibration). */
export class SensorStreamOptionsError extends FieldmeshError {
  constructor(message: string) {
    super('SENSOR_STREAM_OPTIONS', message);
  }
}
