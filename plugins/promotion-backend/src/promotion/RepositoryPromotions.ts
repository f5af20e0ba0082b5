import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { InputError, stringifyError } from '@backstage/errors';
import {
  ComponentOutcome,
  PROMOTION_ANNOTATIONS,
} from '@mainline/plugin-promotion-common';
import pLimit from 'p-limit';
import { EntityTargets } from '../service/EntityTargets';
import { toPromotion } from './api';
import { PromoteRequest, PromotionService } from './PromotionService';
import { EntityContext, WriteContext } from './types';

/** Why a component was refused, without the error's class name. */
const refusal = (error: unknown) =>
  stringifyError(error).replace(/^\w+Error: /, '');

/**
 * The promotable components built from `repo`, in one catalog query: what a repository-wide
 * promotion and a pushed tag release. `first`, when given, leads the list in place of its
 * catalog copy.
 */
export async function repositoryComponents(
  targets: Pick<EntityTargets, 'list'>,
  repo: string,
  credentials: BackstageCredentials,
  first?: EntityContext,
): Promise<EntityContext[]> {
  const listed = await targets.list(
    { [`metadata.annotations.${PROMOTION_ANNOTATIONS.sourceRepo}`]: repo },
    credentials,
  );
  const others = listed
    .filter(item => item.entityRef !== first?.entityRef)
    .map(({ entity: _, ...context }) => context);
  return first ? [first, ...others] : others;
}

/**
 * A tag on a monorepo commit releases every component built at that commit: each gets its own
 * promotion (own lock, audit and retry), one tag is shared, and a component the commit did not
 * touch is reported as unchanged with the artifact that stands for it.
 */
export class RepositoryPromotions {
  constructor(
    private readonly options: {
      targets: EntityTargets;
      promotions: PromotionService;
    },
  ) {}

  /** The promotable components sharing `entity`'s repository, `entity` first: one catalog query. */
  async components(
    entity: EntityContext,
    ctx: Pick<WriteContext, 'credentials'>,
  ): Promise<EntityContext[]> {
    return repositoryComponents(
      this.options.targets,
      entity.target.sourceRepo,
      ctx.credentials,
      entity,
    );
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
    if (request.tag !== undefined) {
      // One tag goes on every component's artifact: a tag any of their registries would refuse
      // refuses the release before the repository is asked anything.
      for (const component of components) {
        let problem: string | undefined;
        try {
          problem = this.options.promotions.registryTagProblem(
            component,
            request.tag,
          );
        } catch {
          continue; // no registry serves it: its own outcome, below
        }
        if (problem) {
          throw new InputError(
            `tag "${request.tag}" cannot release ${component.entityRef}: ${problem}`,
          );
        }
      }
    }
    const sha = await this.options.promotions.commitOf(entity, request.sha);
    // Which components the caller may promote, and which of those built an artifact at the
    // commit: permission first, then the reads, a few components at a time.
    const limit = pLimit(8);
    const status = await Promise.all(
      components.map(component =>
        limit(async () => {
          try {
            await this.options.promotions.authorizePromote(
              component,
              request,
              ctx,
            );
          } catch (error) {
            return { component, refused: refusal(error) };
          }
          try {
            return {
              component,
              at: await this.options.promotions.artifactAt(
                component,
                sha,
                request.environment,
              ),
            };
          } catch (error) {
            // A sibling whose registry or manifests cannot be read is its own outcome.
            return {
              component,
              refused: `could not read what ${sha.slice(
                0,
                7,
              )} built for it: ${refusal(error)}`,
            };
          }
        }),
      ),
    );
    let tag = request.tag;
    const outcomes: ComponentOutcome[] = [];
    for (const { component, at, refused } of status) {
      if (refused !== undefined) {
        outcomes.push({
          entityRef: component.entityRef,
          outcome: 'refused',
          message: refused,
        });
        continue;
      }
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
          // Idempotency keys are per entity, so the request's key serves every component.
          { ...request, sha, tag },
          ctx,
        );
        tag = tag ?? result.tag ?? undefined;
        // The real run would refuse it before anything upstream: say so in the preview too.
        const outOfScope =
          'dryRun' in result
            ? result.checks.find(c => c.name === 'write-scope' && !c.passed)
            : undefined;
        if (outOfScope) {
          outcomes.push({
            entityRef: component.entityRef,
            outcome: 'refused',
            message: outOfScope.reason,
          });
        } else if ('dryRun' in result) {
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
            promotion: toPromotion(result),
          });
        }
      } catch (error) {
        outcomes.push({
          entityRef: component.entityRef,
          outcome: 'refused',
          message: refusal(error),
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
