import {
  LoggerService,
  createExtensionPoint,
} from '@backstage/backend-plugin-api';
import { RuntimeSubject } from './ports/RuntimeObserver';

/**
 * A release tag someone pushed to a repository, as an upstream's event tells it.
 *
 * @public
 */
export interface PushedReleaseTag {
  /** `owner/name` of the repository. */
  repo: string;
  /** The tag's name, e.g. `v1.4.0`. */
  tag: string;
  /** The upstream's login of whoever pushed it, when the event names one. */
  pusher?: string;
}

/**
 * A change a runtime reported on its own (an Argo CD notification that an Application synced or
 * changed health): which entities' environments it may concern, as the observer serving them
 * finds its runtime.
 *
 * @public
 */
export interface RuntimeChange {
  /** What changed, for messages: e.g. `argocd main: checkout-demo`. */
  source: string;
  /**
   * Whether the change may concern `environment` of `subject`; decided from the subject's
   * annotations alone (no upstream call), erring towards true: a wrong guess costs one
   * observation, a missed one leaves the step to its next poll.
   */
  concerns(subject: RuntimeSubject, environment: string): boolean;
}

/**
 * The narrow part of the promotion plugin that a source events handler acts through: it turns
 * what its upstream tells (webhooks, a message queue) into these calls, and the plugin does the
 * rest (finding entities, caches, signals to open Environments tabs, waking waiting promotions,
 * promoting pushed tags). Every call is safe to repeat.
 *
 * @public
 */
export interface PromotionSourceEvents {
  /** The promotion plugin's logger. */
  logger: LoggerService;
  /**
   * The refs of the catalog entities whose source or manifest repository annotation
   * (`mainline.dev/source-repo`, `mainline.dev/manifest-repo`) names one of `repositories`
   * (`owner/name`).
   */
  entitiesOfRepositories(repositories: string[]): Promise<string[]>;
  /**
   * The entity's lineage changed upstream (commits, tags, branches, a manifest, a finished
   * build): its cached lineage is dropped and open Environments tabs are told to reload.
   */
  lineageChanged(entityRef: string): Promise<void>;
  /**
   * Something a waiting promotion of the entity may be waiting for finished upstream (a deploy
   * run, a manifest pull request): its waiting promotions are checked now rather than at the
   * follower's next round.
   */
  completionSeen(entityRef: string): Promise<void>;
  /**
   * What runs changed (a runtime's notification): the waiting verify steps it concerns observe
   * the runtime now rather than at their next poll; a step still waiting afterwards keeps its
   * poll schedule, which stays the fallback for notifications that never come. Resolves with
   * how many steps were woken.
   */
  runtimeChanged(change: RuntimeChange): Promise<number>;
  /**
   * Records the upstream's delivery id of an event; false when it was recorded before (by any
   * replica), so that a redelivered event is acted on once. Ids are kept for a week.
   */
  firstDelivery(deliveryId: string, topic: string): Promise<boolean>;
  /**
   * A release tag someone pushed: promoted (or refused and reported) in the background, claimed
   * by repository and tag, so that two events for one tag promote it once. Undefined when
   * `promotion.tags.fromPushes` is false.
   */
  tagPushed?(tag: PushedReleaseTag): Promise<void>;
}

/**
 * Turns one upstream's events into calls on {@link PromotionSourceEvents}, e.g. the GitHub module's
 * webhook handler.
 *
 * @public
 */
export interface PromotionSourceEventsHandler {
  /** E.g. `github`, for messages. */
  name: string;
  /**
   * Called once, when the promotion plugin's services are up: subscribe to the upstream's events
   * here and act on them through `events`.
   */
  start(events: PromotionSourceEvents): Promise<void>;
}

/**
 * Adds source events handlers to the promotion plugin.
 *
 * @public
 */
export interface PromotionSourceEventsExtensionPoint {
  /** Adds a handler; two of one name stop the backend at start. */
  addSourceEventsHandler(handler: PromotionSourceEventsHandler): void;
}

/**
 * Extension point for handlers of upstream events (GitHub webhooks, ...) that keep lineage fresh
 * without polling and promote pushed release tags.
 *
 * @public
 */
export const promotionSourceEventsExtensionPoint =
  createExtensionPoint<PromotionSourceEventsExtensionPoint>({
    id: 'promotion.source-events',
  });
