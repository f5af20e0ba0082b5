import { ConfigReader } from '@backstage/config';
import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import { readEnvironments } from '../service/environments';
import { readRuntimeSettings } from './settings';

const read = (promotion: object) => {
  const config = new ConfigReader({ promotion });
  return readRuntimeSettings(config, readEnvironments(config));
};

describe('readRuntimeSettings', () => {
  it('without configured environments: a 10m verify timeout, demo soaks in stage 30m, prod in demo 1h', () => {
    expect(read({})).toEqual({
      minPollMs: 2000,
      maxPollMs: 30_000,
      environments: {
        stage: { verify: { timeoutMs: 600_000, rollback: false } },
        demo: {
          verify: { timeoutMs: 600_000, rollback: false },
          requireRunningIn: { environment: 'stage', forMs: 1_800_000 },
        },
        prod: {
          verify: { timeoutMs: 600_000, rollback: false },
          requireRunningIn: { environment: 'demo', forMs: 3_600_000 },
        },
      },
    });
    expect(DEFAULT_ENVIRONMENTS.map(e => e.name)).toEqual([
      'stage',
      'demo',
      'prod',
    ]);
  });

  it('reads each environment’s verify timeout, rollback and requireRunningIn, and nothing else is assumed', () => {
    expect(
      read({
        environments: [
          { name: 'stage', branch: 'main' },
          {
            name: 'demo',
            tagPattern: 'rc-*',
            verify: { timeout: '5m', rollback: true },
          },
          {
            name: 'prod',
            tagPattern: 'v*',
            policy: { requireRunningIn: { environment: 'demo', for: 'PT2H' } },
          },
        ],
        verify: { minPoll: '1s', maxPoll: { seconds: 10 } },
      }),
    ).toEqual({
      minPollMs: 1000,
      maxPollMs: 10_000,
      environments: {
        stage: { verify: { timeoutMs: 600_000, rollback: false } },
        demo: { verify: { timeoutMs: 300_000, rollback: true } },
        prod: {
          verify: { timeoutMs: 600_000, rollback: false },
          requireRunningIn: { environment: 'demo', forMs: 7_200_000 },
        },
      },
    });
  });

  it.each([
    [
      {
        name: 'demo',
        tagPattern: 'rc-*',
        policy: { requireRunningIn: { environment: 'prod', for: '1h' } },
      },
      /environment "demo": policy.requireRunningIn.environment "prod" must name an earlier environment \(stage\)/,
    ],
    [
      { name: 'demo', tagPattern: 'rc-*', verify: { timeout: 'soon' } },
      /environment "demo" verify.timeout: .*\(e.g. 10m, 30s, PT1H\)/,
    ],
    [
      { name: 'demo', tagPattern: 'rc-*', verify: { rollback: 'sometimes' } },
      /environment "demo": verify.rollback must be true or false, not "sometimes"/,
    ],
  ])('fails start-up naming the key: %j', (demo, message) => {
    expect(() =>
      read({
        environments: [{ name: 'stage', branch: 'main' }, demo],
      }),
    ).toThrow(message);
  });
});
