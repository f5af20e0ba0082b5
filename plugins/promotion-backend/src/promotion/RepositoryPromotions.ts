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
      promotions: PromotionService;
    },
  ) {}

  /** The promotable components sharing `entity`'s repository, `entity` first: one catalog query. */
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
      },
      { credentials: ctx.credentials },
    );
    const siblings = items
      .flatMap(item => {
        const read = EntityTargets.read(item);
        return read.ok && read.entity.entityRef !== entity.entityRef
          ? [read.entity]
          : [];
      })
      .sort((a, b) => a.entityRef.localeCompare(b.entityRef));
    return [entity, ...siblings];
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
    const [components, sha] = await Promise.all([
      this.components(entity, ctx),
      this.options.promotions.commitOf(entity, request.sha),
    ]);
    // Which components built an artifact at the commit: read-only, in parallel.
    const status = await Promise.all(
      components.map(async component => ({
        component,
        at: await this.options.promotions.artifactAt(
          component,
          sha,
          request.environment,
        ),
      })),
    );
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
        tag = tag ?? result.tag ?? undefined;
        if ('dryRun' in result) {
          outcomes.push({
            entityRef: component.entityRef,
            outcome: 'planned',
            message: `would release ${result.version}`,
            plan: result,
          });
        } else {
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
