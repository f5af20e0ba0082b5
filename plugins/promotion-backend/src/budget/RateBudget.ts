import crypto from 'node:crypto';

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
 * Where replicas publish what GitHub told them (Backstage's cache store: shared by every replica
 * when it is Redis or Valkey, this replica's memory with the in-memory default).
 */
export interface RateBudgetStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: any, options?: { ttl?: number }): Promise<void>;
}

/** The shared key holding every integration's last observed budget. */
export const RATE_BUDGET_KEY = 'rate-budget:v1';
/** A replica publishes at most this often, and reads the others' at most this often. */
const SHARE_INTERVAL_MS = 1000;
/** Two observations whose resets are closer than this are of one window. */
const SAME_WINDOW_MS = 60_000;

type Observed = Record<string, Record<string, RateObservation>>;
/** The shared key's value: each replica's own observations, with when it last published. */
interface SharedBudget {
  replicas: Record<string, { at: number; observed: Observed }>;
}
/** A replica that published nothing for this long (stopped, scaled down) is left out. */
const FORGET_REPLICA_MS = 2 * 60 * 60 * 1000;

/** Two observations made within this long of each other are of the same moment. */
const SAME_MOMENT_MS = 5000;

/**
 * Which of two observations of one resource (this replica's and another's) to believe: a later
 * window replaces an earlier one; within one window the later observation is GitHub's newer
 * answer, but two made at about the same moment by replicas spending one budget each saw part
 * of the spending, and the lower remaining is the truer one.
 */
export function mergeObservation(
  a: RateObservation | undefined,
  b: RateObservation | undefined,
): RateObservation | undefined {
  if (!a || !b) return a ?? b;
  const resetA = Date.parse(a.resetAt);
  const resetB = Date.parse(b.resetAt);
  if (Math.abs(resetA - resetB) >= SAME_WINDOW_MS) {
    return resetA > resetB ? a : b;
  }
  const seenA = Date.parse(a.observedAt);
  const seenB = Date.parse(b.observedAt);
  if (Math.abs(seenA - seenB) > SAME_MOMENT_MS) return seenA > seenB ? a : b;
  if (a.remaining !== b.remaining) return a.remaining < b.remaining ? a : b;
  return seenA >= seenB ? a : b;
}

/**
 * GitHub's rate budget as this replica sees it in the `x-ratelimit-*` headers of every answer,
 * per integration (host) and resource. Background work (lineage warming, tag reconciliation,
 * the follower's polling) asks `allowsBackground` first and skips a round while the remaining
 * budget is under the reserve, so the reserve is left to the people promoting; requests people
 * make are never held back here (GitHub itself says when a budget is used up).
 */
export class RateBudget {
  /** What GitHub answered this replica. */
  private readonly observed = new Map<string, Map<string, RateObservation>>();
  /** What the other replicas published, as last read from the shared store. */
  private others: Observed[] = [];
  private readonly id = crypto.randomUUID();

  private published = 0;
  private publishing: Promise<void> | undefined;
  private dirty = false;
  private pulled = 0;
  private pulling: Promise<void> | undefined;

  constructor(
    private readonly options: {
      reserve?: number;
      now?: () => number;
      /**
       * The store replicas share their observations through: what one replica learns from
       * GitHub's headers, the others see at their next `sync`.
       */
      shared?: RateBudgetStore;
      /** Told when publishing to or reading from the shared store failed. */
      onShareError?: (error: unknown) => void;
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
    // GitHub's latest answer to this replica is the truth here; others' are merged on sync.
    resources.set(resource, {
      resource,
      limit,
      remaining,
      resetAt: new Date(reset * 1000).toISOString(),
      observedAt: new Date(this.now()).toISOString(),
    });
    this.dirty = true;
    this.schedulePublish();
  }

  /** Keeps the well-formed observations other replicas published (never this one's own). */
  private takeOthers(published: unknown) {
    const replicas = (published as SharedBudget | undefined)?.replicas;
    this.others = [];
    if (!replicas || typeof replicas !== 'object') return;
    const oldest = this.now() - FORGET_REPLICA_MS;
    for (const [id, entry] of Object.entries(replicas)) {
      if (id === this.id || !entry || !(entry.at >= oldest)) continue;
      if (entry.observed && typeof entry.observed === 'object') {
        this.others.push(entry.observed);
      }
    }
  }

  /** This replica's observations merged with the other replicas'. */
  private view(): Map<string, Map<string, RateObservation>> {
    const merged = new Map<string, Map<string, RateObservation>>();
    for (const [integration, resources] of this.observed) {
      merged.set(integration, new Map(resources));
    }
    for (const observed of this.others) {
      for (const [integration, resources] of Object.entries(observed)) {
        if (!resources || typeof resources !== 'object') continue;
        let into = merged.get(integration);
        if (!into) {
          into = new Map();
          merged.set(integration, into);
        }
        for (const [name, o] of Object.entries(resources)) {
          if (
            !o ||
            !Number.isFinite(o.remaining) ||
            !Number.isFinite(o.limit) ||
            !Number.isFinite(Date.parse(o.resetAt)) ||
            !Number.isFinite(Date.parse(o.observedAt))
          ) {
            continue;
          }
          into.set(name, mergeObservation(into.get(name), o)!);
        }
      }
    }
    return merged;
  }

  private own(): Observed {
    return Object.fromEntries(
      [...this.observed.entries()].map(([integration, resources]) => [
        integration,
        Object.fromEntries(resources.entries()),
      ]),
    );
  }

  /** Publishes this replica's observations at most once a second. */
  private schedulePublish() {
    const shared = this.options.shared;
    if (!shared || this.publishing) return;
    const wait = Math.max(0, this.published + SHARE_INTERVAL_MS - this.now());
    this.publishing = new Promise<void>(resolve => {
      const timer = setTimeout(resolve, wait);
      timer.unref?.();
    })
      .then(() => this.publish())
      .catch(error => this.options.onShareError?.(error))
      .finally(() => {
        this.publishing = undefined;
        if (this.dirty) this.schedulePublish();
      });
  }

  /**
   * Writes this replica's observations to the shared store now, beside the other replicas'
   * (each replica its own entry, so that none takes its own earlier answers for another's).
   */
  async publish(): Promise<void> {
    const shared = this.options.shared;
    if (!shared) return;
    this.dirty = false;
    const published = (await shared.get(RATE_BUDGET_KEY)) as
      | SharedBudget
      | undefined;
    this.takeOthers(published);
    this.published = this.now();
    const oldest = this.now() - FORGET_REPLICA_MS;
    const replicas = Object.fromEntries(
      Object.entries(published?.replicas ?? {}).filter(
        ([id, entry]) => id !== this.id && entry?.at >= oldest,
      ),
    );
    replicas[this.id] = { at: this.now(), observed: this.own() };
    await shared.set(
      RATE_BUDGET_KEY,
      { replicas },
      {
        ttl: 24 * 60 * 60 * 1000,
      },
    );
  }

  /**
   * Reads what every replica published (at most once a second; concurrent callers share one
   * read), so that background work on this replica sees the budget another replica spent.
   */
  async sync(): Promise<void> {
    const shared = this.options.shared;
    if (!shared) return;
    if (this.pulling) {
      await this.pulling;
      return;
    }
    if (this.now() - this.pulled < SHARE_INTERVAL_MS) return;
    this.pulling = (async () => {
      try {
        this.takeOthers(await shared.get(RATE_BUDGET_KEY));
        this.pulled = this.now();
      } catch (error) {
        this.options.onShareError?.(error);
      }
    })();
    try {
      await this.pulling;
    } finally {
      this.pulling = undefined;
    }
  }

  /** The resources of `integration` still under the reserve (their windows not yet reset). */
  private short(integration: string): RateObservation[] {
    const now = this.now();
    return [...(this.view().get(integration)?.values() ?? [])].filter(
      o => o.remaining < this.reserve && Date.parse(o.resetAt) > now,
    );
  }

  /**
   * Whether background work may spend requests of `integration` now (every integration when
   * none is named).
   */
  allowsBackground(integration?: string): boolean {
    const names = integration ? [integration] : [...this.view().keys()];
    return names.every(name => this.short(name).length === 0);
  }

  /**
   * How fast background work may go, from 1 (full speed) down to 0 (stopped): full speed while
   * every resource of every integration has at least twice the reserve left, slowing linearly as
   * the lowest remaining falls towards the reserve, and stopped at the reserve. A resource whose
   * window has reset counts as full.
   */
  backgroundPace(integration?: string): number {
    const now = this.now();
    const view = this.view();
    const names = integration ? [integration] : [...view.keys()];
    let pace = 1;
    for (const name of names) {
      for (const o of view.get(name)?.values() ?? []) {
        if (Date.parse(o.resetAt) <= now) continue;
        // A small budget (a test server's, a tiny App) scales the slow-down zone with it.
        const zone = Math.max(
          1,
          Math.min(this.reserve, o.limit - this.reserve),
        );
        pace = Math.min(
          pace,
          Math.max(0, Math.min(1, (o.remaining - this.reserve) / zone)),
        );
      }
    }
    return pace;
  }

  /** When the earliest window that holds background work back resets, if any does. */
  deferredUntil(): string | undefined {
    const resets = [...this.view().keys()]
      .flatMap(name => this.short(name))
      .map(o => o.resetAt)
      .sort();
    return resets[0];
  }

  /** Every integration's last observed budget, by name. */
  snapshot(): IntegrationBudget[] {
    return [...this.view().entries()]
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
