import crypto from 'node:crypto';
import path from 'node:path';
import type { BackendFeature } from '@backstage/backend-plugin-api';

/**
 * The two modules of `@backstage/plugin-events-backend-module-github` (the webhook signature
 * check and the routing by event type) for a test backend. The package's default export is a
 * feature loader using dynamic import(), which jest's CommonJS runtime cannot follow, so the
 * modules are loaded from its build directly.
 */
export function githubWebhookModules(): BackendFeature[] {
  const dir = path.dirname(
    require.resolve(
      '@backstage/plugin-events-backend-module-github/package.json',
    ),
  );
  return [
    'dist/service/eventsModuleGithubWebhook.cjs.js',
    'dist/service/eventsModuleGithubEventRouter.cjs.js',
  ].map(file => require(path.join(dir, file)).default);
}

/**
 * The `events` configuration of a one-process test backend that takes GitHub's webhooks on
 * `/api/events/http/github`, signed with `secret`.
 */
export function githubWebhookEventsConfig(secret: string) {
  return {
    // One process: no need for the database-backed bus between replicas.
    useEventBus: 'never',
    http: { topics: ['github'] },
    modules: { github: { webhookSecret: secret } },
  };
}

/** The `X-Hub-Signature-256` GitHub sends with `payload` for a webhook with `secret`. */
export function githubWebhookSignature(payload: string, secret: string) {
  return `sha256=${crypto
    .createHmac('sha256', secret)
    .update(payload)
    .digest('hex')}`;
}
