import { FieldmeshError } from '../../protocol/errors.js';
import { type FieldProblem, problemsMessage } from '../../protocol/field-problems.js';

export type ConfigProblem = FieldProblem;

/** Every problem of a config file at once, so an operator fixes them in one pass. */
export class ConfigInvalidError extends FieldmeshError {
  readonly file: string;
  readonly problems: readonly ConfigProblem[];

  constructor(file: string, problems: readonly ConfigProblem[]) {
    super(
      'CONFIG_INVALID',
      problemsMessage(
        file,
        'the configuration',
        problems,
        'Fix the fields above (see the configuration reference in README.md) and start again.',
      ),
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
