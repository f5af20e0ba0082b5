import { startTestBackend } from '@backstage/backend-test-utils';
import { promotionModuleArgoCd } from '@mainline/plugin-promotion-backend-module-argocd';
import { RuntimeView } from '@mainline/plugin-promotion-common';
import { startArgoCdTestServer } from '@mainline/test-servers';
import request from 'supertest';
import { demoBackendFeatures } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';
import { Lineage } from '../lineage/types';
import { demoEntities } from '../testUtils';
import { driftOf, yankedRunning } from './drift';

jest.setTimeout(180_000);

const api = '/api/promotion/v1';
const OTHER = `sha256:${'9'.repeat(64)}`;

// The real router on the embedded default's demo, with the Argo CD module observing checkout
// through the Argo CD test server: what the lineage declares beside what Argo CD runs.
describe('GET /v1/entities/:kind/:namespace/:name/runtime', () => {
  it('answers declared and running per environment, drift where they differ, and 503 naming an unreachable instance', async () => {
    const { dataDir } = await demoDataDir('mainline-runtime-');
    const argo = await startArgoCdTestServer();
    const entities = demoEntities().map(e =>
      e.metadata.name === 'checkout'
        ? {
            ...e,
            metadata: {
              ...e.metadata,
              annotations: {
                ...e.metadata.annotations,
                'argocd/app-name': 'checkout',
              },
            },
          }
        : e,
    );
    const { server } = await startTestBackend({
      features: [
        ...demoBackendFeatures({
          dataDir,
          entities,
          promotion: {
            artifacts: { insecureHosts: [new URL(argo.baseUrl).host] },
            argocd: {
              instances: [
                { name: 'main', url: argo.baseUrl, token: argo.token },
              ],
            },
          },
        }),
        promotionModuleArgoCd,
      ],
    });
    try {
      const lineage: Lineage = (
        await request(server).get(
          `${api}/entities/component/default/checkout/lineage`,
        )
      ).body;
      const [stage, demo] = lineage.environments;
      const since = new Date('2024-06-01T10:00:00Z');
      const app = (environment: string, digest: string, revision: string) =>
        argo.setApplication({
          name: `checkout-${environment}`,
          sync: { status: 'Synced', revision },
          health: { status: 'Healthy', lastTransitionTime: since },
          pods: [
            {
              name: `checkout-${environment}-1`,
              containers: [{ name: 'app', image: 'local/checkout', digest }],
            },
          ],
        });
      app('stage', stage.current!.artifact!.digest, 'a'.repeat(40));
      // demo runs something other than what its manifest declares.
      app('demo', OTHER, 'b'.repeat(40));

      const res = await request(server).get(
        `${api}/entities/component/default/checkout/runtime`,
      );
      expect(res.status).toBe(200);
      const view: RuntimeView = res.body;
      expect(view.observer).toBe('argocd');
      expect(view.environments.map(e => e.name)).toEqual([
        'stage',
        'demo',
        'prod',
      ]);
      const [s, d, p] = view.environments;
      expect(s).toMatchObject({
        declared: {
          sha: stage.current!.sha,
          digest: stage.current!.artifact!.digest,
        },
        running: {
          source: 'argocd main: checkout-stage',
          url: `${argo.baseUrl}/applications/argocd/checkout-stage`,
          health: { status: 'Healthy' },
          runningDigests: [stage.current!.artifact!.digest],
          since: '2024-06-01T10:00:00Z',
        },
        drift: false,
        driftReason: null,
      });
      expect(d.declared!.digest).toBe(demo.current!.artifact!.digest);
      expect(d.drift).toBe(true);
      expect(d.driftReason).toBe(
        `runs sha256:999999999999, not the declared ${demo.current!.artifact!.digest.slice(
          0,
          19,
        )}`,
      );
      // No Application for prod: nothing observed, which is not drift.
      expect(p).toMatchObject({ running: null, drift: false });

      // Stage's commit yanked while it still runs there: the version that should run nowhere.
      const yank = await request(server)
        .post(`${api}/entities/component/default/checkout/yanks`)
        .send({
          sha: stage.current!.sha,
          reason: 'corrupts carts',
          force: true,
        });
      expect(yank.status).toBeLessThan(300);
      const after: RuntimeView = (
        await request(server).get(
          `${api}/entities/component/default/checkout/runtime`,
        )
      ).body;
      expect(after.environments[0]).toMatchObject({ drift: true });
      expect(after.environments[0].driftReason).toMatch(
        new RegExp(
          `^runs ${stage.current!.sha!.slice(
            0,
            12,
          )}, which .+ yanked: corrupts carts$`,
        ),
      );

      // An entity no observer serves.
      const unobserved = await request(server).get(
        `${api}/entities/component/default/invoices/runtime`,
      );
      expect(unobserved.status).toBe(200);
      expect(unobserved.body.observer).toBeNull();
      expect(
        unobserved.body.environments.every(
          (e: { running: unknown }) => e.running === null,
        ),
      ).toBe(true);

      await argo.close();
      const down = await request(server).get(
        `${api}/entities/component/default/checkout/runtime`,
      );
      expect(down.status).toBe(503);
      expect(down.body.error.message).toMatch(
        /^Argo CD instance main could not be reached for /,
      );
    } finally {
      await argo.close().catch(() => undefined);
    }
  });
});

describe('driftOf', () => {
  const running = (revision: string | undefined, status = 'Synced') =>
    ({
      environment: 'stage',
      source: 'lambda eu-west-1: invoices-stage-* (2)',
      sync: { status, revision },
      health: { status: 'Healthy' },
      runningDigests: [],
      runningCodeSha256s: ['x'],
      observedAt: new Date().toISOString(),
    } as any);
  const declared = {
    sha: 'a'.repeat(40),
    version: 'v1.2.0',
    digest: `sha256:${'1'.repeat(64)}`,
    revision: null,
  };

  it('compares a package by the deployed commit the runtime verified', () => {
    expect(driftOf('archive', declared, running('a'.repeat(40)))).toBe(
      undefined,
    );
    expect(driftOf('archive', declared, running('b'.repeat(40)))).toBe(
      `runs bbbbbbbbbbbb, not the declared aaaaaaaaaaaa`,
    );
    expect(driftOf('archive', declared, running(undefined))).toBe(
      'runs an unknown commit, not the declared aaaaaaaaaaaa',
    );
    // The tag says the commit, the code hash says otherwise.
    expect(
      driftOf('archive', declared, running('a'.repeat(40), 'OutOfSync')),
    ).toBe(
      'lambda eu-west-1: invoices-stage-* (2) is OutOfSync at aaaaaaaaaaaa',
    );
  });

  it('calls something running where nothing was deployed drift, and nothing observed not', () => {
    expect(driftOf('archive', null, running('a'.repeat(40)))).toContain(
      'nothing was deployed here through Mainline',
    );
    expect(driftOf('image', declared, undefined)).toBeUndefined();
  });
});

describe('yankedRunning', () => {
  const sha = 'a'.repeat(40);
  const digest = `sha256:${'1'.repeat(64)}`;
  const declared = { sha, version: 'abcdef1', digest, revision: null };
  const state = (revision: string | undefined, runningDigests: string[]) =>
    ({
      environment: 'prod',
      source: 'argocd main: checkout-prod',
      sync: { status: 'Synced', revision },
      health: { status: 'Healthy' },
      runningDigests,
      observedAt: new Date().toISOString(),
    } as any);
  const yanks =
    (...shas: string[]) =>
    (s: string) =>
      shas.includes(s)
        ? { yankedBy: 'user:default/ops', reason: 'leaks memory' }
        : undefined;

  it.each([
    [
      'an image whose declared, yanked commit runs',
      'image',
      state('r', [digest]),
      yanks(sha),
      'runs aaaaaaaaaaaa, which user:default/ops yanked: leaks memory',
    ],
    [
      'an image running something else (that is drift, not this)',
      'image',
      state('r', ['sha256:2']),
      yanks(sha),
      undefined,
    ],
    [
      'an image whose commit is not yanked',
      'image',
      state('r', [digest]),
      yanks(),
      undefined,
    ],
    [
      'a package whose running commit is yanked',
      'archive',
      state(sha, []),
      yanks(sha),
      'runs aaaaaaaaaaaa, which user:default/ops yanked: leaks memory',
    ],
    [
      'a package running a commit that is not yanked',
      'archive',
      state('b'.repeat(40), []),
      yanks(sha),
      undefined,
    ],
    ['nothing observed', 'image', undefined, yanks(sha), undefined],
  ])('%s', (_what, kind, running, yanked, expected) => {
    expect(
      yankedRunning(kind as 'image' | 'archive', declared, running, yanked),
    ).toBe(expected);
  });

  it('names an image whose yanked commit lost its digest (the yank removed its tag)', () => {
    expect(
      yankedRunning(
        'image',
        { ...declared, digest: null },
        state('r', [digest]),
        yanks(sha),
      ),
    ).toBe('runs aaaaaaaaaaaa, which user:default/ops yanked: leaks memory');
  });
});
