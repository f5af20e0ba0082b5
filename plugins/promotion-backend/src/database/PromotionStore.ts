import crypto from 'node:crypto';
import { ConflictError, NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import type {
  NewPromotion,
  PromotionDatabase,
  PromotionLocator,
} from './PromotionDatabase';

export type PromotionKind = 'promotion' | 'rollback';
export type PromotionStatus =
  | 'awaiting-approval'
  | 'running'
  | 'succeeded'
  | 'failed';
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed';
export type StepName =
  | 'checks'
  | 'approval'
  | 'tag'
  | 'retag'
  | 'deploy'
  | 'verify';

export interface PromotionStep {
  name: StepName;
  status: StepStatus;
  detail: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** Link to what the step started or changed (manifest commit, pull request, workflow run). */
  url: string | null;
  /** Set while the step waits for an external completion (a review, a workflow run). */
  pending: string | null;
}

export interface PromotionRecord {
  id: string;
  entityRef: string;
  kind: PromotionKind;
  environment: string;
  sha: string;
  tag: string | null;
  /** The promotion chose its release tag (none was given): it may choose again if it is taken. */
  tagAutomatic: boolean;
  version: string;
  status: PromotionStatus;
  idempotencyKey: string | null;
  requestHash: string;
  requestedBy: string;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  /**
   * An automatic rollback: the promotion whose failed verification it restores from (null for
   * every other promotion and rollback).
   */
  rollbackOf: string | null;
  /** An automatic rollback: who requested the promotion it restores from. */
  onBehalfOf: string | null;
  /** A promotion an automatic rollback restores from: that rollback (full records only). */
  rolledBackBy?: RollbackLink | null;
  steps: PromotionStep[];
}

/** The automatic rollback of a promotion whose verification failed, as the promotion links it. */
export interface RollbackLink {
  id: string;
  version: string;
  status: PromotionStatus;
}

/** The default lease length (`promotion.locks.leaseSeconds`). */
export const DEFAULT_LEASE_MS = 30_000;

/** A lease end in the past; a lock from before leases (no end) counts as run out. */
function isExpired(expiresAt: string | Date | null): boolean {
  return !expiresAt || new Date(expiresAt).getTime() < Date.now();
}

const iso = (value: string | Date | null) =>
  value ? new Date(value).toISOString() : null;

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' || // PostgreSQL
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    /UNIQUE constraint failed|duplicate key/i.test(e?.message ?? '')
  );
}

/**
 * The promotions table family. Every state change is a row update, so a promotion's progress is
 * never held only in memory: a crash leaves the steps recorded up to the one it interrupted, and the
 * reconciler reads the upstreams to learn how far that one got.
 */
export class PromotionStore implements PromotionDatabase {
  constructor(
    private readonly knex: Knex,
    private readonly options: {
      /** How long a lease lasts unless renewed. */
      leaseMs: number;
      /** This backend instance, as lease owner. */
      owner: string;
      /**
       * How long the follower's renewal of a waiting promotion's lease lasts: longer than the
       * follower's interval, so the lease stays live between two checks. Default `leaseMs`.
       */
      waitingLeaseMs?: number;
    } = { leaseMs: DEFAULT_LEASE_MS, owner: crypto.randomUUID() },
  ) {}

  /** How long a lease lasts unless renewed. */
  get leaseMs(): number {
    return this.options.leaseMs;
  }

  /**
   * Inserts a new promotion with its planned steps. A second insert with the same idempotency
   * key for the entity returns the existing promotion instead (`created: false`).
   */
  async create(
    record: NewPromotion,
    steps: PlannedStep[],
  ): Promise<{ promotion: PromotionRecord; created: boolean }> {
    const now = new Date();
    try {
      await this.knex.transaction(async trx => {
        await insertPromotion(trx, record, steps, now);
      });
    } catch (error) {
      if (record.idempotencyKey && isUniqueViolation(error)) {
        const existing = await this.findByIdempotencyKey(
          record.entityRef,
          record.idempotencyKey,
        );
        if (existing) return { promotion: existing, created: false };
      }
      throw error;
    }
    return {
      promotion: (await this.get(record.entityRef, record.id))!,
      created: true,
    };
  }

  async findByIdempotencyKey(
    entityRef: string,
    key: string,
  ): Promise<PromotionRecord | undefined> {
    const row = await this.knex('promotion_promotions')
      .where({ entity_ref: entityRef, idempotency_key: key })
      .first();
    return row ? this.withSteps(row) : undefined;
  }

  async get(
    entityRef: string,
    id: string,
  ): Promise<PromotionRecord | undefined> {
    const row = await this.knex('promotion_promotions')
      .where({ entity_ref: entityRef, id })
      .first();
    return row ? this.withSteps(row) : undefined;
  }

  async list(
    entityRef: string,
    options: { limit: number },
  ): Promise<PromotionRecord[]> {
    const rows = await this.knex('promotion_promotions')
      .where({ entity_ref: entityRef })
      .orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(options.limit);
    const steps = rows.length
      ? await this.knex('promotion_steps')
          .whereIn(
            'promotion_id',
            rows.map(r => r.id),
          )
          .orderBy('position')
      : [];
    const links = await this.rollbackLinks(rows.map(r => r.id));
    return rows.map(row =>
      this.toRecord(
        row,
        steps.filter(s => s.promotion_id === row.id),
        links,
      ),
    );
  }

  /** The automatic rollbacks of these promotions, by the promotion each restores from. */
  private async rollbackLinks(
    ids: string[],
  ): Promise<Map<string, RollbackLink>> {
    const links = new Map<string, RollbackLink>();
    if (ids.length === 0) return links;
    const rows = await this.knex('promotion_promotions')
      .whereIn('rollback_of', ids)
      .select('id', 'rollback_of', 'version', 'status');
    for (const row of rows) {
      links.set(row.rollback_of, {
        id: row.id,
        version: row.version,
        status: row.status,
      });
    }
    return links;
  }

  /**
   * The newest promotion or rollback of the entity to the environment whose verify step
   * succeeded, of another commit than `exceptSha`: what an automatic rollback returns to.
   */
  async lastVerified(
    entityRef: string,
    environment: string,
    exceptSha: string,
  ): Promise<Omit<PromotionRecord, 'steps'> | undefined> {
    const row = await this.knex('promotion_promotions as p')
      .join('promotion_steps as s', 's.promotion_id', 'p.id')
      .where({
        'p.entity_ref': entityRef,
        'p.environment': environment,
        'p.status': 'succeeded',
        's.name': 'verify',
        's.status': 'succeeded',
      })
      .whereNot('p.sha', exceptSha)
      .orderBy([
        { column: 'p.created_at', order: 'desc' },
        { column: 'p.id', order: 'desc' },
      ])
      .first('p.*');
    return row ? this.toSummary(row) : undefined;
  }

  /**
   * A verify step that failed and the automatic rollback it leads to, recorded at once: the step
   * failed (if it still waits for `pending`), the promotion failed with `error`, the rollback
   * recorded `running` with its steps, and the environment's lock handed from the one to the
   * other with a fresh lease of this instance. A crash before it leaves the step waiting (the
   * follower judges it again); after it, the rollback is a running promotion like any other (the
   * reconciler resumes it once the lease runs out). False, with nothing changed, when another
   * follower finished the step first.
   */
  async failIntoRollback(
    failed: {
      record: PromotionLocator;
      step: StepName;
      pending: string;
      detail: string;
      url: string | null;
      error: string;
    },
    rollback: NewPromotion,
    steps: PlannedStep[],
  ): Promise<boolean> {
    const now = new Date();
    return this.knex.transaction(async trx => {
      const stepEnded = await trx('promotion_steps')
        .where({
          promotion_id: failed.record.id,
          name: failed.step,
          status: 'running',
          pending: failed.pending,
        })
        .update({
          status: 'failed',
          detail: failed.detail,
          url: failed.url,
          pending: null,
          finished_at: now,
        });
      if (stepEnded === 0) return false;
      const ended = await trx('promotion_promotions')
        .where({ id: failed.record.id, status: 'running' })
        .update({ status: 'failed', error: failed.error, updated_at: now });
      if (ended === 0) {
        throw new ConflictError(
          `Promotion ${failed.record.id} ended while its verify step was waiting`,
        );
      }
      await insertPromotion(
        trx,
        // It restores a version verified there: it never waits for approvals.
        { ...rollback, approval: undefined, rollbackOf: failed.record.id },
        steps,
        now,
      );
      const handed = await trx('promotion_locks')
        .where({
          entity_ref: failed.record.entityRef,
          environment: failed.record.environment,
          promotion_id: failed.record.id,
        })
        .update({
          promotion_id: rollback.id,
          owner: this.options.owner,
          acquired_at: now,
          expires_at: this.leaseEnd(),
        });
      if (handed === 0) {
        await trx('promotion_locks').insert({
          entity_ref: failed.record.entityRef,
          environment: failed.record.environment,
          promotion_id: rollback.id,
          owner: this.options.owner,
          acquired_at: now,
          expires_at: this.leaseEnd(),
        });
      }
      return true;
    });
  }

  /** The newest promotion or rollback per entity and environment (steps left out). */
  async latestPerEnvironment(
    entityRefs: string[],
  ): Promise<Array<Omit<PromotionRecord, 'steps'>>> {
    const result: Array<Omit<PromotionRecord, 'steps'>> = [];
    for (let i = 0; i < entityRefs.length; i += 500) {
      const chunk = entityRefs.slice(i, i + 500);
      const latest = this.knex('promotion_promotions')
        .select('entity_ref', 'environment')
        .max({ newest: 'created_at' })
        .whereIn('entity_ref', chunk)
        .groupBy('entity_ref', 'environment')
        .as('latest');
      const rows = await this.knex('promotion_promotions as p')
        .join(latest, join =>
          join
            .on('p.entity_ref', '=', 'latest.entity_ref')
            .andOn('p.environment', '=', 'latest.environment')
            .andOn('p.created_at', '=', 'latest.newest'),
        )
        .select('p.*');
      result.push(...rows.map(row => this.toSummary(row)));
    }
    return result;
  }

  /** Promotions and rollbacks of the entities, newest first, for export (steps left out). */
  async history(
    entityRefs: string[],
    options: { since?: Date; limit: number },
  ): Promise<Array<Omit<PromotionRecord, 'steps'>>> {
    const rows: any[] = [];
    for (let i = 0; i < entityRefs.length; i += 500) {
      const query = this.knex('promotion_promotions')
        .whereIn('entity_ref', entityRefs.slice(i, i + 500))
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(options.limit);
      if (options.since) query.where('created_at', '>=', options.since);
      rows.push(...(await query));
    }
    return rows
      .map(row => this.toSummary(row))
      .sort(
        (a, b) =>
          b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id),
      )
      .slice(0, options.limit);
  }

  async setStep(
    id: string,
    name: StepName,
    status: StepStatus,
    detail: string | null,
    links: { url?: string | null; pending?: string | null } = {},
  ): Promise<void> {
    const now = new Date();
    const startsNow = status === 'running' && links.pending === undefined;
    await this.knex('promotion_steps')
      .where({ promotion_id: id, name })
      .update({
        status,
        detail,
        ...(links.url !== undefined ? { url: links.url } : {}),
        // A step leaves its pending reference behind whenever it is not waiting any more.
        pending: status === 'running' ? links.pending ?? null : null,
        ...(startsNow ? { started_at: now, finished_at: null } : {}),
        ...(status === 'succeeded' || status === 'failed'
          ? { finished_at: now }
          : {}),
      });
    await this.knex('promotion_promotions')
      .where({ id })
      .update({ updated_at: now });
  }

  /**
   * Records the release tag a promotion chose again at its tag step (its first choice was taken
   * meanwhile): the tag, the version, and the details of the steps that name it, at once.
   */
  async setReleaseTag(
    id: string,
    tag: string,
    details: Partial<Record<StepName, string>>,
  ): Promise<void> {
    await this.knex.transaction(async trx => {
      await trx('promotion_promotions')
        .where({ id })
        .update({ tag, version: tag, updated_at: new Date() });
      for (const [name, detail] of Object.entries(details)) {
        await trx('promotion_steps')
          .where({ promotion_id: id, name })
          .update({ detail });
      }
    });
  }

  async setStatus(
    id: string,
    status: PromotionStatus,
    error: string | null,
  ): Promise<void> {
    await this.knex('promotion_promotions')
      .where({ id })
      .update({ status, error, updated_at: new Date() });
  }

  /** When a lease taken or renewed now runs out. */
  private leaseEnd(): Date {
    return new Date(Date.now() + this.options.leaseMs);
  }

  /**
   * Takes the environment's lease for a promotion. The primary key makes this atomic across
   * replicas: of concurrent callers exactly one inserts. A lock whose promotion has ended (or never
   * got recorded and let its lease run out) never blocks: it is removed and the lease taken. A
   * lease that ran out while its promotion is still running is not taken over: the reconciler
   * recovers that promotion first.
   */
  async acquireLock(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.knex('promotion_locks').insert({
          entity_ref: entityRef,
          environment,
          promotion_id: promotionId,
          owner: this.options.owner,
          acquired_at: new Date(),
          expires_at: this.leaseEnd(),
        });
        return;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
      const holder = await this.knex('promotion_locks')
        .where({ entity_ref: entityRef, environment })
        .first();
      if (!holder) continue;
      if (holder.promotion_id === promotionId) {
        await this.knex('promotion_locks')
          .where({
            entity_ref: entityRef,
            environment,
            promotion_id: promotionId,
          })
          .update({ owner: this.options.owner, expires_at: this.leaseEnd() });
        return;
      }
      const promotion = await this.knex('promotion_promotions')
        .where({ id: holder.promotion_id })
        .first('status');
      const expired = isExpired(holder.expires_at);
      if (
        (promotion && promotion.status !== 'running') ||
        (!promotion && expired)
      ) {
        // Left behind by a worker that died between the end state and the release, or before
        // its promotion was recorded: nothing is running, so nothing may be blocked.
        await this.knex('promotion_locks')
          .where({
            entity_ref: entityRef,
            environment,
            promotion_id: holder.promotion_id,
          })
          .delete();
        continue;
      }
      if (promotion && expired) {
        throw new ConflictError(
          `Promotion ${
            holder.promotion_id
          } of ${entityRef} to ${environment} stopped when its worker did (lease ran out ${iso(
            holder.expires_at,
          )}); it is being recovered, try again when it has finished`,
        );
      }
      throw new ConflictError(
        `Another promotion of ${entityRef} to ${environment} is in progress (${
          holder.promotion_id
        }, started ${iso(holder.acquired_at)}); try again when it has finished`,
      );
    }
    throw new ConflictError(
      `Could not lock ${environment} of ${entityRef}; try again`,
    );
  }

  /**
   * Claims the lease of a running promotion whose worker stopped (its lease ran out, or it has no
   * lock at all), for this instance: a conditional update, so of several replicas trying at once
   * exactly one wins. False when the lease is live or someone else claimed it first.
   */
  async claimExpired(record: {
    id: string;
    entityRef: string;
    environment: string;
  }): Promise<boolean> {
    const now = new Date();
    const updated = await this.knex('promotion_locks')
      .where({
        entity_ref: record.entityRef,
        environment: record.environment,
        promotion_id: record.id,
      })
      .andWhere(q => q.where('expires_at', '<', now).orWhereNull('expires_at'))
      .update({ owner: this.options.owner, expires_at: this.leaseEnd() });
    if (updated > 0) return true;
    const holder = await this.knex('promotion_locks')
      .where({ entity_ref: record.entityRef, environment: record.environment })
      .first();
    if (holder) return false;
    return this.insertOnce('promotion_locks', {
      entity_ref: record.entityRef,
      environment: record.environment,
      promotion_id: record.id,
      owner: this.options.owner,
      acquired_at: now,
      expires_at: this.leaseEnd(),
    });
  }

  /**
   * The lease of a promotion: whether it is held, and whether it is still live (renewed within the
   * lease length).
   */
  async lease(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<{ held: boolean; live: boolean; expiresAt: string | null }> {
    const lock = await this.knex('promotion_locks')
      .where({ entity_ref: entityRef, environment, promotion_id: promotionId })
      .first();
    if (!lock) return { held: false, live: false, expiresAt: null };
    return {
      held: true,
      live: !isExpired(lock.expires_at),
      expiresAt: iso(lock.expires_at),
    };
  }

  /**
   * Running promotions whose worker stopped: the lease ran out, or there is no lock at all (the
   * reconciler's work list, shared by every replica), oldest first.
   */
  async listStalled(limit = 100): Promise<PromotionRecord[]> {
    const now = new Date();
    const rows = await this.knex('promotion_promotions as p')
      .leftJoin('promotion_locks as l', join =>
        join
          .on('l.entity_ref', '=', 'p.entity_ref')
          .andOn('l.environment', '=', 'p.environment'),
      )
      .where('p.status', 'running')
      .andWhere(q =>
        q
          .whereNull('l.promotion_id')
          .orWhere(q2 =>
            q2
              .where('l.promotion_id', '=', this.knex.ref('p.id'))
              .andWhere(q3 =>
                q3.where('l.expires_at', '<', now).orWhereNull('l.expires_at'),
              ),
          ),
      )
      .select('p.*')
      .orderBy('p.created_at')
      .limit(limit);
    return Promise.all(rows.map(row => this.withSteps(row)));
  }

  /**
   * Promotions whose step waits for an external completion, oldest first: the follower's work
   * list, shared by every replica.
   */
  async listWaiting(limit = 100): Promise<PromotionRecord[]> {
    const ids = await this.knex('promotion_steps')
      .whereNotNull('pending')
      .andWhere({ status: 'running' })
      .distinct('promotion_id')
      .limit(limit);
    const rows = await this.knex('promotion_promotions')
      .whereIn(
        'id',
        ids.map((r: { promotion_id: string }) => r.promotion_id),
      )
      .andWhere({ status: 'running' })
      .orderBy('created_at');
    return Promise.all(rows.map(row => this.withSteps(row)));
  }

  /**
   * Renews a promotion's lease while this instance works on it. False when the lease is no longer
   * this instance's (the reconciler claimed it after the lease ran out): the caller must stop.
   */
  async renewLease(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<boolean> {
    const updated = await this.knex('promotion_locks')
      .where({
        entity_ref: entityRef,
        environment,
        promotion_id: promotionId,
        owner: this.options.owner,
      })
      .update({ expires_at: this.leaseEnd() });
    return updated > 0;
  }

  /**
   * Keeps a waiting promotion's lease live, whichever instance follows it: while a review or a
   * workflow run is in progress nobody works on the promotion, its lock only says the environment
   * is taken. False when the lock is no longer this promotion's.
   */
  async touchLock(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<boolean> {
    const updated = await this.knex('promotion_locks')
      .where({ entity_ref: entityRef, environment, promotion_id: promotionId })
      .update({
        owner: this.options.owner,
        expires_at: new Date(
          Date.now() +
            Math.max(this.options.leaseMs, this.options.waitingLeaseMs ?? 0),
        ),
      });
    return updated > 0;
  }

  async releaseLock(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<void> {
    await this.knex('promotion_locks')
      .where({ entity_ref: entityRef, environment, promotion_id: promotionId })
      .delete();
  }

  /**
   * Records a promotion's end state and frees its environment in one transaction, so a crash can
   * leave neither an ended promotion holding its lock nor a free environment with a running
   * promotion. Only the first caller ends it: false when it had already ended (a concurrent
   * follower or a redelivered webhook), and that caller must not audit or notify again.
   */
  async end(
    record: { id: string; entityRef: string; environment: string },
    status: 'succeeded' | 'failed',
    error: string | null,
  ): Promise<boolean> {
    return this.knex.transaction(async trx => {
      const updated = await trx('promotion_promotions')
        .where({ id: record.id, status: 'running' })
        .update({ status, error, updated_at: new Date() });
      await trx('promotion_locks')
        .where({
          entity_ref: record.entityRef,
          environment: record.environment,
          promotion_id: record.id,
        })
        .delete();
      return updated > 0;
    });
  }

  /**
   * Finishes a step that waited for an external completion, if it still waits for `pending`: a
   * conditional update, so of several followers (replicas, redelivered webhooks) exactly one wins
   * and only that one carries on.
   */
  async completeWaitingStep(
    id: string,
    name: StepName,
    pending: string,
    status: 'succeeded' | 'failed',
    detail: string,
    url: string | null,
  ): Promise<boolean> {
    const now = new Date();
    const updated = await this.knex('promotion_steps')
      .where({ promotion_id: id, name, status: 'running', pending })
      .update({ status, detail, url, pending: null, finished_at: now });
    if (updated > 0) {
      await this.knex('promotion_promotions')
        .where({ id })
        .update({ updated_at: now });
    }
    return updated > 0;
  }

  /** Changes the release tag of a promotion that adopts a tag an unfinished one created. */
  async adoptTag(id: string, tag: string): Promise<void> {
    await this.knex('promotion_promotions')
      .where({ id })
      .update({ tag, version: tag, updated_at: new Date() });
  }

  /**
   * Promotions of the entity to the environment for `sha` that did not succeed (running, or
   * failed and not retried), newest first: the ones whose release tag a new promotion adopts.
   */
  async listUnfinished(
    entityRef: string,
    environment: string,
    sha: string,
  ): Promise<Array<Omit<PromotionRecord, 'steps'>>> {
    const rows = await this.knex('promotion_promotions')
      .where({ entity_ref: entityRef, environment, sha, kind: 'promotion' })
      .whereIn('status', ['running', 'failed'])
      .whereNotNull('tag')
      .orderBy('created_at', 'desc');
    return rows.map(row => this.toSummary(row));
  }

  /**
   * Another promotion of the same entity and environment that took over this one's release tag
   * (adopted it) and is running or succeeded, if there is one.
   */
  async findAdopter(record: {
    id: string;
    entityRef: string;
    environment: string;
    tag: string | null;
  }): Promise<Omit<PromotionRecord, 'steps'> | undefined> {
    const row = await this.knex('promotion_promotions')
      .where({
        entity_ref: record.entityRef,
        environment: record.environment,
        tag: record.tag,
      })
      .whereNot({ id: record.id })
      .whereIn('status', ['running', 'succeeded'])
      .first();
    return row ? this.toSummary(row) : undefined;
  }

  /**
   * Remembers a webhook delivery; false when it was seen before (a redelivery), so it is acted on
   * once.
   */
  async firstDelivery(deliveryId: string, topic: string): Promise<boolean> {
    return this.insertOnce('promotion_webhook_deliveries', {
      delivery_id: deliveryId.slice(0, 128),
      topic: topic.slice(0, 64),
      received_at: new Date(),
    });
  }

  /** Forgets webhook deliveries older than the retention. */
  async pruneDeliveries(olderThan: Date): Promise<number> {
    return this.knex('promotion_webhook_deliveries')
      .where('received_at', '<', olderThan)
      .delete();
  }

  /**
   * Claims a pushed release tag for the path (webhook or reconcile pass, on any replica) that saw
   * it first: the primary key on repository and tag makes this atomic, so a tag becomes at most
   * one promotion. False when it was claimed (or recorded as history) before.
   */
  async claimPushedTag(entry: {
    repo: string;
    tag: string;
    sha: string | null;
    source: 'webhook' | 'reconcile';
  }): Promise<boolean> {
    return this.insertOnce('promotion_pushed_tags', {
      repo: entry.repo,
      tag: entry.tag,
      sha: entry.sha,
      source: entry.source,
      outcome: 'claimed',
      detail: null,
      received_at: new Date(),
    });
  }

  /**
   * Inserts a row whose primary key makes the claim: true for the one caller that inserted it,
   * false for every other (on any replica), whatever the database.
   */
  private async insertOnce(
    table: string,
    row: Record<string, unknown>,
  ): Promise<boolean> {
    try {
      await this.knex(table).insert(row);
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  /** Records what became of a claimed pushed tag. */
  async settlePushedTag(
    repo: string,
    tag: string,
    outcome: 'promoted' | 'refused' | 'mainline' | 'ignored' | 'failed',
    detail: string,
  ): Promise<void> {
    await this.knex('promotion_pushed_tags')
      .where({ repo, tag })
      .update({ outcome, detail: detail.slice(0, 2000) });
  }

  /**
   * Gives a claimed tag back when nothing was recorded for it (an upstream failure before any
   * promotion existed), so the next reconcile pass or delivery tries it again.
   */
  async releasePushedTag(repo: string, tag: string): Promise<void> {
    await this.knex('promotion_pushed_tags')
      .where({ repo, tag, outcome: 'claimed' })
      .delete();
  }

  /** The tags of a repository some path has claimed or recorded, and whether it has a baseline. */
  async pushedTagsOf(
    repo: string,
  ): Promise<{ baselined: boolean; tags: Set<string> }> {
    const [baseline, rows] = await Promise.all([
      this.knex('promotion_tag_baselines').where({ repo }).first(),
      this.knex('promotion_pushed_tags').where({ repo }).select('tag'),
    ]);
    return {
      baselined: Boolean(baseline),
      tags: new Set(rows.map((r: { tag: string }) => r.tag)),
    };
  }

  /**
   * A repository's first reconcile pass: the release tags it already has are history, recorded so
   * that no later pass mistakes them for pushes it missed.
   */
  async baselineTags(
    repo: string,
    tags: Array<{ name: string; sha: string }>,
  ): Promise<void> {
    const now = new Date();
    await this.knex.transaction(async trx => {
      for (let i = 0; i < tags.length; i += 200) {
        await trx('promotion_pushed_tags')
          .insert(
            tags.slice(i, i + 200).map(t => ({
              repo,
              tag: t.name,
              sha: t.sha,
              source: 'baseline',
              outcome: 'existing',
              detail: null,
              received_at: now,
            })),
          )
          .onConflict(['repo', 'tag'])
          .ignore();
      }
      await trx('promotion_tag_baselines')
        .insert({ repo, at: now })
        .onConflict('repo')
        .ignore();
    });
  }

  /**
   * Whether Mainline itself released `tag` for one of the entities: its promotion is recorded
   * (with the tag) before the tag is created, so a webhook about the tag always finds it.
   */
  async promotedWithTag(entityRefs: string[], tag: string): Promise<boolean> {
    if (entityRefs.length === 0) return false;
    const row = await this.knex('promotion_promotions')
      .whereIn('entity_ref', entityRefs)
      .where({ tag })
      .first('id');
    return Boolean(row);
  }

  /**
   * Records a promotion the rules refused before anything changed (a release tag a person pushed):
   * failed at its checks, without a lock, so the promotions list shows it with the reason.
   */
  async recordRefused(
    record: NewPromotion,
    reason: string,
  ): Promise<PromotionRecord> {
    const now = new Date();
    await this.knex.transaction(async trx => {
      await trx('promotion_promotions').insert({
        id: record.id,
        entity_ref: record.entityRef,
        kind: record.kind,
        environment: record.environment,
        sha: record.sha,
        tag: record.tag,
        tag_automatic: record.tagAutomatic,
        version: record.version,
        status: 'failed',
        idempotency_key: record.idempotencyKey,
        request_hash: record.requestHash,
        requested_by: record.requestedBy,
        error: reason,
        created_at: now,
        updated_at: now,
      });
      await trx('promotion_steps').insert({
        promotion_id: record.id,
        position: 0,
        name: 'checks',
        status: 'failed',
        detail: reason,
        started_at: now,
        finished_at: now,
      });
    });
    return (await this.get(record.entityRef, record.id))!;
  }

  async require(entityRef: string, id: string): Promise<PromotionRecord> {
    const promotion = await this.get(entityRef, id);
    if (!promotion)
      throw new NotFoundError(`No promotion ${id} for ${entityRef}`);
    return promotion;
  }

  private async withSteps(row: any): Promise<PromotionRecord> {
    const [steps, links] = await Promise.all([
      this.knex('promotion_steps')
        .where({ promotion_id: row.id })
        .orderBy('position'),
      this.rollbackLinks([row.id]),
    ]);
    return this.toRecord(row, steps, links);
  }

  private toRecord(
    row: any,
    steps: any[],
    links: Map<string, RollbackLink>,
  ): PromotionRecord {
    return {
      ...this.toSummary(row),
      rolledBackBy: links.get(row.id) ?? null,
      steps: steps.map(step => ({
        name: step.name,
        status: step.status,
        detail: step.detail,
        startedAt: iso(step.started_at),
        finishedAt: iso(step.finished_at),
        url: step.url ?? null,
        pending: step.pending ?? null,
      })),
    };
  }

  /** A promotion without its steps (lists and exports). */
  private toSummary(row: any): Omit<PromotionRecord, 'steps'> {
    return {
      id: row.id,
      entityRef: row.entity_ref,
      kind: row.kind,
      environment: row.environment,
      sha: row.sha,
      tag: row.tag,
      tagAutomatic: Boolean(row.tag_automatic),
      version: row.version,
      status: row.status,
      idempotencyKey: row.idempotency_key,
      requestHash: row.request_hash,
      requestedBy: row.requested_by,
      rollbackOf: row.rollback_of ?? null,
      onBehalfOf: row.on_behalf_of ?? null,
      error: row.error,
      createdAt: iso(row.created_at)!,
      updatedAt: iso(row.updated_at)!,
    };
  }
}

type PlannedStep = {
  name: StepName;
  status: StepStatus;
  detail: string | null;
};

/**
 * Writes a new promotion's row and its planned steps inside `trx`: awaiting approval when it
 * needs approvals, running otherwise; steps already succeeded (planned as done) start and end now.
 */
async function insertPromotion(
  trx: Knex.Transaction,
  record: NewPromotion,
  steps: PlannedStep[],
  now: Date,
) {
  await trx('promotion_promotions').insert({
    id: record.id,
    entity_ref: record.entityRef,
    kind: record.kind,
    environment: record.environment,
    sha: record.sha,
    tag: record.tag,
    tag_automatic: record.tagAutomatic,
    version: record.version,
    status: record.approval ? 'awaiting-approval' : 'running',
    ...(record.approval
      ? {
          required_approvals: record.approval.required,
          approval_context: record.approval.context,
        }
      : {}),
    idempotency_key: record.idempotencyKey,
    request_hash: record.requestHash,
    requested_by: record.requestedBy,
    rollback_of: record.rollbackOf ?? null,
    on_behalf_of: record.onBehalfOf ?? null,
    error: null,
    created_at: now,
    updated_at: now,
  });
  await trx('promotion_steps').insert(
    steps.map((step, position) => ({
      promotion_id: record.id,
      position,
      name: step.name,
      status: step.status,
      detail: step.detail,
      started_at: step.status === 'succeeded' ? now : null,
      finished_at: step.status === 'succeeded' ? now : null,
    })),
  );
}
