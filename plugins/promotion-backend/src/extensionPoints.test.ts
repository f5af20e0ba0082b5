import fs from 'node:fs';
import {
  BackendFeature,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  LocalGitSourceControl,
  localLayout,
} from '@mainline/plugin-promotion-backend-module-local';
import {
  SourceControl,
  promotionSourceControlExtensionPoint,
} from '@mainline/plugin-promotion-node';
import request from 'supertest';
import { promotionWithAdapters } from './__testUtils__/adapterModules';
import { memoryCacheFactory } from './__testUtils__/demoBackend';
import { demoDataDir } from './__testUtils__/demoData';
import { demoEntities } from './testUtils';

jest.setTimeout(180_000);

const api = '/api/promotion/v1/entities/component/default';

describe('adapters added by a third-party module', () => {
  let dataDir: string;

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-extension-'));
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  function features(provider: string, ...modules: BackendFeature[]) {
    return [
      ...promotionWithAdapters,
      ...modules,
      catalogServiceMock.factory({ entities: demoEntities() }),
      memoryCacheFactory(),
      mockServices.rootConfig.factory({
        data: {
          promotion: {
            source: { provider },
            local: { dataDir, demoData: true },
          },
        },
      }),
    ];
  }

  it('serves lineage through the source control the configured provider name selects', async () => {
    const repos: string[] = [];
    const mirror = createBackendModule({
      pluginId: 'promotion',
      moduleId: 'mirror',
      register(env) {
        env.registerInit({
          deps: { sources: promotionSourceControlExtensionPoint },
          async init({ sources }) {
            sources.addSourceControlProvider({
              name: 'mirror',
              create() {
                const local = new LocalGitSourceControl(
                  localLayout(dataDir).git,
                );
                // Every call goes through the local adapter; the repositories asked are noted.
                return new Proxy(local, {
                  get(target, key, receiver) {
                    const value = Reflect.get(target, key, receiver);
                    if (typeof value !== 'function') return value;
                    return (repo: string, ...rest: unknown[]) => {
                      repos.push(repo);
                      return value.call(target, repo, ...rest);
                    };
                  },
                }) as SourceControl;
              },
            });
          },
        });
      },
    });
    const { server } = await startTestBackend({
      features: features('mirror', mirror),
    });
    const res = await request(server).get(`${api}/checkout/lineage`);
    expect(res.status).toBe(200);
    expect(res.body.commits.length).toBeGreaterThan(20);
    expect(repos).toContain('mainline-demo/checkout');
    expect(repos).toContain('mainline-demo/deployments');
  });

  it('stops the start on a provider no module provides, listing the installed ones', async () => {
    await expect(
      startTestBackend({ features: features('gitlab') }),
    ).rejects.toThrow(
      'promotion.source.provider is "gitlab", which no installed backend module provides; installed source control providers: github, local',
    );
  });
});
