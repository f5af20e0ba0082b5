import crypto from 'node:crypto';
import type { StoredDelivery, StoredHook } from './hooks';

/** A pull request as the server keeps it. */
export interface StoredPull {
  number: number;
  title: string;
  body: string | null;
  head: string;
  base: string;
  state: 'open' | 'closed';
  draft: boolean;
  merged: boolean;
  mergeCommitSha: string | null;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  mergedAt: string | null;
  /** Login of who opened it (an App opens as `<slug>[bot]`). */
  author: string;
  reviews: StoredReview[];
}

/** A submitted pull request review. */
export interface StoredReview {
  id: number;
  user: string;
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED';
  /** The head commit the review was given on. */
  commitId: string;
  body: string;
  submittedAt: string;
}

/** A check run (`POST /repos/{o}/{r}/check-runs`), created by a GitHub App. */
export interface StoredCheckRun {
  id: number;
  owner: string;
  repo: string;
  name: string;
  headSha: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  appId: number;
  appSlug: string;
  detailsUrl: string | null;
  externalId: string | null;
  output: Record<string, unknown> | null;
  startedAt: string;
  completedAt: string | null;
}

/** A commit status (`POST /repos/{o}/{r}/statuses/{sha}`). */
export interface StoredStatus {
  id: number;
  owner: string;
  repo: string;
  sha: string;
  state: 'error' | 'failure' | 'pending' | 'success';
  context: string;
  description: string | null;
  targetUrl: string | null;
  creator: string;
  createdAt: string;
}

/**
 * Who a token is. A user token (a classic PAT) has every permission; an App installation token
 * acts as `<slug>[bot]` with the permissions its installation was given.
 */
export interface Identity {
  /** A user's login, or an App's slug (the actor is then `<slug>[bot]`). */
  login: string;
  /** Set for an App installation token: the App's id, which `Integration` bypass actors name. */
  appId?: number;
  /** A user's role on the repositories (default `admin`), for `RepositoryRole` bypass actors. */
  role?: 'read' | 'triage' | 'write' | 'maintain' | 'admin';
  /** Owner of the organizations (`OrganizationAdmin` bypass actors). */
  orgAdmin?: boolean;
  /** Teams the user is in, as `org/slug`, for `Team` bypass actors and push restrictions. */
  teams?: string[];
  /**
   * Repository permissions of an installation (or a fine-grained token), e.g.
   * `{ contents: 'read', metadata: 'read' }`; absent: all. A missing permission is none.
   */
  permissions?: Record<string, 'read' | 'write' | 'admin'>;
}

/** The name an identity acts under: `<slug>[bot]` for an App. */
export function actorLogin(identity: Identity): string {
  return identity.appId !== undefined
    ? `${identity.login}[bot]`
    : identity.login;
}

export type WorkflowRunStatus =
  | 'queued'
  | 'in_progress'
  | 'completed'
  | 'waiting'
  | 'requested'
  | 'pending';

export type WorkflowRunConclusion =
  | 'success'
  | 'failure'
  | 'cancelled'
  | 'skipped'
  | 'timed_out'
  | 'neutral'
  | 'action_required';

/** A workflow run started by a dispatch; `inputs` is kept for tests (GitHub's API hides it). */
export interface WorkflowRun {
  id: number;
  owner: string;
  repo: string;
  /** The workflow's file name, e.g. `deploy.yaml`. */
  workflow: string;
  workflowId: number;
  /** What started it: a dispatch, or (runs the workflow runner records) a push, a pull request, a finished run. */
  event: 'workflow_dispatch' | 'push' | 'pull_request' | 'workflow_run';
  /** The workflow's `name:` when the run was recorded with it. */
  name?: string;
  /** The branch or tag the run was dispatched on (its short name). */
  ref: string;
  /** Whether `ref` names a branch or a tag. */
  refType: 'branch' | 'tag';
  headSha: string;
  inputs: Record<string, string>;
  /** What GitHub shows as the run's title: the workflow's `run-name` over the inputs, or its name. */
  displayTitle: string;
  /** Login of who started the run (default: the token's user). */
  actor?: string;
  status: WorkflowRunStatus;
  conclusion: WorkflowRunConclusion | null;
  /**
   * Set when a job of the run names an environment whose deployment branch policy refuses the
   * run's ref: GitHub's annotation, e.g. `Branch "main" is not allowed to deploy to demo due to
   * environment protection rules.` Such a run fails without that job running.
   */
  refusal?: string;
  runNumber: number;
  createdAt: string;
  updatedAt: string;
  htmlUrl: string;
}

export interface StoredRuleset {
  id: number;
  body: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface StoredEnvironment {
  id: number;
  name: string;
  body: Record<string, unknown>;
  branchPolicies: Array<{ id: number; name: string; type: 'branch' | 'tag' }>;
  createdAt: string;
  updatedAt: string;
}

/** An organization's team (`POST /orgs/:org/teams`), for environment reviewers and repository access. */
export interface StoredTeam {
  id: number;
  org: string;
  name: string;
  slug: string;
  description: string | null;
  privacy: 'secret' | 'closed';
}

/** What a repository has beyond its git data: the things GitHub stores in its database. */
export interface RepoRecord {
  id: number;
  description: string | null;
  private: boolean;
  topics: string[];
  createdAt: string;
  pulls: StoredPull[];
  rulesets: StoredRuleset[];
  protections: Map<string, Record<string, unknown>>;
  environments: Map<string, StoredEnvironment>;
}

/** In-memory records of the server, per `owner/name`; git data lives in the bare repositories. */
export class ServerState {
  private nextId = 1000;
  readonly repos = new Map<string, RepoRecord>();
  readonly runs: WorkflowRun[] = [];
  readonly checkRuns: StoredCheckRun[] = [];
  readonly statuses: StoredStatus[] = [];
  /** Repository webhooks and what was delivered to them. */
  readonly hooks: StoredHook[] = [];
  readonly deliveries: StoredDelivery[] = [];
  /** Teams by `org/slug`, lower case. */
  readonly teams = new Map<string, StoredTeam>();

  id(): number {
    this.nextId += 1;
    return this.nextId;
  }

  repo(owner: string, name: string): RepoRecord {
    const key = `${owner}/${name}`.toLowerCase();
    let record = this.repos.get(key);
    if (!record) {
      record = {
        id: this.id(),
        description: null,
        private: false,
        topics: [],
        createdAt: new Date().toISOString(),
        pulls: [],
        rulesets: [],
        protections: new Map(),
        environments: new Map(),
      };
      this.repos.set(key, record);
    }
    return record;
  }

  /** Moves a repository's records (and its runs) to a new name; its id stays. */
  renameRepo(owner: string, name: string, newName: string): void {
    const record = this.repo(owner, name);
    this.repos.delete(`${owner}/${name}`.toLowerCase());
    this.repos.set(`${owner}/${newName}`.toLowerCase(), record);
    for (const run of this.runs) {
      if (run.owner === owner && run.repo === name) run.repo = newName;
    }
  }
}

/** GitHub-style opaque node ids; only stable per object, which is all clients rely on. */
export function nodeId(kind: string, key: string | number): string {
  return `${kind}_${crypto
    .createHash('sha1')
    .update(String(key))
    .digest('base64url')
    .slice(0, 16)}`;
}
