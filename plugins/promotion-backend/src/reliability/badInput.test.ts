import fs from 'node:fs';
import path from 'node:path';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  GitHubTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import request from 'supertest';
import { promotionWithAdapters } from '../__testUtils__/adapterModules';
import { demoEntities } from '../testUtils';
import { BadInputCase, corpus, realCommitCorpus } from './badInput.corpus';
import { Lineage } from '../lineage/types';
import {
  githubModeConfig,
  memoryCacheFactory,
} from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';

jest.setTimeout(180_000);

const TOKEN = 'bad-input-token';

/** Entities whose annotations try to leave their repository or registry. */
function hostileEntities(): Entity[] {
  const annotated = (
    name: string,
    annotations: Record<string, string>,
  ): Entity => ({
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name,
      namespace: 'default',
      annotations: {
        'github.com/project-slug': 'mainline-demo/checkout',
        'mainline.dev/artifact-kind': 'image',
        'mainline.dev/artifact-location': 'local/checkout',
        'mainline.dev/manifest-repo': 'mainline-demo/deployments',
        'mainline.dev/manifest-path':
          'apps/checkout/overlays/{environment}/kustomization.yaml',
        ...annotations,
      },
    },
    spec: {
      type: 'service',
      owner: 'group:default/payments',
      lifecycle: 'production',
    },
  });
  return [
    annotated('traversal-manifest', {
      'mainline.dev/manifest-path': '../../../etc/{environment}',
    }),
    annotated('absolute-manifest', {
      'mainline.dev/manifest-path': '/etc/{environment}.yaml',
    }),
    annotated('no-environment', {
      'mainline.dev/manifest-path': 'apps/checkout/kustomization.yaml',
    }),
    annotated('slug-traversal', {
      'github.com/project-slug': 'mainline-demo/../../etc',
    }),
    annotated('slug-shell', { 'github.com/project-slug': 'acme/$(id)' }),
    annotated('location-traversal', {
      'mainline.dev/artifact-location': 'local/../../etc',
    }),
    annotated('location-nul', {
      'mainline.dev/artifact-location': 'local/check\u0000out',
    }),
    annotated('manifest-repo-url', {
      'mainline.dev/manifest-repo': 'https://evil.example/x',
    }),
    annotated('bad-kind', { 'mainline.dev/artifact-kind': 'binary' }),
    annotated('bad-image-path', {
      'mainline.dev/manifest-image-path': 'spec..tag',
    }),
  ];
}

/** Like checkout, but its YAML path names a key checkout's kustomization files do not have. */
const strayImagePath: Entity = {
  ...hostileEntities()[0],
  metadata: {
    name: 'stray-image-path',
    namespace: 'default',
    annotations: {
      ...hostileEntities()[0].metadata.annotations,
      // Defined by the administrator's own catalog file, so the write scope lets it through and
      // the manifest check is what answers.
      'backstage.io/managed-by-location':
        'file:/etc/backstage/catalog/stray.yaml',
      'mainline.dev/manifest-path':
        'apps/checkout/overlays/{environment}/kustomization.yaml',
      'mainline.dev/manifest-image-path': 'app.image.tag',
    },
  },
};

/** Upstream requests that change something (GraphQL is read-only here). */
const isWrite = (r: { method: string; path: string }) =>
  !['GET', 'HEAD'].includes(r.method) && r.path !== '/graphql';

function hostileCases(): BadInputCase[] {
  const names = hostileEntities().map(e => e.metadata.name);
  return names.flatMap(name => {
    const at = `/api/promotion/v1/entities/component/default/${name}`;
    return [
      {
        name: `lineage of ${name}`,
        method: 'get' as const,
        path: `${at}/lineage`,
        mentions: /annotation/,
      },
      {
        name: `promotion of ${name}`,
        method: 'post' as const,
        path: `${at}/promotions`,
        body: { environment: 'demo', sha: 'a'.repeat(40) },
        mentions: /annotation/,
      },
    ];
  });
}

describe('the bad-input corpus', () => {
  let dataDir: string;
  let github: GitHubTestServer;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-bad-input-'));
    github = await startGitHubTestServer({
      root: path.join(dataDir, 'git'),
      token: TOKEN,
    });
    ({ server } = await startTestBackend({
      features: [
        ...promotionWithAdapters,
        catalogServiceMock.factory({
          entities: [...demoEntities(), ...hostileEntities(), strayImagePath],
        }),
        memoryCacheFactory(),
        mockServices.rootConfig.factory({
          data: githubModeConfig({ server: github, token: TOKEN, dataDir }),
        }),
      ],
    }));
  });

  afterAll(async () => {
    await github?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Built main commits: checkout's stage commit and an older one, the shop's stage commit. */
  async function realCommits() {
    const read = async (name: string) => {
      const res = await request(server).get(
        `/api/promotion/v1/entities/component/default/${name}/lineage?limit=50`,
      );
      expect(res.status).toBe(200);
      return res.body as Lineage;
    };
    const [checkout, cart] = await Promise.all([
      read('checkout'),
      read('cart'),
    ]);
    const stage = (l: Lineage) =>
      l.environments.find(e => e.name === 'stage')!.current!.sha!;
    const older = checkout.commits.find(
      c => c.sha !== stage(checkout) && c.artifacts.length > 0 && !c.yanked,
    )!;
    return {
      sha: stage(checkout),
      rollbackSha: older.sha,
      shopSha: stage(cart),
      strayImagePath: strayImagePath.metadata.name,
    };
  }

  it('answers every case 4xx with a message naming the problem, asking nothing upstream', async () => {
    const real = realCommitCorpus(await realCommits());
    const cases = [...corpus(), ...hostileCases(), ...real];
    expect(cases.length).toBeGreaterThanOrEqual(200);
    const failures: string[] = [];
    let fourXx = 0;
    let fiveXx = 0;
    let upstream = 0;
    for (const c of cases) {
      // Let anything a previous case started settle, so each count is this case's own.
      await new Promise(resolve => setTimeout(resolve, 20));
      github.resetRequests();
      let call = request(server)[c.method](c.path);
      for (const [k, v] of Object.entries(c.headers ?? {}))
        call = call.set(k, v);
      const res = c.raw
        ? await call.set('content-type', c.raw.type).send(c.raw.data)
        : await (c.body === undefined ? call : call.send(c.body as object));
      const message: string = res.body?.error?.message ?? '';
      await new Promise(resolve => setTimeout(resolve, 20));
      // A refusal that depends on a file's content reads it; none may write.
      const asked = c.reads
        ? github.requests.filter(isWrite).length
        : github.requests.length;
      upstream += asked;
      if (res.status >= 500) fiveXx++;
      if (res.status >= 400 && res.status < 500) fourXx++;
      if (
        res.status < 400 ||
        res.status >= 500 ||
        !c.mentions.test(message) ||
        asked > 0
      ) {
        failures.push(
          `${c.name}: ${res.status} ${JSON.stringify(message.slice(0, 160))}${
            asked
              ? ` after ${asked} upstream ${c.reads ? 'writes' : 'requests'}`
              : ''
          }`,
        );
      }
    }
    process.stdout.write(
      `bad-input corpus: ${cases.length} cases (${
        real.length
      } against real commits, ${
        cases.filter(c => c.reads).length
      } that read a manifest), ${fourXx} answered 4xx, ${fiveXx} answered 5xx, ${upstream} upstream requests (writes for the cases that read)\n`,
    );
    expect(failures).toEqual([]);
  });
});
