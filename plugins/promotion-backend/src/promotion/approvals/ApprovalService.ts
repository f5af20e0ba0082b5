import {
  BackstageCredentials,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import {
  ConflictError,
  NotAllowedError,
  stringifyError,
} from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  EnvironmentDefinition,
  promotionApprovePermission,
} from '@mainline/plugin-promotion-common';
import { PromotionRecord, PromotionStore } from '../../database/PromotionStore';
import { PromotionRefusedError } from '../checks';
import { PromotionEvents, requesterOf } from '../events';
import { short } from '../rules';
import { EntityContext, PolicyCheck, WriteContext } from '../types';
import { ApprovalContext, ApprovalPolicy } from './ApprovalPolicy';
import { ApprovalRow, ApprovalStore } from './ApprovalStore';
import { ApproverDirectory } from './ApproverDirectory';
import { approvalTally, approverRule } from './rules';

/** A user who may not decide on a promotion: 403, with the `approver` check naming why. */
export class ApproverRefusedError extends PromotionRefusedError {
  constructor(check: PolicyCheck) {
    super([check]);
    this.name = NotAllowedError.name;
  }

  get statusCode(): number {
    return 403;
  }
}

/** A promotion's approvals, as the API shows them. */
export interface ApprovalsView {
  promotion: PromotionRecord;
  required: number;
  approvedBy: string[];
  eligibleApprovers: string[];
  decisions: ApprovalRow[];
  you: {
    canDecide: boolean;
    reason: string;
    decision: 'approved' | 'rejected' | null;
  };
}

/** The part of `PromotionService` that carries an approved promotion on. */
export interface ApprovedPromotions {
  proceedApproved(
    entity: EntityContext,
    record: PromotionRecord,
    ctx: WriteContext,
    claim: () => Promise<boolean>,
  ): Promise<PromotionRecord>;
}

/**
 * Approving, rejecting and withdrawing: each checked in the same order (the caller signed in,
 * the promotion found, `promotion.approve` granted, the promotion still awaiting approvals, the
 * caller a member of the owner group and neither the requester nor an author), recorded, and
 * audited with the caller. The approval that completes the count carries the promotion on
 * through the step runner; should that fail (another promotion holds the environment, the
 * process stops), the promotion stays `awaiting-approval` with its approvals and `sweep` carries
 * it on later.
 */
export class ApprovalService {
  constructor(
    private readonly options: {
      store: ApprovalStore;
      promotions: PromotionStore;
      policy: ApprovalPolicy;
      directory: ApproverDirectory;
      engine: () => ApprovedPromotions;
      permissions: PermissionsService;
      events: PromotionEvents;
      environments: EnvironmentDefinition[];
      logger: LoggerService;
    },
  ) {}

  private async allowed(
    entity: EntityContext,
    credentials: BackstageCredentials,
  ): Promise<boolean> {
    const [decision] = await this.options.permissions.authorize(
      [
        {
          permission: promotionApprovePermission,
          resourceRef: entity.entityRef,
        },
      ],
      { credentials },
    );
    return decision.result === AuthorizeResult.ALLOW;
  }

  private async authorize(
    entity: EntityContext,
    ctx: WriteContext,
    what: string,
  ) {
    if (!(await this.allowed(entity, ctx.credentials))) {
      throw new NotAllowedError(
        `${ctx.actor.entityRef} may not ${what} promotions of ${entity.entityRef} (permission ${promotionApprovePermission.name})`,
      );
    }
  }

  private async requirementOf(record: PromotionRecord) {
    const requirement = await this.options.store.requirement(record.id);
    if (!requirement) {
      throw new ConflictError(
        `Promotion ${record.id} needs no approvals: ${record.environment} had no approval policy for it`,
      );
    }
    return requirement;
  }

  private severity(environment: string) {
    return this.options.environments.find(e => e.name === environment)
      ?.production
      ? ('high' as const)
      : ('medium' as const);
  }

  /** The `approver` check of `userRef` on `record`, with the members it was checked against. */
  private async approverCheck(
    userRef: string,
    record: PromotionRecord,
    context: ApprovalContext,
  ) {
    const { directory } = this.options;
    const [approver, members] = await Promise.all([
      directory.identity(userRef),
      directory.members(context.owners),
    ]);
    return approverRule({
      approver,
      requestedBy: record.requestedBy,
      authors: context.authors,
      members: members.map(m => m.entityRef),
      owners: context.owners,
    });
  }

  /** The approvals of a promotion, with what the caller may do. */
  async view(
    entity: EntityContext,
    id: string,
    who: { credentials: BackstageCredentials; entityRef: string },
  ): Promise<ApprovalsView> {
    const record = await this.options.promotions.require(entity.entityRef, id);
    const requirement = await this.requirementOf(record);
    const [decisions, eligible, check, allowed] = await Promise.all([
      this.options.store.decisions(id),
      this.options.policy.eligibleFor(entity, {
        requestedBy: record.requestedBy,
        context: requirement.context,
      }),
      this.approverCheck(who.entityRef, record, requirement.context),
      this.allowed(entity, who.credentials),
    ]);
    const mine = decisions.find(d => d.approver === who.entityRef);
    let reason = check.reason;
    if (!allowed) {
      reason = `${who.entityRef} lacks the ${promotionApprovePermission.name} permission`;
    } else if (record.status !== 'awaiting-approval') {
      reason = `the promotion is ${record.status}: it no longer awaits approvals`;
    }
    return {
      promotion: record,
      required: requirement.required,
      approvedBy: approvalTally(decisions, requirement.required, eligible)
        .approvedBy,
      eligibleApprovers: eligible,
      decisions,
      you: {
        canDecide:
          allowed && check.passed && record.status === 'awaiting-approval',
        reason,
        decision: mine?.decision ?? null,
      },
    };
  }

  /**
   * Checks that the caller may decide on the promotion now: permission (403), still awaiting
   * (409), and the approver rules (403 with the `approver` check). A refusal is audited.
   */
  private async checkDecider(
    entity: EntityContext,
    id: string,
    ctx: WriteContext,
    eventId: string,
  ) {
    const record = await this.options.promotions.require(entity.entityRef, id);
    const requirement = await this.requirementOf(record);
    const meta = {
      entityRef: entity.entityRef,
      environment: record.environment,
      sha: record.sha,
      version: record.version,
      promotionId: record.id,
    };
    try {
      await this.authorize(entity, ctx, 'decide on');
      const check = await this.approverCheck(
        ctx.actor.entityRef,
        record,
        requirement.context,
      );
      if (!check.passed) throw new ApproverRefusedError(check);
    } catch (error) {
      await this.options.events.refused(eventId, ctx, {
        severityLevel: this.severity(record.environment),
        meta,
        error: error as Error,
      });
      throw error;
    }
    return { record, requirement, meta };
  }

  private notAwaiting(record: PromotionRecord): ConflictError {
    return new ConflictError(
      `Promotion ${record.id} no longer awaits approvals: it is ${
        record.status
      }${record.error ? ` (${record.error})` : ''}`,
    );
  }

  /** Records the caller's approval, and carries the promotion on when it completes the count. */
  async approve(
    entity: EntityContext,
    id: string,
    input: { comment?: string },
    ctx: WriteContext,
  ): Promise<ApprovalsView> {
    const { events } = this.options;
    const decided = await this.recordDecision(
      entity,
      id,
      ctx,
      'approved',
      input.comment,
    );
    const who = decided.who;
    if (decided.done) return this.view(entity, id, who);
    const { record, meta, created } = decided;
    if (created) {
      const event = await events.audit('promotion-approve', ctx, {
        severityLevel: this.severity(record.environment),
        meta: { ...meta, comment: input.comment ?? null },
      });
      await event.success();
    }
    await this.proceedIfComplete(entity, record, ctx);
    await events.changed(entity, record.environment);
    return this.view(entity, id, who);
  }

  /**
   * The part approving and rejecting share: the decider's check (refusals audited), the status
   * guard (a repeat of the same decision after the promotion moved on answers what it came to),
   * and the recorded decision, which must not contradict the caller's earlier one.
   */
  private async recordDecision(
    entity: EntityContext,
    id: string,
    ctx: WriteContext,
    decision: 'approved' | 'rejected',
    comment: string | undefined,
  ) {
    const { store } = this.options;
    const { record, meta } = await this.checkDecider(
      entity,
      id,
      ctx,
      decision === 'approved' ? 'promotion-approve' : 'promotion-reject',
    );
    const who = {
      credentials: ctx.credentials,
      entityRef: ctx.actor.entityRef,
    };
    if (record.status !== 'awaiting-approval') {
      const mine = (await store.decisions(id)).find(
        d => d.approver === ctx.actor.entityRef,
      );
      if (mine?.decision === decision) return { done: true as const, who };
      throw this.notAwaiting(record);
    }
    const { created, row } = await store.decide(
      id,
      ctx.actor.entityRef,
      decision,
      comment ?? null,
    );
    if (row.decision !== decision) {
      const earlier = row.decision === 'approved' ? 'approval' : 'rejection';
      throw new ConflictError(
        `${ctx.actor.entityRef} ${row.decision} promotion ${id} already; withdraw the ${earlier} first`,
      );
    }
    return { done: false as const, who, record, meta, created };
  }

  /** Rejects the promotion: it ends failed at its approval step; nothing upstream changed. */
  async reject(
    entity: EntityContext,
    id: string,
    input: { comment?: string },
    ctx: WriteContext,
  ): Promise<ApprovalsView> {
    const { store, events } = this.options;
    const decided = await this.recordDecision(
      entity,
      id,
      ctx,
      'rejected',
      input.comment,
    );
    const who = decided.who;
    if (decided.done) return this.view(entity, id, who);
    const { record, meta } = decided;
    const detail = `rejected by ${ctx.actor.entityRef}${
      input.comment ? `: ${input.comment}` : ''
    }`;
    const event = await events.audit('promotion-reject', ctx, {
      severityLevel: this.severity(record.environment),
      meta: { ...meta, comment: input.comment ?? null },
    });
    if (await store.reject(id, detail)) {
      await event.success();
      await events.changed(
        { ...entity, owners: [record.requestedBy, ...entity.owners] },
        record.environment,
        {
          title: `${ctx.actor.name} rejected ${entity.entityRef} ${record.version} to ${record.environment}`,
          description: `${short(record.sha)} will not be promoted: ${detail}`,
          severity: 'normal',
        },
      );
    } else {
      // It moved on meanwhile: the rejection came too late and counts for nothing.
      await store.withdraw(id, ctx.actor.entityRef);
      const error = this.notAwaiting(
        await this.options.promotions.require(entity.entityRef, id),
      );
      await event.fail({ error });
      throw error;
    }
    return this.view(entity, id, who);
  }

  /** Withdraws the caller's approval or rejection while the promotion still awaits approvals. */
  async withdraw(
    entity: EntityContext,
    id: string,
    ctx: WriteContext,
  ): Promise<ApprovalsView> {
    const { store, events } = this.options;
    const record = await this.options.promotions.require(entity.entityRef, id);
    await this.requirementOf(record);
    await this.authorize(entity, ctx, 'withdraw approvals of');
    if (record.status !== 'awaiting-approval') throw this.notAwaiting(record);
    const withdrawn = await store.withdraw(id, ctx.actor.entityRef);
    if (!withdrawn) {
      throw new ConflictError(
        `${ctx.actor.entityRef} has no approval of promotion ${id} to withdraw`,
      );
    }
    const event = await events.audit('promotion-approval-withdraw', ctx, {
      severityLevel: this.severity(record.environment),
      meta: {
        entityRef: entity.entityRef,
        environment: record.environment,
        sha: record.sha,
        version: record.version,
        promotionId: record.id,
      },
    });
    await event.success();
    await events.changed(entity, record.environment);
    return this.view(entity, id, {
      credentials: ctx.credentials,
      entityRef: ctx.actor.entityRef,
    });
  }

  /**
   * Carries the promotion on when its approvals from eligible approvers reach the count. A
   * promotion another one holds the environment for stays awaiting (the sweep retries); any
   * other failure of the steps is the promotion's, recorded by the runner.
   */
  private async proceedIfComplete(
    entity: EntityContext,
    record: PromotionRecord,
    ctx: WriteContext,
  ): Promise<boolean> {
    const requirement = await this.requirementOf(record);
    const [decisions, eligible] = await Promise.all([
      this.options.store.decisions(record.id),
      this.options.policy.eligibleFor(entity, {
        requestedBy: record.requestedBy,
        context: requirement.context,
      }),
    ]);
    const tally = approvalTally(decisions, requirement.required, eligible);
    if (!tally.reached) return false;
    try {
      await this.options
        .engine()
        .proceedApproved(entity, record, ctx, () =>
          this.options.store.claim(
            record.id,
            `approved by ${tally.approvedBy.join(', ')}`,
          ),
        );
    } catch (error) {
      if ((error as Error)?.name !== 'ConflictError') throw error;
      this.options.logger.info(
        `Promotion ${
          record.id
        } has its approvals but cannot proceed yet: ${stringifyError(error)}`,
      );
      return false;
    }
    return true;
  }

  /**
   * Carries on every promotion whose approvals are complete but which did not proceed (the
   * environment was busy, or the process stopped between the last approval and the lock): run
   * on every replica; the claim makes sure one carries each on.
   */
  async sweep(
    resolveEntity: (entityRef: string) => Promise<EntityContext>,
    credentials: BackstageCredentials,
  ): Promise<{ awaiting: number; proceeded: number }> {
    const awaiting = await this.options.store.listAwaiting();
    let proceeded = 0;
    for (const { id, entityRef } of awaiting) {
      try {
        const entity = await resolveEntity(entityRef);
        const record = await this.options.promotions.require(entityRef, id);
        const ctx: WriteContext = {
          credentials,
          actor: requesterOf(record).actor,
        };
        if (await this.proceedIfComplete(entity, record, ctx)) proceeded++;
      } catch (error) {
        this.options.logger.warn(
          `Could not carry on approved promotion ${id} of ${entityRef}: ${stringifyError(
            error,
          )}`,
        );
      }
    }
    return { awaiting: awaiting.length, proceeded };
  }
}
