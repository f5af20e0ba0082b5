import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import { RuntimeState, Artifact } from '@mainline/plugin-promotion-node';
import { requireRunningInRule } from './rules';

// requireRunningIn is pure like the other rules: a row of facts and an observation in, a check
// out. No runtime is asked.

const SHA = 'a'.repeat(40);
const DIGEST = `sha256:${'1'.repeat(64)}`;
const OLD = `sha256:${'2'.repeat(64)}`;
const NOW = new Date('2026-12-02T12:00:00Z');
const [, demo, prod] = DEFAULT_ENVIRONMENTS.map(e => ({ ...e }));
const artifact: Artifact = {
  kind: 'image',
  commit: SHA.slice(0, 7),
  uri: `local/checkout:${SHA.slice(0, 7)}@${DIGEST}`,
  digest: DIGEST,
  size: 1,
  createdAt: '2026-12-01T00:00:00Z',
  tags: [SHA.slice(0, 7)],
};
const stage = (overrides: Partial<RuntimeState> = {}): RuntimeState => ({
  environment: 'stage',
  source: 'argocd main: checkout-stage',
  sync: { status: 'Synced', revision: 'c'.repeat(40) },
  health: { status: 'Healthy' },
  runningDigests: [DIGEST],
  since: '2026-12-02T11:00:00Z',
  observedAt: NOW.toISOString(),
  ...overrides,
});
const thirtyMinutes = { environment: 'stage', forMs: 30 * 60 * 1000 };
const facts = { sha: SHA, artifacts: [artifact], releaseBranch: undefined };

describe('requireRunningInRule', () => {
  it.each([
    {
      title: 'passes: stage has run the digest healthy for an hour',
      runtime: stage(),
      passed: true,
      reason:
        /has run healthy in stage since 2026-12-02T11:00:00Z \(at least 30m\)/,
      data: { since: '2026-12-02T11:00:00Z' },
    },
    {
      title: 'refuses: healthy for 10 minutes only',
      runtime: stage({ since: '2026-12-02T11:50:00Z' }),
      passed: false,
      reason:
        /running healthy in stage for 30m; it has run there healthy since 2026-12-02T11:50:00Z \(10m\), ready at 2026-12-02T12:20:00.000Z/,
      data: { since: '2026-12-02T11:50:00Z' },
    },
    {
      title: 'refuses: stage runs another digest',
      runtime: stage({ runningDigests: [OLD] }),
      passed: false,
      reason: /stage runs sha256:2{64}, not sha256:1{64} \(aaaaaaa\)/,
      data: {},
    },
    {
      title: 'refuses: mid-rollout, old and new both run',
      runtime: stage({ runningDigests: [DIGEST, OLD].sort() }),
      passed: false,
      reason: /stage runs sha256:1{64}, sha256:2{64}, not/,
      data: {},
    },
    {
      title: 'refuses: nothing runs',
      runtime: stage({ runningDigests: [] }),
      passed: false,
      reason: /stage runs nothing, not/,
      data: {},
    },
    {
      title: 'refuses: running it, but Degraded',
      runtime: stage({ health: { status: 'Degraded' } }),
      passed: false,
      reason: /stage runs it Synced and Degraded/,
      data: { since: '2026-12-02T11:00:00Z' },
    },
    {
      title: 'refuses: running it, but OutOfSync',
      runtime: stage({ sync: { status: 'OutOfSync' } }),
      passed: false,
      reason: /stage runs it OutOfSync and Healthy/,
      data: { since: '2026-12-02T11:00:00Z' },
    },
    {
      title: 'refuses: the runtime does not say since when',
      runtime: stage({ since: undefined }),
      passed: false,
      reason: /does not say since when it runs/,
      data: {},
    },
    {
      title: 'refuses: no Application for stage',
      runtime: null,
      passed: false,
      reason: /nothing is observed running in stage/,
      data: {},
    },
  ])('$title', ({ runtime, passed, reason, data }) => {
    const check = requireRunningInRule({
      facts,
      environment: demo,
      requirement: thirtyMinutes,
      runtime,
      now: NOW,
    });
    expect(check).toMatchObject({
      name: 'running-in',
      passed,
      data: { requiredEnvironment: 'stage', requiredSeconds: 1800, ...data },
    });
    expect(check!.reason).toMatch(reason);
    expect(check!.reason.startsWith('policy: demo takes only')).toBe(!passed);
  });

  it('asks nothing of an entity without an observer, or of an environment without the policy', () => {
    expect(
      requireRunningInRule({
        facts,
        environment: demo,
        requirement: thirtyMinutes,
        runtime: undefined,
        now: NOW,
      }),
    ).toBeUndefined();
    expect(
      requireRunningInRule({
        facts,
        environment: demo,
        requirement: undefined,
        runtime: stage(),
        now: NOW,
      }),
    ).toBeUndefined();
  });

  it('refuses a commit without an artifact', () => {
    expect(
      requireRunningInRule({
        facts: { ...facts, artifacts: [] },
        environment: demo,
        requirement: thirtyMinutes,
        runtime: stage(),
        now: NOW,
      }),
    ).toMatchObject({ passed: false, reason: /aaaaaaa has no artifact/ });
  });

  it('takes a package as running when the observer reports the commit Synced (its code hashes checked)', () => {
    const pkg = {
      ...facts,
      artifacts: [{ ...artifact, kind: 'archive' as const, commit: SHA }],
    };
    const lambda = (revision: string) =>
      stage({ sync: { status: 'Synced', revision }, runningDigests: [] });
    expect(
      requireRunningInRule({
        facts: pkg,
        environment: demo,
        requirement: thirtyMinutes,
        runtime: lambda(SHA),
        now: NOW,
      }),
    ).toMatchObject({ passed: true });
    expect(
      requireRunningInRule({
        facts: pkg,
        environment: demo,
        requirement: thirtyMinutes,
        runtime: lambda('d'.repeat(40)),
        now: NOW,
      }),
    ).toMatchObject({
      passed: false,
      reason: /stage runs ddddddd, not aaaaaaa/,
    });
  });

  it('lets a release branch go to production without the soak', () => {
    expect(
      requireRunningInRule({
        facts: { ...facts, releaseBranch: 'release/1.x' },
        environment: prod,
        requirement: { environment: 'demo', forMs: 3_600_000 },
        runtime: null,
        now: NOW,
      }),
    ).toMatchObject({ passed: true, reason: /release\/1.x: the release/ });
  });
});
