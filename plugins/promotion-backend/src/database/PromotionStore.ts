import { ConflictError, NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';

export type PromotionKind = 'promotion' | 'rollback';
export type PromotionStatus = 'running' | 'succeeded' | 'failed';
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed';
export type StepName = 'checks' | 'tag' | 'retag' | 'deploy';

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
  steps: PromotionStep[];
}

export interface AuditEntry {
  actor: string;
  action: 'promote' | 'rollback' | 'yank';
  entityRef: string;
  environment?: string;
  sha?: string;
  tag?: string;
  outcome: 'succeeded' | 'failed' | 'refused';
  detail?: string;
  promotionId?: string;
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
 * never held only in memory: a crash or a failed step leaves exactly the steps that were done.
 */
export class PromotionStore {
  constructor(
    private readonly knex: Knex,
    private readonly options: { staleLockMs: number } = {
      staleLockMs: 10 * 60 * 1000,
    },
  ) {}

  /**
   * Inserts a new promotion with its planned steps. A second insert with the same idempotency
   * key for the entity returns the existing promotion instead (`created: false`).
   */
  async create(
    record: Omit<
      PromotionRecord,
      'createdAt' | 'updatedAt' | 'steps' | 'error' | 'status'
    >,
    steps: Array<{ name: StepName; status: StepStatus; detail: string | null }>,
  ): Promise<{ promotion: PromotionRecord; created: boolean }> {
    const now = new Date();
    try {
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
          status: 'running',
          idempotency_key: record.idempotencyKey,
          request_hash: record.requestHash,
          requested_by: record.requestedBy,
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
    return rows.map(row =>
      this.toRecord(
        row,
        steps.filter(s => s.promotion_id === row.id),
      ),
    );
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

  /**
   * Takes the environment's lock for a promotion. The primary key makes this atomic across
   * replicas: of concurrent callers exactly one inserts. A lock left by a crashed replica is taken
   * over once it is older than the stale limit.
   */
  async acquireLock(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.knex('promotion_locks').insert({
          entity_ref: entityRef,
          environment,
          promotion_id: promotionId,
          acquired_at: new Date(),
        });
        return;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
      const holder = await this.knex('promotion_locks')
        .where({ entity_ref: entityRef, environment })
        .first();
      if (!holder) continue;
      if (holder.promotion_id === promotionId) return;
      const age = Date.now() - new Date(holder.acquired_at).getTime();
      if (age > this.options.staleLockMs) {
        await this.knex('promotion_locks')
          .where({
            entity_ref: entityRef,
            environment,
            promotion_id: holder.promotion_id,
          })
          .delete();
        continue;
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
   * Keeps a waiting promotion's lock fresh, so the stale-lock takeover meant for crashed replicas
   * never hands the environment to someone else while a review or workflow run is in progress.
   * False when the lock is no longer this promotion's.
   */
  async touchLock(
    entityRef: string,
    environment: string,
    promotionId: string,
  ): Promise<boolean> {
    const updated = await this.knex('promotion_locks')
      .where({ entity_ref: entityRef, environment, promotion_id: promotionId })
      .update({ acquired_at: new Date() });
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

  async audit(entry: AuditEntry): Promise<void> {
    await this.knex('promotion_audit').insert({
      at: new Date(),
      actor: entry.actor,
      action: entry.action,
      entity_ref: entry.entityRef,
      environment: entry.environment ?? null,
      sha: entry.sha ?? null,
      tag: entry.tag ?? null,
      outcome: entry.outcome,
      detail: entry.detail ?? null,
      promotion_id: entry.promotionId ?? null,
    });
  }

  async require(entityRef: string, id: string): Promise<PromotionRecord> {
    const promotion = await this.get(entityRef, id);
    if (!promotion)
      throw new NotFoundError(`No promotion ${id} for ${entityRef}`);
    return promotion;
  }

  private async withSteps(row: any): Promise<PromotionRecord> {
    const steps = await this.knex('promotion_steps')
      .where({ promotion_id: row.id })
      .orderBy('position');
    return this.toRecord(row, steps);
  }

  private toRecord(row: any, steps: any[]): PromotionRecord {
    return {
      ...this.toSummary(row),
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
      error: row.error,
      createdAt: iso(row.created_at)!,
      updatedAt: iso(row.updated_at)!,
    };
  }
}
