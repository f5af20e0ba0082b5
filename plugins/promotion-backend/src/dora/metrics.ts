/**
 * The four DORA metrics from the promotion ledger and the lineage, as pure functions: facts in,
 * figures with the events behind them out. Nothing here reads a database or an upstream.
 *
 * Definitions (see the package README, "DORA metrics"):
 * - a **release** is a prod promotion (kind `promotion`, a production environment) that
 *   succeeded, at the moment it finished; tags, failed promotions and rollbacks are not releases;
 * - **lead time** of a main commit runs from its merge (its first-parent commit time on main) to
 *   the finish of the first release whose commit includes it; commits that built no artifact
 *   (docs-only, or a path filter skipped the build) never run anywhere and are left out; the
 *   entity's first release in the ledger is the baseline (what prod ran before is not known);
 * - a release **failed** when, within the failure window after it, its commit was yanked, prod
 *   was rolled back from it, or a hotfix followed it: a fix commit (`fix/*` or `hotfix/*` pull
 *   request, or a `fix:` subject) merged while the release ran in prod and released within the
 *   window;
 * - **time to restore** runs from the failed release to the first prod deployment that ended the
 *   failure: the rollback, the release that first included the hotfix, or (a yank) the next prod
 *   deployment of another commit.
 */

import { DoraReport, Yank } from '@mainline/plugin-promotion-common';

/** A succeeded deployment to a production environment, from the promotion ledger. */
export interface DoraDeployment {
  promotionId: string;
  entityRef: string;
  environment: string;
  kind: 'promotion' | 'rollback';
  sha: string;
  version: string;
  requestedBy: string;
  /** When the promotion finished: since then the environment ran it. */
  deployedAt: string;
}

/** A main commit of the entity (newest first in `DoraFacts.commits`). */
export interface DoraCommit {
  sha: string;
  subject: string;
  /** The first-parent commit time on main: when the change merged. */
  mergedAt: string;
  /** A hotfix by the workflow's conventions (see `isFix` in the lineage). */
  fix: boolean;
  /** False for a commit that built no artifact (docs-only, skipped by a path filter). */
  built: boolean;
}

export interface DoraFacts {
  entityRef: string;
  /** Succeeded production deployments, any order, all of the ledger's history. */
  deployments: DoraDeployment[];
  /** Main's commits, newest first, first parents only. */
  commits: DoraCommit[];
  yanks: Yank[];
}

export interface DoraPeriod {
  from: Date;
  to: Date;
  /** How long after a release a yank, rollback or hotfix still counts as its failure. */
  failureWindowMs: number;
}

/*
 * What the figures come out as: the API's types, generated from the OpenAPI document
 * (`DoraReport` and its parts), so that the backend and the frontend share one type per concept.
 */
export type { DoraReport };
export type DoraSummary = DoraReport['summary'];
export type DoraWeek = DoraReport['weeks'][number];
export type DoraEvents = DoraReport['events'];
export type ReleaseEvent = DoraEvents['releases'][number];
export type LeadTimeEvent = DoraEvents['leadTimes'][number];
export type ExcludedCommitEvent = DoraEvents['excludedCommits'][number];
export type FailureEvent = DoraEvents['failures'][number];
export type FailureCause = FailureEvent['causes'][number];

const HOUR = 60 * 60 * 1000;
const WEEK = 7 * 24 * HOUR;
const time = (iso: string) => new Date(iso).getTime();
const hoursBetween = (from: string, to: string) =>
  Math.round(((time(to) - time(from)) / HOUR) * 100) / 100;
const byTime =
  <T>(at: (item: T) => string) =>
  (a: T, b: T) =>
    time(at(a)) - time(at(b));

/** The middle value (the mean of the two middle ones for an even count); null for none. */
export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const value =
    sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return Math.round(value * 100) / 100;
}

/** The nearest-rank 90th percentile: the smallest value at least 90 % of values do not exceed. */
export function p90(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(0.9 * sorted.length) - 1];
}

/** Every release, lead time and failure one entity's facts hold, over all of its history. */
export function entityEvents(
  facts: DoraFacts,
  failureWindowMs: number,
): DoraEvents {
  const deployments = [...facts.deployments].sort(byTime(d => d.deployedAt));
  const releases = deployments.filter(d => d.kind === 'promotion');
  const index = new Map(facts.commits.map((c, i) => [c.sha, i]));

  // Lead time: walk the releases in time order; the newest main commit shipped so far is the
  // boundary, and a release of a newer commit ships everything between the two first.
  const shippedBy = new Map<string, DoraDeployment>();
  const shipped = new Map<string, number | null>();
  const leadTimes: LeadTimeEvent[] = [];
  const excludedCommits: ExcludedCommitEvent[] = [];
  let boundary: number | undefined;
  for (const release of releases) {
    const at = index.get(release.sha);
    if (at === undefined) {
      // A release-branch commit, or one older than the history read: what it shipped is unknown.
      shipped.set(release.promotionId, null);
      continue;
    }
    if (boundary === undefined) {
      boundary = at;
      shipped.set(release.promotionId, 0);
      continue;
    }
    let count = 0;
    // Oldest first, as they merged.
    for (let i = boundary - 1; i >= at; i--) {
      const commit = facts.commits[i];
      count += 1;
      shippedBy.set(commit.sha, release);
      if (!commit.built) {
        excludedCommits.push({
          entityRef: facts.entityRef,
          sha: commit.sha,
          subject: commit.subject,
          promotionId: release.promotionId,
          reason: 'no artifact',
        });
        continue;
      }
      leadTimes.push({
        entityRef: facts.entityRef,
        sha: commit.sha,
        subject: commit.subject,
        mergedAt: commit.mergedAt,
        deployedAt: release.deployedAt,
        promotionId: release.promotionId,
        version: release.version,
        hours: hoursBetween(commit.mergedAt, release.deployedAt),
      });
    }
    shipped.set(release.promotionId, count);
    boundary = Math.min(boundary, at);
  }
  const firstRelease = releases.find(r => index.has(r.sha));

  const failures: FailureEvent[] = [];
  const failed = new Set<string>();
  const environments = [...new Set(deployments.map(d => d.environment))];
  for (const environment of environments) {
    const stream = deployments.filter(d => d.environment === environment);
    stream.forEach((release, position) => {
      if (release.kind !== 'promotion') return;
      const start = time(release.deployedAt);
      const end = start + failureWindowMs;
      const next = stream[position + 1];
      const nextOther = stream
        .slice(position + 1)
        .find(d => d.sha !== release.sha);
      const causes: FailureCause[] = [];
      const restores: DoraDeployment[] = [];
      for (const yank of facts.yanks) {
        const at = time(yank.yankedAt);
        if (yank.sha === release.sha && at >= start && at <= end) {
          causes.push({
            type: 'yank',
            at: yank.yankedAt,
            by: yank.yankedBy,
            detail: yank.reason,
          });
          if (nextOther) restores.push(nextOther);
        }
      }
      if (next?.kind === 'rollback' && time(next.deployedAt) <= end) {
        causes.push({
          type: 'rollback',
          at: next.deployedAt,
          by: next.requestedBy,
          promotionId: next.promotionId,
        });
        restores.push(next);
      }
      // A fix merged while this release ran in prod, released within the window.
      const ranUntil = next ? time(next.deployedAt) : Infinity;
      for (const commit of facts.commits) {
        const merged = time(commit.mergedAt);
        const shippedIn = shippedBy.get(commit.sha);
        if (
          commit.fix &&
          merged >= start &&
          merged < ranUntil &&
          shippedIn &&
          time(shippedIn.deployedAt) <= end
        ) {
          causes.push({
            type: 'hotfix',
            at: commit.mergedAt,
            sha: commit.sha,
            detail: commit.subject,
          });
          restores.push(shippedIn);
        }
      }
      if (causes.length === 0) return;
      causes.sort(byTime(c => c.at));
      const restoredBy = restores.sort(byTime(d => d.deployedAt))[0];
      failed.add(release.promotionId);
      failures.push({
        entityRef: facts.entityRef,
        environment,
        promotionId: release.promotionId,
        version: release.version,
        sha: release.sha,
        deployedAt: release.deployedAt,
        causes,
        restoredBy: restoredBy
          ? {
              promotionId: restoredBy.promotionId,
              kind: restoredBy.kind,
              version: restoredBy.version,
              at: restoredBy.deployedAt,
            }
          : null,
        restoreHours: restoredBy
          ? hoursBetween(release.deployedAt, restoredBy.deployedAt)
          : null,
      });
    });
  }

  return {
    releases: releases.map(release => ({
      entityRef: facts.entityRef,
      environment: release.environment,
      promotionId: release.promotionId,
      version: release.version,
      sha: release.sha,
      requestedBy: release.requestedBy,
      deployedAt: release.deployedAt,
      baseline: release === firstRelease,
      commitsShipped: shipped.get(release.promotionId) ?? null,
      failed: failed.has(release.promotionId),
    })),
    leadTimes,
    excludedCommits,
    failures: failures.sort(byTime(f => f.deployedAt)),
  };
}

/** The figures of the events whose release finished in [from, to). */
function summarize(events: DoraEvents, from: number, to: number): DoraSummary {
  const within = (iso: string) => time(iso) >= from && time(iso) < to;
  const releases = events.releases.filter(r => within(r.deployedAt));
  const leadHours = events.leadTimes
    .filter(l => within(l.deployedAt))
    .map(l => l.hours);
  const failures = events.failures.filter(f => within(f.deployedAt));
  const restoreHours = failures.flatMap(f =>
    f.restoreHours === null ? [] : [f.restoreHours],
  );
  const weeks = (to - from) / WEEK;
  return {
    deployments: releases.length,
    deploymentsPerWeek:
      weeks > 0 ? Math.round((releases.length / weeks) * 100) / 100 : 0,
    leadTime: {
      commits: leadHours.length,
      medianHours: median(leadHours),
      p90Hours: p90(leadHours),
    },
    changeFailureRate: {
      failed: failures.length,
      releases: releases.length,
      rate:
        releases.length > 0
          ? Math.round((failures.length / releases.length) * 1000) / 1000
          : null,
    },
    timeToRestore: {
      restored: restoreHours.length,
      open: failures.length - restoreHours.length,
      medianHours: median(restoreHours),
      p90Hours: p90(restoreHours),
    },
  };
}

/** Monday 00:00 UTC of the week holding `date`. */
export function weekStart(date: Date): Date {
  const day = new Date(
    Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()),
  );
  const sinceMonday = (day.getUTCDay() + 6) % 7;
  return new Date(day.getTime() - sinceMonday * 24 * HOUR);
}

/**
 * The figures of one or more entities over a period, with weekly buckets (Monday to Monday,
 * UTC, the first and last cut to the period) and the events behind them. Everything is
 * attributed to the time of its release: a lead time to the release that shipped the commit, a
 * failure and its restore to the release that failed.
 */
export function doraReport(facts: DoraFacts[], period: DoraPeriod): DoraReport {
  const all = facts.map(f => entityEvents(f, period.failureWindowMs));
  const from = period.from.getTime();
  const to = period.to.getTime();
  const within = (iso: string) => time(iso) >= from && time(iso) < to;
  const events: DoraEvents = {
    releases: all
      .flatMap(e => e.releases)
      .filter(r => within(r.deployedAt))
      .sort(byTime(r => r.deployedAt)),
    leadTimes: all
      .flatMap(e => e.leadTimes)
      .filter(l => within(l.deployedAt))
      .sort(byTime(l => l.deployedAt)),
    excludedCommits: all
      .flatMap(e => e.excludedCommits)
      .filter(x =>
        all.some(e =>
          e.releases.some(
            r => r.promotionId === x.promotionId && within(r.deployedAt),
          ),
        ),
      ),
    failures: all
      .flatMap(e => e.failures)
      .filter(f => within(f.deployedAt))
      .sort(byTime(f => f.deployedAt)),
  };
  const weeks: DoraWeek[] = [];
  for (
    let start = weekStart(period.from).getTime();
    start < to;
    start += WEEK
  ) {
    weeks.push({
      weekStart: new Date(start).toISOString(),
      ...summarize(events, Math.max(start, from), Math.min(start + WEEK, to)),
    });
  }
  return {
    from: period.from.toISOString(),
    to: period.to.toISOString(),
    failureWindowHours: period.failureWindowMs / HOUR,
    entities: facts.map(f => f.entityRef),
    summary: summarize(events, from, to),
    weeks,
    events,
  };
}
