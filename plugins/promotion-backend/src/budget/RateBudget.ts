/**
 * What GitHub last said about one rate-limit resource of one integration (`core` for REST,
 * `graphql` for GraphQL points, as `x-ratelimit-resource` names them).
 */
export interface RateObservation {
  resource: string;
  limit: number;
  remaining: number;
  /** When GitHub resets the window (ISO 8601). */
  resetAt: string;
  /** When this replica last saw the headers (ISO 8601). */
  observedAt: string;
}

/** One integration's budget as the API reports it. */
export interface IntegrationBudget {
  integration: string;
  /** Requests (or GraphQL points) per resource kept back for people's own actions. */
  reserve: number;
  /** Background work waits while any resource of this integration is below the reserve. */
  backgroundDeferred: boolean;
  resources: RateObservation[];
}

/** The default reserve: a fifth of a GitHub App installation's lowest hourly budget (5,000). */
export const DEFAULT_RATE_RESERVE = 1000;

/**
 * GitHub's rate budget as this replica sees it in the `x-ratelimit-*` headers of every answer,
 * per integration (host) and resource. Background work (lineage warming, tag reconciliation,
 * the follower's polling) asks `allowsBackground` first and skips a round while the remaining
 * budget is under the reserve, so the reserve is left to the people promoting; requests people
 * make are never held back here (GitHub itself says when a budget is used up).
 */
export class RateBudget {
  private readonly observed = new Map<string, Map<string, RateObservation>>();

  constructor(
    private readonly options: {
      reserve?: number;
      now?: () => number;
    } = {},
  ) {}

  get reserve(): number {
    return this.options.reserve ?? DEFAULT_RATE_RESERVE;
  }

  private now() {
    return this.options.now?.() ?? Date.now();
  }

  /**
   * Records the rate-limit headers of one answer from `integration`. Answers without them (a
   * 304 from a proxy, a network failure) change nothing. `path` names GraphQL when GitHub does
   * not name the resource.
   */
  observe(
    integration: string,
    headers: Record<string, unknown> | undefined,
    path?: string,
  ): void {
    const limit = Number(headers?.['x-ratelimit-limit']);
    const remaining = Number(headers?.['x-ratelimit-remaining']);
    const reset = Number(headers?.['x-ratelimit-reset']);
    if (![limit, remaining, reset].every(Number.isFinite)) return;
    const named = headers?.['x-ratelimit-resource'];
    let resource = path?.endsWith('/graphql') ? 'graphql' : 'core';
    if (typeof named === 'string' && /^[a-z_]{1,40}$/.test(named)) {
      resource = named;
    }
    let resources = this.observed.get(integration);
    if (!resources) {
      resources = new Map();
      this.observed.set(integration, resources);
    }
    resources.set(resource, {
      resource,
      limit,
      remaining,
      resetAt: new Date(reset * 1000).toISOString(),
      observedAt: new Date(this.now()).toISOString(),
    });
  }

  /** The resources of `integration` still under the reserve (their windows not yet reset). */
  private short(integration: string): RateObservation[] {
    const now = this.now();
    return [...(this.observed.get(integration)?.values() ?? [])].filter(
      o => o.remaining < this.reserve && Date.parse(o.resetAt) > now,
    );
  }

  /**
   * Whether background work may spend requests of `integration` now (every integration when
   * none is named).
   */
  allowsBackground(integration?: string): boolean {
    const names = integration ? [integration] : [...this.observed.keys()];
    return names.every(name => this.short(name).length === 0);
  }

  /** When the earliest window that holds background work back resets, if any does. */
  deferredUntil(): string | undefined {
    const resets = [...this.observed.keys()]
      .flatMap(name => this.short(name))
      .map(o => o.resetAt)
      .sort();
    return resets[0];
  }

  /** Every integration's last observed budget, by name. */
  snapshot(): IntegrationBudget[] {
    return [...this.observed.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([integration, resources]) => ({
        integration,
        reserve: this.reserve,
        backgroundDeferred: this.short(integration).length > 0,
        resources: [...resources.values()].sort((a, b) =>
          a.resource.localeCompare(b.resource),
        ),
      }));
  }
}
