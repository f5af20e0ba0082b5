import { EnvironmentDefinition } from '@mainline/plugin-promotion-common';
import { AdapterResolver } from '../../adapters';
import { PromotionRecord } from '../../database/PromotionStore';
import { PromotionEvents } from '../events';
import { short } from '../rules';
import { EntityContext, PolicyCheck, WriteContext } from '../types';
import { ApproverDirectory } from './ApproverDirectory';
import { ApprovalStore } from './ApprovalStore';
import {
  Authors,
  approvalsRule,
  eligibleApprovers,
  requiredApprovals,
} from './rules';

/** What an approval-gated promotion records beside it (`approval_context`). */
export interface ApprovalContext {
  owners: string[];
  authors: Authors;
  /** Where the count came from (the policy, or the annotation of the component or System). */
  source: string;
}

/** What the approval policy asks of a promotion: the check, and what to record with it. */
export interface ApprovalRequirement {
  check: PolicyCheck;
  /** 0 when the check failed (nothing is recorded then). */
  required: number;
  /** JSON of an `ApprovalContext`. */
  context: string;
}

/** The part of the approvals the promotion engine calls: in the checks round, and once recorded. */
export interface ApprovalGate {
  /** The `approvals` check of a promotion, or undefined when the environment needs none. */
  requirement(
    entity: EntityContext,
    environment: EnvironmentDefinition,
    sha: string,
    ctx: WriteContext,
  ): Promise<ApprovalRequirement | undefined>;
  /** A promotion was recorded awaiting approvals: the approvers are told. */
  awaiting(
    entity: EntityContext,
    record: PromotionRecord,
    ctx: WriteContext,
  ): Promise<void>;
}

/** `Merge pull request #12 from octocat/branch`: the login of the pull request's head owner. */
const MERGE_SUBJECT = /^Merge pull request #\d+ from ([A-Za-z0-9-]+)\//;

/**
 * The approval policy of each environment, over the catalog (owner groups with nested groups,
 * the annotations of the component and its Systems) and the commit (its authors). Reads only;
 * `ApprovalService` records decisions.
 */
export class ApprovalPolicy implements ApprovalGate {
  constructor(
    private readonly options: {
      directory: ApproverDirectory;
      adapters: AdapterResolver;
      events: Pick<PromotionEvents, 'tell'>;
      store: ApprovalStore;
    },
  ) {}

  /** How many approvals a promotion of `entity` to `environment` needs, and from where. */
  async required(
    entity: EntityContext,
    environment: EnvironmentDefinition,
  ): Promise<{ count: number; source: string } | { check: PolicyCheck }> {
    const { directory } = this.options;
    const [component, ...systems] = await Promise.all([
      directory.annotationsOf(entity.entityRef),
      ...(entity.systems ?? []).map(async ref => ({
        ref,
        annotations: await directory.annotationsOf(ref),
      })),
    ]);
    return requiredApprovals({
      environment: environment.name,
      configured: environment.policy.approvals?.count,
      component: component as Record<string, string> | undefined,
      systems: systems as Array<{
        ref: string;
        annotations: Record<string, string> | undefined;
      }>,
    });
  }

  /**
   * Who wrote what the commit ships: its author, and for a merge commit the author of the merged
   * head and the login GitHub's merge subject names; and where the source control can say (GitHub),
   * who opened the pull requests associated with the commit — one more request, made only here,
   * in the checks round of a promotion that needs approvals.
   */
  async authors(entity: EntityContext, sha: string): Promise<Authors> {
    const { source } = this.options.adapters.forTarget(entity.target);
    const repo = entity.target.sourceRepo;
    const [[commit], pulls] = await Promise.all([
      source.listCommits(repo, { ref: sha, limit: 1 }),
      source.listCommitPullRequests?.(repo, sha) ?? [],
    ]);
    if (!commit) return {};
    const authors: Authors = { commit: commit.author };
    const openedBy = pulls.flatMap(pull =>
      pull.authorLogin
        ? [{ number: pull.number, login: pull.authorLogin }]
        : [],
    );
    if (openedBy.length > 0) authors.pullRequests = openedBy;
    if (commit.parents.length > 1) {
      const [head] = await source.listCommits(repo, {
        ref: commit.parents[1],
        limit: 1,
      });
      const login = MERGE_SUBJECT.exec(commit.subject)?.[1];
      if (head || login) {
        authors.pullRequest = {
          ...(head ? { email: head.author.email } : {}),
          ...(login ? { login } : {}),
        };
      }
    }
    return authors;
  }

  async requirement(
    entity: EntityContext,
    environment: EnvironmentDefinition,
    sha: string,
    ctx: WriteContext,
  ): Promise<ApprovalRequirement | undefined> {
    const required = await this.required(entity, environment);
    if ('check' in required) {
      return { check: required.check, required: 0, context: '' };
    }
    if (required.count === 0) return undefined;
    const [members, authors] = await Promise.all([
      this.options.directory.members(entity.owners),
      this.authors(entity, sha),
    ]);
    const eligible = eligibleApprovers({
      members,
      requestedBy: ctx.actor.entityRef,
      authors,
    });
    const check = approvalsRule({
      environment: environment.name,
      required: required.count,
      source: required.source,
      owners: entity.owners,
      eligible,
    });
    const context: ApprovalContext = {
      owners: entity.owners,
      authors,
      source: required.source,
    };
    return {
      check,
      required: check.passed ? required.count : 0,
      context: JSON.stringify(context),
    };
  }

  async awaiting(
    entity: EntityContext,
    record: PromotionRecord,
    ctx: WriteContext,
  ): Promise<void> {
    const check = record.steps.find(s => s.name === 'approval');
    const requirement = await this.options.store.requirement(record.id);
    const approvers = await this.eligibleFor(entity, {
      requestedBy: record.requestedBy,
      context: requirement?.context,
    });
    // The approvers are told through the one event sink, as the recipients of its notice.
    await this.options.events.tell(
      { entityRef: entity.entityRef, owners: approvers },
      record.environment,
      {
        title: `${ctx.actor.name} asks for your approval: ${entity.entityRef} ${record.version} to ${record.environment}`,
        description: `${short(record.sha)}; ${check?.detail ?? ''}`.trim(),
        severity: 'normal',
      },
    );
  }

  /** Who may approve `record` now (owner groups' members, without the requester and authors). */
  async eligibleFor(
    entity: Pick<EntityContext, 'owners'>,
    record: Pick<PromotionRecord, 'requestedBy'> & {
      context?: ApprovalContext;
    },
  ): Promise<string[]> {
    const members = await this.options.directory.members(
      record.context?.owners ?? entity.owners,
    );
    return eligibleApprovers({
      members,
      requestedBy: record.requestedBy,
      authors: record.context?.authors ?? {},
    });
  }
}
