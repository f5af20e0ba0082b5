import { Git } from './git';
import { ApiError } from './http';
import { ServerEnv } from './routes';
import { Identity, StoredPull } from './state';

/*
 * What GitHub enforces on a ref change: the repository's rulesets (active ones; `evaluate` only
 * reports, `disabled` does nothing) and classic branch protection. The messages are the ones
 * GitHub answers with; docs/github-test-server-enforcement.md lists where each was confirmed.
 */

/** How a ref change reached the server: each answers a refusal differently. */
export type Via = 'api' | 'contents' | 'merge' | 'push';

export interface RefChange {
  /** Full name, `refs/heads/main` or `refs/tags/rc-1`. */
  ref: string;
  /** undefined: the ref is created. */
  before: string | undefined;
  /** undefined: the ref is deleted. */
  after: string | undefined;
  /** Whether `after` descends from `before` (only asked for updates). */
  fastForward: boolean;
  /** The pull request being merged (`via: 'merge'`) and its head commit. */
  pull?: StoredPull;
  headSha?: string;
}

export interface Verdict {
  /** Rules of active rulesets the change breaks and the actor may not bypass. */
  ruleset: string[];
  /** Rules the actor broke but bypasses (GitHub says so on a push). */
  bypassed: string[];
  /** Classic branch protection the change breaks. */
  protection: string[];
}

const ROLE_RANK = { read: 0, triage: 1, write: 2, maintain: 3, admin: 4 };
/** The built-in repository roles' ids as `RepositoryRole` bypass actors name them. */
const ROLE_IDS: Record<number, keyof typeof ROLE_RANK> = {
  2: 'maintain',
  4: 'write',
  5: 'admin',
};

/**
 * An fnmatch pattern as rulesets use them: `*` within one path segment, `**` across segments,
 * `?` one character, `[...]` a class.
 */
export function refPatternMatches(pattern: string, ref: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i += 1;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) source += '\\[';
      else {
        source += `[${pattern.slice(i + 1, end).replace(/^!/, '^')}]`;
        i = end;
      }
    } else source += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`).test(ref);
}

function conditionMatches(
  patterns: unknown,
  ref: string,
  target: 'branch' | 'tag',
  defaultBranch: string,
): boolean {
  if (!Array.isArray(patterns)) return false;
  return patterns.some(p => {
    if (p === '~ALL') return true;
    if (p === '~DEFAULT_BRANCH') {
      return target === 'branch' && ref === `refs/heads/${defaultBranch}`;
    }
    return typeof p === 'string' && refPatternMatches(p, ref);
  });
}

function teamSlugsById(env: ServerEnv, id: number): string[] {
  return [...env.state.teams.values()]
    .filter(t => t.id === id)
    .map(t => `${t.org}/${t.slug}`.toLowerCase());
}

/** Whether `actor` is one of a ruleset's bypass actors for a change made `via`. */
function bypasses(
  env: ServerEnv,
  actors: unknown,
  actor: Identity,
  via: Via,
): boolean {
  if (!Array.isArray(actors)) return false;
  return actors.some((a: any) => {
    const mode = a?.bypass_mode ?? 'always';
    // `pull_request` bypass actors may merge past the rules, not push past them.
    if (mode === 'pull_request' && via !== 'merge') return false;
    switch (a?.actor_type) {
      case 'Integration':
        return actor.appId !== undefined && a.actor_id === actor.appId;
      case 'OrganizationAdmin':
        return actor.appId === undefined && actor.orgAdmin === true;
      case 'RepositoryRole': {
        const role = ROLE_IDS[a.actor_id];
        return (
          actor.appId === undefined &&
          role !== undefined &&
          ROLE_RANK[actor.role ?? 'admin'] >= ROLE_RANK[role]
        );
      }
      case 'Team': {
        const slugs = teamSlugsById(env, a.actor_id);
        return (actor.teams ?? []).some(t => slugs.includes(t.toLowerCase()));
      }
      default:
        return false;
    }
  });
}

/** Why each required check is not green on `sha`, in GitHub's words; empty when all are. */
export function missingChecks(
  env: ServerEnv,
  owner: string,
  name: string,
  sha: string | undefined,
  required: Array<{ context: string; appId?: number }>,
): string[] {
  const problems: string[] = [];
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  for (const check of required) {
    const runs = env.state.checkRuns.filter(
      r =>
        same(r.owner, owner) &&
        same(r.repo, name) &&
        r.headSha === sha &&
        r.name === check.context &&
        (check.appId === undefined || r.appId === check.appId),
    );
    const statuses = env.state.statuses.filter(
      s =>
        same(s.owner, owner) &&
        same(s.repo, name) &&
        s.sha === sha &&
        s.context === check.context,
    );
    const run = runs[runs.length - 1];
    const status = statuses[statuses.length - 1];
    let state: string;
    if (run) {
      if (run.status === 'queued') state = 'queued';
      else if (run.status === 'in_progress') state = 'in progress';
      else
        state = ['success', 'neutral', 'skipped'].includes(run.conclusion ?? '')
          ? 'ok'
          : 'failing';
    } else if (status) {
      if (status.state === 'success') state = 'ok';
      else if (status.state === 'pending') state = 'pending';
      else state = 'failing';
    } else state = 'expected';
    if (state !== 'ok') {
      problems.push(`Required status check "${check.context}" is ${state}.`);
    }
  }
  return problems;
}

function approvals(pull: StoredPull, head: string | undefined, stale: boolean) {
  const latest = new Map<string, StoredPull['reviews'][number]>();
  for (const review of pull.reviews) {
    if (review.state !== 'COMMENTED') latest.set(review.user, review);
  }
  return [...latest.values()].filter(
    r => r.state === 'APPROVED' && (!stale || r.commitId === head),
  ).length;
}

/**
 * What GitHub answers when a pull request is merged while its head lacks the base branch's
 * newest commit and the required checks are strict (`strict_required_status_checks_policy` of a
 * ruleset, `required_status_checks.strict` of branch protection): the checks must have run on
 * the code as it will be merged. Strict has no effect without a required check.
 */
export const BEHIND_BASE =
  'Required status checks must pass on a branch that is up to date with the base branch.';

/** Whether the pull request's head contains the base branch's tip the merge would move. */
async function behindBase(git: Git, change: RefChange): Promise<boolean> {
  if (!change.before || !change.headSha) return false;
  const { code } = await git.run([
    'merge-base',
    '--is-ancestor',
    change.before,
    change.headSha,
  ]);
  return code !== 0;
}

function reviewsMissing(count: number): string {
  return count === 1
    ? 'At least 1 approving review is required by reviewers with write access.'
    : `At least ${count} approving reviews are required by reviewers with write access.`;
}

/** Evaluates one ref change against the repository's rulesets and branch protection. */
export async function evaluateChange(
  env: ServerEnv,
  owner: string,
  name: string,
  git: Git,
  actor: Identity,
  change: RefChange,
  via: Via,
): Promise<Verdict> {
  const record = env.state.repo(owner, name);
  const verdict: Verdict = { ruleset: [], bypassed: [], protection: [] };
  let target: 'branch' | 'tag' | undefined;
  if (change.ref.startsWith('refs/heads/')) target = 'branch';
  else if (change.ref.startsWith('refs/tags/')) target = 'tag';
  if (!target) return verdict;
  const defaultBranch = await git.defaultBranch();
  const created = change.before === undefined;
  const deleted = change.after === undefined;
  const updated = !created && !deleted;
  const checkedSha = via === 'merge' ? change.headSha : change.after;

  for (const { body } of record.rulesets) {
    if (body.enforcement !== 'active') continue;
    if ((body.target ?? 'branch') !== target) continue;
    const refName = (body.conditions as any)?.ref_name ?? {};
    if (
      !conditionMatches(refName.include, change.ref, target, defaultBranch) ||
      conditionMatches(refName.exclude, change.ref, target, defaultBranch)
    ) {
      continue;
    }
    const broken: string[] = [];
    for (const rule of Array.isArray(body.rules) ? body.rules : []) {
      const parameters = (rule as any)?.parameters ?? {};
      switch ((rule as any)?.type) {
        case 'creation':
          if (created)
            broken.push('Cannot create ref due to creations being restricted.');
          break;
        case 'update':
          if (updated) broken.push('Cannot update this protected ref.');
          break;
        case 'deletion':
          if (deleted) broken.push('Cannot delete this protected ref.');
          break;
        case 'non_fast_forward':
          if (updated && !change.fastForward) {
            broken.push(`Cannot force-push to this ${target}`);
          }
          break;
        case 'pull_request':
          if (via === 'merge' && change.pull) {
            const needed = Number(
              parameters.required_approving_review_count ?? 0,
            );
            const have = approvals(
              change.pull,
              change.headSha,
              parameters.dismiss_stale_reviews_on_push === true,
            );
            if (have < needed) broken.push(reviewsMissing(needed));
          } else if (updated) {
            broken.push('Changes must be made through a pull request.');
          }
          break;
        case 'required_status_checks':
          if (updated) {
            const required = (
              Array.isArray(parameters.required_status_checks)
                ? parameters.required_status_checks
                : []
            ).map((c: any) => ({
              context: String(c?.context),
              appId:
                typeof c?.integration_id === 'number'
                  ? c.integration_id
                  : undefined,
            }));
            broken.push(
              ...missingChecks(env, owner, name, checkedSha, required),
            );
            if (
              via === 'merge' &&
              required.length > 0 &&
              parameters.strict_required_status_checks_policy === true &&
              (await behindBase(git, change))
            ) {
              broken.push(BEHIND_BASE);
            }
          }
          break;
        default:
        // Rules Mainline and its template do not use are stored, not enforced.
      }
    }
    if (broken.length === 0) continue;
    if (bypasses(env, body.bypass_actors, actor, via)) {
      verdict.bypassed.push(...broken);
    } else verdict.ruleset.push(...broken);
  }

  const protection =
    target === 'branch'
      ? (record.protections.get(change.ref.slice('refs/heads/'.length)) as any)
      : undefined;
  if (protection) {
    const adminBypass =
      actor.appId === undefined &&
      (actor.role ?? 'admin') === 'admin' &&
      protection.enforce_admins?.enabled !== true;
    if (deleted && protection.allow_deletions?.enabled !== true) {
      verdict.protection.push('Cannot delete this protected branch');
    }
    if (
      updated &&
      !change.fastForward &&
      protection.allow_force_pushes?.enabled !== true
    ) {
      verdict.protection.push('Cannot force-push to this branch');
    }
    const restrictions = protection.restrictions;
    if (
      restrictions &&
      !adminBypass &&
      !deleted &&
      !(
        (actor.appId === undefined &&
          (restrictions.users ?? []).includes(actor.login)) ||
        (actor.appId !== undefined &&
          (restrictions.apps ?? []).includes(actor.login)) ||
        (actor.teams ?? []).some(t =>
          (restrictions.teams ?? []).includes(t.split('/').pop()),
        )
      )
    ) {
      verdict.protection.push("You're not authorized to push to this branch.");
    }
    if (!adminBypass && updated) {
      const reviews = protection.required_pull_request_reviews;
      if (reviews) {
        const needed = Number(reviews.required_approving_review_count ?? 1);
        if (via !== 'merge' || !change.pull) {
          verdict.protection.push(reviewsMissing(needed));
        } else if (
          approvals(
            change.pull,
            change.headSha,
            reviews.dismiss_stale_reviews === true,
          ) < needed
        ) {
          verdict.protection.push(reviewsMissing(needed));
        }
      }
      const checks = protection.required_status_checks;
      if (checks) {
        const required = [
          ...(Array.isArray(checks.contexts) ? checks.contexts : []).map(
            (context: string) => ({ context }),
          ),
          ...(Array.isArray(checks.checks) ? checks.checks : []).map(
            (c: any) => ({
              context: String(c.context),
              appId:
                typeof c.app_id === 'number' && c.app_id > 0
                  ? c.app_id
                  : undefined,
            }),
          ),
        ].filter(
          (c, i, all) => all.findIndex(o => o.context === c.context) === i,
        );
        verdict.protection.push(
          ...missingChecks(env, owner, name, checkedSha, required),
        );
        if (
          via === 'merge' &&
          required.length > 0 &&
          checks.strict === true &&
          (await behindBase(git, change))
        ) {
          verdict.protection.push(BEHIND_BASE);
        }
      }
    }
  }
  verdict.ruleset = [...new Set(verdict.ruleset)];
  verdict.bypassed = [...new Set(verdict.bypassed)];
  verdict.protection = [...new Set(verdict.protection)];
  return verdict;
}

/** GitHub's REST message for ruleset violations: a heading, then each rule, blank-line separated. */
export function rulesetMessage(violations: string[]): string {
  return `Repository rule violations found\n\n${violations
    .map(v => `${v}\n\n`)
    .join('')}`;
}

/**
 * The REST answer to a refused change: 422 for the git refs API, 409 for a contents write, 405 for
 * a merge (the statuses GitHub's OpenAPI description documents for those operations).
 */
export function refusal(
  verdict: Verdict,
  ref: string,
  via: Via,
): ApiError | undefined {
  const status = { api: 422, contents: 409, merge: 405, push: 422 }[via];
  if (verdict.ruleset.length > 0) {
    return new ApiError(status, rulesetMessage(verdict.ruleset));
  }
  if (verdict.protection.length > 0) {
    return new ApiError(
      status,
      via === 'merge'
        ? verdict.protection.join('\n')
        : `Protected branch update failed for ${ref}.\n\n${verdict.protection.join(
            '\n',
          )}`,
    );
  }
  return undefined;
}

/** Evaluates a change and throws GitHub's refusal when a rule stops it. */
export async function enforce(
  env: ServerEnv,
  owner: string,
  name: string,
  git: Git,
  actor: Identity,
  change: RefChange,
  via: Via,
): Promise<void> {
  const verdict = await evaluateChange(
    env,
    owner,
    name,
    git,
    actor,
    change,
    via,
  );
  const error = refusal(verdict, change.ref, via);
  if (error) throw error;
}

/** Whether `after` descends from `before`. */
export async function isFastForward(
  git: Git,
  before: string | undefined,
  after: string | undefined,
): Promise<boolean> {
  if (!before || !after || before === after) return true;
  return (
    (await git.run(['merge-base', '--is-ancestor', before, after])).code === 0
  );
}
