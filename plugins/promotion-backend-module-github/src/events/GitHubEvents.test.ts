import { createBackendPlugin } from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import eventsPlugin from '@backstage/plugin-events-backend';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import {
  PromotionSourceEvents,
  PromotionSourceEventsHandler,
  PushedReleaseTag,
  promotionChangeRequestsExtensionPoint,
  promotionDeploymentTargetExtensionPoint,
  promotionSourceControlExtensionPoint,
  promotionSourceEventsExtensionPoint,
} from '@mainline/plugin-promotion-node';
import {
  githubWebhookEventsConfig,
  githubWebhookModules,
  githubWebhookSignature,
} from '@mainline/test-servers';
import request from 'supertest';
import { promotionModuleGithub } from '../module';
import { deliveryId, readGitHubEvent, readPushedTag } from './GitHubEvents';

const SECRET = 'module-webhook-secret';

/**
 * What the module asked of the promotion plugin. The plugin itself is not installed here (its
 * package depends on this one's for its own end-to-end webhook tests, `events/webhooks.test.ts`
 * of `@mainline/plugin-promotion-backend`): a plugin of the same id registers the extension
 * points and answers through {@link PromotionSourceEvents} from a fixed catalog.
 */
class PluginSide implements PromotionSourceEvents {
  logger = mockServices.logger.mock();
  readonly calls: string[] = [];
  readonly tags: PushedReleaseTag[] = [];
  private readonly deliveries = new Set<string>();
  readonly catalog: Record<string, string[]> = {
    'acme/checkout': ['component:default/checkout'],
    'acme/deployments': [
      'component:default/checkout',
      'component:default/payments',
    ],
  };

  async entitiesOfRepositories(repositories: string[]) {
    this.calls.push(`entities ${repositories.join(' ')}`);
    return [...new Set(repositories.flatMap(r => this.catalog[r] ?? []))];
  }
  async lineageChanged(entityRef: string) {
    this.calls.push(`lineage ${entityRef}`);
  }
  async completionSeen(entityRef: string) {
    this.calls.push(`completion ${entityRef}`);
  }
  async runtimeChanged() {
    // GitHub's webhooks say nothing about what runs.
    this.calls.push('runtime');
    return 0;
  }
  async firstDelivery(id: string) {
    if (this.deliveries.has(id)) return false;
    this.deliveries.add(id);
    return true;
  }
  async tagPushed(tag: PushedReleaseTag) {
    this.tags.push(tag);
  }
}

describe('GitHub webhooks through the source events extension point', () => {
  const side = new PluginSide();
  const handlers: PromotionSourceEventsHandler[] = [];
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];

  const plugin = createBackendPlugin({
    pluginId: 'promotion',
    register(env) {
      const ignore = () => {};
      env.registerExtensionPoint(promotionSourceControlExtensionPoint, {
        addSourceControlProvider: ignore,
      });
      env.registerExtensionPoint(promotionChangeRequestsExtensionPoint, {
        addChangeRequestsProvider: ignore,
      });
      env.registerExtensionPoint(promotionDeploymentTargetExtensionPoint, {
        addDeploymentTargetProvider: ignore,
      });
      env.registerExtensionPoint(promotionSourceEventsExtensionPoint, {
        addSourceEventsHandler: handler => handlers.push(handler),
      });
      env.registerInit({
        deps: {},
        async init() {
          for (const handler of handlers) await handler.start(side);
        },
      });
    },
  });

  beforeAll(async () => {
    ({ server } = await startTestBackend({
      features: [
        plugin,
        promotionModuleGithub,
        eventsPlugin,
        ...githubWebhookModules(),
        eventsServiceFactory,
        mockServices.rootConfig.factory({
          data: { events: githubWebhookEventsConfig(SECRET) },
        }),
      ],
    }));
  });

  beforeEach(() => {
    side.calls.length = 0;
    side.tags.length = 0;
  });

  function webhook(
    event: string,
    body: object,
    options: { secret?: string; delivery?: string } = {},
  ) {
    const payload = JSON.stringify(body);
    const signature = githubWebhookSignature(payload, options.secret ?? SECRET);
    const req = request(server)
      .post('/api/events/http/github')
      .set('content-type', 'application/json')
      .set('x-github-event', event)
      .set('x-hub-signature-256', signature);
    if (options.delivery) req.set('x-github-delivery', options.delivery);
    return req.send(payload);
  }

  /** Delivery to subscribers is asynchronous: waits until `calls` has `count` entries. */
  async function settled(count: number) {
    for (let i = 0; i < 50 && side.calls.length < count; i++) {
      await new Promise(resolve => setTimeout(resolve, 50));
    }
    // Then a moment longer, so that a call too many would show.
    await new Promise(resolve => setTimeout(resolve, 150));
    return side.calls;
  }

  it('registers one handler named github', () => {
    expect(handlers.map(h => h.name)).toEqual(['github']);
  });

  it('a signed push refreshes the lineage of every entity of the repository; a forged one does nothing', async () => {
    const forged = await webhook(
      'push',
      {
        ref: 'refs/heads/main',
        repository: { full_name: 'acme/deployments' },
      },
      { secret: 'wrong' },
    );
    expect(forged.status).toBe(403);
    const res = await webhook('push', {
      ref: 'refs/heads/main',
      repository: { full_name: 'acme/deployments' },
    });
    expect(res.status).toBe(202);
    expect(await settled(3)).toEqual([
      'entities acme/deployments',
      'lineage component:default/checkout',
      'lineage component:default/payments',
    ]);
  });

  it('a finished workflow run refreshes lineage and wakes waiting promotions; a started one does not', async () => {
    await webhook('workflow_run', {
      action: 'requested',
      repository: { full_name: 'acme/checkout' },
    });
    await webhook('workflow_run', {
      action: 'completed',
      repository: { full_name: 'acme/checkout' },
    });
    expect(await settled(4)).toEqual([
      'entities acme/checkout',
      'entities acme/checkout',
      'lineage component:default/checkout',
      'completion component:default/checkout',
    ]);
  });

  it('a redelivered webhook is acted on once', async () => {
    const body = {
      action: 'closed',
      repository: { full_name: 'acme/checkout' },
    };
    await webhook('pull_request', body, { delivery: 'delivery-1' });
    await webhook('pull_request', body, { delivery: 'delivery-1' });
    expect(await settled(3)).toEqual([
      'entities acme/checkout',
      'lineage component:default/checkout',
      'completion component:default/checkout',
    ]);
  });

  it('hands a pushed release tag to the plugin with who pushed it', async () => {
    await webhook('create', {
      ref: 'v1.4.0',
      ref_type: 'tag',
      repository: { full_name: 'acme/checkout' },
      sender: { login: 'ada' },
    });
    await settled(2);
    expect(side.tags).toEqual([
      { repo: 'acme/checkout', tag: 'v1.4.0', pusher: 'ada' },
    ]);
  });

  it('after a rename, webhooks with the new name also find the entities naming the old one', async () => {
    await webhook('repository', {
      action: 'renamed',
      changes: { repository: { name: { from: 'checkout' } } },
      repository: { full_name: 'acme/checkout-next' },
    });
    await settled(1);
    expect(side.logger.warn).toHaveBeenCalledWith(
      expect.stringContaining(
        'acme/checkout was renamed to acme/checkout-next; component:default/checkout still name the old one',
      ),
    );
    side.calls.length = 0;
    await webhook('push', {
      ref: 'refs/heads/main',
      repository: { full_name: 'acme/checkout-next' },
    });
    expect(await settled(2)).toEqual([
      'entities acme/checkout-next acme/checkout',
      'lineage component:default/checkout',
    ]);
  });
});

describe('reading GitHub webhooks', () => {
  it.each([
    ['push', {}, { refsChanged: true, completion: false }],
    ['create', {}, { refsChanged: true, completion: false }],
    ['delete', {}, { refsChanged: true, completion: false }],
    [
      'workflow_run',
      { action: 'completed' },
      { refsChanged: true, completion: true },
    ],
    [
      'workflow_run',
      { action: 'in_progress' },
      { refsChanged: false, completion: false },
    ],
    [
      'pull_request',
      { action: 'closed' },
      { refsChanged: true, completion: true },
    ],
    [
      'pull_request',
      { action: 'opened' },
      { refsChanged: false, completion: false },
    ],
  ])('github.%s %j', (type, extra, expected) => {
    expect(
      readGitHubEvent({
        topic: `github.${type}`,
        eventPayload: { ...extra, repository: { full_name: 'acme/svc' } },
      }),
    ).toEqual({ repo: 'acme/svc', ...expected });
  });

  it('ignores other topics and payloads without a well-formed repository', () => {
    expect(
      readGitHubEvent({
        topic: 'github.issues',
        eventPayload: { repository: { full_name: 'acme/svc' } },
      }),
    ).toBeUndefined();
    expect(
      readGitHubEvent({
        topic: 'github.push',
        eventPayload: { repository: { full_name: 'acme svc; rm' } },
      }),
    ).toBeUndefined();
  });

  it("a repository's renamed webhook is read with its former name", () => {
    expect(
      readGitHubEvent({
        topic: 'github.repository',
        eventPayload: {
          action: 'renamed',
          changes: { repository: { name: { from: 'old' } } },
          repository: { full_name: 'acme/new', id: 1 },
        },
      }),
    ).toEqual({
      repo: 'acme/new',
      refsChanged: false,
      completion: false,
      renamedFrom: 'acme/old',
    });
  });

  it('reads pushed release tags from create and push, not from branch pushes or deletions', () => {
    const repository = { full_name: 'acme/svc' };
    expect(
      readPushedTag({
        topic: 'github.push',
        eventPayload: { repository, ref: 'refs/tags/v2.0.0', created: true },
      }),
    ).toEqual({ repo: 'acme/svc', tag: 'v2.0.0', pusher: undefined });
    expect(
      readPushedTag({
        topic: 'github.push',
        eventPayload: { repository, ref: 'refs/heads/main', created: true },
      }),
    ).toBeUndefined();
    expect(
      readPushedTag({
        topic: 'github.push',
        eventPayload: {
          repository,
          ref: 'refs/tags/v2.0.0',
          created: false,
          deleted: true,
        },
      }),
    ).toBeUndefined();
  });

  it('reads the delivery id from the headers the events ingress passes on', () => {
    expect(
      deliveryId({
        topic: 'github.push',
        eventPayload: {},
        metadata: { 'x-github-delivery': ['abc'] },
      }),
    ).toBe('abc');
    expect(deliveryId({ topic: 'github.push', eventPayload: {} })).toBe(
      undefined,
    );
  });
});
