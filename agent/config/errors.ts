import { FieldmeshError } from '../../protocol/errors.js';
import { type FieldProblem, problemLines } from '../../protocol/field-problems.js';

export type ConfigProblem = FieldProblem;

/** Every problem of a config file at once, so an operator fixes them in one pass. */
export class ConfigInvalidError extends FieldmeshError {
  readonly file: string;
  readonly problems: readonly ConfigProblem[];

  constructor(file: string, problems: readonly ConfigProblem[]) {
    const n = problems.length;
    super(
      'CONFIG_INVALID',
      `${file}: ${n} problem${n === 1 ? '' : 's'} in the configuration\n${problemLines(problems)}\n` +
        'Fix the fields above (see the configuration reference in README.md) and start again.',
    );
    this.file = file;
    this.problems = problems;
  }
}

export class ConfigUnreadableError extends FieldmeshError {
  constructor(file: string, why: string, cause?: unknown) {
    super('CONFIG_UNREADABLE', `${file}: ${why}`, { cause });
  }
}
