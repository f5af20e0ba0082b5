import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  ArtifactRegistryProvider,
  RuntimeObserverProvider,
  promotionArtifactRegistryExtensionPoint,
  promotionRuntimeObserverExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { memoryCache } from '@mainline/plugin-promotion-node/testUtils';
import { startLambdaTestServer } from '@mainline/test-servers';
import { promotionModuleAws } from './module';

describe('promotionModuleAws', () => {
  it('adds the aws registries and the lambda runtime observer, built from promotion.runtime.lambda', async () => {
    const lambda = await startLambdaTestServer();
    try {
      const registries: ArtifactRegistryProvider[] = [];
      const observers: RuntimeObserverProvider[] = [];
      const data = {
        aws: {
          mainAccount: { accessKeyId: 'AKID', secretAccessKey: 'secret' },
        },
        promotion: {
          artifacts: { insecureHosts: [new URL(lambda.endpoint).host] },
          runtime: {
            lambda: { region: lambda.region, endpoint: lambda.endpoint },
          },
        },
      };
      await startTestBackend({
        extensionPoints: [
          [
            promotionArtifactRegistryExtensionPoint,
            { addArtifactRegistryProvider: p => registries.push(p) },
          ],
          [
            promotionRuntimeObserverExtensionPoint,
            { addRuntimeObserverProvider: p => observers.push(p) },
          ],
        ],
        features: [
          promotionModuleAws,
          mockServices.rootConfig.factory({ data }),
        ],
      });
      expect(registries.map(p => p.name)).toEqual(['aws']);
      expect(observers.map(p => p.name)).toEqual(['lambda']);
      const context = {
        config: mockServices.rootConfig({ data }),
        logger: mockServices.logger.mock(),
        cache: memoryCache(),
      };
      const observer = observers[0].create(context)!;
      const subject = {
        entityRef: 'component:default/invoices',
        name: 'invoices',
        annotations: { 'mainline.dev/serverless-service': 'invoices' },
      };
      expect(observer.serves(subject)).toBe(true);
      expect(observer.serves({ ...subject, annotations: {} })).toBe(false);
      // The embedded default's packages are the local runtime's.
      expect(
        observer.serves({
          ...subject,
          annotations: {
            ...subject.annotations,
            'mainline.dev/artifact-location': 'local://invoices',
          },
        }),
      ).toBe(false);
      expect(await observer.observe(subject, ['stage'])).toEqual({
        stage: undefined,
      });
      expect(lambda.requests.map(r => [r.operation, r.status])).toEqual([
        ['ListFunctions', 200],
      ]);
      // Not configured: no observer, and nothing is contacted.
      expect(
        observers[0].create({ ...context, config: mockServices.rootConfig() }),
      ).toBeUndefined();
    } finally {
      await lambda.close();
    }
  });
});
