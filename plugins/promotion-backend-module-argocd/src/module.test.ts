import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  RuntimeObserverProvider,
  promotionRuntimeObserverExtensionPoint,
  promotionSourceEventsExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { memoryCache } from '@mainline/plugin-promotion-node/testUtils';
import { startArgoCdTestServer } from '@mainline/test-servers';
import { promotionModuleArgoCd } from './module';

describe('promotionModuleArgoCd', () => {
  it('adds the argocd runtime observer, built from promotion.argocd', async () => {
    const argo = await startArgoCdTestServer();
    try {
      const providers: RuntimeObserverProvider[] = [];
      const data = {
        promotion: {
          artifacts: { insecureHosts: [new URL(argo.baseUrl).host] },
          argocd: {
            instances: [{ name: 'main', url: argo.baseUrl, token: argo.token }],
          },
        },
      };
      await startTestBackend({
        extensionPoints: [
          [
            promotionRuntimeObserverExtensionPoint,
            { addRuntimeObserverProvider: p => providers.push(p) },
          ],
          // Without notifications.secret no notifications handler is added.
          [
            promotionSourceEventsExtensionPoint,
            {
              addSourceEventsHandler: h => {
                throw new Error(`unexpected handler ${h.name}`);
              },
            },
          ],
        ],
        features: [
          promotionModuleArgoCd,
          mockServices.rootConfig.factory({ data }),
        ],
      });
      expect(providers.map(p => p.name)).toEqual(['argocd']);
      const context = {
        config: mockServices.rootConfig({ data }),
        logger: mockServices.logger.mock(),
        cache: memoryCache(),
      };
      const observer = providers[0].create(context)!;
      const subject = {
        entityRef: 'component:default/payments',
        name: 'payments',
        annotations: { 'argocd/app-name': 'payments' },
      };
      expect(observer.serves(subject)).toBe(true);
      expect(observer.serves({ ...subject, annotations: {} })).toBe(false);
      expect(await observer.observe(subject, ['stage'])).toEqual({
        stage: undefined,
      });
      expect(argo.requests).toEqual([
        { method: 'GET', path: '/api/v1/applications', status: 200 },
      ]);
      // Not configured: no observer, and nothing is contacted.
      expect(
        providers[0].create({ ...context, config: mockServices.rootConfig() }),
      ).toBeUndefined();
    } finally {
      await argo.close();
    }
  });
});
