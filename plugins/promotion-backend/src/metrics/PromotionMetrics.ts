import type {
  MetricsService,
  MetricsServiceCounter,
  MetricsServiceHistogram,
} from '@backstage/backend-plugin-api/alpha';
import type { PromotionRecord } from '../database/PromotionStore';
import type { RateBudget } from '../budget/RateBudget';

/** Step durations span a second-long tag write to an hour-long review: seconds, log-spaced. */
const STEP_SECONDS_BUCKETS = [
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600,
];

/**
 * The plugin's OpenTelemetry instruments, created through Backstage's MetricsService (one meter,
 * `backstage-plugin-promotion`), exported by whatever MeterProvider the backend installs (see
 * docs/operations.md for the names and a dashboard query).
 */
export class PromotionMetrics {
  private readonly promotions: MetricsServiceCounter;
  private readonly stepDuration: MetricsServiceHistogram;
  private readonly upstream: MetricsServiceCounter;
  private readonly cacheHits: MetricsServiceCounter;
  private readonly cacheMisses: MetricsServiceCounter;

  constructor(metrics: MetricsService, budget?: RateBudget) {
    this.promotions = metrics.createCounter('promotion.promotions', {
      description:
        'Promotions and rollbacks by outcome (succeeded, failed, refused) and environment',
    });
    this.stepDuration = metrics.createHistogram('promotion.step.duration', {
      description: 'How long each step of a finished promotion took',
      unit: 's',
      advice: { explicitBucketBoundaries: STEP_SECONDS_BUCKETS },
    });
    this.upstream = metrics.createCounter('promotion.upstream.requests', {
      description: 'Requests to upstream systems by system and HTTP status',
    });
    this.cacheHits = metrics.createCounter('promotion.cache.hits', {
      description:
        'Lineage reads answered from a cache (this replica or shared)',
    });
    this.cacheMisses = metrics.createCounter('promotion.cache.misses', {
      description: 'Lineage reads that had to be assembled from upstream',
    });
    if (budget) {
      const remaining = metrics.createObservableGauge(
        'promotion.github.rate.remaining',
        {
          description:
            'GitHub rate budget remaining per integration and resource (core, graphql), as last answered',
        },
      );
      remaining.addCallback(result => {
        for (const integration of budget.snapshot()) {
          for (const r of integration.resources) {
            result.observe(r.remaining, {
              integration: integration.integration,
              resource: r.resource,
            });
          }
        }
      });
      const limit = metrics.createObservableGauge(
        'promotion.github.rate.limit',
        {
          description:
            'GitHub rate limit per integration and resource, as last answered',
        },
      );
      limit.addCallback(result => {
        for (const integration of budget.snapshot()) {
          for (const r of integration.resources) {
            result.observe(r.limit, {
              integration: integration.integration,
              resource: r.resource,
            });
          }
        }
      });
    }
  }

  /** A promotion or rollback that ended: its outcome, and each finished step's duration. */
  promotionEnded(record: PromotionRecord): void {
    this.promotions.add(1, {
      outcome: record.status,
      environment: record.environment,
      kind: record.kind,
    });
    for (const step of record.steps) {
      if (!step.startedAt || !step.finishedAt) continue;
      const seconds =
        (Date.parse(step.finishedAt) - Date.parse(step.startedAt)) / 1000;
      if (!(seconds >= 0)) continue;
      this.stepDuration.record(seconds, {
        step: step.name,
        status: step.status,
        environment: record.environment,
      });
    }
  }

  /** A promotion or rollback refused at its checks (nothing was changed). */
  promotionRefused(environment: string, kind: string, check: string): void {
    this.promotions.add(1, { outcome: 'refused', environment, kind, check });
  }

  /** One answer (status 0: none) from an upstream system (`github`, ...). */
  upstreamAnswered(system: string, status: number): void {
    this.upstream.add(1, { system, status: String(status) });
  }

  /** A lineage read: answered from `layer` (`replica`, `shared`) or assembled (a miss). */
  cacheRead(hit: boolean, layer: 'replica' | 'shared' | 'upstream'): void {
    (hit ? this.cacheHits : this.cacheMisses).add(1, {
      cache: 'lineage',
      layer,
    });
  }
}
