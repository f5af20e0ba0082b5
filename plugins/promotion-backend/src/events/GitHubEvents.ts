import {
  AuthService,
  CacheService,
  LoggerService,
} from '@backstage/backend-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { stringifyError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { EventParams, EventsService } from '@backstage/plugin-events-node';
import { SignalsService } from '@backstage/plugin-signals-node';
import { PROMOTION_ANNOTATIONS } from '@mainline/plugin-promotion-common';

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
 * Freshness without polling: each webhook invalidates the cached lineage of every entity whose
 * source or manifest repository it is about, tells open Environments tabs through signals, and
 * wakes the promotions waiting for a workflow run or a pull request of that repository.
 */
export class GitHubEvents {
  /**
   * Renamed repositories seen, new name → old (lower case): entities still name the old one,
   * which GitHub keeps redirecting, while webhooks carry the new name. Kept in the cache when
   * there is one, so that every replica knows (only one receives the `renamed` webhook).
   */
  private readonly formerNames = new Map<string, string>();

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

  constructor(
    private readonly options: {
      events: EventsService;
      catalog: CatalogService;
      auth: AuthService;
      logger: LoggerService;
      signals?: SignalsService;
      /** Shared across replicas: where renamed repositories are remembered. */
      cache?: CacheService;
      invalidate(entityRef: string): Promise<void>;
      followWaiting(entityRef: string): Promise<unknown>;
      /**
       * Records a delivery id (`X-GitHub-Delivery`); false when it was seen before, so a
       * redelivered webhook is acted on once.
       */
      firstDelivery?(deliveryId: string, topic: string): Promise<boolean>;
      /**
       * A release tag someone pushed: promoted (or refused and reported) in the background, so
       * the webhook is answered at once. Claimed by repository and tag, so GitHub's `create` and
       * `push` for one tag, and a redelivery, promote it once.
       */
      pushedTag?(tag: {
        repo: string;
        tag: string;
        pusher?: string;
      }): Promise<unknown>;
    },
  ) {}

  async subscribe(): Promise<void> {
    await this.options.events.subscribe({
      id: 'promotion-github',
      topics: [...GITHUB_EVENT_TOPICS],
      onEvent: params => this.onEvent(params),
    });
  }

  /** Entities whose source or manifest repository is `repo` (or was, before a rename). */
  async entitiesOf(repo: string): Promise<string[]> {
    const credentials = await this.options.auth.getOwnServiceCredentials();
    const former = await this.formerName(repo);
    const names = former ? [repo, former] : [repo];
    const { items } = await this.options.catalog.getEntities(
      {
        filter: names.flatMap(name => [
          {
            [`metadata.annotations.${PROMOTION_ANNOTATIONS.sourceRepo}`]: name,
          },
          {
            [`metadata.annotations.${PROMOTION_ANNOTATIONS.manifestRepo}`]:
              name,
          },
        ]),
        fields: ['kind', 'metadata.name', 'metadata.namespace'],
      },
      { credentials },
    );
    return items.map(entity => stringifyEntityRef(entity));
  }

  async onEvent(params: EventParams): Promise<void> {
    const change = readGitHubEvent(params);
    if (!change) return;
    try {
      const delivery = deliveryId(params);
      if (
        delivery &&
        this.options.firstDelivery &&
        !(await this.options.firstDelivery(delivery, params.topic))
      ) {
        this.options.logger.debug(
          `${params.topic} delivery ${delivery} for ${change.repo} was acted on before; ignored`,
        );
        return;
      }
      if (change.renamedFrom) {
        await this.rememberRename(change.repo, change.renamedFrom);
      }
      const pushed = readPushedTag(params);
      if (pushed && this.options.pushedTag) {
        this.options
          .pushedTag(pushed)
          .catch(error =>
            this.options.logger.warn(
              `Could not act on tag ${pushed.tag} pushed to ${
                pushed.repo
              }: ${stringifyError(error)}`,
            ),
          );
      }
      const entityRefs = await this.entitiesOf(change.repo);
      if (change.renamedFrom && entityRefs.length > 0) {
        this.options.logger.warn(
          `GitHub repository ${change.renamedFrom} was renamed to ${
            change.repo
          }; ${entityRefs.join(
            ', ',
          )} still name the old one (GitHub redirects reads, not writes): update their annotations`,
        );
      }
      for (const entityRef of entityRefs) {
        if (change.refsChanged) {
          await this.options.invalidate(entityRef);
          await this.options.signals?.publish({
            recipients: { type: 'broadcast' },
            channel: `promotion:${entityRef}`,
            message: { entityRef, environment: null },
          });
        }
        if (change.completion) {
          await this.options.followWaiting(entityRef);
        }
      }
      this.options.logger.debug(
        `${params.topic} for ${change.repo}: refreshed ${entityRefs.length} entities`,
      );
    } catch (error) {
      // The scheduled follower and the cache TTL still converge; a webhook is only a shortcut.
      this.options.logger.warn(
        `Could not act on ${params.topic} for ${change.repo}: ${stringifyError(
          error,
        )}`,
      );
    }
  }
}
