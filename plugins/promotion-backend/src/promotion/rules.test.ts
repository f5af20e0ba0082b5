import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import { Artifact, Deployment } from '@mainline/plugin-promotion-node';
import { Facts } from './facts';
import {
  artifactRule,
  chooseReleaseTag,
  deployTargetRule,
  notDeployedRule,
  notYankedRule,
  onMainRule,
  policyRule,
  releaseTagRule,
  runsIn,
  tagNameRules,
  tagRule,
} from './rules';

// The rules are pure: every case is a table row of facts in, check out. No repository, registry
// or deployment target is read.

const SHA = 'a'.repeat(40);
const OTHER = 'b'.repeat(40);
const ANCESTOR = 'c'.repeat(40);
const [stage, demo, prod] = DEFAULT_ENVIRONMENTS.map(e => ({ ...e }));
const environments = [stage, demo, prod];

const artifact = (commit: string): Artifact => ({
  kind: 'image',
  commit: commit.slice(0, 7),
  uri: `local/checkout:${commit.slice(0, 7)}@sha256:1`,
  digest: 'sha256:1',
  size: 1,
  createdAt: '2026-12-01T00:00:00Z',
  tags: [commit.slice(0, 7)],
});
const deployed = (version: string, sha?: string): Deployment => ({
  environment: 'demo',
  version,
  sha,
  deployedAt: '2026-12-01T00:00:00Z',
});
const facts = (overrides: Partial<Facts> = {}): Facts => ({
  sha: SHA,
  tags: [],
  artifacts: [artifact(SHA)],
  deployments: {},
  yank: undefined,
  onMain: true,
  releaseBranch: undefined,
  ...overrides,
});
const yank = {
  entityRef: 'component:default/checkout',
  sha: SHA,
  yankedBy: 'user:default/ada',
  reason: 'breaks checkout',
  yankedAt: '2026-12-01T10:00:00Z',
};

describe('onMainRule', () => {
  it.each([
    ['on main', facts(), false, true, 'aaaaaaa is on main'],
    [
      'on a release branch',
      facts({ onMain: false, releaseBranch: 'release/1.x' }),
      true,
      true,
      'aaaaaaa is on release/1.x (the release/* exception)',
    ],
    [
      'on a feature branch',
      facts({ onMain: false, containingBranches: ['feature/x'] }),
      false,
      false,
      'aaaaaaa is not on main: it is on feature/x',
    ],
    [
      'on no branch, release branches allowed',
      facts({ onMain: false, containingBranches: [] }),
      true,
      false,
      'aaaaaaa is not on main or a release/* branch: it is on no branch',
    ],
  ])('%s', (_, input, releaseBranches, passed, reason) => {
    expect(onMainRule(input, { mainBranch: 'main', releaseBranches })).toEqual({
      name: 'on-main',
      passed,
      reason,
    });
  });
});

describe('notYankedRule', () => {
  it.each([
    ['not yanked', facts(), true, 'aaaaaaa is not yanked'],
    [
      'yanked',
      facts({ yank }),
      false,
      'aaaaaaa was yanked by user:default/ada at 2026-12-01T10:00:00Z: breaks checkout',
    ],
  ])('%s', (_, input, passed, reason) => {
    expect(notYankedRule(input)).toEqual({
      name: 'not-yanked',
      passed,
      reason,
    });
  });
});

describe('artifactRule', () => {
  it.each([
    [
      'built',
      facts(),
      {
        name: 'artifact',
        passed: true,
        reason: `artifact ${artifact(SHA).uri}`,
      },
    ],
    [
      'yanked (its artifact is gone; the yank check says so)',
      facts({ artifacts: [], yank }),
      undefined,
    ],
    [
      'not built, an ancestor 2 commits back was',
      facts({ artifacts: [], builtAncestor: { sha: ANCESTOR, back: 2 } }),
      {
        name: 'artifact',
        passed: false,
        reason:
          'aaaaaaa has no artifact (a docs-only commit, or its build was skipped); the nearest ancestor with an artifact is ccccccc, 2 commits back',
        data: { nearestBuiltSha: ANCESTOR, suggestedSha: ANCESTOR },
      },
    ],
    [
      'not built, an ancestor in a folder history was',
      facts({
        artifacts: [],
        builtAncestor: { sha: ANCESTOR, back: undefined },
      }),
      {
        name: 'artifact',
        passed: false,
        reason:
          'aaaaaaa has no artifact (a docs-only commit, or its build was skipped); the nearest ancestor with an artifact is ccccccc',
        data: { nearestBuiltSha: ANCESTOR, suggestedSha: ANCESTOR },
      },
    ],
    [
      'not built, no ancestor was',
      facts({ artifacts: [], builtAncestor: null }),
      {
        name: 'artifact',
        passed: false,
        reason:
          'aaaaaaa has no artifact (a docs-only commit, or its build was skipped); no ancestor in the last 100 commits has an artifact',
      },
    ],
  ])('%s', (_, input, expected) => {
    expect(artifactRule(input)).toEqual(expected);
  });
});

describe('runsIn and notDeployedRule', () => {
  it.each([
    ['nothing deployed', {}, false, 'demo runs nothing yet'],
    ['another sha', { demo: deployed('rc-1', OTHER) }, false, 'demo runs rc-1'],
    [
      'the sha',
      { demo: deployed('rc-2', SHA) },
      true,
      'demo already runs aaaaaaa (rc-2)',
    ],
    [
      'its short sha',
      { demo: deployed('aaaaaaa') },
      true,
      'demo already runs aaaaaaa (aaaaaaa)',
    ],
    [
      'its tag',
      { demo: deployed('rc-3') },
      true,
      'demo already runs aaaaaaa (rc-3)',
    ],
  ])('%s', (_, deployments, runs, reason) => {
    const input = facts({ deployments, tags: [{ name: 'rc-3', sha: SHA }] });
    expect(runsIn(input, 'demo', SHA)).toBe(runs);
    expect(notDeployedRule(input, 'demo')).toEqual({
      name: 'not-deployed',
      passed: !runs,
      reason,
    });
  });
});

describe('tagNameRules', () => {
  const registry = { problem: undefined, location: 'local/checkout' };
  it.each([
    ['a valid rc tag', 'rc-4', registry, [true, true]],
    ['a tag off the pattern', 'v1.0.0', registry, [false, true]],
    ['a tag git refuses', 'rc-4..x', registry, [false, true]],
    [
      'a tag the registry refuses',
      'rc-4',
      { problem: 'too long at local/checkout', location: 'local/checkout' },
      [true, false],
    ],
  ])('%s', (_, tag, reg, [tagName, registryTag]) => {
    const [name, inRegistry] = tagNameRules(demo, tag, reg);
    expect([name.name, name.passed]).toEqual(['tag-name', tagName]);
    expect([inRegistry.name, inRegistry.passed]).toEqual([
      'registry-tag',
      registryTag,
    ]);
  });
});

describe('tagRule', () => {
  const tags = [
    { name: 'rc-1', sha: OTHER },
    { name: 'v1.2.0', sha: OTHER },
  ];
  it.each([
    ['a new rc tag', 'rc-2', 'rc', false, true, 'rc-2 is new', undefined],
    [
      'an rc tag on another commit',
      'rc-1',
      'rc',
      false,
      false,
      'tag rc-1 already exists on bbbbbbb; tags are never moved',
      { conflictingTag: 'rc-1' },
    ],
    [
      'a new higher version',
      'v1.3.0',
      'version',
      false,
      true,
      'v1.3.0 is new and follows semver',
      undefined,
    ],
    [
      'a new lower version',
      'v1.1.0',
      'version',
      false,
      false,
      '"v1.1.0" is not greater than the highest existing version v1.2.0',
      { conflictingTag: 'v1.2.0' },
    ],
    [
      'a pushed lower version already on the commit',
      'v1.0.0',
      'version',
      true,
      false,
      '"v1.0.0" is not greater than the highest existing version v1.2.0',
      { conflictingTag: 'v1.2.0' },
    ],
    [
      'a pushed higher version already on the commit',
      'v2.0.0',
      'version',
      true,
      true,
      'v2.0.0 already marks aaaaaaa',
      undefined,
    ],
  ] as const)('%s', (_, tag, kind, pushed, passed, reason, data) => {
    const input = facts({
      tags: pushed ? [...tags, { name: tag, sha: SHA }] : tags,
    });
    expect(tagRule(input, tag, { kind, scheme: 'semver', pushed })).toEqual({
      name: 'tag',
      passed,
      reason,
      ...(data ? { data } : {}),
    });
  });

  it('chooses the next tag after every tag of the pattern', () => {
    expect(chooseReleaseTag(tags, 'rc-*', 'semver')).toBe('rc-2');
  });
});

describe('policyRule', () => {
  it.each([
    ['demo requires nothing', demo, facts(), undefined],
    [
      'prod, the commit ran in demo',
      prod,
      facts({ deployments: { demo: deployed('rc-1', SHA) } }),
      { name: 'policy', passed: true, reason: 'aaaaaaa has been in demo' },
    ],
    [
      'prod, the commit has an rc tag',
      prod,
      facts({ tags: [{ name: 'rc-1', sha: SHA }] }),
      { name: 'policy', passed: true, reason: 'aaaaaaa has been in demo' },
    ],
    [
      'prod, the commit never was in demo',
      prod,
      facts(),
      {
        name: 'policy',
        passed: false,
        reason:
          'policy: prod takes only commits that have been in demo, and aaaaaaa has not',
        data: { requiredEnvironment: 'demo' },
      },
    ],
    [
      'prod, a release branch commit',
      prod,
      facts({ onMain: false, releaseBranch: 'release/1.x' }),
      {
        name: 'policy',
        passed: true,
        reason:
          'aaaaaaa is on release/1.x: the release/* exception goes to prod by its tag, without demo',
      },
    ],
  ])('%s', (_, environment, input, expected) => {
    expect(policyRule(input, environment, environments)).toEqual(expected);
  });
});

describe('deployTargetRule', () => {
  it.each([
    [
      'no file to rewrite',
      undefined,
      { passed: true, reason: 'demo is deployed without a file to rewrite' },
    ],
    [
      'the adapter can deploy',
      { passed: true, reason: 'apps/checkout/demo.yaml has the image' },
      { passed: true, reason: 'apps/checkout/demo.yaml has the image' },
    ],
    [
      'the adapter cannot deploy',
      { passed: false, reason: 'apps/checkout/demo.yaml has no image entry' },
      {
        passed: false,
        reason: 'apps/checkout/demo.yaml has no image entry',
        data: { resource: 'demo' },
      },
    ],
  ])('%s', (_, verdict, expected) => {
    expect(deployTargetRule('demo', verdict)).toEqual({
      name: 'deploy-target',
      ...expected,
    });
  });
});

describe('releaseTagRule', () => {
  const released = (tag: string) => ({
    name: 'release-tag',
    passed: true,
    reason: `aaaaaaa was released as ${tag}`,
  });
  it.each([
    [
      'to a branch environment',
      stage,
      facts(),
      undefined,
      'aaaaaaa',
      undefined,
    ],
    [
      'to a release it had, by its tag',
      demo,
      facts({ tags: [{ name: 'rc-1', sha: SHA }] }),
      undefined,
      'rc-1',
      released('rc-1'),
    ],
    [
      'to the requested tag',
      demo,
      facts({ tags: [{ name: 'rc-1', sha: SHA }] }),
      'rc-1',
      'rc-1',
      released('rc-1'),
    ],
    [
      'to a commit never released there',
      demo,
      facts(),
      undefined,
      'aaaaaaa',
      {
        name: 'release-tag',
        passed: false,
        reason:
          'aaaaaaa has no rc-* tag, so it was never in demo: promote it instead',
        data: { requiredEnvironment: 'demo' },
      },
    ],
  ])('%s', (_, environment, input, requested, version, check) => {
    expect(releaseTagRule(input, environment, requested)).toEqual({
      check,
      version,
    });
  });
});
