import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError, stringifyError } from '@backstage/errors';
import {
  ComponentOutcome,
  PROMOTION_ANNOTATIONS,
} from '@mainline/plugin-promotion-common';
import pLimit from 'p-limit';
import { EntityTargets } from '../service/EntityTargets';
import { WriteScopeRefusal } from '../service/WriteScope';
import { toPromotion } from './api';
import { PromotionRefusedError } from './checks';
import { PromoteRequest, PromotionService } from './PromotionService';
import { ArtifactAt } from './facts';
import { EntityContext, PolicyCheck, WriteContext } from './types';

/** Why a component was refused, without the error's class name. */
const refusal = (error: unknown) =>
  stringifyError(error).replace(/^\w+Error: /, '');

/**
 * The failed checks of a component's refusal, as a single promotion's refusal carries them: a
 * refusal by the rules keeps its own checks and data, one by the write scope its `write-scope`
 * check; a missing permission is the `permission` check, a malformed request the `request` check, anything else the check it happened in.
 */
function refusedChecks(
  error: unknown,
  otherwise: string,
  reason = refusal(error),
): PolicyCheck[] {
  if (error instanceof PromotionRefusedError) return error.checks;
  if (error instanceof WriteScopeRefusal) return [error.check];
  let name = otherwise;
  if (error instanceof NotAllowedError) name = 'permission';
  else if (error instanceof InputError) name = 'request';
  return [{ name, passed: false, reason }];
}

/** What was found out about a component before its promotion: refused, or what the commit built. */
type ComponentRead =
  | { component: EntityContext; refused: string; checks: PolicyCheck[] }
  | { component: EntityContext; at: ArtifactAt };

/** A refused component's outcome: the sentence for people, the checks for programs. */
function refused(
  component: EntityContext,
  message: string,
  checks: PolicyCheck[],
): ComponentOutcome {
  return {
    entityRef: component.entityRef,
    outcome: 'refused',
    message,
    checks,
  };
}

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
        limit(async (): Promise<ComponentRead> => {
          try {
            await this.options.promotions.authorizePromote(
              component,
              request,
              ctx,
            );
          } catch (error) {
            const message = refusal(error);
            return {
              component,
              refused: message,
              checks: refusedChecks(error, 'permission', message),
            };
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
            const message = `could not read what ${sha.slice(
              0,
              7,
            )} built for it: ${refusal(error)}`;
            return {
              component,
              refused: message,
              checks: refusedChecks(error, 'artifact', message),
            };
          }
        }),
      ),
    );
    let tag = request.tag;
    const outcomes: ComponentOutcome[] = [];
    for (const read of status) {
      const { component } = read;
      if ('refused' in read) {
        outcomes.push(refused(component, read.refused, read.checks));
        continue;
      }
      const { at } = read;
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
          outcomes.push(refused(component, outOfScope.reason, [outOfScope]));
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
        const message = refusal(error);
        outcomes.push(
          refused(component, message, refusedChecks(error, 'promote', message)),
        );
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
