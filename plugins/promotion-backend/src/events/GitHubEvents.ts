import { AuthService, LoggerService } from '@backstage/backend-plugin-api';
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
] as const;

/** What a webhook means for Mainline. */
export interface RepositoryChange {
  /** `owner/name` of the repository the event is about. */
  repo: string;
  /** Lineage changed (commits, tags, branches, or a manifest). */
  refsChanged: boolean;
  /** Something a waiting promotion may be waiting for finished (a run, a pull request). */
  completion: boolean;
}

/** Reads the parts of a GitHub webhook Mainline cares about; undefined for the rest. */
export function readGitHubEvent(
  params: EventParams,
): RepositoryChange | undefined {
  const payload = params.eventPayload as {
    repository?: { full_name?: unknown };
    action?: unknown;
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
  constructor(
    private readonly options: {
      events: EventsService;
      catalog: CatalogService;
      auth: AuthService;
      logger: LoggerService;
      signals?: SignalsService;
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

  /** Entities whose source or manifest repository is `repo`. */
  async entitiesOf(repo: string): Promise<string[]> {
    const credentials = await this.options.auth.getOwnServiceCredentials();
    const { items } = await this.options.catalog.getEntities(
      {
        filter: [
          {
            [`metadata.annotations.${PROMOTION_ANNOTATIONS.sourceRepo}`]: repo,
          },
          {
            [`metadata.annotations.${PROMOTION_ANNOTATIONS.manifestRepo}`]:
              repo,
          },
        ],
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
