import crypto from 'node:crypto';
import {
  AuditorService,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import {
  AuthorizeResult,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { SignalsService } from '@backstage/plugin-signals-node';
import {
  EnvironmentDefinition,
  PromotionApiPaths,
  PromotionPlan,
  promotionFreezeOverridePermission,
  promotionPromotePermission,
  promotionPromoteProductionPermission,
  promotionRollbackPermission,
} from '@mainline/plugin-promotion-common';
import { AdapterResolver } from '../adapters';
import { PromotionRecord, PromotionStore } from '../database/PromotionStore';
import { YankStore } from '../database/YankStore';
import { LineageService } from '../lineage/LineageService';
import {
  RollbackInput,
  checkPromoteInput,
  environmentNamed,
} from '../service/requests';
import { WriteScope } from '../service/WriteScope';
import { refusalOf, summarize } from './checks';
import { dryRunPlan } from './dryRun';
import {
  EventActor,
  OutcomeMetrics,
  PromotionEvents,
  requesterOf,
} from './events';
import { ArtifactAt, FactReader, Facts } from './facts';
import { Follower } from './follower';
import { Idempotency, ReplayHandlers, requestHash } from './idempotency';
import { Reconciler } from './leases';
import {
  chooseReleaseTag,
  promotionRules,
  requireRunningInRule,
  short,
} from './rules';
import { promotionStepDetails } from './steps';
import { RuntimeVerification, runtimeSubject } from './steps/verify';
import { PlannedPromotion, StepRunner } from './StepRunner';
import { checkRollback, plannedRollback, verifyDetail } from './rollbackPlan';
import { AutoRollback } from './autoRollback';
import { FreezeOverride } from './policies';
import { PolicyReader } from './policyContext';
import { YankOutcome, YankService } from './YankService';
import { EntityContext, PolicyCheck, WriteContext } from './types';
import type { ApprovalGate } from './approvals/ApprovalPolicy';

export interface PromotionServiceOptions {
  adapters: AdapterResolver;
  store: PromotionStore;
  yanks: YankStore;
  lineage: LineageService;
  environments: EnvironmentDefinition[];
  mainBranch: string;
  annotatedTags: boolean;
  permissions: PermissionsService;
  /** What an entity may write: checked with every permission, before anything upstream. */
  writeScope: WriteScope;
  auditor: AuditorService;
  notifications?: NotificationService;
  signals?: SignalsService;
  logger: LoggerService;
  /** Told of every promotion's outcome (OpenTelemetry metrics). */
  metrics?: OutcomeMetrics;
  /**
   * The runtime observers: promotions of an entity one serves end with a verify step, and the
   * environments' `requireRunningIn` applies to it.
   */
  runtime?: RuntimeVerification;
  /** The environments' approval policies (`approvals/`): checked with the other rules. */
  approvals?: ApprovalGate;
  /** Soak, freeze windows and required checks (`policies.ts`); none checked when absent. */
  policies?: PolicyReader;
}

/** A promotion request, as the API takes it, with the request's Idempotency-Key. */
export type PromoteRequest =
  PromotionApiPaths['/v1/entities/{kind}/{namespace}/{name}/promotions']['post']['requestBody']['content']['application/json'] & {
    idempotencyKey?: string;
  };

/**
 * The write side, as one facade over its parts: request validation and permissions here; the
 * release rules (`rules.ts`) over the facts (`facts.ts`); the step runner with its lock, the steps
 * and the reconciler (`StepRunner.ts`, `steps/`, `leases.ts`); idempotency, dry-run plans, the
 * follower and yanks in their own files; and one event sink (`events.ts`) for what every write
 * tells the auditor, the owners, open tabs and the lineage cache. Every rule is checked before the
 * first side effect.
 */
export class PromotionService {
  private readonly facts: FactReader;
  private readonly events: PromotionEvents;
  private readonly runner: StepRunner;
  private readonly reconciler: Reconciler;
  private readonly follower: Follower;
  private readonly idempotency: Idempotency;
  private readonly yanks: YankService;

  constructor(private readonly options: PromotionServiceOptions) {
    this.facts = new FactReader({
      ...options,
      environments: options.environments.map(e => e.name),
    });
    this.events = new PromotionEvents(options);
    this.runner = new StepRunner({ ...options, events: this.events });
    this.reconciler = new Reconciler({ ...options, runner: this.runner });
    this.follower = new Follower({
      ...options,
      runner: this.runner,
      events: this.events,
      rollbacks: options.runtime
        ? new AutoRollback({
            ...options,
            runtime: options.runtime,
            facts: this.facts,
            runner: this.runner,
            events: this.events,
          })
        : undefined,
    });
    this.idempotency = new Idempotency(options.store);
    this.yanks = new YankService({
      ...options,
      facts: this.facts,
      events: this.events,
      authorize: (permission, entity, ctx, what) =>
        this.authorize(permission, entity, ctx, what),
    });
  }

  private environment(name: string): EnvironmentDefinition {
    return environmentNamed(this.options.environments, name);
  }

  private async authorize(
    permission: ResourcePermission,
    entity: EntityContext,
    ctx: WriteContext,
    what: string,
  ) {
    const [decision] = await this.options.permissions.authorize(
      [{ permission, resourceRef: entity.entityRef }],
      { credentials: ctx.credentials },
    );
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(
        `${ctx.actor.entityRef} may not ${what} ${entity.entityRef} (permission ${permission.name})`,
      );
    }
  }

  /** The full sha of a commit of the entity's repository, or a NotFoundError naming it. */
  commitOf(entity: EntityContext, requestedSha: string): Promise<string> {
    return this.facts.commitOf(entity, requestedSha);
  }

  /** What a monorepo commit built for a component (see `FactReader.artifactAt`). */
  artifactAt(
    entity: EntityContext,
    sha: string,
    environment: string,
  ): Promise<ArtifactAt> {
    return this.facts.artifactAt(entity, sha, environment);
  }

  /** Why the registry of the entity's artifacts would refuse `tag` (no request is made). */
  registryTagProblem(entity: EntityContext, tag: string): string | undefined {
    const adapters = this.options.adapters.forTarget(entity.target);
    const problem = adapters.artifacts.checkTag(adapters.artifactLocation, tag);
    return problem
      ? `${problem} at ${entity.target.artifactLocation}`
      : undefined;
  }

  /**
   * The checks of a promotion request that need no upstream read: the router's parser runs them
   * first; a pushed tag or a scaffolder action, which come without one, are checked here.
   */
  checkPromoteRequest(request: PromoteRequest): EnvironmentDefinition {
    return checkPromoteInput(this.options.environments, request);
  }

  /** Checks the request and that the caller may promote to its environment. */
  async authorizePromote(
    entity: EntityContext,
    request: PromoteRequest,
    ctx: WriteContext,
  ): Promise<EnvironmentDefinition> {
    const environment = this.checkPromoteRequest(request);
    await this.authorize(
      environment.production
        ? promotionPromoteProductionPermission
        : promotionPromotePermission,
      entity,
      ctx,
      `promote to ${environment.name}`,
    );
    if (request.freezeOverride !== undefined) {
      // An emergency override names why, and only those who may override a freeze give one.
      if (!request.freezeOverride.reason?.trim()) {
        throw new InputError(
          'freezeOverride.reason: an emergency override of a freeze needs a reason',
        );
      }
      await this.authorize(
        promotionFreezeOverridePermission,
        entity,
        ctx,
        `override a freeze window to promote`,
      );
    }
    if (request.tag !== undefined) {
      // Tags git takes but the registry would refuse are refused before anything is asked.
      const problem = this.registryTagProblem(entity, request.tag);
      if (problem) throw new InputError(`tag "${request.tag}": ${problem}`);
    }
    // A dry run shows the verdict among its checks instead.
    if (!request.dryRun) {
      await this.options.writeScope.enforce(
        entity,
        {
          action: 'promote',
          environment: environment.name,
          sha: request.sha,
          tag: request.tag,
        },
        ctx,
      );
    }
    return environment;
  }

  /** Promotes a commit's artifact to an environment by a release tag (or plans it, for a dry run). */
  async promote(
    entity: EntityContext,
    request: PromoteRequest,
    ctx: WriteContext,
  ): Promise<PromotionRecord | PromotionPlan> {
    const environment = await this.authorizePromote(entity, request, ctx);
    return this.promoteAuthorized(entity, request, ctx, environment);
  }

  /**
   * A release tag a person pushed in GitHub, promoted like any other request: the same checks,
   * lock, audit, notifications and signals, and the tag step finds the tag on the commit and keeps
   * it. Who may push the tag is GitHub's to decide (its rulesets), so no Backstage permission is
   * asked; the write scope is checked as for every write. A refusal changes nothing upstream, is
   * recorded as a promotion failed at its checks (the promotions list shows it) and tells the
   * owners; `refused` carries the reason for the commit status.
   */
  async promotePushedTag(
    entity: EntityContext,
    request: { environment: string; sha: string; tag: string },
    ctx: WriteContext,
  ): Promise<{ promotion: PromotionRecord; refused?: string }> {
    const environment = this.checkPromoteRequest(request);
    try {
      await this.options.writeScope.enforce(
        entity,
        { action: 'promote', ...request },
        ctx,
      );
      const promotion = (await this.promoteAuthorized(
        entity,
        request,
        ctx,
        environment,
        { pushed: true },
      )) as PromotionRecord;
      return { promotion };
    } catch (error) {
      const name = (error as Error)?.name;
      if (
        ![
          'ConflictError',
          'NotAllowedError',
          'InputError',
          'NotFoundError',
        ].includes(name)
      ) {
        throw error;
      }
      const reason = (error as Error).message;
      const promotion = await this.options.store.recordRefused(
        {
          id: crypto.randomUUID(),
          entityRef: entity.entityRef,
          kind: 'promotion',
          environment: environment.name,
          sha: request.sha,
          tag: request.tag,
          tagAutomatic: false,
          version: request.tag,
          idempotencyKey: null,
          requestHash: requestHash('promotion', request),
          requestedBy: ctx.actor.entityRef,
        },
        reason,
      );
      await this.events.tell(entity, environment.name, {
        title: `Tag ${request.tag} did not promote ${entity.entityRef} to ${environment.name}`,
        description: `${ctx.actor.name} pushed ${request.tag} on ${short(
          request.sha,
        )}; refused, nothing changed: ${reason}`,
        severity: 'high',
      });
      return { promotion, refused: reason };
    }
  }

  private async promoteAuthorized(
    entity: EntityContext,
    request: PromoteRequest,
    ctx: WriteContext,
    environment: EnvironmentDefinition,
    how: { pushed?: boolean } = {},
  ): Promise<PromotionRecord | PromotionPlan> {
    const hash = requestHash('promotion', {
      environment: request.environment,
      sha: request.sha,
      tag: request.tag ?? null,
    });
    if (request.dryRun) {
      const scope = await this.options.writeScope.check(entity, {
        action: 'promote',
        environment: environment.name,
      });
      const { facts, checks, tag } = await this.promotionChecks(
        entity,
        request.sha,
        environment,
        request.tag,
        false,
        this.overrideOf(request, ctx),
      );
      const approval = await this.options.approvals?.requirement(
        entity,
        environment,
        facts.sha,
        ctx,
      );
      const plan = dryRunPlan('promotion', environment.name, facts, tag, tag, [
        scope,
        ...checks,
        ...(approval ? [approval.check] : []),
      ]);
      if (this.runner.steps.verify.applies(entity)) {
        plan.steps.push({
          name: 'verify',
          status: 'planned',
          detail: verifyDetail(environment.name, tag),
        });
      }
      return plan;
    }
    const previous = await this.previous(entity, request, hash, ctx);
    if (previous) return previous;
    return this.start(entity, environment.name, ctx, hash, async () => {
      const {
        facts,
        checks: rules,
        tag,
      } = await this.promotionChecks(
        entity,
        request.sha,
        environment,
        request.tag,
        how.pushed,
        this.overrideOf(request, ctx),
      );
      const approval = await this.options.approvals?.requirement(
        entity,
        environment,
        facts.sha,
        ctx,
      );
      const checks = approval ? [...rules, approval.check] : rules;
      await this.refuseOnFailure(entity, 'promote', environment.name, {
        sha: facts.sha,
        tag,
        checks,
        ctx,
        // A pushed tag's refusal tells the owners whatever the reason (promotePushedTag).
        notify: !how.pushed,
      });
      await this.freezeOverridden(entity, environment.name, checks, ctx, {
        sha: facts.sha,
        tag,
      });
      const details = promotionStepDetails(tag, facts.sha, environment.name);
      return {
        record: {
          kind: 'promotion' as const,
          sha: facts.sha,
          tag,
          tagAutomatic: request.tag === undefined,
          version: tag,
          idempotencyKey: request.idempotencyKey ?? null,
          ...(approval?.required
            ? {
                approval: {
                  required: approval.required,
                  context: approval.context,
                },
              }
            : {}),
        },
        steps: [
          { name: 'checks', status: 'succeeded', detail: summarize(checks) },
          ...(approval?.required
            ? [
                {
                  name: 'approval' as const,
                  status: 'pending' as const,
                  detail: approval.check.reason,
                },
              ]
            : []),
          { name: 'tag', status: 'pending', detail: details.tag },
          { name: 'retag', status: 'pending', detail: details.retag },
          { name: 'deploy', status: 'pending', detail: details.deploy },
          ...(this.runner.steps.verify.applies(entity)
            ? [
                {
                  name: 'verify' as const,
                  status: 'pending' as const,
                  detail: verifyDetail(environment.name, tag),
                },
              ]
            : []),
        ],
      };
    });
  }

  /**
   * Carries on a promotion whose approvals are complete, through the step runner like a retry:
   * the environment's lock first, then `claim` (the one conditional move from
   * `awaiting-approval` to `running`, so that of concurrent approvers and sweeps exactly one
   * carries on), then the steps. A commit yanked meanwhile ends it failed at `approval` instead;
   * nothing upstream has changed for it.
   */
  async proceedApproved(
    entity: EntityContext,
    record: PromotionRecord,
    ctx: WriteContext,
    claim: () => Promise<boolean>,
  ): Promise<PromotionRecord> {
    const { store } = this.options;
    // The steps act for the requester (tags and manifest commits name them); the auditor names
    // whoever's approval (or sweep) moved the promotion on.
    const who: EventActor = {
      actor: requesterOf(record).actor,
      request: ctx.request,
    };
    await this.options.writeScope.enforce(
      entity,
      {
        action: 'promote',
        environment: record.environment,
        sha: record.sha,
        tag: record.tag ?? undefined,
      },
      ctx,
    );
    await store.acquireLock(entity.entityRef, record.environment, record.id);
    try {
      if (!(await claim())) {
        await store.releaseLock(
          entity.entityRef,
          record.environment,
          record.id,
        );
        return store.require(entity.entityRef, record.id);
      }
    } catch (error) {
      await store.releaseLock(entity.entityRef, record.environment, record.id);
      throw error;
    }
    const running = await store.require(entity.entityRef, record.id);
    const yank = (
      await this.options.yanks.listForEntity(entity.entityRef)
    ).find(y => y.sha === record.sha);
    if (yank) {
      return this.runner.finish(entity, running, who, {
        step: 'approval',
        error: new ConflictError(
          `${short(record.sha)} was yanked by ${
            yank.yankedBy
          } while the promotion awaited approvals: ${yank.reason}`,
        ),
      });
    }
    return this.runner.execute(entity, running, who);
  }

  /** The emergency override a request gives, with who gives it (the permission was checked). */
  private overrideOf(
    request: PromoteRequest,
    ctx: WriteContext,
  ): FreezeOverride | undefined {
    return request.freezeOverride
      ? {
          reason: request.freezeOverride.reason.trim(),
          by: ctx.actor.entityRef,
        }
      : undefined;
  }

  /**
   * A promotion an emergency override let through an open freeze window: its own auditor event
   * (with the reason and the window) and the owners told, before the first side effect.
   */
  private async freezeOverridden(
    entity: EntityContext,
    environment: string,
    checks: PolicyCheck[],
    ctx: WriteContext,
    what: { sha: string; tag: string },
  ) {
    const freeze = checks.find(
      c => c.name === 'freeze' && c.data?.freezeOverridden,
    );
    if (!freeze) return;
    const event = await this.events.audit('promotion-freeze-override', ctx, {
      severityLevel: 'high',
      meta: {
        entityRef: entity.entityRef,
        environment,
        sha: what.sha,
        tag: what.tag,
        freezeWindow: freeze.data!.freezeWindow ?? null,
        frozenUntil: freeze.data!.frozenUntil ?? null,
        reason: freeze.reason,
      },
    });
    await event.success();
    await this.events.tell(entity, environment, {
      title: `Freeze ${freeze.data!.freezeWindow} overridden for ${
        entity.entityRef
      } in ${environment}`,
      description: `${ctx.actor.name} promotes ${what.tag} (${short(
        what.sha,
      )}) during the freeze: ${freeze.reason}`,
      severity: 'high',
    });
  }

  /** Reads the facts of a promotion and checks them against the rules and the policies. */
  private async promotionChecks(
    entity: EntityContext,
    requestedSha: string,
    environment: EnvironmentDefinition,
    requestedTag: string | undefined,
    pushed = false,
    override?: FreezeOverride,
  ) {
    if (environment.trigger.type !== 'tag') {
      throw new InputError(
        `${environment.name} is deployed by every merge to ${environment.trigger.branch}, not by a tag; use a rollback to re-point it`,
      );
    }
    const facts = await this.facts.read(entity, requestedSha);
    const tag =
      requestedTag ??
      chooseReleaseTag(
        facts.tags,
        environment.trigger.pattern,
        entity.target.versioning,
      );
    const checks = promotionRules({
      facts,
      environment,
      environments: this.options.environments,
      mainBranch: this.options.mainBranch,
      releaseBranches: entity.target.releaseBranches,
      scheme: entity.target.versioning,
      tag,
      registry: {
        problem: this.registryTagProblem(entity, tag),
        location: entity.target.artifactLocation,
      },
      deploy: await this.facts.deployVerdict(entity, environment.name, tag),
      pushed,
    });
    const running = await this.runningInCheck(entity, facts, environment);
    if (running) checks.push(running);
    if (this.options.policies) {
      // After the release rules, before any side effect; a pushed tag goes through them too.
      checks.push(
        ...(await this.options.policies.checks({
          entity,
          environment,
          facts,
          adapters: this.options.adapters.forTarget(entity.target),
          override,
        })),
      );
    }
    return { facts, checks, tag };
  }

  /**
   * The environment's `requireRunningIn`, for an entity whose runtime an observer serves: the
   * earlier environment is observed (one read, in the checks round, before any side effect).
   */
  private async runningInCheck(
    entity: EntityContext,
    facts: Facts,
    environment: EnvironmentDefinition,
  ) {
    const runtime = this.options.runtime;
    const requirement =
      runtime?.settings.environments[environment.name]?.requireRunningIn;
    if (!runtime || !requirement) return undefined;
    const subject = runtimeSubject(entity);
    const served = runtime.observerFor(subject);
    if (!served) return undefined;
    const observed = await served.observer.observe(subject, [
      requirement.environment,
    ]);
    return requireRunningInRule({
      facts,
      environment,
      requirement,
      runtime: observed[requirement.environment] ?? null,
      now: new Date(),
    });
  }

  /** Re-points an environment at an earlier artifact that still exists. */
  async rollback(
    entity: EntityContext,
    request: RollbackInput,
    ctx: WriteContext,
  ): Promise<PromotionRecord> {
    const environment = this.environment(request.environment);
    await this.authorize(
      promotionRollbackPermission,
      entity,
      ctx,
      `roll back ${environment.name} of`,
    );
    await this.options.writeScope.enforce(
      entity,
      {
        action: 'rollback',
        environment: environment.name,
        sha: request.sha,
        tag: request.tag,
      },
      ctx,
    );
    if (request.tag !== undefined) {
      // The request's own form was checked as it was parsed (exactly one of sha and tag, a tag
      // git takes); a tag the entity's registry refuses names nothing to roll back to either.
      const problem = this.registryTagProblem(entity, request.tag);
      if (problem) throw new InputError(`tag "${request.tag}": ${problem}`);
    }
    const hash = requestHash('rollback', {
      environment: request.environment,
      sha: request.sha ?? null,
      tag: request.tag ?? null,
    });
    const previous = await this.previous(entity, request, hash, ctx);
    if (previous) return previous;
    const adapters = this.options.adapters.forTarget(entity.target);
    let sha = request.sha;
    if (request.tag) {
      sha = await adapters.source.resolveCommit(
        entity.target.sourceRepo,
        request.tag,
      );
      if (!sha)
        throw new NotFoundError(
          `tag ${request.tag} does not exist in ${entity.target.sourceRepo}`,
        );
    }
    return this.start(entity, environment.name, ctx, hash, async () => {
      const checked = await checkRollback(
        this.facts,
        entity,
        environment,
        sha!,
        request.tag,
        this.options.mainBranch,
      );
      await this.refuseOnFailure(entity, 'rollback', environment.name, {
        sha: checked.facts.sha,
        tag: checked.version,
        checks: checked.checks,
        ctx,
      });
      return plannedRollback(checked, environment.name, {
        idempotencyKey: request.idempotencyKey ?? null,
        verify: this.runner.steps.verify.applies(entity)
          ? { detail: verifyDetail(environment.name, checked.version) }
          : undefined,
      });
    });
  }

  /**
   * A failed check refuses the write before anything upstream changes: the refusal is audited
   * (with the request, so the auditor names the caller), a missing artifact is told to the
   * owners, and the error carries every failed check with its data.
   */
  private async refuseOnFailure(
    entity: EntityContext,
    action: 'promote' | 'rollback',
    environment: string,
    refused: {
      sha: string;
      tag: string;
      checks: PolicyCheck[];
      ctx: WriteContext;
      notify?: boolean;
    },
  ) {
    const error = refusalOf(refused.checks);
    if (!error) return;
    const first = error.checks[0];
    this.events.refusedBy(
      environment,
      action === 'rollback' ? 'rollback' : 'promotion',
      first.name,
    );
    await this.events.refused(action, refused.ctx, {
      severityLevel: this.runner.severity(environment),
      meta: {
        entityRef: entity.entityRef,
        environment,
        sha: refused.sha,
        tag: refused.tag,
        check: first.name,
      },
      error,
      entity,
      notice:
        refused.notify !== false && first.name === 'artifact'
          ? {
              title: `Cannot ${action} ${entity.entityRef} to ${environment}: no artifact`,
              description: first.reason,
              severity: 'high',
            }
          : undefined,
    });
    throw error;
  }

  private async authorizeRetry(
    entity: EntityContext,
    record: PromotionRecord,
    ctx: WriteContext,
  ) {
    const environment = this.environment(record.environment);
    let permission = environment.production
      ? promotionPromoteProductionPermission
      : promotionPromotePermission;
    if (record.kind === 'rollback') permission = promotionRollbackPermission;
    await this.authorize(permission, entity, ctx, `retry a promotion of`);
    // The steps left act on what the entity names now, which may not be what it named then.
    await this.options.writeScope.enforce(
      entity,
      {
        action: record.kind === 'rollback' ? 'rollback' : 'promote',
        environment: record.environment,
        sha: record.sha,
        tag: record.tag ?? undefined,
      },
      ctx,
    );
  }

  /**
   * Runs a checked write with the step runner; a concurrent request that recorded the promotion
   * first (the same Idempotency-Key) is answered as a replay.
   */
  private async start(
    entity: EntityContext,
    environment: string,
    ctx: WriteContext,
    hash: string,
    plan: () => Promise<PlannedPromotion>,
  ): Promise<PromotionRecord> {
    const record = await this.runner.start(
      entity,
      environment,
      ctx,
      hash,
      plan,
      created =>
        this.idempotency.replay(
          created,
          hash,
          this.replayHandlers(entity, ctx),
        ),
    );
    if (record.status === 'awaiting-approval') {
      // Recorded and waiting: the approvers are told (see `approvals/`).
      await this.options.approvals?.awaiting(entity, record, ctx);
    }
    return record;
  }

  /** What an earlier request with the same Idempotency-Key came to, carried on. */
  private previous(
    entity: EntityContext,
    request: { idempotencyKey?: string },
    hash: string,
    ctx: WriteContext,
  ): Promise<PromotionRecord | undefined> {
    return this.idempotency.previous(
      entity.entityRef,
      request.idempotencyKey,
      hash,
      this.replayHandlers(entity, ctx),
    );
  }

  /** How a repeated request of `ctx` for `entity` carries on (see `Idempotency`). */
  private replayHandlers(
    entity: EntityContext,
    ctx: WriteContext,
  ): ReplayHandlers {
    return {
      retry: previous => this.retryRecord(entity, previous, ctx),
      recoverRunning: async previous => {
        await this.authorizeRetry(entity, previous, ctx);
        return this.reconciler.recoverCrashed(
          entity,
          previous,
          `Promotion ${previous.id} with this Idempotency-Key is still running`,
        );
      },
    };
  }

  /** Resumes a failed promotion from its failed step. */
  async retry(
    entity: EntityContext,
    id: string,
    ctx: WriteContext,
  ): Promise<PromotionRecord> {
    const record = await this.options.store.require(entity.entityRef, id);
    return this.retryRecord(entity, record, ctx);
  }

  private async retryRecord(
    entity: EntityContext,
    record: PromotionRecord,
    ctx: WriteContext,
  ): Promise<PromotionRecord> {
    const { store } = this.options;
    const id = record.id;
    await this.authorizeRetry(entity, record, ctx);
    if (record.status === 'succeeded') return record;
    if (record.status === 'awaiting-approval') {
      // Only the approvals move it on (POST .../approvals), never a retry.
      throw new ConflictError(
        `Promotion ${id} awaits approvals; nothing runs before they are in`,
      );
    }
    if (
      record.steps.some(s => s.name === 'approval' && s.status === 'failed')
    ) {
      throw new ConflictError(
        `Promotion ${id} was ${
          record.error ?? 'refused at its approvals'
        }; nothing is left to retry: promote ${short(record.sha)} again`,
      );
    }
    if (record.steps.some(s => s.name === 'checks' && s.status === 'failed')) {
      // A refused pushed tag: its checks would have to run again, which is a new promotion.
      throw new ConflictError(
        `Promotion ${id} was refused at its checks (${
          record.error
        }); nothing is left to retry: promote ${short(record.sha)} again`,
      );
    }
    if (record.status === 'running') {
      return this.reconciler.recoverCrashed(
        entity,
        record,
        `Promotion ${id} is still running`,
      );
    }
    await store.acquireLock(entity.entityRef, record.environment, record.id);
    try {
      const yank = (
        await this.options.yanks.listForEntity(entity.entityRef)
      ).find(y => y.sha === record.sha);
      if (yank) {
        throw new ConflictError(
          `${short(record.sha)} was yanked by ${yank.yankedBy} at ${
            yank.yankedAt
          } since this promotion failed: ${yank.reason}`,
        );
      }
      const adopter = record.tag ? await store.findAdopter(record) : undefined;
      if (adopter) {
        // Two promotions finishing with one tag would be two records claiming one release.
        throw new ConflictError(
          `Promotion ${adopter.id} adopted tag ${record.tag} since this promotion failed, and is ${adopter.status}; nothing is left to retry`,
        );
      }
      await store.setStatus(record.id, 'running', null);
    } catch (error) {
      await store.releaseLock(entity.entityRef, record.environment, record.id);
      throw error;
    }
    return this.runner.execute(entity, { ...record, status: 'running' }, ctx);
  }

  /**
   * Follows every promotion waiting for an external completion (review of a manifest pull
   * request, a deploy workflow run) and finishes those whose deploy is done (see `Follower`).
   */
  followWaiting(
    resolveEntity: (entityRef: string) => Promise<EntityContext>,
    options: { entityRef?: string; verifyOnly?: boolean } = {},
  ): Promise<{ followed: number; finished: number }> {
    return this.follower.followWaiting(resolveEntity, options);
  }

  /** Recovers running promotions whose worker stopped (see `Reconciler`). */
  recoverStalled(
    resolveEntity: (entityRef: string) => Promise<EntityContext>,
  ): Promise<{ stalled: number; recovered: number }> {
    return this.reconciler.recoverStalled(resolveEntity);
  }

  /** Deletes a commit's artifacts so it can never be promoted, and leaves a tombstone. */
  yank(
    entity: EntityContext,
    request: { sha: string; reason: string; force?: boolean },
    ctx: WriteContext,
  ): Promise<YankOutcome> {
    return this.yanks.yank(entity, request, ctx);
  }
}
