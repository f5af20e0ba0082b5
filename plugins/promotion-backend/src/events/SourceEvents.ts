import { AuthService, LoggerService } from '@backstage/backend-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { stringifyError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { SignalsService } from '@backstage/plugin-signals-node';
import { PROMOTION_ANNOTATIONS } from '@mainline/plugin-promotion-common';
import {
  PromotionSourceEvents,
  PromotionSourceEventsExtensionPoint,
  PromotionSourceEventsHandler,
  PushedReleaseTag,
  RuntimeChange,
} from '@mainline/plugin-promotion-node';
import type { PromotionService } from '../promotion/PromotionService';
import { runtimeSubject } from '../promotion/steps/verify';
import { EntityContext } from '../promotion/types';

/**
 * The source events handlers modules registered (the GitHub module's webhooks), started once the
 * plugin's services are up, each acting through the same narrow {@link PromotionSourceEvents}.
 */
export class SourceEventsHandlers
  implements PromotionSourceEventsExtensionPoint
{
  private readonly handlers: PromotionSourceEventsHandler[] = [];

  addSourceEventsHandler(handler: PromotionSourceEventsHandler) {
    // Two handlers of one name would act on every event twice.
    if (this.handlers.some(h => h.name === handler.name)) {
      throw new Error(
        `Two modules add a promotion source events handler named "${handler.name}"`,
      );
    }
    this.handlers.push(handler);
  }

  async start(events: PromotionSourceEvents): Promise<void> {
    for (const handler of this.handlers) {
      await handler.start(events);
      events.logger.info(`Listening to ${handler.name} source events`);
    }
  }
}

/**
 * Wakes the waiting verify steps a runtime's change concerns (as the observer serving each
 * entity decides): each observes now instead of at its next poll. Resolves with how many.
 */
export function wakeVerifySteps(
  promotions: Pick<PromotionService, 'followWaiting'>,
  resolveEntity: (entityRef: string) => Promise<EntityContext>,
): (change: RuntimeChange) => Promise<number> {
  return change =>
    promotions
      .followWaiting(resolveEntity, {
        wake: (entity, record) =>
          change.concerns(runtimeSubject(entity), record.environment),
      })
      .then(r => r.followed);
}

/**
 * What a source event may do in the plugin: find the entities of a repository in the catalog,
 * drop their cached lineage and tell open Environments tabs through signals, wake waiting
 * promotions (and wake waiting verify steps a runtime's notification concerns), record delivery
 * ids, and promote pushed release tags.
 */
export function sourceEvents(options: {
  catalog: CatalogService;
  auth: AuthService;
  logger: LoggerService;
  signals?: SignalsService;
  invalidate(entityRef: string): Promise<void>;
  followWaiting(entityRef: string): Promise<unknown>;
  /** Observes now the waiting verify steps `change` concerns; resolves with how many. */
  wakeVerify(change: RuntimeChange): Promise<number>;
  firstDelivery(deliveryId: string, topic: string): Promise<boolean>;
  pushedTag?(tag: PushedReleaseTag): Promise<unknown>;
}): PromotionSourceEvents {
  const { catalog, auth, logger, signals, pushedTag } = options;
  return {
    logger,
    async entitiesOfRepositories(repositories) {
      const names = repositories.filter(name =>
        /^[\w.-]+\/[\w.-]+$/.test(name),
      );
      if (names.length === 0) return [];
      const credentials = await auth.getOwnServiceCredentials();
      const { items } = await catalog.getEntities(
        {
          filter: names.flatMap(name => [
            {
              [`metadata.annotations.${PROMOTION_ANNOTATIONS.sourceRepo}`]:
                name,
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
    },
    async lineageChanged(entityRef) {
      await options.invalidate(entityRef);
      await signals?.publish({
        recipients: { type: 'broadcast' },
        channel: `promotion:${entityRef}`,
        message: { entityRef, environment: null },
      });
    },
    async completionSeen(entityRef) {
      await options.followWaiting(entityRef);
    },
    async runtimeChanged(change) {
      return options.wakeVerify(change);
    },
    firstDelivery: (deliveryId, topic) =>
      options.firstDelivery(deliveryId, topic),
    tagPushed: pushedTag
      ? async tag => {
          // Claimed and promoted in the background: the event is answered at once.
          pushedTag(tag).catch(error =>
            logger.warn(
              `Could not act on tag ${tag.tag} pushed to ${
                tag.repo
              }: ${stringifyError(error)}`,
            ),
          );
        }
      : undefined,
  };
}
