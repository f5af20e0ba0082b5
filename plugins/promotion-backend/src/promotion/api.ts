import { Promotion, Yank } from '@mainline/plugin-promotion-common';
import { PromotionRecord } from '../database/PromotionStore';
import { Yank as YankRecord } from '../database/YankStore';

/** The API's view of a stored promotion (internal bookkeeping left out). */
export function toPromotion(record: PromotionRecord): Promotion {
  return {
    id: record.id,
    kind: record.kind,
    status: record.status,
    environment: record.environment,
    sha: record.sha,
    tag: record.tag,
    version: record.version,
    requestedBy: record.requestedBy,
    error: record.error,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    ...(record.rollbackOf
      ? {
          rollbackOf: record.rollbackOf,
          ...(record.onBehalfOf ? { onBehalfOf: record.onBehalfOf } : {}),
        }
      : {}),
    ...(record.rolledBackBy ? { rolledBackBy: record.rolledBackBy } : {}),
    steps: record.steps.map(({ pending, ...step }) => ({
      ...step,
      waiting: pending !== null,
    })),
  };
}

/** The API's view of a yank's tombstone. */
export function toYank({ sha, yankedBy, reason, yankedAt }: YankRecord): Yank {
  return { sha, yankedBy, reason, yankedAt };
}
