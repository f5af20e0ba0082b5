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
  stringifyError,
} from '@backstage/errors';
import {
  AuthorizeResult,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { SignalsService } from '@backstage/plugin-signals-node';
import {
  EnvironmentDefinition,
  VersioningScheme,
  checkTagName,
  checkVersionTagIsNewer,
  matchesTagPattern,
  nextReleaseTag,
  promotionPromotePermission,
  promotionPromoteProductionPermission,
  promotionRollbackPermission,
  promotionYankPermission,
} from '@mainline/plugin-promotion-common';
import { AdapterResolver, PromotionAdapters } from '../adapters';
import { Artifact, artifactMatchesCommit } from '../artifacts/ArtifactRegistry';
import {
  PromotionKind,
  PromotionRecord,
  PromotionStore,
  StepName,
} from '../database/PromotionStore';
import { Yank, YankStore } from '../database/YankStore';
import { Deployment } from '../deploy/DeploymentTarget';
import { LineageService } from '../lineage/LineageService';
import { SourceRef } from '../source/SourceControl';
import { WriteScope } from '../service/WriteScope';
import { EntityContext, PolicyCheck, WriteContext } from './types';

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
  metrics?: {
    promotionEnded(record: PromotionRecord): void;
    promotionRefused(environment: string, kind: string, check: string): void;
  };
}

export interface PromoteRequest {
  environment: string;
  sha: string;
  tag?: string;
  dryRun?: boolean;
  idempotencyKey?: string;
}

/** A dry run's answer: what would be done, and each check with its outcome. */
export interface PromotionPlan {
  dryRun: true;
  kind: PromotionKind;
  environment: string;
  sha: string;
  tag: string | null;
  version: string;
  checks: PolicyCheck[];
  steps: Array<{ name: StepName; status: 'planned'; detail: string }>;
}

/** An error that refuses a write, with the check that produced it. */
class Refusal {
  constructor(readonly check: PolicyCheck, readonly error: Error) {}
}

/** What every check of a promotion needs, read once in parallel. */
interface Facts {
  adapters: PromotionAdapters;
  sha: string;
  tags: SourceRef[];
  artifacts: Artifact[];
  deployments: Record<string, Deployment | undefined>;
  yank: Yank | undefined;
  onMain: boolean;
  releaseBranch: string | undefined;
}

const short = (sha: string) => sha.slice(0, 7);

/**
 * The tag a promotion chooses when none is given: the next `rc-*` or `v*` after every tag of
 * the pattern in the repository, so components sharing one repository count up together.
 */
function chooseReleaseTag(
  tags: SourceRef[],
  pattern: string,
  scheme: VersioningScheme,
): string {
  return nextReleaseTag(
    tags.filter(t => matchesTagPattern(t.name, pattern)).map(t => t.name),
    pattern.startsWith('rc') ? 'rc' : 'version',
    scheme,
  );
}

/** What the steps of a promotion by `tag` say they will do. */
function promotionStepDetails(tag: string, sha: string, environment: string) {
  return {
    tag: `create tag ${tag} on ${short(sha)}`,
    retag: `add ${tag} to the artifact of ${short(sha)}`,
    deploy: `point ${environment} at ${tag}`,
  };
}

/** What one step did, as its row shows it. */
interface StepOutcome {
  detail: string;
  url?: string;
  /** The step completes outside the request; the follower polls this reference. */
  pending?: string;
}

/**
 * The write side: promotions by tag, rollbacks and yanks. Every rule is checked before the first
 * side effect; every step is recorded before and after it runs, so a failure leaves the promotion
 * `failed` at that step and a retry resumes there; one promotion per entity and environment runs
 * at a time, guaranteed by a database lease that holds across replicas, and a promotion whose
 * worker died is recovered by the reconciler (`recoverStalled`) from what the upstreams show.
 */
/** The full sha a requested (full or short) sha resolved to, or a NotFoundError naming it. */
function knownCommit(
  repo: string,
  requestedSha: string,
  resolved: string | undefined,
): string {
  if (!resolved || !resolved.startsWith(requestedSha)) {
    throw new NotFoundError(`sha ${requestedSha} is not a commit of ${repo}`);
  }
  return resolved;
}

export class PromotionService {
  constructor(private readonly options: PromotionServiceOptions) {}

  private environment(name: string): EnvironmentDefinition {
    const environment = this.options.environments.find(e => e.name === name);
    if (!environment) {
      throw new InputError(
        `environment "${name}" is not one of ${this.options.environments
          .map(e => e.name)
          .join(', ')}`,
      );
    }
    return environment;
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

  /** Reads everything the rules look at, in one parallel round. */
  private async facts(
    entity: EntityContext,
    requestedSha: string,
  ): Promise<Facts> {
    const adapters = this.options.adapters.forTarget(entity.target);
    const repo = entity.target.sourceRepo;
    // A full sha is read in the same round as everything else (and confirmed by it); a short one
    // is resolved first.
    const resolving = adapters.source.resolveCommit(repo, requestedSha);
    const known = (resolved: string | undefined) =>
      knownCommit(repo, requestedSha, resolved);
    const sha = /^[0-9a-f]{40}$/.test(requestedSha)
      ? requestedSha
      : known(await resolving);
    const [resolved, reads] = await Promise.all([
      resolving,
      Promise.all([
        adapters.source.listTags(repo),
        adapters.artifacts.findArtifacts(adapters.artifactLocation, {
          commits: [sha],
        }),
        adapters.deployments.current(
          entity.target,
          this.options.environments.map(e => e.name),
        ),
        this.options.yanks.listForEntity(entity.entityRef),
        adapters.source.isOnBranch(repo, sha, this.options.mainBranch),
        entity.target.releaseBranches
          ? adapters.source.listBranches(repo, { prefix: 'release/' })
          : Promise.resolve([]),
      ]).then(
        values => ({ values }),
        (error: unknown) => ({ error }),
      ),
    ]);
    // An unknown commit is the answer, whatever else its reads ran into.
    known(resolved);
    if ('error' in reads) throw reads.error;
    const [tags, artifacts, deployments, yanks, onMain, releaseBranches] =
      reads.values;
    let releaseBranch: string | undefined;
    if (!onMain) {
      for (const branch of releaseBranches) {
        if (await adapters.source.isOnBranch(repo, sha, branch.name)) {
          releaseBranch = branch.name;
          break;
        }
      }
    }
    return {
      adapters,
      sha,
      tags,
      artifacts,
      deployments,
      yank: yanks.find(y => y.sha === sha),
      onMain,
      releaseBranch,
    };
  }

  private runsIn(
    facts: Pick<Facts, 'deployments' | 'tags'>,
    environment: string,
    sha: string,
  ): boolean {
    const deployment = facts.deployments[environment];
    if (!deployment) return false;
    if (deployment.sha) return deployment.sha === sha;
    if (facts.tags.some(t => t.name === deployment.version && t.sha === sha))
      return true;
    return (
      /^[0-9a-f]{7,40}$/.test(deployment.version) &&
      sha.startsWith(deployment.version)
    );
  }

  /** Where a commit is, for the "not on main" refusal. */
  private async whereIs(entity: EntityContext, facts: Facts): Promise<string> {
    const branches = await facts.adapters.source.listBranches(
      entity.target.sourceRepo,
    );
    const containing: string[] = [];
    for (const branch of branches) {
      if (
        await facts.adapters.source.isOnBranch(
          entity.target.sourceRepo,
          facts.sha,
          branch.name,
        )
      ) {
        containing.push(branch.name);
      }
    }
    return containing.length
      ? `it is on ${containing.join(', ')}`
      : 'it is on no branch';
  }

  /** The newest commit before `sha` (touching the component's folder) that has an artifact. */
  private async builtAncestor(
    entity: EntityContext,
    adapters: PromotionAdapters,
    sha: string,
  ): Promise<{ sha: string; back: number | undefined } | undefined> {
    const history = await adapters.source.listCommits(
      entity.target.sourceRepo,
      { ref: sha, limit: 100, path: entity.target.sourcePath },
    );
    const artifacts = await adapters.artifacts.findArtifacts(
      adapters.artifactLocation,
      { commits: history.map(c => c.sha).filter(c => c !== sha) },
    );
    const index = history.findIndex(
      c =>
        c.sha !== sha && artifacts.some(a => artifactMatchesCommit(a, c.sha)),
    );
    if (index < 0) return undefined;
    // With a folder filter the history skips commits, so the distance is not a count of commits.
    return {
      sha: history[index].sha,
      back: entity.target.sourcePath ? undefined : index,
    };
  }

  private async nearestBuiltAncestor(
    entity: EntityContext,
    facts: Facts,
  ): Promise<string> {
    const ancestor = await this.builtAncestor(
      entity,
      facts.adapters,
      facts.sha,
    );
    if (!ancestor) return 'no ancestor in the last 100 commits has an artifact';
    return `the nearest ancestor with an artifact is ${short(ancestor.sha)}${
      ancestor.back === undefined
        ? ''
        : `, ${ancestor.back} commit${ancestor.back === 1 ? '' : 's'} back`
    }`;
  }

  /** The full sha of a commit of the entity's repository, or a NotFoundError naming it. */
  async commitOf(entity: EntityContext, requestedSha: string): Promise<string> {
    const repo = entity.target.sourceRepo;
    return knownCommit(
      repo,
      requestedSha,
      await this.options.adapters
        .forTarget(entity.target)
        .source.resolveCommit(repo, requestedSha),
    );
  }

  /**
   * For a component of a monorepo: whether the commit `sha` (full) built an artifact for it, and
   * when not, which artifact (the nearest ancestor's) stands for it and whether `environment`
   * already runs that. Reads only (the artifact listing; the rest only when nothing was built);
   * nothing is audited or refused.
   */
  async artifactAt(
    entity: EntityContext,
    sha: string,
    environment: string,
  ): Promise<
    | { built: true }
    | {
        built: false;
        ancestor: string | null;
        running: boolean;
        message: string;
      }
  > {
    const adapters = this.options.adapters.forTarget(entity.target);
    const artifacts = await adapters.artifacts.findArtifacts(
      adapters.artifactLocation,
      { commits: [sha] },
    );
    if (artifacts.length > 0) return { built: true };
    const [ancestor, deployments, tags] = await Promise.all([
      this.builtAncestor(entity, adapters, sha),
      adapters.deployments.current(entity.target, [environment]),
      adapters.source.listTags(entity.target.sourceRepo),
    ]);
    const running = ancestor
      ? this.runsIn({ deployments, tags }, environment, ancestor.sha)
      : false;
    const where = entity.target.sourcePath
      ? ` (it changed nothing under ${entity.target.sourcePath})`
      : '';
    let stands = 'and no ancestor in the last 100 commits has one';
    if (ancestor) {
      stands = `the nearest ancestor's, ${short(ancestor.sha)}, ${
        running
          ? `is already in ${environment}`
          : `stands for it (${environment} runs ${
              deployments[environment]?.version ?? 'nothing'
            })`
      }`;
    }
    return {
      built: false,
      ancestor: ancestor?.sha ?? null,
      running,
      message: `unchanged: ${short(sha)} built no artifact${where}; ${stands}`,
    };
  }

  /** The checks shared by promotions and rollbacks; the first failure is the refusal. */
  private async commonChecks(
    entity: EntityContext,
    facts: Facts,
    environment: EnvironmentDefinition,
  ): Promise<Array<PolicyCheck | Refusal>> {
    const checks: Array<PolicyCheck | Refusal> = [];
    if (facts.onMain || facts.releaseBranch) {
      checks.push({
        name: 'on-main',
        passed: true,
        reason: facts.onMain
          ? `${short(facts.sha)} is on ${this.options.mainBranch}`
          : `${short(facts.sha)} is on ${
              facts.releaseBranch
            } (the release/* exception)`,
      });
    } else {
      const reason = `${short(facts.sha)} is not on ${this.options.mainBranch}${
        entity.target.releaseBranches ? ' or a release/* branch' : ''
      }: ${await this.whereIs(entity, facts)}`;
      checks.push(
        new Refusal(
          { name: 'on-main', passed: false, reason },
          new ConflictError(reason),
        ),
      );
    }
    if (facts.yank) {
      const reason = `${short(facts.sha)} was yanked by ${
        facts.yank.yankedBy
      } at ${facts.yank.yankedAt}: ${facts.yank.reason}`;
      checks.push(
        new Refusal(
          { name: 'not-yanked', passed: false, reason },
          new ConflictError(reason),
        ),
      );
    } else {
      checks.push({
        name: 'not-yanked',
        passed: true,
        reason: `${short(facts.sha)} is not yanked`,
      });
    }
    const artifact = facts.artifacts.find(a =>
      artifactMatchesCommit(a, facts.sha),
    );
    if (artifact) {
      checks.push({
        name: 'artifact',
        passed: true,
        reason: `artifact ${artifact.uri}`,
      });
    } else if (!facts.yank) {
      const reason = `${short(
        facts.sha,
      )} has no artifact (a docs-only commit, or its build was skipped); ${await this.nearestBuiltAncestor(
        entity,
        facts,
      )}`;
      checks.push(
        new Refusal(
          { name: 'artifact', passed: false, reason },
          new ConflictError(reason),
        ),
      );
    }
    if (this.runsIn(facts, environment.name, facts.sha)) {
      const reason = `${environment.name} already runs ${short(facts.sha)} (${
        facts.deployments[environment.name]?.version
      })`;
      checks.push(
        new Refusal(
          { name: 'not-deployed', passed: false, reason },
          new ConflictError(reason),
        ),
      );
    } else {
      checks.push({
        name: 'not-deployed',
        passed: true,
        reason: `${environment.name} runs ${
          facts.deployments[environment.name]?.version ?? 'nothing yet'
        }`,
      });
    }
    return checks;
  }

  private async promotionChecks(
    entity: EntityContext,
    facts: Facts,
    environment: EnvironmentDefinition,
    requestedTag: string | undefined,
    pushed = false,
  ): Promise<{ checks: Array<PolicyCheck | Refusal>; tag: string }> {
    if (environment.trigger.type !== 'tag') {
      throw new InputError(
        `${environment.name} is deployed by every merge to ${environment.trigger.branch}, not by a tag; use a rollback to re-point it`,
      );
    }
    const pattern = environment.trigger.pattern;
    const checks = await this.commonChecks(entity, facts, environment);
    const scheme = entity.target.versioning;
    const kind = pattern.startsWith('rc') ? 'rc' : 'version';
    const tag = requestedTag ?? chooseReleaseTag(facts.tags, pattern, scheme);
    checks.push(...this.tagNameChecks(entity, environment, tag));
    const existing = facts.tags.find(t => t.name === tag);
    const pushedVersionProblem =
      pushed && kind === 'version'
        ? checkVersionTagIsNewer(
            tag,
            facts.tags.filter(t => t.name !== tag).map(t => t.name),
            scheme,
          )
        : undefined;
    if (pushedVersionProblem) {
      // A person's tag is already there, but prod only moves forward.
      checks.push(
        new Refusal(
          { name: 'tag', passed: false, reason: pushedVersionProblem },
          new ConflictError(pushedVersionProblem),
        ),
      );
    } else if (existing && existing.sha === facts.sha) {
      // One tag releases every component built at that commit (a monorepo), and a tag an
      // earlier attempt created is kept: the tag step finds it in place.
      checks.push({
        name: 'tag',
        passed: true,
        reason: `${tag} already marks ${short(facts.sha)}`,
      });
    } else if (existing) {
      const reason = `tag ${tag} already exists on ${short(
        existing.sha,
      )}; tags are never moved`;
      checks.push(
        new Refusal(
          { name: 'tag', passed: false, reason },
          new ConflictError(reason),
        ),
      );
    } else if (kind === 'version') {
      const problem = checkVersionTagIsNewer(
        tag,
        facts.tags.map(t => t.name),
        scheme,
      );
      checks.push(
        problem
          ? new Refusal(
              { name: 'tag', passed: false, reason: problem },
              new ConflictError(problem),
            )
          : {
              name: 'tag',
              passed: true,
              reason: `${tag} is new and follows ${scheme}`,
            },
      );
    } else {
      checks.push({ name: 'tag', passed: true, reason: `${tag} is new` });
    }
    const requireBeenIn = environment.policy.requireBeenIn;
    if (requireBeenIn && facts.releaseBranch && environment.production) {
      // Steps 3b–5b: a release branch's commit goes to production by its v* tag, not via demo.
      checks.push({
        name: 'policy',
        passed: true,
        reason: `${short(facts.sha)} is on ${
          facts.releaseBranch
        }: the release/* exception goes to ${
          environment.name
        } by its tag, without ${requireBeenIn}`,
      });
    } else if (requireBeenIn) {
      const earlier = this.environment(requireBeenIn);
      const been =
        this.runsIn(facts, earlier.name, facts.sha) ||
        (earlier.trigger.type === 'tag' &&
          facts.tags.some(
            t =>
              t.sha === facts.sha &&
              matchesTagPattern(
                t.name,
                (earlier.trigger as { pattern: string }).pattern,
              ),
          )) ||
        (earlier.trigger.type === 'branch' && facts.onMain);
      const reason = been
        ? `${short(facts.sha)} has been in ${earlier.name}`
        : `policy: ${environment.name} takes only commits that have been in ${
            earlier.name
          }, and ${short(facts.sha)} has not`;
      checks.push(
        been
          ? { name: 'policy', passed: true, reason }
          : new Refusal(
              { name: 'policy', passed: false, reason },
              new ConflictError(reason),
            ),
      );
    }
    checks.push(await this.deployCheck(entity, facts, environment, tag));
    return { checks, tag };
  }

  /**
   * The release tag's name against git's ref rules, the environment's pattern and the tag rule of
   * the registry that will carry it: refused with a 400 before anything is written anywhere.
   */
  private tagNameChecks(
    entity: EntityContext,
    environment: EnvironmentDefinition,
    tag: string,
  ): Array<PolicyCheck | Refusal> {
    const pattern =
      environment.trigger.type === 'tag' ? environment.trigger.pattern : '*';
    const gitProblem =
      checkTagName(tag) ??
      (matchesTagPattern(tag, pattern)
        ? undefined
        : `does not match ${environment.name}'s pattern ${pattern}`);
    const registryProblem = this.registryTagProblem(entity, tag);
    const check = (name: string, problem: string | undefined, ok: string) =>
      problem
        ? new Refusal(
            { name, passed: false, reason: `tag "${tag}": ${problem}` },
            new InputError(`tag "${tag}": ${problem}`),
          )
        : { name, passed: true, reason: ok };
    return [
      check(
        'tag-name',
        gitProblem,
        `${tag} is a valid git tag and matches ${pattern}`,
      ),
      check(
        'registry-tag',
        registryProblem,
        `${tag} is a valid tag for ${entity.target.artifactLocation}`,
      ),
    ];
  }

  /** Why the registry of the entity's artifacts would refuse `tag` (no request is made). */
  registryTagProblem(entity: EntityContext, tag: string): string | undefined {
    const adapters = this.options.adapters.forTarget(entity.target);
    const problem = adapters.artifacts.checkTag(adapters.artifactLocation, tag);
    return problem
      ? `${problem} at ${entity.target.artifactLocation}`
      : undefined;
  }

  /** Whether the deploy can set the environment to `version`, asked of its adapter. */
  private async deployCheck(
    entity: EntityContext,
    facts: Facts,
    environment: EnvironmentDefinition,
    version: string,
  ): Promise<PolicyCheck | Refusal> {
    const deployments = facts.adapters.deployments;
    if (!deployments.checkDeploy) {
      return {
        name: 'deploy-target',
        passed: true,
        reason: `${environment.name} is deployed without a file to rewrite`,
      };
    }
    const result = await deployments.checkDeploy(entity.target, {
      environment: environment.name,
      version,
    });
    return result.passed
      ? { name: 'deploy-target', passed: true, reason: result.reason }
      : new Refusal(
          { name: 'deploy-target', passed: false, reason: result.reason },
          new ConflictError(result.reason),
        );
  }

  private requestHash(kind: PromotionKind, body: object): string {
    return crypto
      .createHash('sha256')
      .update(JSON.stringify({ kind, ...body }))
      .digest('hex');
  }

  /** The checks of a promotion request that need no upstream read: refused before any is made. */
  checkPromoteRequest(request: PromoteRequest): EnvironmentDefinition {
    const environment = this.environment(request.environment);
    if (request.tag !== undefined) {
      // Malformed tags are refused before anything upstream is asked.
      const problem = checkTagName(request.tag);
      if (problem) throw new InputError(`tag "${request.tag}": ${problem}`);
      if (
        environment.trigger.type === 'tag' &&
        !matchesTagPattern(request.tag, environment.trigger.pattern)
      ) {
        throw new InputError(
          `tag "${request.tag}" does not match ${environment.name}'s pattern ${environment.trigger.pattern}`,
        );
      }
    }
    if (environment.trigger.type !== 'tag') {
      throw new InputError(
        `${environment.name} is deployed by every merge to ${environment.trigger.branch}, not by a tag; use a rollback to re-point it`,
      );
    }
    return environment;
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
          requestHash: this.requestHash('promotion', request),
          requestedBy: ctx.actor.entityRef,
        },
        reason,
      );
      await this.notify(entity, {
        title: `Tag ${request.tag} did not promote ${entity.entityRef} to ${environment.name}`,
        description: `${ctx.actor.name} pushed ${request.tag} on ${short(
          request.sha,
        )}; refused, nothing changed: ${reason}`,
        severity: 'high',
      });
      await this.signal(entity, environment.name);
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
    const requestHash = this.requestHash('promotion', {
      environment: request.environment,
      sha: request.sha,
      tag: request.tag ?? null,
    });
    if (request.dryRun) {
      const scope = await this.options.writeScope.check(entity, {
        action: 'promote',
        environment: environment.name,
      });
      const facts = await this.facts(entity, request.sha);
      const { checks, tag } = await this.promotionChecks(
        entity,
        facts,
        environment,
        request.tag,
      );
      checks.unshift(scope);
      return this.plan('promotion', environment.name, facts, tag, tag, checks);
    }
    if (request.idempotencyKey) {
      const previous = await this.options.store.findByIdempotencyKey(
        entity.entityRef,
        request.idempotencyKey,
      );
      if (previous) return this.replay(entity, previous, requestHash, ctx);
    }
    return this.run(entity, environment.name, ctx, requestHash, async () => {
      const facts = await this.facts(entity, request.sha);
      const { checks, tag } = await this.promotionChecks(
        entity,
        facts,
        environment,
        request.tag,
        how.pushed,
      );
      await this.refuseOnFailure(
        entity,
        'promote',
        environment.name,
        facts.sha,
        tag,
        checks,
        ctx,
        // A pushed tag's refusal tells the owners whatever the reason (promotePushedTag).
        !how.pushed,
      );
      const details = promotionStepDetails(tag, facts.sha, environment.name);
      return {
        record: {
          kind: 'promotion' as const,
          sha: facts.sha,
          tag,
          tagAutomatic: request.tag === undefined,
          version: tag,
          idempotencyKey: request.idempotencyKey ?? null,
        },
        steps: [
          { name: 'checks', status: 'succeeded', detail: summarize(checks) },
          { name: 'tag', status: 'pending', detail: details.tag },
          { name: 'retag', status: 'pending', detail: details.retag },
          { name: 'deploy', status: 'pending', detail: details.deploy },
        ],
      };
    });
  }

  /** Re-points an environment at an earlier artifact that still exists. */
  async rollback(
    entity: EntityContext,
    request: {
      environment: string;
      sha?: string;
      tag?: string;
      idempotencyKey?: string;
    },
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
    if (!request.sha === !request.tag) {
      throw new InputError('give exactly one of sha and tag to roll back to');
    }
    if (request.tag !== undefined) {
      // A tag git or the registry refuses names nothing to roll back to: no need to ask.
      const problem =
        checkTagName(request.tag) ??
        this.registryTagProblem(entity, request.tag);
      if (problem) throw new InputError(`tag "${request.tag}": ${problem}`);
    }
    const requestHash = this.requestHash('rollback', {
      environment: request.environment,
      sha: request.sha ?? null,
      tag: request.tag ?? null,
    });
    if (request.idempotencyKey) {
      const previous = await this.options.store.findByIdempotencyKey(
        entity.entityRef,
        request.idempotencyKey,
      );
      if (previous) return this.replay(entity, previous, requestHash, ctx);
    }
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
    return this.run(entity, environment.name, ctx, requestHash, async () => {
      const facts = await this.facts(entity, sha!);
      const checks = await this.commonChecks(entity, facts, environment);
      let version = short(facts.sha);
      if (environment.trigger.type === 'tag') {
        const pattern = environment.trigger.pattern;
        const tag =
          request.tag && matchesTagPattern(request.tag, pattern)
            ? request.tag
            : facts.tags.find(
                t => t.sha === facts.sha && matchesTagPattern(t.name, pattern),
              )?.name;
        if (tag) {
          version = tag;
          checks.push({
            name: 'release-tag',
            passed: true,
            reason: `${short(facts.sha)} was released as ${tag}`,
          });
        } else {
          const reason = `${short(
            facts.sha,
          )} has no ${pattern} tag, so it was never in ${
            environment.name
          }: promote it instead`;
          checks.push(
            new Refusal(
              { name: 'release-tag', passed: false, reason },
              new ConflictError(reason),
            ),
          );
        }
      }
      checks.push(await this.deployCheck(entity, facts, environment, version));
      await this.refuseOnFailure(
        entity,
        'rollback',
        environment.name,
        facts.sha,
        version,
        checks,
        ctx,
      );
      return {
        record: {
          kind: 'rollback' as const,
          sha: facts.sha,
          tag: version === short(facts.sha) ? null : version,
          tagAutomatic: false,
          version,
          idempotencyKey: request.idempotencyKey ?? null,
        },
        steps: [
          { name: 'checks', status: 'succeeded', detail: summarize(checks) },
          {
            name: 'deploy',
            status: 'pending',
            detail: `point ${environment.name} back at ${version}`,
          },
        ],
      };
    });
  }

  /**
   * The shared shape of a promotion and a rollback: take the environment's lock, check and plan
   * (refusals throw before anything upstream changes), record the promotion with its steps, run
   * them. A concurrent request that won the insert with the same Idempotency-Key is replayed.
   */
  private async run(
    entity: EntityContext,
    environment: string,
    ctx: WriteContext,
    requestHash: string,
    plan: () => Promise<{
      record: Pick<
        PromotionRecord,
        'kind' | 'sha' | 'tag' | 'tagAutomatic' | 'version' | 'idempotencyKey'
      >;
      steps: Array<{
        name: StepName;
        status: 'succeeded' | 'pending';
        detail: string;
      }>;
    }>,
  ): Promise<PromotionRecord> {
    const id = crypto.randomUUID();
    await this.options.store.acquireLock(entity.entityRef, environment, id);
    // Reading the upstreams for the checks can outlast a lease; a lock with no promotion recorded
    // yet is only left alone while its lease is live.
    const lease = this.keepLease(entity.entityRef, environment, id);
    let record: PromotionRecord;
    try {
      const planned = await plan();
      const created = await this.options.store.create(
        {
          ...planned.record,
          id,
          entityRef: entity.entityRef,
          environment,
          requestHash,
          requestedBy: ctx.actor.entityRef,
        },
        planned.steps,
      );
      if (!created.created) {
        await this.options.store.releaseLock(entity.entityRef, environment, id);
        return this.replay(entity, created.promotion, requestHash, ctx);
      }
      record = created.promotion;
    } catch (error) {
      await this.options.store.releaseLock(entity.entityRef, environment, id);
      throw error;
    } finally {
      lease.stop();
    }
    return this.execute(entity, record, ctx);
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
   * A retry or replay of a promotion that says `running`: refused while its lease is live (its
   * worker is on it, or it waits for a review or a run); once the lease ran out its worker is gone,
   * and the caller gets the promotion recovered at once instead of waiting for the reconciler.
   */
  private async recoverCrashed(
    entity: EntityContext,
    record: PromotionRecord,
    stillRunning: string,
  ): Promise<PromotionRecord> {
    const lease = await this.options.store.lease(
      entity.entityRef,
      record.environment,
      record.id,
    );
    if (lease.live) throw new ConflictError(stillRunning);
    if (await this.options.store.claimExpired(record)) {
      return this.resume(entity, record);
    }
    // The reconciler (here or on another replica) got there first: answer what it comes to.
    const deadline = Date.now() + 2 * this.options.store.leaseMs;
    while (Date.now() < deadline) {
      const current = await this.options.store.require(
        entity.entityRef,
        record.id,
      );
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

  /** Resumes a failed promotion from its failed step. */
  async retry(
    entity: EntityContext,
    id: string,
    ctx: WriteContext,
  ): Promise<PromotionRecord> {
    const record = await this.options.store.require(entity.entityRef, id);
    await this.authorizeRetry(entity, record, ctx);
    if (record.status === 'succeeded') return record;
    if (record.steps.some(s => s.name === 'checks' && s.status === 'failed')) {
      // A refused pushed tag: its checks would have to run again, which is a new promotion.
      throw new ConflictError(
        `Promotion ${id} was refused at its checks (${
          record.error
        }); nothing is left to retry: promote ${short(record.sha)} again`,
      );
    }
    if (record.status === 'running') {
      return this.recoverCrashed(
        entity,
        record,
        `Promotion ${id} is still running`,
      );
    }
    await this.options.store.acquireLock(
      entity.entityRef,
      record.environment,
      record.id,
    );
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
      const adopter = record.tag
        ? await this.options.store.findAdopter(record)
        : undefined;
      if (adopter) {
        // Two promotions finishing with one tag would be two records claiming one release.
        throw new ConflictError(
          `Promotion ${adopter.id} adopted tag ${record.tag} since this promotion failed, and is ${adopter.status}; nothing is left to retry`,
        );
      }
      await this.options.store.setStatus(record.id, 'running', null);
    } catch (error) {
      await this.options.store.releaseLock(
        entity.entityRef,
        record.environment,
        record.id,
      );
      throw error;
    }
    return this.execute(entity, { ...record, status: 'running' }, ctx);
  }

  private async replay(
    entity: EntityContext,
    previous: PromotionRecord,
    requestHash: string,
    ctx: WriteContext,
  ): Promise<PromotionRecord> {
    if (previous.requestHash !== requestHash) {
      throw new ConflictError(
        `Idempotency-Key ${previous.idempotencyKey} was already used for a different request (promotion ${previous.id})`,
      );
    }
    if (previous.status === 'failed') {
      return this.retry(entity, previous.id, ctx);
    }
    if (previous.status === 'running') {
      await this.authorizeRetry(entity, previous, ctx);
      return this.recoverCrashed(
        entity,
        previous,
        `Promotion ${previous.id} with this Idempotency-Key is still running`,
      );
    }
    return previous;
  }

  private plan(
    kind: PromotionKind,
    environment: string,
    facts: Facts,
    tag: string | null,
    version: string,
    checks: Array<PolicyCheck | Refusal>,
  ): PromotionPlan {
    const artifact = facts.artifacts.find(a =>
      artifactMatchesCommit(a, facts.sha),
    );
    return {
      dryRun: true,
      kind,
      environment,
      sha: facts.sha,
      tag,
      version,
      checks: checks.map(c => (c instanceof Refusal ? c.check : c)),
      steps: [
        ...(tag
          ? [
              {
                name: 'tag' as const,
                status: 'planned' as const,
                detail: `create tag ${tag} on ${short(facts.sha)}`,
              },
            ]
          : []),
        ...(tag
          ? [
              {
                name: 'retag' as const,
                status: 'planned' as const,
                detail: artifact
                  ? `add ${tag} to ${artifact.uri} (digest ${artifact.digest} unchanged)`
                  : 'no artifact to tag',
              },
            ]
          : []),
        {
          name: 'deploy' as const,
          status: 'planned' as const,
          detail: `point ${environment} at ${version}`,
        },
      ],
    };
  }

  private async refuseOnFailure(
    entity: EntityContext,
    action: 'promote' | 'rollback',
    environment: string,
    sha: string,
    tag: string,
    checks: Array<PolicyCheck | Refusal>,
    ctx: WriteContext,
    notify = true,
  ) {
    const refusal = checks.find((c): c is Refusal => c instanceof Refusal);
    if (!refusal) return;
    await this.options.store.audit({
      actor: ctx.actor.entityRef,
      action,
      entityRef: entity.entityRef,
      environment,
      sha,
      tag,
      outcome: 'refused',
      detail: refusal.check.reason,
    });
    this.options.metrics?.promotionRefused(
      environment,
      action === 'rollback' ? 'rollback' : 'promotion',
      refusal.check.name,
    );
    if (notify && refusal.check.name === 'artifact') {
      await this.notify(entity, {
        title: `Cannot ${action} ${entity.entityRef} to ${environment}: no artifact`,
        description: refusal.check.reason,
        severity: 'high',
      });
    }
    throw refusal.error;
  }

  /**
   * Runs the steps that are not done yet, recording each before and after. A step whose adapter
   * completes it outside the request (a manifest pull request, a deploy workflow run) leaves the
   * promotion `running` with the lock held; `followWaiting` finishes it.
   */
  private async execute(
    entity: EntityContext,
    record: PromotionRecord,
    ctx: Pick<WriteContext, 'actor'>,
  ): Promise<PromotionRecord> {
    const adapters = this.options.adapters.forTarget(entity.target);
    const auditEvent = await this.options.auditor.createEvent({
      eventId: record.kind === 'rollback' ? 'rollback' : 'promote',
      severityLevel: this.environment(record.environment).production
        ? 'high'
        : 'medium',
      meta: this.auditMeta(entity, record),
    });
    let failure: { step: StepName; error: Error } | undefined;
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
        await this.options.store.setStep(
          record.id,
          step.name,
          'running',
          step.detail,
        );
        try {
          const outcome = await this.runStep(
            step.name,
            entity,
            record,
            adapters,
            ctx,
          );
          await pauseForCrashTest(step.name, record.id);
          if (outcome.pending) {
            await this.options.store.setStep(
              record.id,
              step.name,
              'running',
              outcome.detail,
              { url: outcome.url ?? null, pending: outcome.pending },
            );
            await auditEvent.success({
              meta: { waitingFor: outcome.url ?? outcome.pending },
            });
            await this.options.lineage.invalidate(
              entity.entityRef,
              entity.target,
            );
            await this.signal(entity, record.environment);
            return this.options.store.require(entity.entityRef, record.id);
          }
          await this.options.store.setStep(
            record.id,
            step.name,
            'succeeded',
            outcome.detail,
            { url: outcome.url ?? null },
          );
        } catch (error) {
          await this.options.store.setStep(
            record.id,
            step.name,
            'failed',
            stringifyError(error),
          );
          failure = { step: step.name, error: error as Error };
          break;
        }
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
    return this.finish(entity, record, ctx, failure);
  }

  private auditMeta(entity: EntityContext, record: PromotionRecord) {
    return {
      entityRef: entity.entityRef,
      environment: record.environment,
      sha: record.sha,
      version: record.version,
      promotionId: record.id,
    };
  }

  /** Records the outcome, frees the environment, and tells the owners and open tabs. */
  private async finish(
    entity: Pick<EntityContext, 'entityRef' | 'owners'> &
      Partial<Pick<EntityContext, 'target'>>,
    record: PromotionRecord,
    ctx: Pick<WriteContext, 'actor'>,
    failure: { step: StepName; error: Error } | undefined,
  ): Promise<PromotionRecord> {
    const action = record.kind === 'rollback' ? 'rollback' : 'promote';
    let ended: boolean;
    try {
      ended = await this.options.store.end(
        record,
        failure ? 'failed' : 'succeeded',
        failure ? `${failure.step}: ${stringifyError(failure.error)}` : null,
      );
    } finally {
      await this.options.lineage.invalidate(entity.entityRef, entity.target);
    }
    // Whoever ended it first told everyone; a second finisher (a concurrent follower) says nothing.
    if (!ended) return this.options.store.require(entity.entityRef, record.id);
    await this.options.store.audit({
      actor: ctx.actor.entityRef,
      action,
      entityRef: entity.entityRef,
      environment: record.environment,
      sha: record.sha,
      tag: record.tag ?? undefined,
      outcome: failure ? 'failed' : 'succeeded',
      detail: failure ? `${failure.step}: ${failure.error.message}` : undefined,
      promotionId: record.id,
    });
    const verb = record.kind === 'rollback' ? 'Rolled back' : 'Promoted';
    await this.notify(entity, {
      title: failure
        ? `${record.kind === 'rollback' ? 'Rollback' : 'Promotion'} of ${
            entity.entityRef
          } to ${record.environment} failed at ${failure.step}`
        : `${verb} ${entity.entityRef}: ${record.environment} runs ${record.version}`,
      description: failure
        ? stringifyError(failure.error)
        : `${short(record.sha)} by ${ctx.actor.name}`,
      severity: failure ? 'high' : 'normal',
    });
    await this.signal(entity, record.environment);
    const done = await this.options.store.require(entity.entityRef, record.id);
    this.options.metrics?.promotionEnded(done);
    return done;
  }

  /**
   * Follows every promotion waiting for an external completion (review of a manifest pull
   * request, a deploy workflow run): refreshes its lock, and once the adapter reports the deploy
   * done, finishes the promotion as if the step had completed in the request. Safe to run on every
   * replica at once and for every redelivered webhook: moving the step on is a conditional update
   * only one of them wins.
   */
  async followWaiting(
    resolveEntity: (entityRef: string) => Promise<EntityContext>,
    options: { entityRef?: string } = {},
  ): Promise<{ followed: number; finished: number }> {
    const waiting = (await this.options.store.listWaiting()).filter(
      r => !options.entityRef || r.entityRef === options.entityRef,
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
    const step = record.steps.find(s => s.pending);
    if (!step?.pending) return false;
    const owned =
      (await this.options.store.touchLock(
        record.entityRef,
        record.environment,
        record.id,
      )) || (await this.options.store.claimExpired(record));
    if (!owned) return false;
    const entity = await resolveEntity(record.entityRef);
    const { deployments } = this.options.adapters.forTarget(entity.target);
    if (!deployments.followUp) {
      throw new Error(
        `the deployment adapter of ${record.entityRef} cannot follow ${step.pending}`,
      );
    }
    const progress = await deployments.followUp(entity.target, step.pending);
    if (progress.state === 'pending') {
      if (progress.detail !== step.detail || progress.url !== step.url) {
        await this.options.store.setStep(
          record.id,
          step.name,
          'running',
          progress.detail,
          { url: progress.url ?? step.url, pending: step.pending },
        );
      }
      return false;
    }
    // Exactly one follower (replica, webhook, redelivery) moves the step on; the others stop here.
    const claimed = await this.options.store.completeWaitingStep(
      record.id,
      step.name,
      step.pending,
      progress.state,
      progress.detail,
      progress.url ?? step.url,
    );
    if (!claimed) return false;
    const ctx = this.requesterContext(record);
    const auditEvent = await this.options.auditor.createEvent({
      eventId: 'deploy-completed',
      severityLevel: this.environment(record.environment).production
        ? 'high'
        : 'medium',
      meta: { ...this.auditMeta(entity, record), url: progress.url },
    });
    if (progress.state === 'failed') {
      const error = new Error(progress.detail);
      await auditEvent.fail({ error });
      await this.finish(entity, record, ctx, { step: step.name, error });
      return true;
    }
    await auditEvent.success();
    const rest = await this.options.store.require(record.entityRef, record.id);
    if (rest.steps.some(s => s.status !== 'succeeded')) {
      await this.execute(entity, rest, ctx);
    } else {
      await this.finish(entity, rest, ctx, undefined);
    }
    return true;
  }

  /** The follower and the reconciler act for whoever asked; every permission was checked then. */
  private requesterContext(
    record: PromotionRecord,
  ): Pick<WriteContext, 'actor'> {
    return {
      actor: {
        entityRef: record.requestedBy,
        name: record.requestedBy,
        email: '',
      },
    };
  }

  /**
   * Renews a promotion's lease every third of its length while this instance works on it. `lost`
   * turns true once another instance has claimed it (this one could not renew it in time).
   */
  private keepLease(entityRef: string, environment: string, id: string) {
    let lost = false;
    const timer = setInterval(() => {
      this.options.store.renewLease(entityRef, environment, id).then(
        held => {
          if (!held) lost = true;
        },
        error =>
          this.options.logger.warn(
            `Could not renew the lease of promotion ${id}: ${stringifyError(
              error,
            )}`,
          ),
      );
    }, Math.max(100, Math.floor(this.options.store.leaseMs / 3)));
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
   * database, so its lease ran out) and recovers each on whichever replica claims it first. Run on
   * start and periodically; safe on several replicas at once and idempotent.
   */
  async recoverStalled(
    resolveEntity: (entityRef: string) => Promise<EntityContext>,
  ): Promise<{ stalled: number; recovered: number }> {
    const stalled = await this.options.store.listStalled();
    let recovered = 0;
    for (const record of stalled) {
      try {
        if (!(await this.options.store.claimExpired(record))) continue;
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
        this.options.logger.info(
          `Recovering promotion ${record.id} of ${record.entityRef} to ${record.environment}, whose worker stopped`,
        );
        await this.resume(entity, record);
        recovered++;
      } catch (error) {
        // Left claimed: the claim's lease runs out and the next round tries again.
        this.options.logger.warn(
          `Could not recover promotion ${record.id} of ${
            record.entityRef
          }: ${stringifyError(error)}`,
        );
      }
    }
    return { stalled: stalled.length, recovered };
  }

  private async finishUnresolvable(record: PromotionRecord, error: Error) {
    const step =
      record.steps.find(s => s.status !== 'succeeded')?.name ?? 'checks';
    const reason = new Error(
      `recovery after the worker stopped: ${stringifyError(error)}`,
    );
    await this.options.store.setStep(record.id, step, 'failed', reason.message);
    await this.finish(
      { entityRef: record.entityRef, owners: [] },
      record,
      this.requesterContext(record),
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
    const ctx = this.requesterContext(record);
    if (record.steps.some(s => s.status === 'running' && s.pending)) {
      // Its pull request or run is still open: the lease stays taken and the follower finishes it.
      await this.options.store.touchLock(
        record.entityRef,
        record.environment,
        record.id,
      );
      return record;
    }
    const adapters = this.options.adapters.forTarget(entity.target);
    const lease = this.keepLease(
      entity.entityRef,
      record.environment,
      record.id,
    );
    const steps = record.steps.map(s => ({ ...s }));
    let conflict: { step: StepName; error: Error } | undefined;
    try {
      for (const step of steps) {
        if (step.status === 'succeeded') continue;
        const found = await this.upstreamState(
          step.name,
          entity,
          record,
          adapters,
        );
        if (found.state === 'todo') break;
        if (found.state === 'conflict') {
          await this.options.store.setStep(
            record.id,
            step.name,
            'failed',
            found.detail,
          );
          conflict = {
            step: step.name,
            error: new ConflictError(found.detail),
          };
          break;
        }
        await this.options.store.setStep(
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
    if (conflict) return this.finish(entity, record, ctx, conflict);
    return this.execute(entity, { ...record, steps }, ctx);
  }

  /** Whether a step's change is already in the upstream, as a recovery reads it. */
  private async upstreamState(
    step: StepName,
    entity: EntityContext,
    record: PromotionRecord,
    adapters: PromotionAdapters,
  ): Promise<{ state: 'done' | 'todo' | 'conflict'; detail: string }> {
    const repo = entity.target.sourceRepo;
    switch (step) {
      case 'tag': {
        const tag = (await adapters.source.listTags(repo)).find(
          t => t.name === record.tag,
        );
        if (!tag) return { state: 'todo', detail: `no tag ${record.tag}` };
        if (tag.sha !== record.sha) {
          return {
            state: 'conflict',
            detail: `tag ${record.tag} marks ${short(tag.sha)}, not ${short(
              record.sha,
            )}; tags are never moved`,
          };
        }
        return {
          state: 'done',
          detail: `tag ${record.tag} is on ${short(record.sha)}`,
        };
      }
      case 'retag': {
        const artifact = await adapters.artifacts.getArtifact(
          adapters.artifactLocation,
          record.sha,
        );
        return artifact?.tags.includes(record.tag!)
          ? {
              state: 'done',
              detail: `${artifact.uri} carries ${record.tag}`,
            }
          : { state: 'todo', detail: `the artifact lacks ${record.tag}` };
      }
      case 'deploy': {
        const deployment = (
          await adapters.deployments.current(entity.target, [
            record.environment,
          ])
        )[record.environment];
        return deployment?.version === record.version
          ? {
              state: 'done',
              detail: `${record.environment} runs ${record.version}`,
            }
          : {
              state: 'todo',
              detail: `${record.environment} runs another version`,
            };
      }
      default:
        return { state: 'todo', detail: step };
    }
  }

  /**
   * A release tag that an unfinished promotion of the same entity and environment (running, or
   * failed and left so) already put on this commit becomes this promotion's tag: tagging again
   * would leave two release tags on one commit.
   */
  private async adoptUnfinishedTag(
    entity: EntityContext,
    record: PromotionRecord,
    adapters: PromotionAdapters,
  ): Promise<StepOutcome | undefined> {
    const others = (
      await this.options.store.listUnfinished(
        entity.entityRef,
        record.environment,
        record.sha,
      )
    ).filter(p => p.id !== record.id && p.tag && p.tag !== record.tag);
    if (others.length === 0) return undefined;
    const tags = await adapters.source.listTags(entity.target.sourceRepo);
    const onCommit = (name: string | null) =>
      tags.some(t => t.name === name && t.sha === record.sha);
    if (onCommit(record.tag)) return undefined;
    const adopted = others.find(p => onCommit(p.tag));
    if (!adopted?.tag) return undefined;
    await this.options.store.adoptTag(record.id, adopted.tag);
    record.tag = adopted.tag;
    record.version = adopted.tag;
    return {
      detail: `adopted tag ${adopted.tag}, which unfinished promotion ${
        adopted.id
      } put on ${short(record.sha)}`,
      url: adapters.source.webUrl(
        entity.target.sourceRepo,
        `releases/tag/${adopted.tag}`,
      ),
    };
  }

  private async runStep(
    step: StepName,
    entity: EntityContext,
    record: PromotionRecord,
    adapters: PromotionAdapters,
    ctx: Pick<WriteContext, 'actor'>,
  ): Promise<StepOutcome> {
    const repo = entity.target.sourceRepo;
    switch (step) {
      case 'checks':
        return { detail: 'passed' };
      case 'tag': {
        const adopted = await this.adoptUnfinishedTag(entity, record, adapters);
        if (adopted) return adopted;
        const { created, taken } = await this.createReleaseTag(
          entity,
          record,
          adapters,
          ctx,
        );
        return {
          detail: `${
            created
              ? `created tag ${record.tag} on ${short(record.sha)}`
              : `tag ${record.tag} was already on ${short(record.sha)}`
          }${
            taken.length
              ? ` (${taken.join(', ')} chosen first, taken meanwhile)`
              : ''
          }`,
          url: adapters.source.webUrl(repo, `releases/tag/${record.tag}`),
        };
      }
      case 'retag': {
        const artifact = await adapters.artifacts.addTag(
          adapters.artifactLocation,
          record.sha,
          record.tag!,
        );
        return {
          detail: `${artifact.uri} tagged ${record.tag}; digest ${artifact.digest} unchanged`,
        };
      }
      case 'deploy': {
        const result = await adapters.deployments.deploy(entity.target, {
          environment: record.environment,
          sha: record.sha,
          version: record.version,
          tag: record.tag ?? undefined,
          actor: ctx.actor,
          reason:
            record.kind === 'rollback'
              ? `Roll back ${record.environment} to ${record.version}`
              : `Promote ${short(record.sha)} as ${record.version}`,
          requestId: record.id,
        });
        return {
          detail: result.detail,
          url: result.url,
          pending: result.pending,
        };
      }
      default:
        throw new Error(`unknown step ${step}`);
    }
  }

  /**
   * Creates the promotion's release tag. A tag the promotion chose itself that another commit
   * took since its checks (another component of the repository promoted at the same time) is
   * chosen again, the next free one, and recorded with the details of the steps after it (in the
   * record passed along too, which the later steps read); a tag that was given is a conflict.
   */
  private async createReleaseTag(
    entity: EntityContext,
    record: PromotionRecord,
    adapters: PromotionAdapters,
    ctx: Pick<WriteContext, 'actor'>,
  ): Promise<{ created: boolean; taken: string[] }> {
    const repo = entity.target.sourceRepo;
    const taken: string[] = [];
    for (;;) {
      try {
        const { created } = await adapters.source.createTag(repo, {
          name: record.tag!,
          sha: record.sha,
          annotated: this.options.annotatedTags,
          message: `Promote ${short(record.sha)} to ${
            record.environment
          }\n\nRequested-by: ${ctx.actor.entityRef}`,
          tagger: { name: ctx.actor.name, email: ctx.actor.email },
        });
        return { created, taken };
      } catch (error) {
        if ((error as Error)?.name !== 'ConflictError') throw error;
        const tags = await adapters.source.listTags(repo);
        const holder = tags.find(t => t.name === record.tag);
        // Not taken by another commit (a ref in the way): choosing again would not help.
        if (!holder || holder.sha === record.sha) throw error;
        if (!record.tagAutomatic) {
          throw new ConflictError(
            `tag ${record.tag} was created on ${short(
              holder.sha,
            )} after this promotion's checks; tags are never moved: promote ${short(
              record.sha,
            )} again with another tag`,
          );
        }
        if (taken.length >= 5) throw error;
        const trigger = this.environment(record.environment).trigger;
        const next = chooseReleaseTag(
          tags,
          trigger.type === 'tag' ? trigger.pattern : 'rc-*',
          entity.target.versioning,
        );
        taken.push(record.tag!);
        const details = promotionStepDetails(
          next,
          record.sha,
          record.environment,
        );
        const later = Object.fromEntries(
          record.steps
            .filter(step => step.name !== 'checks' && step.name in details)
            .map(step => [
              step.name,
              details[step.name as keyof typeof details],
            ]),
        );
        await this.options.store.setReleaseTag(record.id, next, later);
        record.tag = next;
        record.version = next;
        for (const step of record.steps) {
          if (later[step.name]) step.detail = later[step.name];
        }
      }
    }
  }

  /** Deletes a commit's artifacts so it can never be promoted, and leaves a tombstone. */
  async yank(
    entity: EntityContext,
    request: { sha: string; reason: string; force?: boolean },
    ctx: WriteContext,
  ): Promise<{
    yank: Yank;
    deleted: Artifact | null;
    affectedEnvironments: string[];
    created: boolean;
  }> {
    await this.authorize(
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
    const reason = request.reason.trim();
    if (reason.length < 3) {
      throw new InputError(
        'reason must say why the commit is yanked (at least 3 characters)',
      );
    }
    const facts = await this.facts(entity, request.sha);
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
      .filter(name => this.runsIn(facts, name, facts.sha));
    if (affected.length > 0 && !request.force) {
      const message = `${short(facts.sha)} runs in ${affected.join(
        ', ',
      )}; roll ${
        affected.length > 1 ? 'them' : 'it'
      } back first, or yank with force to delete the artifact anyway`;
      await this.options.store.audit({
        actor: ctx.actor.entityRef,
        action: 'yank',
        entityRef: entity.entityRef,
        sha: facts.sha,
        outcome: 'refused',
        detail: message,
      });
      throw new ConflictError(message);
    }
    const auditEvent = await this.options.auditor.createEvent({
      eventId: 'yank',
      severityLevel: 'high',
      meta: {
        entityRef: entity.entityRef,
        sha: facts.sha,
        reason,
        force: Boolean(request.force),
      },
    });
    const yank: Yank = {
      entityRef: entity.entityRef,
      sha: facts.sha,
      yankedBy: ctx.actor.entityRef,
      reason,
      yankedAt: new Date().toISOString(),
    };
    let deleted: Artifact | undefined;
    try {
      // The tombstone first: if the delete fails, the commit is already refused for promotion
      // and a repeated yank finishes the delete.
      await this.options.yanks.record(yank);
      deleted = await facts.adapters.artifacts.deleteArtifact(
        facts.adapters.artifactLocation,
        facts.sha,
      );
    } catch (error) {
      await auditEvent.fail({ error: error as Error });
      await this.options.store.audit({
        actor: ctx.actor.entityRef,
        action: 'yank',
        entityRef: entity.entityRef,
        sha: facts.sha,
        outcome: 'failed',
        detail: stringifyError(error),
      });
      throw error;
    } finally {
      await this.options.lineage.invalidate(entity.entityRef, entity.target);
    }
    await auditEvent.success();
    await this.options.store.audit({
      actor: ctx.actor.entityRef,
      action: 'yank',
      entityRef: entity.entityRef,
      sha: facts.sha,
      outcome: 'succeeded',
      detail: `${reason}${deleted ? `; deleted ${deleted.uri}` : ''}${
        affected.length
          ? `; forced while running in ${affected.join(', ')}`
          : ''
      }`,
    });
    await this.notify(entity, {
      title: `Yanked ${short(facts.sha)} of ${entity.entityRef}`,
      description: `${reason} (by ${ctx.actor.name})${
        affected.length
          ? `. Still running in ${affected.join(', ')}: roll back.`
          : ''
      }`,
      severity: affected.length ? 'critical' : 'high',
    });
    await this.signal(entity, undefined);
    return {
      yank,
      deleted: deleted ?? null,
      affectedEnvironments: affected,
      created: true,
    };
  }

  private async notify(
    entity: Pick<EntityContext, 'entityRef' | 'owners'>,
    payload: {
      title: string;
      description: string;
      severity: 'critical' | 'high' | 'normal';
    },
  ) {
    if (!this.options.notifications || entity.owners.length === 0) return;
    const [kind, rest] = entity.entityRef.split(':');
    const [namespace, name] = rest.split('/');
    try {
      await this.options.notifications.send({
        recipients: { type: 'entity', entityRef: entity.owners },
        payload: {
          ...payload,
          topic: 'promotion',
          link: `/catalog/${namespace}/${kind}/${name}/environments`,
        },
      });
    } catch (error) {
      // A notification that cannot be delivered must not undo or fail a release.
      this.options.logger.warn(
        `Could not notify owners of ${entity.entityRef}: ${stringifyError(
          error,
        )}`,
      );
    }
  }

  private async signal(
    entity: Pick<EntityContext, 'entityRef'>,
    environment: string | undefined,
  ) {
    try {
      await this.options.signals?.publish({
        recipients: { type: 'broadcast' },
        channel: `promotion:${entity.entityRef}`,
        message: {
          entityRef: entity.entityRef,
          environment: environment ?? null,
        },
      });
    } catch (error) {
      this.options.logger.warn(
        `Could not signal open tabs of ${entity.entityRef}: ${stringifyError(
          error,
        )}`,
      );
    }
  }
}

/**
 * Test-only: with `MAINLINE_TEST_PAUSE_AFTER_STEP=<step>` in the environment the process stops
 * right after that step's upstream change and before it is recorded (`checks`: once the promotion
 * is recorded, before the tag), so a crash test can SIGKILL it exactly there; `<step>:<ms>` only
 * pauses that long (a database restart test lands in the gap). Unset, as in production, it does
 * nothing.
 */
async function pauseForCrashTest(step: StepName, id: string): Promise<void> {
  const [pausedStep, ms] = (
    process.env.MAINLINE_TEST_PAUSE_AFTER_STEP ?? ''
  ).split(':');
  if (pausedStep !== step) return;
  process.stdout.write(`MAINLINE_TEST_PAUSED ${step} ${id}\n`);
  await new Promise<void>(resolve => {
    if (ms) setTimeout(resolve, Number(ms));
  });
}

function summarize(checks: Array<PolicyCheck | Refusal>): string {
  return checks
    .map(c => (c instanceof Refusal ? c.check : c))
    .map(c => `${c.name}: ${c.reason}`)
    .join('; ');
}
