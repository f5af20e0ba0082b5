import { InputError } from '@backstage/errors';
import {
  EnvironmentDefinition,
  VersioningScheme,
  checkTagName,
  checkVersionTagIsNewer,
  highestReleaseTag,
  matchesTagPattern,
  nextReleaseTag,
} from '@mainline/plugin-promotion-common';
import {
  artifactMatchesCommit,
  DeployCheck,
  RuntimeState,
  SourceRef,
} from '@mainline/plugin-promotion-node';
import type { Facts } from './facts';
import { PolicyCheck } from './types';

/*
 * The release rules: pure functions of the facts (what the three ports and the yank store said)
 * and the request, each returning one typed check whose `data` carries what a client acts on.
 * Nothing here reads or writes anything; `facts.ts` reads, `PromotionService` refuses.
 */

export const short = (sha: string) => sha.slice(0, 7);

const passed = (name: string, reason: string): PolicyCheck => ({
  name,
  passed: true,
  reason,
});
const failed = (
  name: string,
  reason: string,
  data?: PolicyCheck['data'],
): PolicyCheck => ({ name, passed: false, reason, ...(data ? { data } : {}) });

/** Whether `environment` runs `sha`, by the deployment's sha, its release tag or its short sha. */
export function runsIn(
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

/**
 * The tag a promotion chooses when none is given: the next `rc-*` or `v*` after every tag of
 * the pattern in the repository, so components sharing one repository count up together.
 */
export function chooseReleaseTag(
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

/** The commit is on main, or on a release branch where the entity allows them. */
export function onMainRule(
  facts: Pick<Facts, 'sha' | 'onMain' | 'releaseBranch' | 'containingBranches'>,
  options: { mainBranch: string; releaseBranches?: boolean },
): PolicyCheck {
  if (facts.onMain) {
    return passed('on-main', `${short(facts.sha)} is on ${options.mainBranch}`);
  }
  if (facts.releaseBranch) {
    return passed(
      'on-main',
      `${short(facts.sha)} is on ${
        facts.releaseBranch
      } (the release/* exception)`,
    );
  }
  const containing = facts.containingBranches ?? [];
  return failed(
    'on-main',
    `${short(facts.sha)} is not on ${options.mainBranch}${
      options.releaseBranches ? ' or a release/* branch' : ''
    }: ${
      containing.length
        ? `it is on ${containing.join(', ')}`
        : 'it is on no branch'
    }`,
  );
}

/** A yanked commit is never promoted or rolled back to. */
export function notYankedRule(facts: Pick<Facts, 'sha' | 'yank'>): PolicyCheck {
  if (!facts.yank) {
    return passed('not-yanked', `${short(facts.sha)} is not yanked`);
  }
  return failed(
    'not-yanked',
    `${short(facts.sha)} was yanked by ${facts.yank.yankedBy} at ${
      facts.yank.yankedAt
    }: ${facts.yank.reason}`,
  );
}

/**
 * The commit built an artifact. A yanked commit's artifact is deleted, which the yank check says
 * already: no artifact check then.
 */
export function artifactRule(
  facts: Pick<Facts, 'sha' | 'artifacts' | 'yank' | 'builtAncestor'>,
): PolicyCheck | undefined {
  const artifact = facts.artifacts.find(a =>
    artifactMatchesCommit(a, facts.sha),
  );
  if (artifact) return passed('artifact', `artifact ${artifact.uri}`);
  if (facts.yank) return undefined;
  const ancestor = facts.builtAncestor;
  const nearest = ancestor
    ? `the nearest ancestor with an artifact is ${short(ancestor.sha)}${
        ancestor.back === undefined
          ? ''
          : `, ${ancestor.back} commit${ancestor.back === 1 ? '' : 's'} back`
      }`
    : 'no ancestor in the last 100 commits has an artifact';
  return failed(
    'artifact',
    `${short(
      facts.sha,
    )} has no artifact (a docs-only commit, or its build was skipped); ${nearest}`,
    ancestor
      ? { nearestBuiltSha: ancestor.sha, suggestedSha: ancestor.sha }
      : undefined,
  );
}

/** The environment does not run the commit already. */
export function notDeployedRule(
  facts: Pick<Facts, 'sha' | 'deployments' | 'tags'>,
  environment: string,
): PolicyCheck {
  const current = facts.deployments[environment]?.version;
  if (runsIn(facts, environment, facts.sha)) {
    return failed(
      'not-deployed',
      `${environment} already runs ${short(facts.sha)} (${current})`,
    );
  }
  return passed(
    'not-deployed',
    `${environment} runs ${current ?? 'nothing yet'}`,
  );
}

/**
 * The release tag's name against git's ref rules and the environment's pattern (`tag-name`), and
 * against the tag rule of the registry that will carry it (`registry-tag`, its problem found by
 * the adapter without a request). Both are 400s: the request names an impossible tag.
 */
export function tagNameRules(
  environment: EnvironmentDefinition,
  tag: string,
  registry: { problem: string | undefined; location: string },
): PolicyCheck[] {
  const pattern =
    environment.trigger.type === 'tag' ? environment.trigger.pattern : '*';
  const gitProblem =
    checkTagName(tag) ??
    (matchesTagPattern(tag, pattern)
      ? undefined
      : `does not match ${environment.name}'s pattern ${pattern}`);
  const check = (name: string, problem: string | undefined, ok: string) =>
    problem ? failed(name, `tag "${tag}": ${problem}`) : passed(name, ok);
  return [
    check(
      'tag-name',
      gitProblem,
      `${tag} is a valid git tag and matches ${pattern}`,
    ),
    check(
      'registry-tag',
      registry.problem,
      `${tag} is a valid tag for ${registry.location}`,
    ),
  ];
}

/**
 * The release tag is new (or already marks this commit: one tag releases every component built
 * at a monorepo commit, and a tag an earlier attempt created is kept), is never moved, and a
 * version tag is higher than every version before it. A tag a person pushed is already there, so
 * only its order is checked.
 */
export function tagRule(
  facts: Pick<Facts, 'sha' | 'tags'>,
  tag: string,
  options: {
    kind: 'rc' | 'version';
    scheme: VersioningScheme;
    pushed?: boolean;
  },
): PolicyCheck {
  const { kind, scheme } = options;
  const newer = (others: SourceRef[]) => {
    const names = others.map(t => t.name);
    const problem = checkVersionTagIsNewer(tag, names, scheme);
    const highest = highestReleaseTag(names, 'version', scheme)?.tag;
    return problem
      ? failed(
          'tag',
          problem,
          highest ? { conflictingTag: highest } : undefined,
        )
      : undefined;
  };
  if (options.pushed && kind === 'version') {
    const problem = newer(facts.tags.filter(t => t.name !== tag));
    if (problem) return problem;
  }
  const existing = facts.tags.find(t => t.name === tag);
  if (existing && existing.sha === facts.sha) {
    return passed('tag', `${tag} already marks ${short(facts.sha)}`);
  }
  if (existing) {
    return failed(
      'tag',
      `tag ${tag} already exists on ${short(
        existing.sha,
      )}; tags are never moved`,
      { conflictingTag: tag },
    );
  }
  if (kind === 'version') {
    return (
      newer(facts.tags) ?? passed('tag', `${tag} is new and follows ${scheme}`)
    );
  }
  return passed('tag', `${tag} is new`);
}

/**
 * The environment's `requireBeenIn`: the commit ran in (or was released to) the earlier
 * environment. A release branch's commit goes to production by its v* tag, not via the earlier
 * environment. No check when the environment requires nothing.
 */
export function policyRule(
  facts: Pick<
    Facts,
    'sha' | 'deployments' | 'tags' | 'onMain' | 'releaseBranch'
  >,
  environment: EnvironmentDefinition,
  environments: EnvironmentDefinition[],
): PolicyCheck | undefined {
  const requireBeenIn = environment.policy.requireBeenIn;
  if (!requireBeenIn) return undefined;
  if (facts.releaseBranch && environment.production) {
    return passed(
      'policy',
      `${short(facts.sha)} is on ${
        facts.releaseBranch
      }: the release/* exception goes to ${
        environment.name
      } by its tag, without ${requireBeenIn}`,
    );
  }
  const earlier = environments.find(e => e.name === requireBeenIn);
  if (!earlier) {
    throw new InputError(
      `environment "${requireBeenIn}" is not one of ${environments
        .map(e => e.name)
        .join(', ')}`,
    );
  }
  const trigger = earlier.trigger;
  const been =
    runsIn(facts, earlier.name, facts.sha) ||
    (trigger.type === 'tag' &&
      facts.tags.some(
        t => t.sha === facts.sha && matchesTagPattern(t.name, trigger.pattern),
      )) ||
    (trigger.type === 'branch' && facts.onMain);
  return been
    ? passed('policy', `${short(facts.sha)} has been in ${earlier.name}`)
    : failed(
        'policy',
        `policy: ${environment.name} takes only commits that have been in ${
          earlier.name
        }, and ${short(facts.sha)} has not`,
        { requiredEnvironment: earlier.name },
      );
}

/**
 * Whether the deploy can set the environment to the version, as its adapter answered from reads
 * (`undefined`: the adapter rewrites no file, so nothing can be in the way).
 */
export function deployTargetRule(
  environment: string,
  verdict: DeployCheck | undefined,
): PolicyCheck {
  if (!verdict) {
    return passed(
      'deploy-target',
      `${environment} is deployed without a file to rewrite`,
    );
  }
  return verdict.passed
    ? passed('deploy-target', verdict.reason)
    : failed('deploy-target', verdict.reason, { resource: environment });
}

/**
 * A rollback to a tag-deployed environment goes back to a release it had: the requested tag when
 * it matches the environment's pattern, or the commit's tag of that pattern. The version the
 * rollback deploys goes with the check (the short sha for a branch-deployed environment).
 */
export function releaseTagRule(
  facts: Pick<Facts, 'sha' | 'tags'>,
  environment: EnvironmentDefinition,
  requestedTag: string | undefined,
): { check: PolicyCheck | undefined; version: string } {
  if (environment.trigger.type !== 'tag') {
    return { check: undefined, version: short(facts.sha) };
  }
  const pattern = environment.trigger.pattern;
  const tag =
    requestedTag && matchesTagPattern(requestedTag, pattern)
      ? requestedTag
      : facts.tags.find(
          t => t.sha === facts.sha && matchesTagPattern(t.name, pattern),
        )?.name;
  if (tag) {
    return {
      check: passed(
        'release-tag',
        `${short(facts.sha)} was released as ${tag}`,
      ),
      version: tag,
    };
  }
  return {
    check: failed(
      'release-tag',
      `${short(facts.sha)} has no ${pattern} tag, so it was never in ${
        environment.name
      }: promote it instead`,
      { requiredEnvironment: environment.name },
    ),
    version: short(facts.sha),
  };
}

/** The checks shared by promotions and rollbacks, in the order a plan lists them. */
export function commonRules(
  facts: Facts,
  environment: EnvironmentDefinition,
  options: { mainBranch: string; releaseBranches?: boolean },
): PolicyCheck[] {
  const artifact = artifactRule(facts);
  return [
    onMainRule(facts, options),
    notYankedRule(facts),
    ...(artifact ? [artifact] : []),
    notDeployedRule(facts, environment.name),
  ];
}

/** Everything a promotion by tag is checked against, from the facts alone. */
export function promotionRules(input: {
  facts: Facts;
  environment: EnvironmentDefinition;
  environments: EnvironmentDefinition[];
  mainBranch: string;
  releaseBranches?: boolean;
  scheme: VersioningScheme;
  /** The tag requested or chosen (`chooseReleaseTag`). */
  tag: string;
  registry: { problem: string | undefined; location: string };
  deploy: DeployCheck | undefined;
  pushed?: boolean;
}): PolicyCheck[] {
  const { facts, environment, tag } = input;
  const pattern =
    environment.trigger.type === 'tag' ? environment.trigger.pattern : '*';
  const policy = policyRule(facts, environment, input.environments);
  return [
    ...commonRules(facts, environment, input),
    ...tagNameRules(environment, tag, input.registry),
    tagRule(facts, tag, {
      kind: pattern.startsWith('rc') ? 'rc' : 'version',
      scheme: input.scheme,
      pushed: input.pushed,
    }),
    ...(policy ? [policy] : []),
    deployTargetRule(environment.name, input.deploy),
  ];
}

/** Everything a rollback is checked against, from the facts alone, and the version it deploys. */
export function rollbackRules(input: {
  facts: Facts;
  environment: EnvironmentDefinition;
  mainBranch: string;
  releaseBranches?: boolean;
  requestedTag: string | undefined;
  deploy: DeployCheck | undefined;
}): { checks: PolicyCheck[]; version: string } {
  const { facts, environment } = input;
  const release = releaseTagRule(facts, environment, input.requestedTag);
  return {
    checks: [
      ...commonRules(facts, environment, input),
      ...(release.check ? [release.check] : []),
      deployTargetRule(environment.name, input.deploy),
    ],
    version: release.version,
  };
}

/*
 * requireRunningIn: gates on what runs (the runtime port), not on what was declared. Its own
 * section: the facts it reads (an earlier environment's runtime state) are read only for an
 * entity whose runtime an observer serves.
 */

/** `policy.requireRunningIn`: the environment that must run the artifact, and for how long. */
export interface RunningRequirementInput {
  environment: string;
  forMs: number;
}

/** What a running-in check found about the earlier environment, for its refusal's data. */
function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (ms >= 60_000 && ms % 60_000 === 0) {
    return minutes % 60 === 0 && minutes >= 60
      ? `${minutes / 60}h`
      : `${minutes}m`;
  }
  return `${Math.round(ms / 1000)}s`;
}

/**
 * The environment's `requireRunningIn`, for an entity whose runtime is observed: the earlier
 * environment runs the commit's artifact (every running digest is the artifact's), synced and
 * healthy, and has for at least the soak time (the state's `since`). A release branch's commit
 * goes to production without it, as with `requireBeenIn`. No check without a requirement or
 * without an observer (`runtime` undefined): such an entity keeps the declared-state rules.
 */
export function requireRunningInRule(input: {
  facts: Pick<Facts, 'sha' | 'artifacts' | 'releaseBranch'>;
  environment: EnvironmentDefinition;
  requirement: RunningRequirementInput | undefined;
  /** The earlier environment as the runtime reports it; `null`: nothing observed there. */
  runtime: RuntimeState | null | undefined;
  now: Date;
}): PolicyCheck | undefined {
  const { facts, environment, requirement, runtime, now } = input;
  if (!requirement || runtime === undefined) return undefined;
  const earlier = requirement.environment;
  const soak = formatDuration(requirement.forMs);
  const requiredSeconds = Math.round(requirement.forMs / 1000);
  if (facts.releaseBranch && environment.production) {
    return passed(
      'running-in',
      `${short(facts.sha)} is on ${
        facts.releaseBranch
      }: the release/* exception goes to ${
        environment.name
      } without running in ${earlier}`,
    );
  }
  const refuse = (why: string, since?: string) =>
    failed(
      'running-in',
      `policy: ${environment.name} takes only artifacts running healthy in ${earlier} for ${soak}; ${why}`,
      {
        requiredEnvironment: earlier,
        requiredSeconds,
        ...(since ? { since } : {}),
      },
    );
  const artifact = facts.artifacts.find(a =>
    artifactMatchesCommit(a, facts.sha),
  );
  if (!artifact) return refuse(`${short(facts.sha)} has no artifact`);
  if (!runtime) return refuse(`nothing is observed running in ${earlier}`);
  const digests = runtime.runningDigests;
  if (artifact.kind === 'archive') {
    // A package's code hashes are the observer's to check: Synced at the commit means they are
    // that commit's package.
    if (runtime.sync.revision !== facts.sha) {
      return refuse(
        `${earlier} runs ${
          runtime.sync.revision
            ? short(runtime.sync.revision)
            : 'no known commit'
        }, not ${short(facts.sha)}`,
      );
    }
  } else if (digests.length === 0 || digests.some(d => d !== artifact.digest)) {
    return refuse(
      `${earlier} runs ${
        digests.length ? digests.join(', ') : 'nothing'
      }, not ${artifact.digest} (${short(facts.sha)})`,
    );
  }
  if (runtime.sync.status !== 'Synced' || runtime.health.status !== 'Healthy') {
    return refuse(
      `${earlier} runs it ${runtime.sync.status} and ${runtime.health.status}`,
      runtime.since,
    );
  }
  const since = runtime.since ? Date.parse(runtime.since) : NaN;
  if (Number.isNaN(since)) {
    return refuse(`${runtime.source} does not say since when it runs`);
  }
  const held = now.getTime() - since;
  if (held < requirement.forMs) {
    return refuse(
      `it has run there healthy since ${runtime.since} (${formatDuration(
        Math.max(0, held),
      )}), ready at ${new Date(since + requirement.forMs).toISOString()}`,
      runtime.since,
    );
  }
  return {
    ...passed(
      'running-in',
      `${short(facts.sha)} has run healthy in ${earlier} since ${
        runtime.since
      } (at least ${soak})`,
    ),
    data: {
      requiredEnvironment: earlier,
      requiredSeconds,
      since: runtime.since,
    },
  };
}
