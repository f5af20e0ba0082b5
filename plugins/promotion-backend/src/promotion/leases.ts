import { LoggerService } from '@backstage/backend-plugin-api';
import { ConflictError, stringifyError } from '@backstage/errors';
import { AdapterResolver } from '../adapters';
import {
  PromotionRecord,
  PromotionStore,
  StepName,
} from '../database/PromotionStore';
import { requesterOf } from './events';
import type { StepRunner } from './StepRunner';
import { EntityContext } from './types';

/** A lease this instance renews while it works on a promotion. */
export interface HeldLease {
  /** Another instance claimed the promotion (this one could not renew the lease in time). */
  readonly lost: boolean;
  stop(): void;
}

/**
 * The heartbeat of the database lease that holds a promotion's lock across replicas: renewed
 * every third of its length while this instance works on it, so that a worker that died (killed,
 * or cut off from the database) is noticed once its lease runs out and the reconciler recovers
 * its promotion.
 */
export function keepLease(
  store: Pick<PromotionStore, 'renewLease' | 'leaseMs'>,
  logger: LoggerService,
  lock: { entityRef: string; environment: string; id: string },
): HeldLease {
  let lost = false;
  const timer = setInterval(() => {
    store.renewLease(lock.entityRef, lock.environment, lock.id).then(
      held => {
        if (!held) lost = true;
      },
      error =>
        logger.warn(
          `Could not renew the lease of promotion ${lock.id}: ${stringifyError(
            error,
          )}`,
        ),
    );
  }, Math.max(100, Math.floor(store.leaseMs / 3)));
  timer.unref?.();
  return {
    get lost() {
      return lost;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * The reconciler: finds running promotions whose worker stopped (killed, or cut off from the
 * database, so its lease ran out) and recovers each on whichever replica claims it first, from
 * what the upstreams show. Safe on several replicas at once and idempotent.
 */
export class Reconciler {
  constructor(
    private readonly options: {
      adapters: AdapterResolver;
      store: PromotionStore;
      runner: StepRunner;
      logger: LoggerService;
    },
  ) {}

  async recoverStalled(
    resolveEntity: (entityRef: string) => Promise<EntityContext>,
  ): Promise<{ stalled: number; recovered: number }> {
    const { store, logger } = this.options;
    const stalled = await store.listStalled();
    let recovered = 0;
    for (const record of stalled) {
      try {
        if (!(await store.claimExpired(record))) continue;
        let entity: EntityContext;
        try {
          entity = await resolveEntity(record.entityRef);
        } catch (error) {
          if ((error as Error)?.name !== 'NotFoundError') throw error;
          // Nothing can be read or changed for an entity that is gone.
          await this.finishUnresolvable(record, error as Error);
          recovered++;
          continue;
        }
        logger.info(
          `Recovering promotion ${record.id} of ${record.entityRef} to ${record.environment}, whose worker stopped`,
        );
        await this.resume(entity, record);
        recovered++;
      } catch (error) {
        // Left claimed: the claim's lease runs out and the next round tries again.
        logger.warn(
          `Could not recover promotion ${record.id} of ${
            record.entityRef
          }: ${stringifyError(error)}`,
        );
      }
    }
    return { stalled: stalled.length, recovered };
  }

  /**
   * A retry or replay of a promotion that says `running`: refused while its lease is live (its
   * worker is on it, or it waits for a review or a run); once the lease ran out its worker is gone,
   * and the caller gets the promotion recovered at once instead of waiting for the reconciler.
   */
  async recoverCrashed(
    entity: EntityContext,
    record: PromotionRecord,
    stillRunning: string,
  ): Promise<PromotionRecord> {
    const { store } = this.options;
    const lease = await store.lease(
      entity.entityRef,
      record.environment,
      record.id,
    );
    if (lease.live) throw new ConflictError(stillRunning);
    if (await store.claimExpired(record)) {
      return this.resume(entity, record);
    }
    // The reconciler (here or on another replica) got there first: answer what it comes to.
    const deadline = Date.now() + 2 * store.leaseMs;
    while (Date.now() < deadline) {
      const current = await store.require(entity.entityRef, record.id);
      if (
        current.status !== 'running' ||
        current.steps.some(s => s.status === 'running' && s.pending)
      ) {
        return current;
      }
      await new Promise(resolve => setTimeout(resolve, 250));
    }
    throw new ConflictError(
      `${stillRunning}: another instance is recovering it`,
    );
  }

  private async finishUnresolvable(record: PromotionRecord, error: Error) {
    const step =
      record.steps.find(s => s.status !== 'succeeded')?.name ?? 'checks';
    const reason = new Error(
      `recovery after the worker stopped: ${stringifyError(error)}`,
    );
    await this.options.store.setStep(record.id, step, 'failed', reason.message);
    await this.options.runner.finish(
      { entityRef: record.entityRef, owners: [] },
      record,
      requesterOf(record),
      { step, error: reason },
    );
  }

  /**
   * Brings a promotion whose worker stopped in line with the upstreams and carries it on: each step
   * not recorded as done is looked up where it acts (is the tag on the commit, does the artifact
   * carry it, does the environment run the version); what is found done is recorded, the rest runs
   * as in the request. A step waiting for a pull request or a run stays with the follower. The
   * caller holds the claimed lease.
   */
  private async resume(
    entity: EntityContext,
    record: PromotionRecord,
  ): Promise<PromotionRecord> {
    const { store, runner } = this.options;
    const who = requesterOf(record);
    if (record.steps.some(s => s.status === 'running' && s.pending)) {
      // Its pull request or run is still open: the lease stays taken and the follower finishes it.
      await store.touchLock(record.entityRef, record.environment, record.id);
      return record;
    }
    const adapters = this.options.adapters.forTarget(entity.target);
    const lease = runner.keepLease(
      entity.entityRef,
      record.environment,
      record.id,
    );
    const steps = record.steps.map(s => ({ ...s }));
    let conflict: { step: StepName; error: Error } | undefined;
    try {
      for (const step of steps) {
        if (step.status === 'succeeded') continue;
        const found = await runner.steps[step.name].inspect({
          entity,
          record,
          adapters,
        });
        if (found.state === 'todo') break;
        if (found.state === 'conflict') {
          await store.setStep(record.id, step.name, 'failed', found.detail);
          conflict = {
            step: step.name,
            error: new ConflictError(found.detail),
          };
          break;
        }
        await store.setStep(
          record.id,
          step.name,
          'succeeded',
          `${found.detail} (found done after its worker stopped)`,
        );
        step.status = 'succeeded';
      }
    } finally {
      lease.stop();
    }
    if (conflict) return runner.finish(entity, record, who, conflict);
    return runner.execute(entity, { ...record, steps }, who);
  }
}
