import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { RELATION_PART_OF } from '@backstage/catalog-model';
import { InputError, stringifyError } from '@backstage/errors';
import {
  EnvironmentDefinition,
  PROMOTION_ANNOTATIONS,
  PromotionTarget,
  ReleaseBoard as Board,
  ReleaseBoardCell,
  ReleaseBoardRow,
  checkTagName,
  matchesTagPattern,
} from '@mainline/plugin-promotion-common';
import pLimit from 'p-limit';
import { AdapterResolver } from '../adapters';
import { PromotionRecord, PromotionStore } from '../database/PromotionStore';
import { LineageService } from '../lineage/LineageService';
import { entityRefInput } from '../service/entityRefInput';
import { Lineage } from '../lineage/types';
import { LineageSnapshot, LineageSnapshots } from './LineageSnapshots';
import {
  EntityTargets,
  ListedTarget,
  relatedRefs,
} from '../service/EntityTargets';

/** The services the board shows: every promotable component, optionally of one owner or system. */
export interface BoardFilter {
  owner?: string;
  system?: string;
}

// The board's shapes are the API's, from the OpenAPI document.
type BoardCell = ReleaseBoardCell;
type BoardRow = ReleaseBoardRow;
type TagRow = NonNullable<BoardRow['tag']>;

const short = (sha: string) => sha.slice(0, 7);

/** Services whose lineage is read at once (each a few parallel upstream reads when cold). */
const CONCURRENCY = 16;
/**
 * Lineages one board read reads from upstream at most when they are neither cached nor
 * snapshotted recently; the rest are served from their snapshot (or shown as being read) while
 * the background warmer reads them within the rate budget.
 */
export const DEFAULT_COLD_READS_PER_BOARD = 100;
/**
 * How long one board read waits for its cold reads: a row whose read takes longer is served from
 * its snapshot (or shown as being read) and its read goes on, landing in the cache and the
 * snapshots for the next page load.
 */
export const DEFAULT_COLD_READ_WAIT_MS = 2000;

/** Where one board read spent its time (ms), for a `Server-Timing` header. */
export type BoardTimings = Record<string, number>;

function normalizeRef(value: string, kind: string, parameter: string): string {
  return entityRefInput(value, { defaultKind: kind, parameter });
}

/**
 * Services × environments, read from the cached lineage of each service: the board adds no
 * upstream reads of its own once the lineage is warm (the tag view resolves the tag once per
 * repository). Catalog read permissions apply through the caller's credentials.
 */
export class ReleaseBoard {
  constructor(
    private readonly options: {
      targets: EntityTargets;
      lineage: LineageService;
      store: PromotionStore;
      adapters: AdapterResolver;
      environments: EnvironmentDefinition[];
      limit: number;
      /** The branch lineage is read on (default `main`). */
      mainBranch?: string;
      /** The persisted last lineage of each service, served while a cold one is read. */
      snapshots?: LineageSnapshots;
      /** Default {@link DEFAULT_COLD_READS_PER_BOARD}; with no snapshots every row is read. */
      coldReadsPerBoard?: number;
      /** Default {@link DEFAULT_COLD_READ_WAIT_MS}; only with snapshots. */
      coldReadWaitMs?: number;
    },
  ) {}

  /**
   * Each service's lineage: cached ones as they are; of the others at most `coldReadsPerBoard`
   * read from upstream (those without a snapshot first, then the oldest snapshots); the rest from
   * their snapshot, with its age, or none yet (the warmer reads them in the background).
   */
  private async lineages(
    services: ListedTarget[],
    timings: BoardTimings,
  ): Promise<
    Array<{
      lineage?: Lineage | string;
      snapshotAt?: string;
      refreshing?: boolean;
    }>
  > {
    const limit = pLimit(CONCURRENCY);
    const request = { limit: this.options.limit };
    const read = (service: ListedTarget) =>
      limit(async () => {
        try {
          return await this.options.lineage.lineage(
            service.entityRef,
            service.target,
            request,
          );
        } catch (error) {
          return stringifyError(error);
        }
      });
    const snapshots = this.options.snapshots;
    if (!snapshots) {
      return Promise.all(services.map(async s => ({ lineage: await read(s) })));
    }
    let started = Date.now();
    // Cache reads are small and answered by memory or the shared store: many at once.
    const cacheLimit = pLimit(CONCURRENCY * 8);
    const cached = await Promise.all(
      services.map(service =>
        cacheLimit(() =>
          this.options.lineage
            .cached(service.entityRef, service.target, request)
            .catch(() => undefined),
        ),
      ),
    );
    timings.cache = Date.now() - started;
    started = Date.now();
    const missing = services
      .map((service, index) => ({ service, index }))
      .filter(({ index }) => !cached[index]?.lineage);
    const kept = missing.length
      ? await snapshots
          .read(
            missing.map(m => m.service.entityRef),
            { branch: this.options.mainBranch ?? 'main', limit: request.limit },
          )
          .catch(() => new Map<string, LineageSnapshot>())
      : new Map<string, LineageSnapshot>();
    // A snapshot under the current generation is what the cache held before it expired: served
    // with its age, and the warmer reads it again in its turn. One under another generation is
    // known to be outdated (a write or a webhook since): read now, within the cap.
    const current = (index: number) => {
      const snapshot = kept.get(services[index].entityRef);
      return Boolean(
        snapshot && snapshot.generation === cached[index]?.generation,
      );
    };
    const outdated = missing.filter(({ index }) => !current(index));
    const takenAt = (entityRef: string) => kept.get(entityRef)?.takenAt ?? '';
    // No snapshot first (they have nothing to show), then the oldest.
    outdated.sort((a, b) =>
      takenAt(a.service.entityRef).localeCompare(takenAt(b.service.entityRef)),
    );
    const cold = this.options.coldReadsPerBoard ?? DEFAULT_COLD_READS_PER_BOARD;
    const readNow = new Set(outdated.slice(0, cold).map(m => m.index));
    timings.snapshots = Date.now() - started;
    started = Date.now();
    // Past the wait, a cold read still running is left to finish on its own (its lineage lands
    // in the cache and the snapshots); the row is served as the snapshot has it, or as being read.
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'waited'>(resolve => {
      timer = setTimeout(
        () => resolve('waited'),
        this.options.coldReadWaitMs ?? DEFAULT_COLD_READ_WAIT_MS,
      );
    });
    const answered = await Promise.all(
      services.map(async (service, index) => {
        const lineage = cached[index]?.lineage;
        if (lineage) return { lineage };
        const snapshot = kept.get(service.entityRef);
        if (readNow.has(index)) {
          const reading = read(service);
          const fresh = await Promise.race([reading, waited]);
          if (fresh === 'waited') {
            return snapshot
              ? {
                  lineage: snapshot.lineage,
                  snapshotAt: snapshot.takenAt,
                  refreshing: true,
                }
              : { refreshing: true };
          }
          // A failed read shows the last good one, with its age, rather than only the error.
          if (typeof fresh === 'string' && snapshot) {
            return {
              lineage: snapshot.lineage,
              snapshotAt: snapshot.takenAt,
              refreshing: true,
            };
          }
          return { lineage: fresh };
        }
        return snapshot
          ? {
              lineage: snapshot.lineage,
              snapshotAt: snapshot.takenAt,
              refreshing: !current(index),
            }
          : { refreshing: true };
      }),
    );
    clearTimeout(timer);
    timings.cold = Date.now() - started;
    return answered;
  }

  /** Checks the query before anything is read. */
  static parseQuery(query: {
    owner?: string;
    system?: string;
    tag?: string;
  }): BoardFilter & { tag?: string } {
    const tagProblem = query.tag ? checkTagName(query.tag) : undefined;
    if (tagProblem) throw new InputError(`tag "${query.tag}": ${tagProblem}`);
    return {
      owner: query.owner
        ? normalizeRef(query.owner, 'group', 'owner')
        : undefined,
      system: query.system
        ? normalizeRef(query.system, 'system', 'system')
        : undefined,
      tag: query.tag || undefined,
    };
  }

  /** The promotable components matching the filter, with their settings. */
  async services(
    filter: BoardFilter,
    credentials: BackstageCredentials,
  ): Promise<ListedTarget[]> {
    const catalogFilter: Record<string, string> = { kind: 'component' };
    if (filter.owner) catalogFilter['relations.ownedBy'] = filter.owner;
    if (filter.system) catalogFilter['relations.partOf'] = filter.system;
    return this.options.targets.list(
      {
        ...catalogFilter,
        // Either kind: the annotation marks a promotable component.
        [`metadata.annotations.${PROMOTION_ANNOTATIONS.artifactKind}`]: [
          'image',
          'archive',
        ],
      },
      credentials,
    );
  }

  async board(
    query: BoardFilter & { tag?: string },
    credentials: BackstageCredentials,
    timings: BoardTimings = {},
  ): Promise<Board> {
    let started = Date.now();
    const services = await this.services(query, credentials);
    timings.catalog = Date.now() - started;
    started = Date.now();
    const [lineages, latest] = await Promise.all([
      this.lineages(services, timings),
      this.options.store
        .latestPerEnvironment(services.map(s => s.entityRef))
        .finally(() => {
          timings.promotions = Date.now() - started;
        }),
    ]);
    started = Date.now();
    const lastBy = new Map(
      latest.map(p => [`${p.entityRef}\u0000${p.environment}`, p]),
    );
    const tagShas = new Map<string, Promise<string | undefined>>();
    const tagSha = (target: PromotionTarget, tag: string) => {
      let sha = tagShas.get(target.sourceRepo);
      if (!sha) {
        // An unknown tag is undefined; a failed read fails the rows of that repository.
        sha = this.options.adapters
          .forTarget(target)
          .source.resolveCommit(target.sourceRepo, tag);
        sha.catch(() => undefined);
        tagShas.set(target.sourceRepo, sha);
      }
      return sha;
    };

    const rows = await Promise.all(
      services.map(async ({ entity, entityRef, target, owners }, index) => {
        const { lineage, snapshotAt, refreshing } = lineages[index];
        const row: BoardRow = {
          entityRef,
          title: entity.metadata.title ?? entity.metadata.name,
          owner: owners[0] ?? null,
          system: relatedRefs(entity, RELATION_PART_OF, 'system')[0] ?? null,
          sourceRepo: target.sourceRepo,
          sourcePath: target.sourcePath ?? null,
          artifactKind: target.artifactKind,
          releaseBranches: target.releaseBranches,
          environments: [],
          tag: null,
          error: typeof lineage === 'string' ? lineage : null,
          snapshotAt: snapshotAt ?? null,
          refreshing: Boolean(refreshing),
        };
        if (typeof lineage !== 'object') return row;
        row.environments = this.cells(entityRef, lineage, lastBy);
        if (query.tag) {
          try {
            row.tag = this.tagRow(
              lineage,
              target,
              query.tag,
              await tagSha(target, query.tag),
            );
          } catch (error) {
            row.error = `Could not read tag ${query.tag}: ${stringifyError(
              error,
            )}`;
          }
        }
        return row;
      }),
    );
    timings.rows = Date.now() - started;
    return {
      environments: this.options.environments.map(e => e.name),
      generatedAt: new Date().toISOString(),
      services: rows,
      refreshing: rows.filter(r => r.refreshing).length,
    };
  }

  private cells(
    entityRef: string,
    lineage: Lineage,
    lastBy: Map<string, Omit<PromotionRecord, 'steps'>>,
  ): BoardCell[] {
    return lineage.environments.map(environment => {
      const current = environment.current;
      const last = lastBy.get(`${entityRef}\u0000${environment.name}`);
      const drift: string[] = [];
      if (current?.sha && !current.artifact) {
        drift.push(
          `the artifact of ${short(
            current.sha,
          )} is gone from the registry (yanked or expired)`,
        );
      }
      if (!current?.sha && current) {
        drift.push(`runs ${current.version}, which names no known commit`);
      }
      if (
        current &&
        environment.trigger.type === 'tag' &&
        !matchesTagPattern(current.version, environment.trigger.pattern!)
      ) {
        drift.push(
          `pins ${current.version}, not a ${environment.trigger.pattern} tag`,
        );
      }
      if (
        current &&
        last?.status === 'succeeded' &&
        last.version !== current.version &&
        new Date(last.createdAt) > new Date(current.deployedAt)
      ) {
        drift.push(
          `the last promotion set ${last.version}, but the environment runs ${current.version}`,
        );
      }
      return {
        environment: environment.name,
        version: current?.version ?? null,
        sha: current?.sha ?? null,
        tag: current?.tag ?? null,
        deployedAt: current?.deployedAt ?? null,
        behindBy: environment.behindBy,
        drift,
        lastPromotion: last
          ? {
              id: last.id,
              kind: last.kind,
              status: last.status,
              version: last.version,
              sha: last.sha,
              requestedBy: last.requestedBy,
              createdAt: last.createdAt,
              error: last.error,
            }
          : null,
      };
    });
  }

  private tagRow(
    lineage: Lineage,
    target: PromotionTarget,
    tag: string,
    sha: string | undefined,
  ): TagRow {
    if (!sha) {
      return {
        name: tag,
        sha: null,
        outcome: 'absent',
        artifact: null,
        message: `${target.sourceRepo} has no tag ${tag}`,
      };
    }
    const commit = lineage.commits.find(c => c.sha === sha);
    const artifact = commit?.artifacts[0];
    if (artifact) {
      return {
        name: tag,
        sha,
        outcome: 'promotes',
        artifact: artifact.uri,
        message: `ships the build of ${short(sha)}`,
      };
    }
    // The tagged commit built nothing for this service: the next older build stands for it.
    const older = commit
      ? lineage.commits
          .slice(lineage.commits.indexOf(commit) + 1)
          .find(c => c.artifacts.length > 0)
      : undefined;
    // The history is of the folder for a monorepo component: a tagged commit outside the page
    // may still have changed it, so only a commit on the page is said to have built nothing.
    const why = commit
      ? 'built no artifact'
      : `is not in the recent history${
          target.sourcePath ? ` of ${target.sourcePath}` : ''
        }`;
    return {
      name: tag,
      sha,
      outcome: 'unchanged',
      artifact: null,
      message: `unchanged: ${short(sha)} ${why}${
        older ? `; ${short(older.sha)}'s artifact stands for it` : ''
      }`,
    };
  }
}
