import yaml from 'yaml';
import { refPatternMatches } from './rules';
import { ServerState } from './state';

/*
 * What GitHub checks before a job that names an `environment:` starts: the environment's
 * deployment branch policy against the run's ref. Without a policy every ref may deploy;
 * `protected_branches` lets only protected branches (classic branch protection here) deploy;
 * `custom_branch_policies` lets only refs matching one of the environment's name patterns of
 * their own type deploy (branch patterns for branches, `type: tag` patterns for tags). An
 * environment the repository does not have yet has no policy (GitHub creates it on first use).
 */

/**
 * Why the environment refuses a job on `ref` (a full `refs/heads/…` or `refs/tags/…` name), in
 * the words GitHub's job annotation uses, or undefined when the job may deploy.
 */
export function deploymentRefusal(
  state: ServerState,
  owner: string,
  name: string,
  environment: string,
  ref: string,
): string | undefined {
  const stored = state.repo(owner, name).environments.get(environment);
  const policy = stored?.body.deployment_branch_policy as
    | { protected_branches?: boolean; custom_branch_policies?: boolean }
    | null
    | undefined;
  if (!stored || !policy) return undefined;
  let type: 'branch' | 'tag' | undefined;
  if (ref.startsWith('refs/heads/')) type = 'branch';
  else if (ref.startsWith('refs/tags/')) type = 'tag';
  const short = ref.replace(/^refs\/(heads|tags)\//, '');
  // Tags never pass `protected_branches`, even one named like a protected branch.
  const allowed = policy.custom_branch_policies
    ? stored.branchPolicies.some(
        p => p.type === type && refPatternMatches(p.name, short),
      )
    : type === 'branch' && state.repo(owner, name).protections.has(short);
  if (allowed) return undefined;
  return `${
    type === 'tag' ? 'Tag' : 'Branch'
  } "${short}" is not allowed to deploy to ${environment} due to environment protection rules.`;
}

/**
 * The environments a workflow's jobs name, as far as the server can tell without running it:
 * literal names and `${{ inputs.<name> }}` of a dispatch (a job's full expressions are the
 * runner's to evaluate).
 */
export function jobEnvironments(
  definition: string | undefined,
  inputs: Record<string, string>,
): string[] {
  if (!definition) return [];
  let parsed: { jobs?: Record<string, { environment?: unknown }> };
  try {
    parsed = yaml.parse(definition) ?? {};
  } catch {
    return [];
  }
  const names: string[] = [];
  for (const job of Object.values(parsed.jobs ?? {})) {
    const value = job?.environment;
    const raw =
      typeof value === 'string'
        ? value
        : (value as { name?: unknown } | undefined)?.name;
    if (typeof raw !== 'string') continue;
    const resolved = raw.replace(
      /\$\{\{\s*inputs\.([\w-]+)\s*\}\}/g,
      (_, input: string) => inputs[input] ?? '',
    );
    if (resolved && !resolved.includes('${{')) names.push(resolved);
  }
  return names;
}
