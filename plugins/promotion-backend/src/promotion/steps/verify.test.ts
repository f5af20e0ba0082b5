import { RuntimeState } from '@mainline/plugin-promotion-node';
import { ExpectedRuntime, judgeRuntime } from './verify';

// One observation judged against what the promotion deployed: pure, a table of states.

const DIGEST = `sha256:${'1'.repeat(64)}`;
const OLD = `sha256:${'2'.repeat(64)}`;
const OURS = 'a'.repeat(40);
const EARLIER = 'e'.repeat(40);
const expected: ExpectedRuntime = {
  environment: 'demo',
  version: 'rc-4',
  digest: DIGEST,
  revision: OURS,
  deployedAt: '2026-12-02T12:00:00Z',
};
const state = (overrides: Partial<RuntimeState> = {}): RuntimeState => ({
  environment: 'demo',
  source: 'argocd main: checkout-demo',
  sync: { status: 'Synced', revision: OURS },
  health: { status: 'Healthy' },
  lastOperation: {
    phase: 'Succeeded',
    revision: OURS,
    startedAt: '2026-12-02T12:00:01Z',
    finishedAt: '2026-12-02T12:00:05Z',
  },
  runningDigests: [DIGEST],
  observedAt: '2026-12-02T12:00:06Z',
  ...overrides,
});

describe('judgeRuntime', () => {
  it.each([
    [
      'synced to the commit, healthy, running the digest',
      state(),
      'verified',
      undefined,
    ],
    ['nothing observed yet', undefined, 'waiting', 'timeout'],
    [
      'still at the earlier commit, OutOfSync',
      state({ sync: { status: 'OutOfSync', revision: EARLIER } }),
      'waiting',
      'timeout',
    ],
    [
      'Synced, but to another revision',
      state({
        sync: { status: 'Synced', revision: EARLIER },
        lastOperation: undefined,
      }),
      'waiting',
      'synced-to-other-revision',
    ],
    [
      'the sync of the commit failed, the old version healthy',
      state({
        sync: { status: 'OutOfSync', revision: OURS },
        lastOperation: {
          phase: 'Failed',
          revision: OURS,
          message: 'one or more objects failed to apply',
        },
        runningDigests: [OLD],
      }),
      'failed',
      'sync-failed',
    ],
    [
      'an earlier sync failed, not this one',
      state({
        sync: { status: 'OutOfSync', revision: EARLIER },
        lastOperation: { phase: 'Failed', revision: EARLIER },
      }),
      'waiting',
      'timeout',
    ],
    [
      'synced, pods still Progressing',
      state({
        health: { status: 'Progressing' },
        runningDigests: [DIGEST, OLD],
      }),
      'waiting',
      'timeout',
    ],
    [
      'synced, Degraded',
      state({ health: { status: 'Degraded', message: 'CrashLoopBackOff' } }),
      'failed',
      'degraded',
    ],
    [
      'synced and healthy, running another digest',
      state({ runningDigests: [OLD] }),
      'failed',
      'digest-mismatch',
    ],
    [
      'synced and healthy, the old pods still going',
      state({ runningDigests: [DIGEST, OLD] }),
      'waiting',
      'digest-mismatch',
    ],
  ] as const)('%s', (_title, observed, verdict, reason) => {
    const judged = judgeRuntime(observed, expected);
    expect(judged.state).toBe(verdict);
    const why =
      (judged.state === 'failed' && judged.reason) ||
      (judged.state === 'waiting' && judged.onTimeout) ||
      undefined;
    expect(why).toBe(reason);
  });

  it('takes a later revision containing the commit (the branch moved on)', () => {
    const later = state({ sync: { status: 'Synced', revision: EARLIER } });
    expect(judgeRuntime(later, expected, true).state).toBe('verified');
    expect(judgeRuntime(later, expected, false).state).toBe('waiting');
  });

  it('for a Lambda package: Synced at the promoted commit (the observer checked the code hashes) and Healthy', () => {
    const SHA = 'c'.repeat(40);
    const lambda: ExpectedRuntime = {
      environment: 'demo',
      version: 'rc-4',
      revision: SHA,
      deployedAt: '2026-12-02T12:00:00Z',
    };
    const fn = (overrides: Partial<RuntimeState>) =>
      state({ runningDigests: [], lastOperation: undefined, ...overrides });
    expect(
      judgeRuntime(fn({ sync: { status: 'Synced', revision: SHA } }), lambda),
    ).toMatchObject({ state: 'verified' });
    expect(
      judgeRuntime(
        fn({ sync: { status: 'OutOfSync', revision: SHA } }),
        lambda,
      ),
    ).toMatchObject({ state: 'waiting', onTimeout: 'timeout' });
    expect(
      judgeRuntime(
        fn({ sync: { status: 'Synced', revision: EARLIER } }),
        lambda,
      ),
    ).toMatchObject({
      state: 'waiting',
      onTimeout: 'synced-to-other-revision',
    });
    expect(
      judgeRuntime(
        fn({
          sync: { status: 'OutOfSync', revision: SHA },
          lastOperation: {
            phase: 'Failed',
            revision: SHA,
            message: 'update failed',
          },
        }),
        lambda,
      ),
    ).toMatchObject({ state: 'failed', reason: 'sync-failed' });
  });

  it('without a recorded revision, compares the digest alone', () => {
    const unrecorded = { ...expected, revision: undefined };
    expect(
      judgeRuntime(state({ sync: { status: 'Synced' } }), unrecorded).state,
    ).toBe('verified');
    expect(
      judgeRuntime(
        state({
          lastOperation: {
            phase: 'Failed',
            startedAt: '2026-12-02T12:00:02Z',
            message: 'update failed',
          },
        }),
        unrecorded,
      ),
    ).toMatchObject({ state: 'failed', reason: 'sync-failed' });
  });
});
