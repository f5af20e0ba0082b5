import { AddressInfo } from 'node:net';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import eventsPlugin from '@backstage/plugin-events-backend';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import {
  eventsModuleArgoCdNotifications,
  promotionModuleArgoCd,
} from '@mainline/plugin-promotion-backend-module-argocd';
import {
  PromotionSourceEventsHandler,
  promotionRuntimeObserverExtensionPoint,
  promotionSourceEventsExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { ArgoCdTestServer } from '@mainline/test-servers';
import { sourceEvents, wakeVerifySteps } from '../events/SourceEvents';
import { PromotionService } from '../promotion/PromotionService';
import { EntityContext } from '../promotion/types';

/**
 * Argo CD notifications over the real path, for tests and the verify bench: the test server's
 * webhooks to the events backend's HTTP ingress on loopback (the module's secret check), the
 * module's subscriber, and the plugin's source events waking `service`'s verify steps. The
 * test server is pointed at the ingress with `secret`; `stop` ends the backend.
 */
export async function startArgoCdNotifications(options: {
  argo: ArgoCdTestServer;
  secret: string;
  service: PromotionService;
  entity: EntityContext;
}): Promise<{ url: string; stop(): Promise<void> }> {
  const { argo, secret, service, entity } = options;
  const handlers: PromotionSourceEventsHandler[] = [];
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
      // The real events service (the test backend's default delivers nothing).
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
                  notifications: { secret },
                },
              ],
            },
          },
        },
      }),
    ],
  });
  const unused = () => Promise.reject(new Error('not used here'));
  await handlers[0].start(
    sourceEvents({
      catalog: { getEntities: unused } as any,
      auth: { getOwnServiceCredentials: unused } as any,
      logger: mockServices.rootLogger({ level: 'none' }),
      invalidate: unused,
      followWaiting: unused,
      firstDelivery: unused,
      wakeVerify: wakeVerifySteps(service, async () => entity),
    }),
  );
  const { port } = backend.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/api/events/http/argocd`;
  argo.notifyTo({
    url,
    instance: 'main',
    headers: { 'x-mainline-argocd-secret': secret },
  });
  return {
    url,
    stop: async () => {
      argo.notifyTo(undefined);
      await backend.stop();
    },
  };
}
