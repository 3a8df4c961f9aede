import { type ParseArgsConfig, parseArgs } from 'node:util';
import { FieldmeshError } from '../../protocol/errors.js';

export class UsageError extends FieldmeshError {
  constructor(message: string) {
    super('CLI_USAGE', message);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with errors that say which command and how to get help. */
export function parse<O extends Options>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(
      `fieldmesh ${command}: ${(err as Error).message}. Run "fieldmesh ${command} --help".`,
    );
  }
}

export function intOption(
  command: string,
  name: string,
  value: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `fieldmesh ${command}: --${name} takes a whole number from ${min} to ${max}, got "${value}"`,
    );
  }
  return n;
}

export function numberOption(
  command: string,
  name: string,
  value: string | undefined,
  min: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) {
    throw new UsageError(`fieldmesh ${command}: --${name} takes a number ≥ ${min}, got "${value}"`);
  }
  return n;
}
