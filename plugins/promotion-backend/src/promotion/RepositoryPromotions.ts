import { stringifyEntityRef } from '@backstage/catalog-model';
import { stringifyError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { PROMOTION_ANNOTATIONS } from '@mainline/plugin-promotion-common';
import { PromotionRecord } from '../database/PromotionStore';
import { EntityTargets } from '../service/EntityTargets';
import {
  PromoteRequest,
  PromotionPlan,
  PromotionService,
} from './PromotionService';
import { EntityContext, WriteContext } from './types';

/** What a repository-wide promotion did for one component. */
export type ComponentOutcome =
  | {
      entityRef: string;
      outcome: 'promoted' | 'planned';
      message: string;
      promotion?: PromotionRecord;
      plan?: PromotionPlan;
    }
  | {
      entityRef: string;
      outcome: 'unchanged';
      message: string;
      ancestor: string | null;
      running: boolean;
    }
  | { entityRef: string; outcome: 'refused'; message: string };

/**
 * A tag on a monorepo commit releases every component built at that commit: each gets its own
 * promotion (own lock, audit and retry), one tag is shared, and a component the commit did not
 * touch is reported as unchanged with the artifact that stands for it.
 */
export class RepositoryPromotions {
  constructor(
    private readonly options: {
      catalog: CatalogService;
      targets: EntityTargets;
      promotions: PromotionService;
    },
  ) {}

  /** The promotable components sharing `entity`'s repository, `entity` first. */
  async components(
    entity: EntityContext,
    ctx: Pick<WriteContext, 'credentials'>,
  ): Promise<EntityContext[]> {
    const { items } = await this.options.catalog.getEntities(
      {
        filter: {
          [`metadata.annotations.${PROMOTION_ANNOTATIONS.sourceRepo}`]:
            entity.target.sourceRepo,
        },
        fields: ['kind', 'metadata.namespace', 'metadata.name'],
      },
      { credentials: ctx.credentials },
    );
    const refs = items
      .map(item => stringifyEntityRef(item))
      .filter(ref => ref !== entity.entityRef)
      .sort();
    const siblings = await Promise.all(
      refs.map(ref =>
        this.options.targets.get(ref, ctx.credentials).catch(() => undefined),
      ),
    );
    return [entity, ...siblings.filter((s): s is EntityContext => !!s)];
  }

  async promote(
    entity: EntityContext,
    request: PromoteRequest,
    ctx: WriteContext,
  ): Promise<{
    repository: string;
    sha: string;
    tag: string | null;
    components: ComponentOutcome[];
  }> {
    const components = await this.components(entity, ctx);
    // Which components built an artifact at the commit: read-only, in parallel.
    const status = await Promise.all(
      components.map(async component => ({
        component,
        at: await this.options.promotions.artifactAt(
          component,
          request.sha,
          request.environment,
        ),
      })),
    );
    const sha = status[0].at.sha;
    let tag = request.tag;
    const outcomes: ComponentOutcome[] = [];
    for (const { component, at } of status) {
      if (!at.built) {
        outcomes.push({
          entityRef: component.entityRef,
          outcome: 'unchanged',
          message: at.message,
          ancestor: at.ancestor,
          running: at.running,
        });
        continue;
      }
      try {
        // The first promotion picks the tag (when none was given); the others share it.
        const result = await this.options.promotions.promote(
          component,
          {
            ...request,
            sha,
            tag,
            idempotencyKey: request.idempotencyKey
              ? `${request.idempotencyKey}:${component.entityRef}`.slice(0, 128)
              : undefined,
          },
          ctx,
        );
        if ('dryRun' in result) {
          tag = tag ?? result.tag ?? undefined;
          outcomes.push({
            entityRef: component.entityRef,
            outcome: 'planned',
            message: `would release ${result.version}`,
            plan: result,
          });
        } else {
          tag = tag ?? result.tag ?? undefined;
          outcomes.push({
            entityRef: component.entityRef,
            outcome: 'promoted',
            message:
              result.status === 'failed'
                ? `failed: ${result.error}`
                : `${request.environment} ${
                    result.status === 'succeeded' ? 'runs' : 'is getting'
                  } ${result.version}`,
            promotion: result,
          });
        }
      } catch (error) {
        outcomes.push({
          entityRef: component.entityRef,
          outcome: 'refused',
          message: stringifyError(error).replace(/^\w+Error: /, ''),
        });
      }
    }
    return {
      repository: entity.target.sourceRepo,
      sha,
      tag: tag ?? null,
      components: outcomes,
    };
  }
}
