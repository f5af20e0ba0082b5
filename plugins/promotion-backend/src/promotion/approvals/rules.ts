import { approvalsAnnotation } from '@mainline/plugin-promotion-common';
import { PolicyCheck } from '../types';

/*
 * The approval rules: pure functions of what the catalog and the commit said, each returning one
 * typed check (or a plain value) whose `data` carries what a client acts on. `ApproverDirectory`
 * reads the catalog, `ApprovalService` records and refuses.
 */

/** A person as commits, pull requests and the catalog name them. */
export interface Identity {
  /** Catalog user ref, when the person is a catalog user. */
  entityRef?: string;
  emails: string[];
  /** GitHub logins. */
  logins: string[];
}

/** Who wrote what a promotion ships, as the source repository tells it. */
export interface Authors {
  commit?: { name: string; email: string };
  /** The author of the merged pull request (its head commit's author, the login its merge names). */
  pullRequest?: { email?: string; login?: string };
  /**
   * The pull requests the host associates with the commit and who opened each (GitHub's
   * `user.login`), where the source control can say.
   */
  pullRequests?: ReadonlyArray<{ number: number; login: string }>;
}

/** Why a user may not approve a promotion. */
export type ApprovalRefusal =
  | 'self-approval'
  | 'commit-author'
  | 'pull-request-author'
  | 'not-a-member';

const lower = (values: Array<string | undefined>) =>
  values.filter((v): v is string => !!v).map(v => v.trim().toLowerCase());

/**
 * The login in a GitHub no-reply address (`123+octocat@users.noreply.github.com`), which is how
 * commits made in GitHub's web UI name their author.
 */
export function loginOfNoReplyEmail(email: string): string | undefined {
  const match = /^(?:\d+\+)?([A-Za-z0-9-]+)@users\.noreply\.github\.com$/i.exec(
    email.trim(),
  );
  return match?.[1];
}

/** Whether `person` is the author named by `email` and/or `login`. */
export function isSamePerson(
  person: Identity,
  author: { email?: string; login?: string },
): boolean {
  const emails = lower(person.emails);
  const logins = lower(person.logins);
  const authorEmail = lower([author.email])[0];
  const authorLogins = lower([
    author.login,
    authorEmail ? loginOfNoReplyEmail(authorEmail) : undefined,
  ]);
  if (authorEmail && emails.includes(authorEmail)) return true;
  return authorLogins.some(l => logins.includes(l));
}

/**
 * Why `approver` may not approve a promotion `requestedBy` asked for, of a commit `authors` wrote,
 * when only `members` (the owner group's users, nested groups included) may; undefined when they
 * may. The requester is checked first, then the authors, then membership: the reason a person
 * sees is the one that matters most.
 */
export function approvalRefusal(input: {
  approver: Identity & { entityRef: string };
  requestedBy: string;
  authors: Authors;
  members: string[];
}): ApprovalRefusal | undefined {
  const { approver, authors } = input;
  if (approver.entityRef === input.requestedBy) return 'self-approval';
  if (authors.commit && isSamePerson(approver, authors.commit)) {
    return 'commit-author';
  }
  if (
    (authors.pullRequest && isSamePerson(approver, authors.pullRequest)) ||
    authors.pullRequests?.some(pull =>
      isSamePerson(approver, { login: pull.login }),
    )
  ) {
    return 'pull-request-author';
  }
  if (!input.members.includes(approver.entityRef)) return 'not-a-member';
  return undefined;
}

const REFUSAL_REASONS: Record<ApprovalRefusal, string> = {
  'self-approval': 'requested this promotion, and nobody approves their own',
  'commit-author': 'wrote the commit this promotion ships',
  'pull-request-author': 'opened the pull request this promotion ships',
  'not-a-member': 'is not a member of the owner group (nor of a group in it)',
};

/** The `approver` check: whether a user may approve, with the refusal as data. */
export function approverRule(input: {
  approver: Identity & { entityRef: string };
  requestedBy: string;
  authors: Authors;
  members: string[];
  owners: string[];
}): PolicyCheck {
  const refusal = approvalRefusal(input);
  if (!refusal) {
    return {
      name: 'approver',
      passed: true,
      reason: `${input.approver.entityRef} is a member of ${input.owners.join(
        ', ',
      )} and neither the requester nor an author`,
    };
  }
  return {
    name: 'approver',
    passed: false,
    reason: `${input.approver.entityRef} may not approve: ${
      input.approver.entityRef
    } ${REFUSAL_REASONS[refusal]}${
      refusal === 'not-a-member' ? ` ${input.owners.join(', ')}` : ''
    }`,
    data: { approvalRefusal: refusal },
  };
}

/**
 * The members who may approve: the owner group's users without the requester and the authors,
 * in a stable order.
 */
export function eligibleApprovers(input: {
  members: Array<Identity & { entityRef: string }>;
  requestedBy: string;
  authors: Authors;
}): string[] {
  const refs = input.members.map(m => m.entityRef);
  return input.members
    .filter(
      m =>
        !approvalRefusal({
          approver: m,
          requestedBy: input.requestedBy,
          authors: input.authors,
          members: refs,
        }),
    )
    .map(m => m.entityRef)
    .sort();
}

/**
 * How many approvals a promotion to `environment` needs: the component's annotation, else its
 * System's, else the environment's configured count. A malformed annotation is a failed check
 * naming it (a count nobody can read must not silently become none).
 */
export function requiredApprovals(input: {
  environment: string;
  configured: number | undefined;
  component: Record<string, string> | undefined;
  systems: Array<{
    ref: string;
    annotations: Record<string, string> | undefined;
  }>;
}): { count: number; source: string } | { check: PolicyCheck } {
  const annotation = approvalsAnnotation(input.environment);
  const read = (value: string | undefined, where: string) => {
    if (value === undefined) return undefined;
    const trimmed = value.trim();
    if (!/^\d{1,2}$/.test(trimmed)) {
      return {
        check: {
          name: 'approvals',
          passed: false,
          reason: `${where} sets ${annotation} to "${value}", which is not a count of approvals (0 to 99)`,
          data: { invalidAnnotation: annotation },
        } as PolicyCheck,
      };
    }
    return { count: Number(trimmed), source: `${annotation} of ${where}` };
  };
  const own = read(input.component?.[annotation], 'the component');
  if (own) return own;
  for (const system of input.systems) {
    const found = read(system.annotations?.[annotation], system.ref);
    if (found) return found;
  }
  return {
    count: input.configured ?? 0,
    source: `the ${input.environment} policy`,
  };
}

/**
 * The `approvals` check of the checks round: the promotion will wait for `required` approvals
 * from the eligible approvers (passed, with the data the dry run shows), or cannot ever get them
 * because fewer people are eligible (failed: nothing is recorded).
 */
export function approvalsRule(input: {
  environment: string;
  required: number;
  source: string;
  owners: string[];
  eligible: string[];
}): PolicyCheck {
  const { required, eligible } = input;
  const data = {
    awaitsApproval: true,
    requiredApprovals: required,
    eligibleApprovers: eligible,
  };
  const owners = input.owners.join(', ') || 'no owner';
  if (eligible.length < required) {
    return {
      name: 'approvals',
      passed: false,
      reason: `${input.environment} needs ${required} approval${
        required === 1 ? '' : 's'
      } (${
        input.source
      }) from members of ${owners} other than the requester and the authors, and only ${
        eligible.length
      } ${eligible.length === 1 ? 'is' : 'are'} eligible${
        eligible.length ? `: ${eligible.join(', ')}` : ''
      }`,
      data,
    };
  }
  return {
    name: 'approvals',
    passed: true,
    reason: `awaits ${required} approval${required === 1 ? '' : 's'} (${
      input.source
    }) from ${eligible.join(', ')}`,
    data,
  };
}

/** One recorded decision. */
export interface Decision {
  approver: string;
  decision: 'approved' | 'rejected';
}

/** Who approved (among those still eligible), and whether the count is reached. */
export function approvalTally(
  decisions: Decision[],
  required: number,
  eligible: string[],
): { approvedBy: string[]; reached: boolean } {
  const approvedBy = decisions
    .filter(d => d.decision === 'approved' && eligible.includes(d.approver))
    .map(d => d.approver)
    .sort();
  return { approvedBy, reached: approvedBy.length >= required };
}
