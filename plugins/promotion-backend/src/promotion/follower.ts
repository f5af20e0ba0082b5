import { LoggerService } from '@backstage/backend-plugin-api';
import { stringifyError } from '@backstage/errors';
import { AdapterResolver } from '../adapters';
import {
  PromotionRecord,
  PromotionStep,
  PromotionStore,
} from '../database/PromotionStore';
import { PromotionEvents, requesterOf } from './events';
import { StepRunner, auditMeta } from './StepRunner';
import type { AutoRollback } from './autoRollback';
import { EntityContext } from './types';

/**
 * Background completion of waiting steps: follows every promotion waiting for an external
 * completion (review of a manifest pull request, a deploy workflow run), refreshes its lock, and
 * once the adapter reports the deploy done, finishes the promotion as if the step had completed
 * in the request. Safe to run on every replica at once and for every redelivered webhook: moving
 * the step on is a conditional update only one of them wins.
 */
export class Follower {
  constructor(
    private readonly options: {
      adapters: AdapterResolver;
      store: PromotionStore;
      runner: StepRunner;
      events: PromotionEvents;
      logger: LoggerService;
      /** The automatic rollback of environments that ask for it (`verify.rollback`). */
      rollbacks?: AutoRollback;
    },
  ) {}

  async followWaiting(
    resolveEntity: (entityRef: string) => Promise<EntityContext>,
    options: { entityRef?: string; verifyOnly?: boolean } = {},
  ): Promise<{ followed: number; finished: number }> {
    const waiting = (await this.options.store.listWaiting()).filter(
      r =>
        (!options.entityRef || r.entityRef === options.entityRef) &&
        (!options.verifyOnly ||
          r.steps.some(s => s.name === 'verify' && s.pending)),
    );
    let finished = 0;
    for (const record of waiting) {
      try {
        if (await this.followOne(resolveEntity, record)) finished++;
      } catch (error) {
        this.options.logger.warn(
          `Could not follow promotion ${record.id} of ${
            record.entityRef
          }: ${stringifyError(error)}`,
        );
      }
    }
    return { followed: waiting.length, finished };
  }

  private async followOne(
    resolveEntity: (entityRef: string) => Promise<EntityContext>,
    record: PromotionRecord,
  ): Promise<boolean> {
    const { store, runner, events } = this.options;
    const step = record.steps.find(s => s.pending);
    if (!step?.pending) return false;
    const owned =
      (await store.touchLock(
        record.entityRef,
        record.environment,
        record.id,
      )) || (await store.claimExpired(record));
    if (!owned) return false;
    const entity = await resolveEntity(record.entityRef);
    if (step.name === 'verify') return this.followVerify(entity, record, step);
    const { deployments } = this.options.adapters.forTarget(entity.target);
    if (!deployments.followUp) {
      throw new Error(
        `the deployment adapter of ${record.entityRef} cannot follow ${step.pending}`,
      );
    }
    const progress = await deployments.followUp(entity.target, step.pending);
    if (progress.state === 'pending') {
      if (progress.detail !== step.detail || progress.url !== step.url) {
        await store.setStep(record.id, step.name, 'running', progress.detail, {
          url: progress.url ?? step.url,
          pending: step.pending,
        });
      }
      return false;
    }
    // Exactly one follower (replica, webhook, redelivery) moves the step on; the others stop here.
    const claimed = await store.completeWaitingStep(
      record.id,
      step.name,
      step.pending,
      progress.state,
      progress.detail,
      progress.url ?? step.url,
    );
    if (!claimed) return false;
    const who = requesterOf(record);
    const auditEvent = await events.audit('deploy-completed', who, {
      severityLevel: runner.severity(record.environment),
      meta: {
        ...auditMeta(entity, record),
        ...(progress.url ? { url: progress.url } : {}),
      },
    });
    if (progress.state === 'failed') {
      const error = new Error(progress.detail);
      await auditEvent.fail({ error });
      await runner.finish(entity, record, who, { step: step.name, error });
      return true;
    }
    await auditEvent.success();
    const rest = await store.require(record.entityRef, record.id);
    if (rest.steps.some(s => s.status !== 'succeeded')) {
      await runner.execute(entity, rest, who);
    } else {
      await runner.finish(entity, rest, who, undefined);
    }
    return true;
  }

  /**
   * One poll of a waiting verify step (see `VerifyStep.follow`): not due yet, still waiting
   * (the step's detail and next poll recorded), or done: the environment runs the artifact, or
   * it failed for a reason the promotion's failure names and the owners are told.
   */
  private async followVerify(
    entity: EntityContext,
    record: PromotionRecord,
    step: PromotionStep,
  ): Promise<boolean> {
    const { store, runner, events } = this.options;
    const adapters = this.options.adapters.forTarget(entity.target);
    let progress = await runner.steps.verify.follow(
      entity,
      record,
      step,
      adapters,
    );
    if (progress.state === 'not-due') return false;
    if (progress.state === 'pending') {
      await store.setStep(record.id, step.name, 'running', progress.detail, {
        url: progress.url ?? step.url,
        pending: progress.pending,
      });
      if (progress.detail !== step.detail) {
        await events.changed(entity, record.environment);
      }
      return false;
    }
    if (progress.state === 'failed' && this.options.rollbacks) {
      const after = await this.options.rollbacks.afterFailedVerify(
        entity,
        record,
        step,
        progress,
      );
      if ('finished' in after) return after.finished;
      progress = { ...progress, error: after.error };
    }
    const detail =
      progress.state === 'failed' ? progress.error.message : progress.detail;
    const claimed = await store.completeWaitingStep(
      record.id,
      step.name,
      step.pending!,
      progress.state,
      detail,
      progress.url ?? step.url,
    );
    if (!claimed) return false;
    const who = requesterOf(record);
    const auditEvent = await events.audit('verify-completed', who, {
      severityLevel: runner.severity(record.environment),
      meta: {
        ...auditMeta(entity, record),
        ...(progress.state === 'failed'
          ? { reason: progress.error.reason }
          : {}),
      },
    });
    if (progress.state === 'failed') {
      await auditEvent.fail({ error: progress.error });
      await runner.finish(entity, record, who, {
        step: step.name,
        error: progress.error,
      });
      return true;
    }
    await auditEvent.success();
    const rest = await store.require(record.entityRef, record.id);
    await runner.finish(entity, rest, who, undefined);
    return true;
  }
}
