import { ConfigReader } from '@backstage/config';
import {
  RuntimeEnvironmentFixture,
  runRuntimeObserverContract,
} from '@mainline/plugin-promotion-node/testUtils';
import {
  ArgoCdApplicationSeed,
  ArgoCdTestServer,
  startArgoCdTestServer,
} from '@mainline/test-servers';
import { ArgoCdRuntimeObserver } from './ArgoCdRuntimeObserver';
import { readArgoCdOptions } from './config';

const servers: ArgoCdTestServer[] = [];
afterAll(() => Promise.all(servers.map(s => s.close())));

async function server(options?: Parameters<typeof startArgoCdTestServer>[0]) {
  const started = await startArgoCdTestServer(options);
  servers.push(started);
  return started;
}

function observerFor(
  instances: Array<{ name: string; url: string; token: string }>,
  argocd: Record<string, unknown> = {},
) {
  const config = new ConfigReader({
    promotion: {
      // The test servers listen on plain http: exactly their host:port is allowed.
      artifacts: { insecureHosts: instances.map(i => new URL(i.url).host) },
      argocd: { ...argocd, instances },
    },
  });
  return new ArgoCdRuntimeObserver(readArgoCdOptions(config)!);
}

function seedOf(
  name: string,
  state: RuntimeEnvironmentFixture,
  labels?: Record<string, string>,
): ArgoCdApplicationSeed {
  return {
    name,
    labels,
    sync: state.sync,
    health: {
      status: state.health.status,
      message: state.health.message,
      lastTransitionTime: state.health.since,
    },
    operation: state.operation,
    pods: state.pods,
  };
}

runRuntimeObserverContract('ArgoCdRuntimeObserver', async fixture => {
  const argo = await server();
  for (const state of fixture.environments) {
    argo.setApplication(
      seedOf(`${fixture.entity.name}-${state.environment}`, state),
    );
  }
  // Another service's Application that a careless name match would pick up.
  argo.setApplication(seedOf('payments-api-qa', fixture.environments[0]));
  return {
    observer: observerFor([
      { name: 'main', url: argo.baseUrl, token: argo.token },
    ]),
    subject: {
      ...fixture.entity,
      annotations: { 'argocd/app-name': fixture.entity.name },
    },
    stranger: {
      entityRef: 'component:default/nothing-here',
      name: 'nothing-here',
      annotations: { 'argocd/app-name': 'nothing-here' },
    },
    transition: async state =>
      argo.setApplication(
        seedOf(`${fixture.entity.name}-${state.environment}`, state),
      ),
  };
});

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const healthy = (revision: string): RuntimeEnvironmentFixture => ({
  environment: 'stage',
  sync: { status: 'Synced', revision },
  health: { status: 'Healthy', since: new Date('2024-06-01T10:00:00Z') },
  pods: [
    {
      name: 'pod-1',
      containers: [
        { name: 'app', image: 'ecr.example/payments:1', digest: DIGEST },
      ],
    },
  ],
});

describe('ArgoCdRuntimeObserver', () => {
  it('finds Applications by selector and environment label, on the instance the entity names', async () => {
    const east = await server({ token: 'east-token' });
    const west = await server({ token: 'west-token' });
    east.setApplication(
      seedOf('checkout-stage', healthy('a'.repeat(40)), {
        team: 'pay',
        'mainline.dev/environment': 'stage',
      }),
    );
    west.setApplication(
      seedOf('checkout-eu', healthy('b'.repeat(40)), {
        team: 'pay',
        'mainline.dev/environment': 'stage',
      }),
    );
    west.setApplication(
      seedOf('other-stage', healthy('c'.repeat(40)), {
        team: 'other',
        'mainline.dev/environment': 'stage',
      }),
    );
    const observer = observerFor([
      { name: 'east', url: east.baseUrl, token: east.token },
      { name: 'west', url: west.baseUrl, token: west.token },
    ]);
    const subject = {
      entityRef: 'component:default/checkout',
      name: 'checkout',
      annotations: {
        'argocd/app-selector': 'team=pay',
        'argocd/instance-name': 'west',
      },
    };
    east.resetRequests();
    const states = await observer.observe(subject, ['stage', 'prod']);
    expect(states.stage).toMatchObject({
      source: 'argocd west: checkout-eu',
      url: `${west.baseUrl}/applications/argocd/checkout-eu`,
      sync: { revision: 'b'.repeat(40) },
      runningDigests: [DIGEST],
    });
    expect(states.prod).toBeUndefined();
    // Only the named instance was asked.
    expect(east.requests).toEqual([]);
    // One list, one tree, one live Pod.
    expect(west.requests.map(r => r.path)).toEqual([
      '/api/v1/applications',
      '/api/v1/applications/checkout-eu/resource-tree',
      '/api/v1/applications/checkout-eu/resource',
    ]);

    // Without an instance name every instance is asked; the first configured that has it wins.
    const unnamed = await observer.observe(
      { ...subject, annotations: { 'argocd/app-selector': 'team=pay' } },
      ['stage'],
    );
    expect(unnamed.stage?.source).toBe('argocd east: checkout-stage');

    await expect(
      observer.observe(
        {
          ...subject,
          annotations: {
            ...subject.annotations,
            'argocd/instance-name': 'north',
          },
        },
        ['stage'],
      ),
    ).rejects.toThrow(
      /names "north", which is not among the configured Argo CD instances \(east, west\)/,
    );
  });

  it('fails naming the instance when the token is rejected or the server is gone', async () => {
    const argo = await server();
    argo.setApplication(seedOf('payments-stage', healthy('a'.repeat(40))));
    const subject = {
      entityRef: 'component:default/payments',
      name: 'payments',
      annotations: { 'argocd/app-name': 'payments' },
    };
    const wrong = observerFor([
      { name: 'main', url: argo.baseUrl, token: 'stale' },
    ]);
    await expect(wrong.observe(subject, ['stage'])).rejects.toMatchObject({
      name: 'ServiceUnavailableError',
      message:
        'Argo CD instance main answered HTTP 401 to GET /api/v1/applications (the token was rejected)',
    });
    const gone = await server();
    await gone.close();
    servers.splice(servers.indexOf(gone), 1);
    const unreachable = observerFor([
      { name: 'gone', url: gone.baseUrl, token: gone.token },
    ]);
    await expect(unreachable.observe(subject, ['stage'])).rejects.toThrow(
      /^Argo CD instance gone could not be reached for GET \/api\/v1\/applications/,
    );
  });

  it('contacts only configured hosts over https, plain http only where allowed', () => {
    const read = (url: string, insecureHosts: string[] = []) =>
      readArgoCdOptions(
        new ConfigReader({
          promotion: {
            artifacts: { insecureHosts },
            argocd: { instances: [{ name: 'a', url, token: 't' }] },
          },
        }),
      );
    expect(read('https://argocd.example.com/')?.instances[0].baseUrl).toBe(
      'https://argocd.example.com',
    );
    expect(() => read('http://argocd.example.com')).toThrow(
      /promotion.argocd.instances\[0\].url must be https/,
    );
    expect(
      read('http://127.0.0.1:8080', ['127.0.0.1:8080'])?.instances[0].baseUrl,
    ).toBe('http://127.0.0.1:8080');
    expect(() => read('https://user:pw@argocd.example.com')).toThrow(
      /must not carry credentials/,
    );
    expect(read('https://x')).toBeDefined();
    expect(readArgoCdOptions(new ConfigReader({}))).toBeUndefined();
  });

  it('reads a failed sync and a crash-looping rollout as they are', async () => {
    const argo = await server();
    const revision = 'a'.repeat(40);
    argo.setApplication(seedOf('payments-stage', healthy(revision)));
    const observer = observerFor([
      { name: 'main', url: argo.baseUrl, token: argo.token },
    ]);
    const subject = {
      entityRef: 'component:default/payments',
      name: 'payments',
      annotations: { 'argocd/app-name': 'payments' },
    };
    const next = 'b'.repeat(40);
    argo.startSync('payments-stage', next);
    argo.finishSync('payments-stage', {
      phase: 'Failed',
      message: `ComparisonError: ${'x'.repeat(2000)}`,
    });
    const failed = (await observer.observe(subject, ['stage'])).stage!;
    expect(failed).toMatchObject({
      sync: { status: 'OutOfSync', revision: next },
      health: { status: 'Healthy' },
      lastOperation: { phase: 'Failed', revision: next },
      runningDigests: [DIGEST],
    });
    expect(failed.lastOperation!.message!.length).toBeLessThanOrEqual(501);

    argo.startSync('payments-stage', next);
    const newDigest = `sha256:${'cd'.repeat(32)}`;
    argo.finishSync('payments-stage', {
      phase: 'Succeeded',
      health: 'Degraded',
      pods: [
        {
          name: 'pod-2',
          health: 'Degraded',
          containers: [
            { name: 'app', image: 'ecr.example/payments:2', digest: newDigest },
          ],
        },
      ],
    });
    expect((await observer.observe(subject, ['stage'])).stage).toMatchObject({
      sync: { status: 'Synced', revision: next },
      health: { status: 'Degraded' },
      lastOperation: { phase: 'Succeeded' },
      runningDigests: [newDigest],
    });
  });
});
