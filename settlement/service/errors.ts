import { FieldmeshError } from '../../protocol/errors.js';

export class SettlementStartError extends FieldmeshError {
  constructor(message: string, cause?: unknown) {
    super('SETTLEMENT_START_FAILED', message, { cause });
  }
}
