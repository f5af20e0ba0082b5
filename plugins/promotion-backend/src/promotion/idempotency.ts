import crypto from 'node:crypto';
import { ConflictError } from '@backstage/errors';
import {
  PromotionKind,
  PromotionRecord,
  PromotionStore,
} from '../database/PromotionStore';

/** The request a promotion was made for, as a stable hash: a key reused for another is refused. */
export function requestHash(kind: PromotionKind, body: object): string {
  return crypto
    .createHash('sha256')
    .update(JSON.stringify({ kind, ...body }))
    .digest('hex');
}

/** How a repeated request carries on from what the first one came to. */
export interface ReplayHandlers {
  /** The first request's promotion failed: it is retried. */
  retry(previous: PromotionRecord): Promise<PromotionRecord>;
  /** It still runs: refused while its worker is on it, recovered once the worker is gone. */
  recoverRunning(previous: PromotionRecord): Promise<PromotionRecord>;
}

/**
 * Idempotency-Key handling: a repeated request answers what the first one came to; the same key
 * for a different request is a conflict.
 */
export class Idempotency {
  constructor(
    private readonly store: Pick<PromotionStore, 'findByIdempotencyKey'>,
  ) {}

  /** What an earlier request with `key` came to, or undefined when there was none. */
  async previous(
    entityRef: string,
    key: string | undefined,
    hash: string,
    handlers: ReplayHandlers,
  ): Promise<PromotionRecord | undefined> {
    if (!key) return undefined;
    const previous = await this.store.findByIdempotencyKey(entityRef, key);
    return previous ? this.replay(previous, hash, handlers) : undefined;
  }

  /** Answers a repeated request with the promotion its first one recorded. */
  async replay(
    previous: PromotionRecord,
    hash: string,
    handlers: ReplayHandlers,
  ): Promise<PromotionRecord> {
    if (previous.requestHash !== hash) {
      throw new ConflictError(
        `Idempotency-Key ${previous.idempotencyKey} was already used for a different request (promotion ${previous.id})`,
      );
    }
    if (previous.status === 'failed') return handlers.retry(previous);
    if (previous.status === 'running') return handlers.recoverRunning(previous);
    return previous;
  }
}
