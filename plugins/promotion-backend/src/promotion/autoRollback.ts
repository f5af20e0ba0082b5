import crypto from 'node:crypto';
import { LoggerService } from '@backstage/backend-plugin-api';
import { EnvironmentDefinition } from '@mainline/plugin-promotion-common';
import {
  PromotionRecord,
  PromotionStep,
  PromotionStore,
} from '../database/PromotionStore';
import { environmentNamed } from '../service/requests';
import type { WriteScope } from '../service/WriteScope';
import { refusalOf } from './checks';
import { EventActor, PromotionEvents, requesterOf } from './events';
import { FactReader } from './facts';
import { requestHash } from './idempotency';
import { checkRollback, plannedRollback, verifyDetail } from './rollbackPlan';
import { short } from './rules';
import { StepRunner, auditMeta, pauseForCrashTest } from './StepRunner';
import { RuntimeVerification, VerificationFailedError } from './steps/verify';
import { EntityContext } from './types';

/**
 * Who an automatic rollback is requested by: the plugin itself. Its auditor events name it as
 * `requestedBy` and the person who asked for the failed promotion as `onBehalfOf`.
 */
export const AUTOMATIC_ROLLBACK_ACTOR: EventActor['actor'] = {
  entityRef: 'plugin:promotion',
  name: 'Mainline (automatic rollback)',
  email: '',
};

/** A verify step that failed, as the follower found it. */
export interface FailedVerification {
  error: VerificationFailedError;
  url?: string;
}

/** The failure told with why nothing was rolled back. */
function withNote(error: VerificationFailedError, note: string) {
  const detail = error.message.slice(error.reason.length + 2);
  return new VerificationFailedError(
    error.reason,
    error.environment,
    `${detail}; ${note}`,
  );
}

/**
 * The automatic rollback (`promotion.environments[].verify.rollback`, off by default): when a
 * promotion's verify step fails, the environment is promoted back to the last version verified
 * running there (the newest promotion or rollback of the environment whose verify step
 * succeeded, of another commit), with the rollback's own checks, steps and lock. The decision is
 * one transaction with the failure (`PromotionStore.failIntoRollback`): before it the step still
 * waits and the follower judges it again; after it the rollback is a running promotion the
 * reconciler resumes if this process dies. A rollback whose verification fails is not rolled
 * back again.
 */
export class AutoRollback {
  constructor(
    private readonly options: {
      store: PromotionStore;
      facts: FactReader;
      runner: StepRunner;
      events: PromotionEvents;
      environments: EnvironmentDefinition[];
      mainBranch: string;
      runtime: RuntimeVerification;
      /** What the entity may write: checked as for a rollback a person asks for. */
      writeScope: Pick<WriteScope, 'check'>;
      logger: LoggerService;
    },
  ) {}

  /**
   * Called by the follower with a verify step that failed, before it records the failure.
   * `{ finished }`: this call recorded the failure and started the rollback (false when another
   * follower finished the step first); `{ error }`: nothing is rolled back and the follower
   * records the failure itself, with `error` saying why not when rollback is on.
   */
  async afterFailedVerify(
    entity: EntityContext,
    record: PromotionRecord,
    step: PromotionStep,
    failed: FailedVerification,
  ): Promise<{ finished: boolean } | { error: VerificationFailedError }> {
    const { store, runner, events } = this.options;
    const env = record.environment;
    const { error } = failed;
    if (!this.options.runtime.settings.environments[env]?.verify.rollback) {
      return { error };
    }
    if (record.kind === 'rollback') {
      return {
        error: withNote(error, 'a rollback is not rolled back again'),
      };
    }
    if (error.reason === 'unobserved') return { error };
    const target = await store.lastVerified(entity.entityRef, env, record.sha);
    if (!target) {
      return {
        error: withNote(
          error,
          `not rolled back: no earlier version was verified running in ${env}`,
        ),
      };
    }
    const environment = environmentNamed(this.options.environments, env);
    // An upstream that cannot be read throws: the step stays waiting and the next poll decides.
    const [scope, checked] = await Promise.all([
      this.options.writeScope.check(entity, {
        action: 'rollback',
        environment: env,
      }),
      checkRollback(
        this.options.facts,
        entity,
        environment,
        target.sha,
        target.tag ?? undefined,
        this.options.mainBranch,
      ),
    ]);
    checked.checks.unshift(scope);
    const refusal = refusalOf(checked.checks);
    if (refusal) {
      return {
        error: withNote(
          error,
          `not rolled back to ${target.version}: ${refusal.message}`,
        ),
      };
    }
    const id = crypto.randomUUID();
    const planned = plannedRollback(checked, env, {
      idempotencyKey: null,
      verify: runner.steps.verify.applies(entity)
        ? { detail: verifyDetail(env, checked.version) }
        : undefined,
    });
    const rollingBack = `rolling back to ${checked.version} (${short(
      checked.facts.sha,
    )}), the last version verified running in ${env}`;
    const claimed = await store.failIntoRollback(
      {
        record,
        step: step.name,
        pending: step.pending!,
        detail: error.message,
        url: failed.url ?? step.url,
        error: `verify: ${error.name}: ${error.message}; ${rollingBack}`,
      },
      {
        ...planned.record,
        id,
        entityRef: entity.entityRef,
        environment: env,
        requestHash: requestHash('rollback', {
          environment: env,
          sha: checked.facts.sha,
          rollbackOf: record.id,
        }),
        requestedBy: AUTOMATIC_ROLLBACK_ACTOR.entityRef,
        onBehalfOf: record.requestedBy,
      },
      planned.steps,
    );
    if (!claimed) return { finished: false };
    const auditEvent = await events.audit(
      'verify-completed',
      requesterOf(record),
      {
        severityLevel: runner.severity(env),
        meta: {
          ...auditMeta(entity, record),
          reason: error.reason,
          rolledBackBy: id,
        },
      },
    );
    await auditEvent.fail({ error });
    events.ended(await store.require(entity.entityRef, record.id));
    // One notice for both: what failed, and what the environment goes back to.
    await events.changed(entity, env, {
      title: `Promotion of ${entity.entityRef} to ${env} failed at verify: rolling back to ${checked.version}`,
      description: `${record.version}: ${
        error.message
      }. Rolling back automatically to ${checked.version} (${short(
        checked.facts.sha,
      )}), the last version verified running in ${env}.`,
      severity: 'high',
    });
    this.options.logger.info(
      `Promotion ${record.id} of ${entity.entityRef} to ${env} failed at verify (${error.reason}); rolling back to ${checked.version} (${id})`,
    );
    // Recorded and told; a crash from here on leaves a running rollback the reconciler resumes.
    await pauseForCrashTest('rollback', id);
    await runner.execute(entity, await store.require(entity.entityRef, id), {
      actor: AUTOMATIC_ROLLBACK_ACTOR,
    });
    return { finished: true };
  }
}
