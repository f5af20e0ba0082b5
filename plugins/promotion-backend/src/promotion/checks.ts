import { ConflictError, CustomErrorBase, InputError } from '@backstage/errors';
import { PolicyCheck } from './types';

/**
 * The checks whose failure is a malformed request (400) rather than a conflict with the state of
 * the release (409).
 */
const INPUT_CHECKS = new Set(['tag-name', 'registry-tag']);

/**
 * A write refused by its checks: the usual Backstage error (its `name` keeps the 409 or 400 that
 * callers and the error handler know) with the failed checks, which the router puts in the error
 * body as a top-level `checks` array for the frontend to read their names and data.
 */
export class PromotionRefusedError extends CustomErrorBase {
  readonly checks: PolicyCheck[];

  /** `name` overrides the error class the first check implies (`NotFoundError`: not set up). */
  constructor(checks: PolicyCheck[], message?: string, name?: 'NotFoundError') {
    super(message ?? checks[0].reason);
    this.checks = checks;
    // The name decides the status (errorHandler maps ConflictError to 409, InputError to 400).
    this.name =
      name ??
      (INPUT_CHECKS.has(checks[0].name) ? InputError.name : ConflictError.name);
  }

  /** The HTTP status Backstage's error handler gives an error of this name. */
  get statusCode(): number {
    if (this.name === 'NotFoundError') return 404;
    return this.name === InputError.name ? 400 : 409;
  }
}

/** The first failed check refuses the write; every failed one goes with the refusal. */
export function refusalOf(
  checks: PolicyCheck[],
): PromotionRefusedError | undefined {
  const failed = checks.filter(c => !c.passed);
  return failed.length > 0 ? new PromotionRefusedError(failed) : undefined;
}

/** The checks as the `checks` step of a promotion records them. */
export function summarize(checks: PolicyCheck[]): string {
  return checks.map(c => `${c.name}: ${c.reason}`).join('; ');
}
