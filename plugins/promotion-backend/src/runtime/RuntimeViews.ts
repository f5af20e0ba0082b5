import { CacheService } from '@backstage/backend-plugin-api';
import { stringifyError } from '@backstage/errors';
import {
  EnvironmentState,
  RuntimeEnvironment,
  RuntimeView,
} from '@mainline/plugin-promotion-common';
import { RuntimeState, RuntimeSubject } from '@mainline/plugin-promotion-node';
import pLimit from 'p-limit';
import { LineageSnapshots } from '../board/LineageSnapshots';
import { LineageService } from '../lineage/LineageService';
import { Lineage } from '../lineage/types';
import { EntityContext } from '../promotion/types';
import { RuntimeObservers } from './RuntimeObservers';
import { YankStore } from '../database/YankStore';
import { declaredOf, driftOf, yankedRunning } from './drift';

/** Observations one backend makes at once for batch reads (`promotion.runtime.concurrency`). */
export const DEFAULT_RUNTIME_CONCURRENCY = 16;
/** How long a batch read reuses an observation (`promotion.runtime.cacheTtlSeconds`). */
export const DEFAULT_RUNTIME_CACHE_TTL_MS = 10_000;

/** What is kept of one entity's observation: the observer's answer, per environment. */
interface CachedObservation {
  observer: string;
  states: Record<string, RuntimeState | undefined>;
  /** The store's TTL is a hint some stores round up or ignore: the entry says when it ends. */
  expiresAt: number;
}

/** One entity a batch read could not observe, and why (the rest of the batch is unaffected). */
export interface RuntimeFailure {
  entityRef: string;
  error: { name: string; message: string };
}

/**
 * The runtime views of entities: per environment what the lineage declares and what the
 * entity's runtime observer reports, with drift. The single read (`GET …/runtime`) observes
 * afresh; a batch read (`POST /v1/runtime/query`, the release board) reuses an observation for a
 * few seconds, keyed by the entity's lineage generation, so a write through Mainline or a
 * webhook (which bump the generation) is observed anew on the next read. Either way the
 * observation is kept for the next batch read, and concurrent reads of one entity share one.
 */
export class RuntimeViews {
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly inFlight = new Map<string, Promise<CachedObservation>>();

  constructor(
    private readonly options: {
      lineage: Pick<LineageService, 'cached' | 'lineage'>;
      runtime: RuntimeObservers;
      /** The tombstones: a yanked commit that still runs is drift too. */
      yanks: Pick<YankStore, 'listForEntity' | 'listForEntities'>;
      cache: CacheService;
      /** 0 keeps nothing: every read observes. */
      cacheTtlMs: number;
      concurrency: number;
      defaultLimit: number;
      mainBranch?: string;
      /**
       * The persisted lineages the board serves while a cold one is read: a batch read declares
       * from them rather than read a lineage from upstream that the board did not read either.
       */
      snapshots?: Pick<LineageSnapshots, 'read'>;
    },
  ) {
    this.limit = pLimit(Math.max(1, options.concurrency));
  }

  /** One entity's view, observed afresh (the lanes, after a promotion). */
  async view(entity: EntityContext): Promise<RuntimeView> {
    const { lineage, generation } = await this.lineageOf(entity);
    const served = this.options.runtime.forSubject(subjectOf(entity));
    const [observation, tombstones] = await Promise.all([
      served
        ? this.observe(entity, served, lineage, generation, true)
        : undefined,
      this.options.yanks.listForEntity(entity.entityRef),
    ]);
    return viewOf(entity, lineage, observation, tombstones);
  }

  /**
   * The views of several entities, in their order: an observation at most `cacheTtlMs` old is
   * reused, at most `concurrency` observations run at once in this backend (whoever asks), and
   * an entity whose runtime cannot be read is a failure beside the others' views.
   */
  async query(
    entities: EntityContext[],
  ): Promise<{ items: RuntimeView[]; failures: RuntimeFailure[] }> {
    const [lineages, tombstones] = await Promise.all([
      this.lineagesOf(entities),
      this.options.yanks.listForEntities(entities.map(e => e.entityRef)),
    ]);
    const failure = (entity: EntityContext, error: unknown) => ({
      failure: {
        entityRef: entity.entityRef,
        error: {
          name: (error as Error)?.name ?? 'Error',
          message: stringifyError(error),
        },
      },
    });
    const answers = await Promise.all(
      entities.map(async (entity, index) => {
        const read = lineages[index];
        if ('error' in read) return failure(entity, read.error);
        const { lineage, generation } = read;
        const served = this.options.runtime.forSubject(subjectOf(entity));
        if (!served) {
          return { view: viewOf(entity, lineage, undefined, []) };
        }
        try {
          const observation = await this.observe(
            entity,
            served,
            lineage,
            generation,
            false,
          );
          return {
            view: viewOf(
              entity,
              lineage,
              observation,
              tombstones.get(entity.entityRef) ?? [],
            ),
          };
        } catch (error) {
          return failure(entity, error);
        }
      }),
    );
    return {
      items: answers.flatMap(a => ('view' in a ? [a.view] : [])),
      failures: answers.flatMap(a => ('failure' in a ? [a.failure] : [])),
    };
  }

  private request() {
    return {
      limit: this.options.defaultLimit,
      branch: this.options.mainBranch ?? 'main',
    };
  }

  /** The entity's lineage as the lanes show it (cached as the lineage is). */
  private async lineageOf(
    entity: EntityContext,
  ): Promise<{ lineage: Lineage; generation: string }> {
    const request = this.request();
    const cached = await this.options.lineage.cached(
      entity.entityRef,
      entity.target,
      request,
    );
    if (cached.lineage)
      return cached as { lineage: Lineage; generation: string };
    return {
      lineage: await this.options.lineage.lineage(
        entity.entityRef,
        entity.target,
        request,
      ),
      generation: cached.generation,
    };
  }

  /**
   * The lineages of a batch: cached ones, else the board's persisted snapshot (what the board
   * shows for that row while the warmer reads it), else read (an entity no board has shown).
   */
  private async lineagesOf(
    entities: EntityContext[],
  ): Promise<
    Array<{ lineage: Lineage; generation: string } | { error: unknown }>
  > {
    const request = this.request();
    const cached = await Promise.all(
      entities.map(e =>
        this.options.lineage.cached(e.entityRef, e.target, request),
      ),
    );
    const missing = entities.filter((_, i) => !cached[i].lineage);
    const snapshots =
      missing.length && this.options.snapshots
        ? await this.options.snapshots
            .read(
              missing.map(e => e.entityRef),
              request,
            )
            .catch(() => undefined)
        : undefined;
    return Promise.all(
      entities.map(async (entity, i) => {
        const { lineage, generation } = cached[i];
        if (lineage) return { lineage, generation };
        const snapshot = snapshots?.get(entity.entityRef);
        if (snapshot) return { lineage: snapshot.lineage, generation };
        // A lineage that cannot be read fails its entity, not the batch.
        return this.lineageOf(entity).catch(error => ({ error }));
      }),
    );
  }

  private async observe(
    entity: EntityContext,
    served: NonNullable<ReturnType<RuntimeObservers['forSubject']>>,
    lineage: Lineage,
    generation: string,
    fresh: boolean,
  ): Promise<CachedObservation> {
    const names = lineage.environments.map(e => e.name);
    const key = `runtime:${entity.entityRef}:${generation}:${names.join(',')}`;
    const { cache, cacheTtlMs } = this.options;
    if (!fresh && cacheTtlMs > 0) {
      const kept = (await cache.get(key)) as CachedObservation | undefined;
      if (kept?.observer === served.name && kept.expiresAt > Date.now()) {
        return kept;
      }
    }
    const read = async () => {
      const states = await served.observer.observe(subjectOf(entity), names);
      const observation: CachedObservation = {
        observer: served.name,
        states,
        expiresAt: Date.now() + cacheTtlMs,
      };
      if (cacheTtlMs > 0) {
        await cache
          .set(key, observation as any, { ttl: cacheTtlMs })
          .catch(() => undefined);
      }
      return observation;
    };
    // The single read is one person waiting on one entity: it neither queues behind a board's
    // observations nor takes over one that may be queued.
    if (fresh) return read();
    // Concurrent batch reads of one entity (two people's boards) share one observation.
    const flight = this.inFlight.get(key);
    if (flight) return flight;
    const observation = this.limit(read);
    this.inFlight.set(key, observation);
    try {
      return await observation;
    } finally {
      this.inFlight.delete(key);
    }
  }
}

function subjectOf(entity: EntityContext): RuntimeSubject {
  return {
    entityRef: entity.entityRef,
    name: entity.entityRef.replace(/^[^/]*\//, ''),
    annotations: entity.annotations ?? {},
  };
}

function viewOf(
  entity: EntityContext,
  lineage: Lineage,
  observation: CachedObservation | undefined,
  tombstones: Array<{ sha: string; yankedBy: string; reason: string }>,
): RuntimeView {
  const yanked = (sha: string) => tombstones.find(y => y.sha === sha);
  const kind = entity.target.artifactKind;
  return {
    entityRef: entity.entityRef,
    observer: observation?.observer ?? null,
    environments: lineage.environments.map((environment: EnvironmentState) => {
      const declared = declaredOf(environment);
      const running = observation?.states[environment.name];
      const reason =
        driftOf(kind, declared, running) ??
        yankedRunning(kind, declared, running, yanked);
      return {
        name: environment.name,
        declared,
        running: (running ?? null) as RuntimeEnvironment['running'],
        drift: reason !== undefined,
        driftReason: reason ?? null,
      };
    }),
  };
}
