import { AuthService, LoggerService } from '@backstage/backend-plugin-api';
import { CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { stringifyError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import {
  EnvironmentDefinition,
  matchesTagPattern,
  PROMOTION_ANNOTATIONS,
} from '@mainline/plugin-promotion-common';
import pLimit from 'p-limit';
import { AdapterResolver } from '../adapters';
import { PromotionStore } from '../database/PromotionStore';
import { EntityTargets } from '../service/EntityTargets';
import { PromotionService } from './PromotionService';
import { repositoryComponents } from './RepositoryPromotions';
import { short } from './rules';
import { Actor, EntityContext } from './types';

/** The catalog annotation that links a user to their GitHub login. */
const GITHUB_LOGIN_ANNOTATION = 'github.com/user-login';

/** A release tag someone created in GitHub, as a webhook or the reconcile pass saw it. */
export interface PushedTag {
  repo: string;
  tag: string;
  /** The GitHub login of whoever pushed it; unknown to the reconcile pass. */
  pusher?: string;
  source: 'webhook' | 'reconcile';
}

/** What became of a pushed tag. */
export type PushedTagOutcome =
  | { outcome: 'ignored'; reason: string }
  | {
      outcome: 'promoted' | 'refused' | 'failed';
      environment: string;
      sha: string;
      components: Array<{
        entityRef: string;
        promotionId?: string;
        status: string;
        reason?: string;
      }>;
    };

/**
 * One promotion engine: a release tag a person pushes in GitHub (`rc-*`, `v*`, whatever an
 * environment's trigger pattern is) becomes the same promotion the UI, the API or an action
 * would start, for every component of the repository the commit built an artifact for. A tag
 * is claimed in the database by repository and name before anything else, so a redelivered
 * webhook, the reconcile pass and another replica racing for it promote it once. Tags Mainline
 * created itself are recognised by their promotion record (written before the tag) and left
 * alone. A refusal changes nothing and is reported on the commit as a `mainline/<environment>`
 * status naming the reason, to the owners, and as a refused promotion in the promotions list.
 */
export class PushedTags {
  constructor(
    private readonly options: {
      targets: EntityTargets;
      catalog: CatalogService;
      auth: AuthService;
      store: PromotionStore;
      promotions: PromotionService;
      adapters: AdapterResolver;
      environments: EnvironmentDefinition[];
      logger: LoggerService;
    },
  ) {}

  /** The environment a tag promotes to: the first whose trigger pattern it matches. */
  environmentFor(tag: string): EnvironmentDefinition | undefined {
    return this.options.environments.find(
      e =>
        e.trigger.type === 'tag' && matchesTagPattern(tag, e.trigger.pattern),
    );
  }

  private async components(repo: string): Promise<EntityContext[]> {
    return repositoryComponents(
      this.options.targets,
      repo,
      await this.options.auth.getOwnServiceCredentials(),
    );
  }

  /** The pusher as a catalog user with their GitHub login annotated, else `github:<login>`. */
  private async actorOf(login: string | undefined): Promise<Actor> {
    if (!login) {
      // The tag listing does not say who pushed a tag the webhook missed.
      return {
        entityRef: 'github:unknown',
        name: 'an unknown GitHub user (found by the tag reconcile pass)',
        email: 'noreply@mainline.invalid',
      };
    }
    const credentials = await this.options.auth.getOwnServiceCredentials();
    const { items } = await this.options.catalog.getEntities(
      {
        filter: {
          kind: 'user',
          [`metadata.annotations.${GITHUB_LOGIN_ANNOTATION}`]: login,
        },
      },
      { credentials },
    );
    const user = items[0];
    if (!user) {
      return {
        entityRef: `github:${login}`,
        name: login,
        email: `${login}@users.noreply.github.com`,
      };
    }
    const profile = (
      user.spec as { profile?: { displayName?: string; email?: string } }
    )?.profile;
    return {
      entityRef: stringifyEntityRef(user),
      name: profile?.displayName ?? user.metadata.name,
      email:
        profile?.email ??
        `${user.metadata.name}@users.noreply.mainline.invalid`,
    };
  }

  /** Turns one pushed tag into promotions (or a reported refusal); at most once per tag. */
  async handle(pushed: PushedTag): Promise<PushedTagOutcome> {
    const environment = this.environmentFor(pushed.tag);
    if (!environment) {
      return {
        outcome: 'ignored',
        reason: `${pushed.tag} matches no environment's pattern`,
      };
    }
    const components = await this.components(pushed.repo);
    if (components.length === 0) {
      return {
        outcome: 'ignored',
        reason: `no promotable entity uses ${pushed.repo}`,
      };
    }
    const adapters = this.options.adapters.forTarget(components[0].target);
    const sha = await adapters.source.resolveCommit(pushed.repo, pushed.tag);
    if (!sha) {
      return {
        outcome: 'ignored',
        reason: `${pushed.tag} is not (or no longer) a tag of ${pushed.repo}`,
      };
    }
    const claimed = await this.options.store.claimPushedTag({
      repo: pushed.repo,
      tag: pushed.tag,
      sha,
      source: pushed.source,
    });
    if (!claimed) {
      return {
        outcome: 'ignored',
        reason: `${pushed.tag} of ${pushed.repo} was handled before`,
      };
    }
    try {
      if (
        await this.options.store.promotedWithTag(
          components.map(c => c.entityRef),
          pushed.tag,
        )
      ) {
        await this.options.store.settlePushedTag(
          pushed.repo,
          pushed.tag,
          'mainline',
          'created by a Mainline promotion',
        );
        return {
          outcome: 'ignored',
          reason: `${pushed.tag} was created by a Mainline promotion`,
        };
      }
      const outcome = await this.promote(pushed, environment, components, sha);
      if (outcome.components.every(c => !c.promotionId)) {
        // Nothing was recorded (GitHub or the registry failed before the checks finished).
        await this.options.store.releasePushedTag(pushed.repo, pushed.tag);
        return outcome;
      }
      await this.options.store.settlePushedTag(
        pushed.repo,
        pushed.tag,
        outcome.outcome,
        outcome.components
          .map(c => `${c.entityRef}: ${c.reason ?? c.status}`)
          .join('; '),
      );
      return outcome;
    } catch (error) {
      // Nothing recorded (the database or the catalog failed): the next pass tries again.
      await this.options.store
        .releasePushedTag(pushed.repo, pushed.tag)
        .catch(() => undefined);
      throw error;
    }
  }

  private async promote(
    pushed: PushedTag,
    environment: EnvironmentDefinition,
    components: EntityContext[],
    sha: string,
  ): Promise<
    PushedTagOutcome & { outcome: 'promoted' | 'refused' | 'failed' }
  > {
    const actor = await this.actorOf(pushed.pusher);
    const credentials = await this.options.auth.getOwnServiceCredentials();
    const ctx = { credentials, actor };
    // A monorepo commit releases the components it built an artifact for; when it built none,
    // every component is refused (each naming its nearest built ancestor).
    const built: EntityContext[] = [];
    for (const component of components) {
      const at = await this.options.promotions
        .artifactAt(component, sha, environment.name)
        .catch(() => ({ built: true as const }));
      if (at.built) built.push(component);
    }
    const chosen = built.length > 0 ? built : components;
    const results: Array<{
      entityRef: string;
      promotionId?: string;
      status: string;
      reason?: string;
    }> = [];
    for (const component of chosen) {
      try {
        const { promotion, refused } =
          await this.options.promotions.promotePushedTag(
            component,
            { environment: environment.name, sha, tag: pushed.tag },
            ctx,
          );
        results.push({
          entityRef: component.entityRef,
          promotionId: promotion.id,
          status: refused ? 'refused' : promotion.status,
          reason: refused ?? promotion.error ?? undefined,
        });
      } catch (error) {
        results.push({
          entityRef: component.entityRef,
          status: 'failed',
          reason: stringifyError(error),
        });
      }
    }
    const refused = results.filter(r => r.status === 'refused');
    const failed = results.filter(r => r.status === 'failed');
    let outcome: 'promoted' | 'refused' | 'failed' = 'promoted';
    if (refused.length > 0) outcome = 'refused';
    else if (failed.length > 0) outcome = 'failed';
    await this.report(pushed, environment, components[0], sha, results);
    this.options.logger.info(
      `Pushed tag ${pushed.tag} of ${pushed.repo} (${short(sha)}, ${
        pushed.source
      }, by ${actor.entityRef}): ${results
        .map(
          r => `${r.entityRef} ${r.status}${r.reason ? `: ${r.reason}` : ''}`,
        )
        .join('; ')}`,
    );
    return { outcome, environment: environment.name, sha, components: results };
  }

  /** The commit status `mainline/<environment>` where the person who pushed the tag looks. */
  private async report(
    pushed: PushedTag,
    environment: EnvironmentDefinition,
    component: EntityContext,
    sha: string,
    results: Array<{ entityRef: string; status: string; reason?: string }>,
  ) {
    const source = this.options.adapters.forTarget(component.target).source;
    if (!source.reportCommitStatus) return;
    const several = results.length > 1;
    const bad = results.find(
      r => r.status === 'refused' || r.status === 'failed',
    );
    const named = (r: { entityRef: string }) =>
      several ? `${r.entityRef.split('/').pop()}: ` : '';
    let state: 'success' | 'failure' | 'pending' | 'error' = 'success';
    let description = `${pushed.tag} promoted to ${environment.name}`;
    if (bad) {
      state = bad.status === 'refused' ? 'failure' : 'error';
      description = `${named(bad)}${pushed.tag} ${
        bad.status === 'refused' ? 'refused' : 'failed'
      }: ${bad.reason ?? 'unknown'}`;
    } else if (results.some(r => r.status === 'awaiting-approval')) {
      state = 'pending';
      description = `${pushed.tag}: promotion to ${environment.name} awaits approvals`;
    } else if (results.some(r => r.status === 'running')) {
      state = 'pending';
      description = `${pushed.tag}: promotion to ${environment.name} waiting`;
    }
    try {
      await source.reportCommitStatus(pushed.repo, {
        sha,
        context: `mainline/${environment.name}`,
        state,
        description,
      });
    } catch (error) {
      // The refusal is recorded and the owners are told; the status is only where it shows first.
      this.options.logger.warn(
        `Could not set status mainline/${environment.name} on ${short(
          sha,
        )} of ${pushed.repo}: ${stringifyError(error)}`,
      );
    }
  }

  /**
   * For deliveries GitHub never made (downtime, a dropped webhook): lists the tags of every
   * repository a promotable entity uses and handles those that match an environment's pattern and
   * no path has seen. A repository's first pass records the tags it has as history.
   */
  async reconcile(): Promise<{ repositories: number; handled: number }> {
    const credentials = await this.options.auth.getOwnServiceCredentials();
    const listed = await this.options.targets.list(
      {
        [`metadata.annotations.${PROMOTION_ANNOTATIONS.sourceRepo}`]:
          CATALOG_FILTER_EXISTS as unknown as string,
      },
      credentials,
    );
    const byRepo = new Map<string, EntityContext>();
    for (const { entity: _, ...context } of listed) {
      if (!byRepo.has(context.target.sourceRepo)) {
        byRepo.set(context.target.sourceRepo, context);
      }
    }
    let handled = 0;
    const limit = pLimit(4);
    await Promise.all(
      [...byRepo].map(([repo, entity]) =>
        limit(async () => {
          try {
            handled += await this.reconcileRepo(repo, entity);
          } catch (error) {
            this.options.logger.warn(
              `Could not reconcile the tags of ${repo}: ${stringifyError(
                error,
              )}`,
            );
          }
        }),
      ),
    );
    return { repositories: byRepo.size, handled };
  }

  private async reconcileRepo(
    repo: string,
    entity: EntityContext,
  ): Promise<number> {
    const source = this.options.adapters.forTarget(entity.target).source;
    const [tags, seen] = await Promise.all([
      source.listTags(repo),
      this.options.store.pushedTagsOf(repo),
    ]);
    const release = tags.filter(t => this.environmentFor(t.name));
    if (!seen.baselined) {
      await this.options.store.baselineTags(repo, release);
      return 0;
    }
    let handled = 0;
    for (const tag of release) {
      if (seen.tags.has(tag.name)) continue;
      const outcome = await this.handle({
        repo,
        tag: tag.name,
        source: 'reconcile',
      });
      if (outcome.outcome !== 'ignored') handled++;
    }
    return handled;
  }
}
