import { ResponseError } from '@backstage/errors';
import {
  CheckedErrorBody,
  PromotionCheck,
  PromotionCheckData,
} from '@mainline/plugin-promotion-common';

/**
 * The checks that refused a request, from the error the client threw: the top-level `checks` of
 * the backend's error body (empty for any other error).
 *
 * @public
 */
export function refusedChecks(error: unknown): PromotionCheck[] {
  if (!ResponseError.is(error)) return [];
  const checks = (error.body as CheckedErrorBody).checks;
  return Array.isArray(checks) ? checks : [];
}

/**
 * The first value of `key` in the data of the failed checks among `checks`, e.g. the nearest
 * built ancestor of a commit without an artifact.
 *
 * @public
 */
export function checkData<K extends keyof PromotionCheckData>(
  checks: readonly PromotionCheck[] | undefined,
  key: K,
): PromotionCheckData[K] | undefined {
  return checks?.find(c => !c.passed && c.data?.[key] !== undefined)?.data?.[
    key
  ];
}
