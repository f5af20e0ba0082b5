import crypto from 'node:crypto';
import { LoggerService } from '@backstage/backend-plugin-api';
import { ConflictError, stringifyError } from '@backstage/errors';
import { EnvironmentDefinition } from '@mainline/plugin-promotion-common';
import { AdapterResolver } from '../adapters';
import {
  PromotionRecord,
  PromotionStore,
  StepName,
} from '../database/PromotionStore';
import { EventActor, PromotionEvents } from './events';
import { keepLease } from './leases';
import { short } from './rules';
import { promotionSteps } from './steps';
import { RuntimeVerification } from './steps/verify';
import { EntityContext } from './types';

/** What a promotion or rollback records once its checks passed: the row and its steps. */
export interface PlannedPromotion {
  record: Pick<
    PromotionRecord,
    'kind' | 'sha' | 'tag' | 'tagAutomatic' | 'version' | 'idempotencyKey'
  > & {
    /** The promotion waits for approvals: recorded `awaiting-approval`, its steps left to run. */
    approval?: { required: number; context: string };
  };
  steps: Array<{
    name: StepName;
    status: 'succeeded' | 'pending';
    detail: string;
  }>;
}

/** A step that failed, and why. */
export interface StepFailure {
  step: StepName;
  error: Error;
}

type FinishEntity = Pick<EntityContext, 'entityRef' | 'owners'> &
  Partial<Pick<EntityContext, 'target'>>;

/**
 * Runs promotions: takes the environment's lock (a database lease that holds across replicas),
 * records the promotion with its steps, and runs each step that is not done, recording it before
 * and after, so that a failure leaves the promotion `failed` at that step and a retry or a recovery
 * resumes there.
 */
export class StepRunner {
  readonly steps: ReturnType<typeof promotionSteps>;

  constructor(
    private readonly options: {
      adapters: AdapterResolver;
      store: PromotionStore;
      environments: EnvironmentDefinition[];
      annotatedTags: boolean;
      events: PromotionEvents;
      logger: LoggerService;
      /** The runtime observers, for the verify step of observed entities. */
      runtime?: RuntimeVerification;
    },
  ) {
    this.steps = promotionSteps(options);
  }

  /** The heartbeat of a promotion's lease while this instance works on it. */
  keepLease(entityRef: string, environment: string, id: string) {
    return keepLease(this.options.store, this.options.logger, {
      entityRef,
      environment,
      id,
    });
  }

  /**
   * The shared shape of a promotion and a rollback: take the environment's lock, check and plan
   * (refusals throw before anything upstream changes), record the promotion with its steps, run
   * them. A concurrent request that won the insert with the same Idempotency-Key answers
   * `replay` with the promotion it recorded.
   */
  async start(
    entity: EntityContext,
    environment: string,
    who: EventActor,
    requestHash: string,
    plan: () => Promise<PlannedPromotion>,
    replay: (previous: PromotionRecord) => Promise<PromotionRecord>,
  ): Promise<PromotionRecord> {
    const { store } = this.options;
    const id = crypto.randomUUID();
    await store.acquireLock(entity.entityRef, environment, id);
    // Reading the upstreams for the checks can outlast a lease; a lock with no promotion recorded
    // yet is only left alone while its lease is live.
    const lease = this.keepLease(entity.entityRef, environment, id);
    let record: PromotionRecord;
    try {
      const planned = await plan();
      const created = await store.create(
        {
          ...planned.record,
          id,
          entityRef: entity.entityRef,
          environment,
          requestHash,
          requestedBy: who.actor.entityRef,
        },
        planned.steps,
      );
      if (!created.created) {
        await store.releaseLock(entity.entityRef, environment, id);
        return replay(created.promotion);
      }
      record = created.promotion;
      if (record.status === 'awaiting-approval') {
        // Nothing runs until the approvals are in; the environment stays free meanwhile, and the
        // approval that completes them takes the lock again (`ApprovalService`).
        await store.releaseLock(entity.entityRef, environment, id);
        return record;
      }
    } catch (error) {
      await store.releaseLock(entity.entityRef, environment, id);
      throw error;
    } finally {
      lease.stop();
    }
    return this.execute(entity, record, who);
  }

  /**
   * Runs the steps that are not done yet, recording each before and after. A step whose adapter
   * completes it outside the request (a manifest pull request, a deploy workflow run) leaves the
   * promotion `running` with the lock held; the follower finishes it.
   */
  async execute(
    entity: EntityContext,
    record: PromotionRecord,
    who: EventActor,
  ): Promise<PromotionRecord> {
    const { store, events } = this.options;
    const adapters = this.options.adapters.forTarget(entity.target);
    const auditEvent = await events.audit(
      record.kind === 'rollback' ? 'rollback' : 'promote',
      who,
      {
        severityLevel: this.severity(record.environment),
        meta: auditMeta(entity, record),
      },
    );
    let failure: StepFailure | undefined;
    const lease = this.keepLease(
      entity.entityRef,
      record.environment,
      record.id,
    );
    try {
      if (record.steps.some(s => s.name === 'tag' && s.status === 'pending')) {
        await pauseForCrashTest('checks', record.id);
      }
      for (const step of record.steps) {
        if (step.status === 'succeeded') continue;
        if (lease.lost) {
          throw new ConflictError(
            `Promotion ${record.id} was taken over by another instance after its lease ran out`,
          );
        }
        await store.setStep(record.id, step.name, 'running', step.detail);
        try {
          const outcome = await this.steps[step.name].run({
            entity,
            record,
            adapters,
            actor: who.actor,
          });
          await pauseForCrashTest(step.name, record.id);
          if (outcome.pending) {
            await store.setStep(
              record.id,
              step.name,
              'running',
              outcome.detail,
              { url: outcome.url ?? null, pending: outcome.pending },
            );
            await auditEvent.success({
              meta: { waitingFor: outcome.url ?? outcome.pending },
            });
            await events.changed(entity, record.environment);
            return store.require(entity.entityRef, record.id);
          }
          await store.setStep(
            record.id,
            step.name,
            'succeeded',
            outcome.detail,
            { url: outcome.url ?? null },
          );
        } catch (error) {
          await store.setStep(
            record.id,
            step.name,
            'failed',
            stringifyError(error),
          );
          failure = { step: step.name, error: error as Error };
        }
        // Open tabs show each step as it is recorded, not only the end.
        await events.stepRecorded(entity, record, {
          name: step.name,
          status: failure ? 'failed' : 'succeeded',
        });
        if (failure) break;
      }
    } catch (error) {
      // The store itself failed (or the lease was lost): the lock stays until its lease runs out,
      // and then the reconciler reads how far the steps got and finishes the promotion.
      await auditEvent.fail({ error: error as Error });
      throw error;
    } finally {
      lease.stop();
    }
    if (failure) {
      await auditEvent.fail({
        error: failure.error,
        meta: { step: failure.step },
      });
    } else {
      await auditEvent.success();
    }
    return this.finish(entity, record, who, failure);
  }

  /** Records the outcome, frees the environment, and tells the owners and open tabs. */
  async finish(
    entity: FinishEntity,
    record: PromotionRecord,
    who: EventActor,
    failure: StepFailure | undefined,
  ): Promise<PromotionRecord> {
    const { store, events } = this.options;
    let ended: boolean;
    try {
      ended = await store.end(
        record,
        failure ? 'failed' : 'succeeded',
        failure ? `${failure.step}: ${stringifyError(failure.error)}` : null,
      );
    } catch (error) {
      await events.invalidate(entity);
      throw error;
    }
    // Whoever ended it first told everyone; a second finisher (a concurrent follower) says nothing.
    if (!ended) {
      await events.invalidate(entity);
      return store.require(entity.entityRef, record.id);
    }
    const verb = record.kind === 'rollback' ? 'Rolled back' : 'Promoted';
    // An automatic rollback told the owners when it started (with the failure it restores
    // from); that it worked shows in the tab. That it failed too is told.
    const told = !!record.rollbackOf && !failure;
    await events.changed(
      entity,
      record.environment,
      told
        ? undefined
        : {
            title: failure
              ? `${record.kind === 'rollback' ? 'Rollback' : 'Promotion'} of ${
                  entity.entityRef
                } to ${record.environment} failed at ${failure.step}`
              : `${verb} ${entity.entityRef}: ${record.environment} runs ${record.version}`,
            description: failure
              ? stringifyError(failure.error)
              : `${short(record.sha)} by ${who.actor.name}`,
            severity: failure ? 'high' : 'normal',
          },
    );
    const done = await store.require(entity.entityRef, record.id);
    events.ended(done);
    return done;
  }

  /** How grave an event about a write to `environment` is. */
  severity(environment: string): 'high' | 'medium' {
    return this.options.environments.find(e => e.name === environment)
      ?.production
      ? 'high'
      : 'medium';
  }
}

/** What every auditor event of a promotion says about it. */
export function auditMeta(
  entity: Pick<EntityContext, 'entityRef'>,
  record: PromotionRecord,
) {
  return {
    entityRef: entity.entityRef,
    environment: record.environment,
    sha: record.sha,
    version: record.version,
    promotionId: record.id,
    ...(record.rollbackOf
      ? { rollbackOf: record.rollbackOf, onBehalfOf: record.onBehalfOf }
      : {}),
  };
}

/**
 * Test-only: with `MAINLINE_TEST_PAUSE_AFTER_STEP=<step>` in the environment the process stops
 * right after that step's upstream change and before it is recorded (`checks`: once the promotion
 * is recorded, before the tag; `rollback`: once an automatic rollback is decided, before it
 * acts), so a crash test can SIGKILL it exactly there; `<step>:<ms>` only
 * pauses that long (a database restart test lands in the gap). Unset, as in production, it does
 * nothing.
 */
export async function pauseForCrashTest(
  step: StepName | 'rollback',
  id: string,
): Promise<void> {
  const [pausedStep, ms] = (
    process.env.MAINLINE_TEST_PAUSE_AFTER_STEP ?? ''
  ).split(':');
  if (pausedStep !== step) return;
  process.stdout.write(`MAINLINE_TEST_PAUSED ${step} ${id}\n`);
  await new Promise<void>(resolve => {
    if (ms) setTimeout(resolve, Number(ms));
  });
}
