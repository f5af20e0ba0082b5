import { AddressInfo } from 'node:net';
import eventsPlugin from '@backstage/plugin-events-backend';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  PromotionSourceEvents,
  PromotionSourceEventsHandler,
  RuntimeChange,
  RuntimeSubject,
  promotionRuntimeObserverExtensionPoint,
  promotionSourceEventsExtensionPoint,
} from '@mainline/plugin-promotion-node';
import {
  ArgoCdTestServer,
  startArgoCdTestServer,
} from '@mainline/test-servers';
import {
  eventsModuleArgoCdNotifications,
  promotionModuleArgoCd,
} from './module';
import { ArgoCdRuntimeObserver } from './ArgoCdRuntimeObserver';
import { readArgoCdOptions } from './config';
import { ConfigReader } from '@backstage/config';

const SECRET = 'a-shared-secret-of-32-characters';

const payments: RuntimeSubject = {
  entityRef: 'component:default/payments',
  name: 'payments',
  annotations: { 'argocd/app-name': 'payments' },
};

// The module and the events backend's HTTP ingress in a test backend on loopback; the promotion
// plugin's side is the source events it acts through, recording each runtime change.
describe('Argo CD notifications', () => {
  let argo: ArgoCdTestServer;
  let url: string;
  const changes: RuntimeChange[] = [];
  let stop: () => Promise<void>;
  const handlers: PromotionSourceEventsHandler[] = [];

  beforeAll(async () => {
    argo = await startArgoCdTestServer();
    const backend = await startTestBackend({
      extensionPoints: [
        [
          promotionRuntimeObserverExtensionPoint,
          { addRuntimeObserverProvider: () => {} },
        ],
        [
          promotionSourceEventsExtensionPoint,
          { addSourceEventsHandler: h => handlers.push(h) },
        ],
      ],
      features: [
        eventsPlugin,
        // The real events service (the test backend's default is a mock that delivers nothing).
        eventsServiceFactory,
        eventsModuleArgoCdNotifications,
        promotionModuleArgoCd,
        mockServices.rootConfig.factory({
          data: {
            events: { useEventBus: 'never' },
            promotion: {
              artifacts: { insecureHosts: [new URL(argo.baseUrl).host] },
              argocd: {
                instances: [
                  {
                    name: 'main',
                    url: argo.baseUrl,
                    token: argo.token,
                    notifications: { secret: SECRET },
                  },
                  // No secret: its notifications are refused.
                  { name: 'eu', url: argo.baseUrl, token: argo.token },
                ],
              },
            },
          },
        }),
      ],
    });
    if (handlers.length !== 1) throw new Error('no argocd handler added');
    await handlers[0].start({
      logger: mockServices.logger.mock(),
      runtimeChanged: async change => {
        changes.push(change);
        return 1;
      },
    } as Partial<PromotionSourceEvents> as PromotionSourceEvents);
    const { port } = backend.server.address() as AddressInfo;
    url = `http://127.0.0.1:${port}/api/events/http/argocd`;
    stop = () => backend.stop();
  });
  afterAll(async () => {
    await stop?.();
    await argo.close();
  });
  beforeEach(() => {
    changes.length = 0;
  });

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const body = {
    instance: 'main',
    application: 'payments-stage',
    namespace: 'argocd',
    labels: null,
    sync: 'Synced',
    health: 'Healthy',
    phase: 'Succeeded',
  };

  it('adds its handler and wakes the environments of the Application the controller names, on its instance', async () => {
    expect(handlers.map(h => h.name)).toEqual(['argocd']);
    const response = await post(body, { 'x-mainline-argocd-secret': SECRET });
    expect(response.status).toBe(202);
    expect(changes).toHaveLength(1);
    const [change] = changes;
    expect(change.source).toBe('argocd main: payments-stage');
    expect(change.concerns(payments, 'stage')).toBe(true);
    expect(change.concerns(payments, 'prod')).toBe(false);
    // An entity asked only on another instance, and one no Argo CD serves.
    expect(
      change.concerns(
        {
          ...payments,
          annotations: {
            ...payments.annotations,
            'argocd/instance-name': 'eu',
          },
        },
        'stage',
      ),
    ).toBe(false);
    expect(change.concerns({ ...payments, annotations: {} }, 'stage')).toBe(
      false,
    );
  });

  it.each([
    ['no secret', {}, 401, /x-mainline-argocd-secret header is missing/],
    [
      'a wrong secret',
      { 'x-mainline-argocd-secret': `${SECRET}x` },
      401,
      /wrong x-mainline-argocd-secret for instance main/,
    ],
  ])(
    'refuses a notification with %s (401) before anything happens',
    async (_what, headers, status, message) => {
      const response = await post(body, headers);
      expect(response.status).toBe(status);
      expect((await response.json()).error.message).toMatch(message);
      expect(changes).toEqual([]);
    },
  );

  it.each([
    ['an array', [body], /the body must be a JSON object/],
    [
      'no Application',
      { ...body, application: undefined },
      /"application" must be an Application name/,
    ],
    [
      'an Application name that is not one',
      { ...body, application: '../x' },
      /"application" must be an Application name, not "..\/x"/,
    ],
    ['no instance', { ...body, instance: '' }, /"instance" .* is missing/],
    [
      'an instance without notifications',
      { ...body, instance: 'eu' },
      /"eu" is not an Argo CD instance configured for notifications/,
    ],
    ['labels of numbers', { ...body, labels: { a: 1 } }, /"labels" must be/],
  ])('refuses a body with %s (400)', async (_what, bad, message) => {
    const response = await post(bad, { 'x-mainline-argocd-secret': SECRET });
    expect(response.status).toBe(400);
    expect((await response.json()).error.message).toMatch(message);
    expect(changes).toEqual([]);
  });

  it('refuses a body that is not JSON', async () => {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'text/plain',
        'x-mainline-argocd-secret': SECRET,
      },
      body: 'synced',
    });
    expect(response.status).toBe(415);
    expect(changes).toEqual([]);
  });

  it('receives what the Argo CD test server sends when a sync ends', async () => {
    argo.setApplication({
      name: 'payments-stage',
      sync: { status: 'Synced', revision: 'a'.repeat(40) },
      health: { status: 'Healthy', lastTransitionTime: new Date() },
      pods: [],
    });
    argo.notifyTo({
      url,
      instance: 'main',
      headers: { 'x-mainline-argocd-secret': SECRET },
    });
    argo.startSync('payments-stage', 'b'.repeat(40));
    argo.finishSync('payments-stage', { phase: 'Succeeded', pods: [] });
    // Degraded afterwards: on-health-degraded; on-deployed only once for the revision.
    argo.setHealth('payments-stage', 'Degraded', 'crash loop');
    argo.setHealth('payments-stage', 'Healthy');
    await argo.notificationsSettled();
    expect(argo.notifications).toEqual([
      { trigger: 'on-deployed', application: 'payments-stage', status: 202 },
      {
        trigger: 'on-health-degraded',
        application: 'payments-stage',
        status: 202,
      },
    ]);
    expect(changes.map(c => c.concerns(payments, 'stage'))).toEqual([
      true,
      true,
    ]);
    argo.notifyTo(undefined);
  });
});

describe('ArgoCdRuntimeObserver.concerns', () => {
  const observer = new ArgoCdRuntimeObserver(
    readArgoCdOptions(
      new ConfigReader({
        promotion: {
          argocd: {
            instances: [
              { name: 'main', url: 'https://argocd.example.com', token: 't' },
            ],
          },
        },
      }),
    )!,
  );
  const selected: RuntimeSubject = {
    entityRef: 'component:default/payments',
    name: 'payments',
    annotations: { 'argocd/app-selector': 'team=payments' },
  };
  it.each([
    [
      'labelled for the environment',
      { team: 'payments', 'mainline.dev/environment': 'stage' },
      'payments-x',
      true,
    ],
    [
      'labelled for another environment',
      { team: 'payments', 'mainline.dev/environment': 'prod' },
      'payments-stage',
      false,
    ],
    ['not selected', { team: 'orders' }, 'payments-stage', false],
    [
      'selected, named by the pattern',
      { team: 'payments' },
      'payments-stage',
      true,
    ],
    ['selected, another name', { team: 'payments' }, 'payments-prod', false],
    ['without labels in the notification', undefined, 'anything', true],
  ])('by selector, an Application %s: %s', (_what, labels, name, expected) => {
    expect(
      observer.concerns(selected, 'stage', { instance: 'main', name, labels }),
    ).toBe(expected);
  });
});
