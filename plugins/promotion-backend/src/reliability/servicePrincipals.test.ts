import crypto from 'node:crypto';
import fs from 'node:fs';
import { authServiceFactory } from '@backstage/backend-defaults/auth';
import { httpAuthServiceFactory } from '@backstage/backend-defaults/httpAuth';
import { permissionsServiceFactory } from '@backstage/backend-defaults/permissions';
import {
  BackstageCredentials,
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import {
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import request from 'supertest';
import { promotionWithAdapters } from '../__testUtils__/adapterModules';
import { demoEntities } from '../testUtils';
import { memoryCacheFactory } from '../__testUtils__/demoBackend';
import { gitIn, upstreamState } from '../__testUtils__/upstreamState';
import { demoDataDir } from '../__testUtils__/demoData';
import type { AuditorEvent } from '@backstage/backend-defaults/auditor';
import { recordingAuditorFactory } from '../__testUtils__/recordingAuditor';

jest.setTimeout(180_000);

const api = '/api/promotion/v1/entities/component/default';
const token = () => crypto.randomBytes(24).toString('base64url');
const READER = token();
const RELEASER = token();
const PROMOTION_ONLY = token();
const CATALOG_READS_ONLY = token();
const CATALOG_ONLY = token();

/**
 * The demo catalog behind the call the default catalog service makes before every request: a
 * token for the catalog plugin on the caller's behalf, which the real auth service refuses for a
 * service principal whose access restrictions leave the catalog out.
 */
const catalogOnBehalfOfCaller = createServiceFactory({
  service: catalogServiceRef,
  deps: { auth: coreServices.auth },
  factory: ({ auth }) => {
    const catalog = catalogServiceMock({ entities: demoEntities() });
    return new Proxy(catalog, {
      get(target, property) {
        const value = Reflect.get(target, property);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const options = args[args.length - 1] as {
            credentials: BackstageCredentials;
          };
          await auth.getPluginRequestToken({
            onBehalfOf: options.credentials,
            targetPluginId: 'catalog',
          });
          return value.apply(target, args);
        };
      },
    });
  },
});

describe('external access tokens (service principals)', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  let dataDir: string;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  let knex: Awaited<ReturnType<typeof databases.init>>;
  let stageSha: string;
  const audited: AuditorEvent[] = [];

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-principals-'));
    knex = await databases.init('SQLITE_3');
    const staticToken = (
      secret: string,
      subject: string,
      accessRestrictions: object[],
    ) => ({
      type: 'static',
      options: { token: secret, subject },
      accessRestrictions,
    });
    ({ server } = await startTestBackend({
      features: [
        ...promotionWithAdapters,
        recordingAuditorFactory(event => audited.push(event)),
        authServiceFactory,
        httpAuthServiceFactory,
        permissionsServiceFactory,
        catalogOnBehalfOfCaller,
        mockServices.database.factory({ knex }),
        memoryCacheFactory(),
        mockServices.rootConfig.factory({
          data: {
            permission: { enabled: true },
            backend: {
              auth: {
                externalAccess: [
                  // A release dashboard: reads lineage, changes nothing.
                  staticToken(READER, 'release-dashboard', [
                    { plugin: 'catalog' },
                    {
                      plugin: 'promotion',
                      permissionAttribute: { action: 'read' },
                    },
                  ]),
                  // A CI job that may release to demo and nothing else.
                  staticToken(RELEASER, 'ci-release', [
                    { plugin: 'catalog' },
                    { plugin: 'promotion', permission: ['promotion.promote'] },
                  ]),
                  staticToken(PROMOTION_ONLY, 'promotion-only', [
                    { plugin: 'promotion' },
                  ]),
                  staticToken(CATALOG_READS_ONLY, 'catalog-reads', [
                    {
                      plugin: 'catalog',
                      permissionAttribute: { action: 'read' },
                    },
                    { plugin: 'promotion' },
                  ]),
                  staticToken(CATALOG_ONLY, 'catalog-only', [
                    { plugin: 'catalog' },
                  ]),
                ],
              },
            },
            promotion: { local: { dataDir, demoData: true } },
          },
        }),
      ],
    }));
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const call = (secret: string) => ({
    get: (url: string) =>
      request(server).get(url).set('authorization', `Bearer ${secret}`),
    post: (url: string, body: object) =>
      request(server)
        .post(url)
        .set('authorization', `Bearer ${secret}`)
        .send(body),
  });
  const outcome = (res: request.Response) => ({
    status: res.status,
    message: res.body.error?.message,
  });

  it('needs the catalog among a token’s plugins, unrestricted: the plugin reads entities on the caller’s behalf', async () => {
    const lineage = await call(PROMOTION_ONLY).get(`${api}/checkout/lineage`);
    expect(outcome(lineage)).toEqual({
      status: 403,
      message:
        "Access to target plugin 'catalog' is not included in token's access restrictions",
    });
    const restricted = await call(CATALOG_READS_ONLY).get(
      `${api}/checkout/lineage`,
    );
    expect(outcome(restricted)).toEqual({
      status: 403,
      message:
        "Access to target plugin 'catalog' is restricted and cannot be delegated",
    });
    const notPromotion = await call(CATALOG_ONLY).get(
      `${api}/checkout/lineage`,
    );
    expect(outcome(notPromotion)).toEqual({
      status: 403,
      message: "This token's access is restricted to plugin(s) 'catalog'",
    });
  });

  it('lets a read-only token read lineage and refuses its writes with nothing done', async () => {
    // The documented read-only setup: catalog unrestricted, promotion limited to reads.
    const lineage = await call(READER).get(`${api}/checkout/lineage`);
    expect(lineage.status).toBe(200);
    stageSha = lineage.body.environments.find(
      (e: { name: string }) => e.name === 'stage',
    ).current.sha;
    const before = upstreamState(dataDir);
    for (const [url, body, permission] of [
      [
        `${api}/checkout/promotions`,
        { environment: 'demo', sha: stageSha },
        'promotion.promote',
      ],
      [
        `${api}/checkout/yanks`,
        { sha: stageSha, reason: 'not allowed' },
        'promotion.yank',
      ],
      [
        `${api}/checkout/rollbacks`,
        { environment: 'demo', sha: stageSha },
        'promotion.rollback',
      ],
    ] as const) {
      const res = await call(READER).post(url, body);
      expect(outcome(res)).toEqual({
        status: 403,
        message: expect.stringMatching(
          new RegExp(
            `^service:release-dashboard may not .* component:default/checkout \\(permission ${permission.replace(
              /\./g,
              '\\.',
            )}\\)$`,
          ),
        ),
      });
    }
    expect(upstreamState(dataDir)).toEqual(before);
  });

  it('records a permitted service principal’s promotion with its subject as the actor', async () => {
    const prod = await call(RELEASER).post(`${api}/checkout/promotions`, {
      environment: 'prod',
      sha: stageSha,
    });
    expect(outcome(prod)).toEqual({
      status: 403,
      message:
        'service:ci-release may not promote to prod component:default/checkout (permission promotion.promote.production)',
    });
    const res = await call(RELEASER).post(`${api}/checkout/promotions`, {
      environment: 'demo',
      sha: stageSha,
    });
    expect({ ...outcome(res), status: res.body.status }).toEqual({
      status: 'succeeded',
      message: undefined,
    });
    expect(res.body.requestedBy).toBe('service:ci-release');
    const tag = res.body.tag as string;
    expect(
      gitIn(
        dataDir,
        'mainline-demo/checkout',
        'tag',
        '-l',
        '--format=%(taggername) %(contents:body)',
        tag,
      ),
    ).toBe('ci-release Requested-by: service:ci-release');
    // The auditor names the service principal that asked.
    const audit = audited.filter(
      e =>
        e.meta?.entityRef === 'component:default/checkout' &&
        e.status !== 'initiated',
    );
    expect(audit.map(e => [e.meta?.requestedBy, e.eventId, e.status])).toEqual([
      ['service:ci-release', 'promote', 'succeeded'],
    ]);
    expect(audit[0].actor.actorId).toMatch(/ci-release$/);
  });
});
