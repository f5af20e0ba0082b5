import { LoggerService } from '@backstage/backend-plugin-api';
import { stringifyError } from '@backstage/errors';
import pLimit from 'p-limit';
import { LineageSnapshots } from '../board/LineageSnapshots';
import { RateBudget } from '../budget/RateBudget';
import { LineageService } from '../lineage/LineageService';
import { ListedTarget } from '../service/EntityTargets';

/** How the warmer is paced; every figure has a default fit for a GitHub App installation. */
export interface LineageWarmerOptions {
  lineage: LineageService;
  snapshots: LineageSnapshots;
  budget: RateBudget;
  /** The promotable services (the board's, with the plugin's own credentials). */
  services: () => Promise<ListedTarget[]>;
  logger: LoggerService;
  /** The page of commits the board reads. */
  limit: number;
  mainBranch: string;
  /** Lineages read per round at full pace (default 20; fewer as the budget runs low). */
  perRound?: number;
  /** A snapshot older than this is read again even when nothing changed (default one hour). */
  refreshAfterMs?: number;
  /** Lineages read at once within a round (default 4). */
  concurrency?: number;
  /**
   * How long rounds give way to people's reads in a row before one of them reads one lineage
   * anyway (default one minute).
   */
  maxYieldMs?: number;
  /** How long the service list is reused between rounds (default one minute). */
  listTtlMs?: number;
  now?: () => number;
}

/** What one round did. */
export interface WarmRound {
  /** Lineages read afresh. */
  read: number;
  /** Whether the round gave way to people's reads (one read at most). */
  yielded?: boolean;
  failed: number;
  /** Services still waiting for a read after the round. */
  waiting: number;
  /** The pace the budget allowed, 0 (stopped at the reserve) to 1. */
  pace: number;
}

/**
 * Keeps the board's lineage snapshots fresh in the background within GitHub's rate budget. Each
 * round (a scheduled task) picks the services whose snapshot is missing, known to be outdated
 * (a write or webhook changed their generation since) or older than `refreshAfterMs`, those
 * without one first, then the oldest, and reads up to `perRound × pace` of them, where the pace
 * falls from 1 to 0 as the lowest remaining budget of any integration falls from twice the
 * reserve to the reserve (`RateBudget.backgroundPace`, fed by every replica through the shared
 * cache). Every read checks the budget again, so the warmer stops at the reserve within a round,
 * and what is left of the budget stays for people's promotions.
 */
export class LineageWarmer {
  private listed: { at: number; services: ListedTarget[] } | undefined;
  private deferredSince: number | undefined;
  private yieldingSince: number | undefined;

  constructor(private readonly options: LineageWarmerOptions) {}

  private now() {
    return this.options.now?.() ?? Date.now();
  }

  private async services(): Promise<ListedTarget[]> {
    const ttl = this.options.listTtlMs ?? 60_000;
    if (!this.listed || this.now() - this.listed.at >= ttl) {
      this.listed = { at: this.now(), services: await this.options.services() };
    }
    return this.listed.services;
  }

  /** Whether background work may read now, after catching up with the other replicas. */
  private async pace(): Promise<number> {
    await this.options.budget.sync();
    const { budget } = this.options;
    return budget.allowsBackground() ? budget.backgroundPace() : 0;
  }

  /** One round: the services due, read within the budget's pace. */
  async round(): Promise<WarmRound> {
    const { lineage, snapshots, budget, logger } = this.options;
    let pace = await this.pace();
    if (pace === 0) {
      if (this.deferredSince === undefined) {
        this.deferredSince = this.now();
        logger.info(
          `Lineage warmer waiting: GitHub's remaining rate budget is at the reserve of ${
            budget.reserve
          } until ${budget.deferredUntil() ?? 'the window resets'}`,
        );
      }
      return { read: 0, failed: 0, waiting: -1, pace };
    }
    this.deferredSince = undefined;
    // While people's reads go upstream (on any replica) the round reads nothing, so that what
    // people asked for is not queued behind the warmer at GitHub; after `maxYieldMs` of that in a
    // row one round reads one lineage, so that the snapshots never stop moving.
    const yielded = await lineage.peopleReading();
    if (!yielded) this.yieldingSince = undefined;
    else this.yieldingSince ??= this.now();
    if (
      yielded &&
      this.now() - this.yieldingSince! < (this.options.maxYieldMs ?? 60_000)
    ) {
      return { read: 0, failed: 0, waiting: -1, pace, yielded };
    }
    if (yielded) this.yieldingSince = this.now();
    const request = {
      limit: this.options.limit,
      branch: this.options.mainBranch,
    };
    const services = await this.services();
    const ages = await snapshots.ages(request);
    const refreshAfter = this.options.refreshAfterMs ?? 60 * 60_000;
    const limit = pLimit(this.options.concurrency ?? 4);
    const due: Array<{ service: ListedTarget; order: number }> = [];
    await Promise.all(
      services.map(service =>
        limit(async () => {
          const snapshot = ages.get(service.entityRef);
          if (!snapshot) {
            due.push({ service, order: -1 });
            return;
          }
          const generation = await lineage
            .generationOf(service.entityRef, service.target)
            .catch(() => undefined);
          if (generation !== snapshot.generation) {
            due.push({ service, order: 0 });
          } else if (this.now() - snapshot.takenAt >= refreshAfter) {
            due.push({ service, order: snapshot.takenAt });
          }
        }),
      ),
    );
    due.sort(
      (a, b) =>
        a.order - b.order ||
        a.service.entityRef.localeCompare(b.service.entityRef),
    );
    const quota = yielded
      ? 1
      : Math.max(1, Math.floor((this.options.perRound ?? 20) * pace));
    let read = 0;
    let failed = 0;
    let started = 0;
    const batch = due.slice(0, quota);
    await Promise.all(
      batch.map(({ service }) =>
        limit(async () => {
          // Each read asks again: another replica (or a person) may have spent the budget.
          pace = await this.pace();
          if (pace === 0) return;
          // And gives way to people who started reading meanwhile (the first read of a round
          // always goes, so that the snapshots keep moving).
          const first = started++ === 0;
          if (!first && (await lineage.peopleReading())) return;
          try {
            const generation = await lineage.generationOf(
              service.entityRef,
              service.target,
            );
            // Read afresh (and so snapshotted) unless it is cached: then the cached one is kept.
            const found = await lineage.lineage(
              service.entityRef,
              service.target,
              { ...request, reader: 'background' },
            );
            snapshots.record(
              service.entityRef,
              { ...request, generation },
              found,
            );
            read += 1;
          } catch (error) {
            failed += 1;
            logger.debug(
              `Lineage warmer could not read ${
                service.entityRef
              }: ${stringifyError(error)}`,
            );
          }
        }),
      ),
    );
    await snapshots.flush();
    return { read, failed, waiting: due.length - read, pace, yielded };
  }
}
