import { CacheService } from '@backstage/backend-plugin-api';
import { stringifyError } from '@backstage/errors';
import { EventParams, EventsService } from '@backstage/plugin-events-node';
import { PromotionSourceEvents } from '@mainline/plugin-promotion-node';

/**
 * The topics GitHub webhooks arrive on once `@backstage/plugin-events-backend-module-github`
 * has checked their signature and routed them by event type.
 */
export const GITHUB_EVENT_TOPICS = [
  'github.push',
  'github.create',
  'github.delete',
  'github.workflow_run',
  'github.pull_request',
  'github.repository',
] as const;

/** What a webhook means for Mainline. */
export interface RepositoryChange {
  /** `owner/name` of the repository the event is about. */
  repo: string;
  /** Lineage changed (commits, tags, branches, or a manifest). */
  refsChanged: boolean;
  /** Something a waiting promotion may be waiting for finished (a run, a pull request). */
  completion: boolean;
  /** `owner/old-name` when the event says the repository was renamed to `repo`. */
  renamedFrom?: string;
}

/** Reads the parts of a GitHub webhook Mainline cares about; undefined for the rest. */
export function readGitHubEvent(
  params: EventParams,
): RepositoryChange | undefined {
  const payload = params.eventPayload as {
    repository?: { full_name?: unknown };
    action?: unknown;
    changes?: { repository?: { name?: { from?: unknown } } };
  };
  const repo = payload?.repository?.full_name;
  if (typeof repo !== 'string' || !/^[\w.-]+\/[\w.-]+$/.test(repo)) {
    return undefined;
  }
  const type = params.topic.replace(/^github\./, '');
  switch (type) {
    case 'push':
    case 'create':
    case 'delete':
      return { repo, refsChanged: true, completion: false };
    case 'workflow_run':
      return {
        repo,
        // A finished build or deploy changes artifacts and what runs where.
        refsChanged: payload.action === 'completed',
        completion: payload.action === 'completed',
      };
    case 'pull_request':
      return {
        repo,
        refsChanged: payload.action === 'closed',
        completion: payload.action === 'closed',
      };
    case 'repository': {
      const from = payload.changes?.repository?.name?.from;
      if (payload.action !== 'renamed' || typeof from !== 'string') {
        return undefined;
      }
      const renamedFrom = `${repo.split('/')[0]}/${from}`;
      if (!/^[\w.-]+\/[\w.-]+$/.test(renamedFrom)) return undefined;
      // A rename changes no lineage; it only tells which entities later events are about.
      return { repo, refsChanged: false, completion: false, renamedFrom };
    }
    default:
      return undefined;
  }
}

/**
 * The release tag a `create` (ref_type tag) or `push` (refs/tags/…, created) webhook is about,
 * with the login of whoever pushed it; undefined for every other event.
 */
export function readPushedTag(
  params: EventParams,
): { repo: string; tag: string; pusher?: string } | undefined {
  const payload = params.eventPayload as {
    repository?: { full_name?: unknown };
    ref?: unknown;
    ref_type?: unknown;
    created?: unknown;
    deleted?: unknown;
    sender?: { login?: unknown };
  };
  const repo = payload?.repository?.full_name;
  if (typeof repo !== 'string' || typeof payload.ref !== 'string') {
    return undefined;
  }
  const login = payload.sender?.login;
  const pusher = typeof login === 'string' && login ? login : undefined;
  if (params.topic === 'github.create' && payload.ref_type === 'tag') {
    return { repo, tag: payload.ref, pusher };
  }
  if (
    params.topic === 'github.push' &&
    payload.ref.startsWith('refs/tags/') &&
    payload.created === true &&
    payload.deleted !== true
  ) {
    return { repo, tag: payload.ref.slice('refs/tags/'.length), pusher };
  }
  return undefined;
}

/**
 * The delivery id GitHub sends with every webhook (the same on a redelivery), from the headers
 * the events HTTP ingress passes on as metadata.
 */
export function deliveryId(params: EventParams): string | undefined {
  const value = params.metadata?.['x-github-delivery'];
  const id = Array.isArray(value) ? value[0] : value;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

/**
 * Freshness without polling: each webhook refreshes the lineage of every entity whose source or
 * manifest repository it is about (which tells open Environments tabs), wakes the promotions
 * waiting for a workflow run or a pull request of that repository, and hands pushed release tags
 * to the promotion plugin.
 */
export class GitHubEvents {
  /**
   * Renamed repositories seen, new name → old (lower case): entities still name the old one,
   * which GitHub keeps redirecting, while webhooks carry the new name. Kept in the cache when
   * there is one, so that every replica knows (only one receives the `renamed` webhook).
   */
  private readonly formerNames = new Map<string, string>();

  constructor(
    private readonly options: {
      events: EventsService;
      /** Shared across replicas: where renamed repositories are remembered. */
      cache?: CacheService;
    },
  ) {}

  private async formerName(repo: string): Promise<string | undefined> {
    const key = repo.toLowerCase();
    const cached = await this.options.cache
      ?.get(`promotion-renamed:${key}`)
      .catch(() => undefined);
    return typeof cached === 'string' ? cached : this.formerNames.get(key);
  }

  private async rememberRename(repo: string, from: string): Promise<void> {
    const key = repo.toLowerCase();
    this.formerNames.set(key, from);
    await this.options.cache?.set(`promotion-renamed:${key}`, from, {
      ttl: { days: 90 },
    });
  }

  /** Subscribes to GitHub's topics and acts on each webhook through `promotion`. */
  async subscribe(promotion: PromotionSourceEvents): Promise<void> {
    await this.options.events.subscribe({
      id: 'promotion-github',
      topics: [...GITHUB_EVENT_TOPICS],
      onEvent: params => this.onEvent(params, promotion),
    });
  }

  /** Entities whose source or manifest repository is `repo` (or was, before a rename). */
  private async entitiesOf(
    repo: string,
    promotion: PromotionSourceEvents,
  ): Promise<string[]> {
    const former = await this.formerName(repo);
    return promotion.entitiesOfRepositories(former ? [repo, former] : [repo]);
  }

  async onEvent(
    params: EventParams,
    promotion: PromotionSourceEvents,
  ): Promise<void> {
    const { logger } = promotion;
    const change = readGitHubEvent(params);
    if (!change) return;
    try {
      const delivery = deliveryId(params);
      if (
        delivery &&
        !(await promotion.firstDelivery(delivery, params.topic))
      ) {
        logger.debug(
          `${params.topic} delivery ${delivery} for ${change.repo} was acted on before; ignored`,
        );
        return;
      }
      if (change.renamedFrom) {
        await this.rememberRename(change.repo, change.renamedFrom);
      }
      const pushed = readPushedTag(params);
      if (pushed && promotion.tagPushed) {
        // Handed over at once: the plugin claims and promotes it in the background.
        await promotion.tagPushed(pushed);
      }
      const entityRefs = await this.entitiesOf(change.repo, promotion);
      if (change.renamedFrom && entityRefs.length > 0) {
        logger.warn(
          `GitHub repository ${change.renamedFrom} was renamed to ${
            change.repo
          }; ${entityRefs.join(
            ', ',
          )} still name the old one (GitHub redirects reads, not writes): update their annotations`,
        );
      }
      for (const entityRef of entityRefs) {
        if (change.refsChanged) {
          await promotion.lineageChanged(entityRef);
        }
        if (change.completion) {
          await promotion.completionSeen(entityRef);
        }
      }
      logger.debug(
        `${params.topic} for ${change.repo}: refreshed ${entityRefs.length} entities`,
      );
    } catch (error) {
      // The scheduled follower and the cache TTL still converge; a webhook is only a shortcut.
      logger.warn(
        `Could not act on ${params.topic} for ${change.repo}: ${stringifyError(
          error,
        )}`,
      );
    }
  }
}
