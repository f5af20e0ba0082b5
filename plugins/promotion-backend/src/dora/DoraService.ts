import { InputError } from '@backstage/errors';
import { EnvironmentDefinition } from '@mainline/plugin-promotion-common';
import pLimit from 'p-limit';
import { PromotionStore } from '../database/PromotionStore';
import { YankStore } from '../database/YankStore';
import { LineageService, isFix } from '../lineage/LineageService';
import { EntityContext } from '../promotion/types';
import { DoraFacts, DoraReport, doraReport } from './metrics';

const DAY = 24 * 60 * 60 * 1000;
/** The period when none is asked: the twelve weeks up to now. */
const DEFAULT_WEEKS = 12;
/** The longest period one request computes (two years of weekly buckets). */
const MAX_PERIOD_DAYS = 731;
/** Entities whose facts are read at once. */
const CONCURRENCY = 8;

export interface DoraPeriodQuery {
  from?: string;
  to?: string;
}

function parseTime(value: string, parameter: string): Date {
  // A date alone is midnight UTC; anything else must be an ISO 8601 date-time.
  const date =
    /^\d{4}-\d{2}-\d{2}$/.test(value) ||
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(
      value,
    )
      ? new Date(value)
      : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new InputError(
      `${parameter}: "${value}" is not a date (YYYY-MM-DD) or an ISO 8601 date-time`,
    );
  }
  return date;
}

/**
 * Gathers the facts the DORA figures are computed from: the ledger's succeeded production
 * promotions and rollbacks (and the failed promotions an automatic rollback restored from), the yank tombstones, and main's commits from the (cached) lineage.
 */
export class DoraService {
  constructor(
    private readonly options: {
      store: PromotionStore;
      yanks: YankStore;
      lineage: LineageService;
      environments: EnvironmentDefinition[];
      /** How long after a release a yank, rollback or hotfix counts as its failure. */
      failureWindowMs: number;
      /** How many of main's commits are read per entity (the lineage's limit). */
      commitLimit: number;
      /** How many ledger rows are read per entity. */
      historyLimit: number;
    },
  ) {}

  /** Checks the period before anything is read: 400 naming the parameter. */
  static parsePeriod(
    query: DoraPeriodQuery,
    now = new Date(),
  ): { from: Date; to: Date } {
    const to = query.to ? parseTime(query.to, 'to') : now;
    const from = query.from
      ? parseTime(query.from, 'from')
      : new Date(to.getTime() - DEFAULT_WEEKS * 7 * DAY);
    if (from.getTime() >= to.getTime()) {
      throw new InputError(
        `from: ${from.toISOString()} is not before to (${to.toISOString()})`,
      );
    }
    if (to.getTime() - from.getTime() > MAX_PERIOD_DAYS * DAY) {
      throw new InputError(
        `from: the period from ${from.toISOString()} to ${to.toISOString()} is longer than ${MAX_PERIOD_DAYS} days`,
      );
    }
    return { from, to };
  }

  /** One entity's facts, over all of the ledger's history (failures may follow the period). */
  async facts(entity: EntityContext): Promise<DoraFacts> {
    const production = new Set(
      this.options.environments.filter(e => e.production).map(e => e.name),
    );
    const [history, yanks, lineage] = await Promise.all([
      this.options.store.history([entity.entityRef], {
        limit: this.options.historyLimit,
      }),
      this.options.yanks.listForEntity(entity.entityRef),
      this.options.lineage.lineage(entity.entityRef, entity.target, {
        limit: this.options.commitLimit,
      }),
    ]);
    // A commit some promotion deployed, or that was yanked, had an artifact even when the
    // registry no longer lists it.
    const hadArtifact = new Set([
      ...history.map(p => p.sha),
      ...yanks.map(y => y.sha),
    ]);
    // A promotion whose verification failed ran in prod until its automatic rollback restored
    // the last verified version: a release that failed, restored by that rollback.
    const restored = new Set(
      history
        .filter(p => p.rollbackOf && p.status === 'succeeded')
        .map(p => p.rollbackOf),
    );
    return {
      entityRef: entity.entityRef,
      deployments: history
        .filter(
          p =>
            (p.status === 'succeeded' || restored.has(p.id)) &&
            production.has(p.environment),
        )
        .map(p => ({
          promotionId: p.id,
          entityRef: p.entityRef,
          environment: p.environment,
          kind: p.kind,
          sha: p.sha,
          version: p.version,
          requestedBy: p.requestedBy,
          // A finished promotion is not updated again: this is when it finished.
          deployedAt: p.updatedAt,
        })),
      commits: lineage.commits.map(commit => ({
        sha: commit.sha,
        subject: commit.message,
        mergedAt: commit.committedAt,
        fix: isFix({ subject: commit.message, body: '' }),
        built:
          commit.artifacts.length > 0 ||
          commit.yanked !== null ||
          hadArtifact.has(commit.sha),
      })),
      yanks: yanks.map(y => ({
        sha: y.sha,
        yankedAt: y.yankedAt,
        yankedBy: y.yankedBy,
        reason: y.reason,
      })),
    };
  }

  async report(
    entities: EntityContext[],
    period: { from: Date; to: Date },
  ): Promise<DoraReport> {
    const limit = pLimit(CONCURRENCY);
    const facts = await Promise.all(
      entities.map(entity => limit(() => this.facts(entity))),
    );
    return doraReport(facts, {
      ...period,
      failureWindowMs: this.options.failureWindowMs,
    });
  }
}
