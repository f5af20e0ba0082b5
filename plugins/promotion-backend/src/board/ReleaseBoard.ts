import { BackstageCredentials } from '@backstage/backend-plugin-api';
import {
  RELATION_PART_OF,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
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
import { Lineage } from '../lineage/types';
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

function normalizeRef(value: string, kind: string, parameter: string): string {
  try {
    return stringifyEntityRef(
      parseEntityRef(value, { defaultKind: kind, defaultNamespace: 'default' }),
    );
  } catch (error) {
    throw new InputError(`${parameter}: ${(error as Error).message}`);
  }
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
    },
  ) {}

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
  ): Promise<Board> {
    const services = await this.services(query, credentials);
    const limit = pLimit(CONCURRENCY);
    const [lineages, latest] = await Promise.all([
      Promise.all(
        services.map(service =>
          limit(async () => {
            try {
              return await this.options.lineage.lineage(
                service.entityRef,
                service.target,
                { limit: this.options.limit },
              );
            } catch (error) {
              return stringifyError(error);
            }
          }),
        ),
      ),
      this.options.store.latestPerEnvironment(services.map(s => s.entityRef)),
    ]);
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
        const lineage = lineages[index];
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
        };
        if (typeof lineage === 'string') return row;
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
    return {
      environments: this.options.environments.map(e => e.name),
      generatedAt: new Date().toISOString(),
      services: rows,
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
