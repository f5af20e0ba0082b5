import { mockServices } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { cacheServiceFactory } from '@backstage/backend-defaults/cache';
import eventsPlugin from '@backstage/plugin-events-backend';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import { Entity } from '@backstage/catalog-model';
import { JsonObject } from '@backstage/types';
import { promotionWithAdapters } from './adapterModules';
import { demoEntities } from '../testUtils';
import { memoryCacheFactory } from './demoBackend';
import crypto from 'node:crypto';
import request from 'supertest';
import {
  githubWebhookModules,
  githubWebhookSignature,
} from '@mainline/test-servers';

export { githubWebhookModules };

const githubModules = githubWebhookModules();

/**
 * The features of a test backend running the plugin on the demo catalog with `config`, and the
 * events plugin receiving GitHub's webhooks over HTTP: the real events service, one bus shared by
 * all plugins (the default mock is per plugin), so that the promotion plugin hears them. With
 * `backend.cache` in `config` the cache is Backstage's own on that store (Redis, shared by
 * replicas), else a memory cache of this backend's own. The catalog holds `entities` (the demo's).
 */
export function webhookBackendFeatures(
  config: JsonObject,
  entities: Entity[] = demoEntities(),
) {
  return [
    ...promotionWithAdapters,
    eventsPlugin,
    ...githubModules,
    eventsServiceFactory,
    catalogServiceMock.factory({ entities }),
    (config.backend as JsonObject | undefined)?.cache
      ? cacheServiceFactory
      : memoryCacheFactory(),
    mockServices.rootConfig.factory({ data: config }),
  ];
}

/**
 * Delivers one GitHub webhook to a test backend's events endpoint as GitHub would: the JSON body,
 * the event and delivery headers and the `X-Hub-Signature-256` of `secret`. Answers the
 * endpoint's response (202 when it took the delivery).
 */
export async function deliverGitHubWebhook(
  server: Parameters<typeof request>[0],
  options: {
    event: string;
    body: object;
    secret: string;
    delivery?: string;
  },
) {
  const payload = JSON.stringify(options.body);
  return request(server)
    .post('/api/events/http/github')
    .set('content-type', 'application/json')
    .set('x-github-event', options.event)
    .set('x-github-delivery', options.delivery ?? crypto.randomUUID())
    .set('x-hub-signature-256', githubWebhookSignature(payload, options.secret))
    .send(payload);
}
