import { ConflictError } from '@backstage/errors';
import {
  EnvironmentDefinition,
  promotionYankPermission,
} from '@mainline/plugin-promotion-common';
import { AdapterResolver } from '../adapters';
import { Artifact } from '@mainline/plugin-promotion-node';
import { Yank, YankStore } from '../database/YankStore';
import { WriteScope } from '../service/WriteScope';
import { PromotionEvents } from './events';
import { FactReader } from './facts';
import { runsIn, short } from './rules';
import { EntityContext, WriteContext } from './types';

/** What a yank did. */
export interface YankOutcome {
  yank: Yank;
  deleted: Artifact | null;
  affectedEnvironments: string[];
  created: boolean;
}

/**
 * Yanks: deletes a commit's artifacts so it can never be promoted, and leaves a tombstone. A
 * commit still running somewhere is refused unless forced (then the owners are told to roll
 * back). Yanking again answers the first yank.
 */
export class YankService {
  constructor(
    private readonly options: {
      adapters: AdapterResolver;
      yanks: YankStore;
      facts: FactReader;
      environments: EnvironmentDefinition[];
      writeScope: WriteScope;
      events: PromotionEvents;
      authorize: (
        permission: typeof promotionYankPermission,
        entity: EntityContext,
        ctx: WriteContext,
        what: string,
      ) => Promise<void>;
    },
  ) {}

  async yank(
    entity: EntityContext,
    request: { sha: string; reason: string; force?: boolean },
    ctx: WriteContext,
  ): Promise<YankOutcome> {
    const { events } = this.options;
    await this.options.authorize(
      promotionYankPermission,
      entity,
      ctx,
      'yank a commit of',
    );
    await this.options.writeScope.enforce(
      entity,
      { action: 'yank', sha: request.sha },
      ctx,
    );
    // Its length was checked as the request was parsed.
    const reason = request.reason.trim();
    const facts = await this.options.facts.read(entity, request.sha, {
      explain: false,
    });
    if (facts.yank) {
      return {
        yank: facts.yank,
        deleted: null,
        affectedEnvironments: [],
        created: false,
      };
    }
    const affected = this.options.environments
      .map(e => e.name)
      .filter(name => runsIn(facts, name, facts.sha));
    const meta = {
      entityRef: entity.entityRef,
      sha: facts.sha,
      reason,
      force: Boolean(request.force),
    };
    if (affected.length > 0 && !request.force) {
      const error = new ConflictError(
        `${short(facts.sha)} runs in ${affected.join(', ')}; roll ${
          affected.length > 1 ? 'them' : 'it'
        } back first, or yank with force to delete the artifact anyway`,
      );
      await events.refused('yank', ctx, {
        severityLevel: 'high',
        meta: { ...meta, affectedEnvironments: affected },
        error,
      });
      throw error;
    }
    const auditEvent = await events.audit('yank', ctx, {
      severityLevel: 'high',
      meta,
    });
    const yank: Yank = {
      entityRef: entity.entityRef,
      sha: facts.sha,
      yankedBy: ctx.actor.entityRef,
      reason,
      yankedAt: new Date().toISOString(),
    };
    const adapters = this.options.adapters.forTarget(entity.target);
    let deleted: Artifact | undefined;
    try {
      // The tombstone first: if the delete fails, the commit is already refused for promotion
      // and a repeated yank finishes the delete.
      await this.options.yanks.record(yank);
      deleted = await adapters.artifacts.deleteArtifact(
        adapters.artifactLocation,
        facts.sha,
      );
    } catch (error) {
      await auditEvent.fail({ error: error as Error });
      throw error;
    } finally {
      await events.invalidate(entity);
    }
    await auditEvent.success({
      meta: {
        deleted: deleted?.uri ?? null,
        forcedWhileRunningIn: affected,
      },
    });
    await events.tell(entity, null, {
      title: `Yanked ${short(facts.sha)} of ${entity.entityRef}`,
      description: `${reason} (by ${ctx.actor.name})${
        affected.length
          ? `. Still running in ${affected.join(', ')}: roll back.`
          : ''
      }`,
      severity: affected.length ? 'critical' : 'high',
    });
    return {
      yank,
      deleted: deleted ?? null,
      affectedEnvironments: affected,
      created: true,
    };
  }
}
