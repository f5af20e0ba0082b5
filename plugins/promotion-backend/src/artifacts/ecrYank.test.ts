import fs from 'node:fs';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { EcrTestServer, startEcrTestServer } from '@mainline/test-servers';
import request from 'supertest';
import {
  localLayout,
  LocalArtifactRegistry,
} from '@mainline/plugin-promotion-backend-module-local';
import { promotionWithAdapters } from '../__testUtils__/adapterModules';
import { demoEntities } from '../testUtils';
import { Artifact } from '@mainline/plugin-promotion-node';
import { memoryCacheFactory } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';

jest.setTimeout(120_000);

const api = '/api/promotion/v1/entities/component/default';

describe('checkout with its images in ECR', () => {
  let dataDir: string;
  let ecr: EcrTestServer;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  let built: Artifact[];

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-ecr-'));
    ecr = await startEcrTestServer();
    // The builds of the demo history, pushed to ECR as CI would have (same tags, same times).
    // Every other build annotated with its time, as the scaffolded workflow builds; the rest as a
    // plain `docker push` does. Before them, 1,200 builds of long-gone commits: more than one
    // page of the ECR listing.
    const local = new LocalArtifactRegistry(localLayout(dataDir).artifacts);
    built = await local.listArtifacts({
      kind: 'image',
      location: 'local/checkout',
    });
    for (let i = 0; i < 1200; i++) {
      ecr.pushImage('checkout', [(0xa000000 + i).toString(16)], {
        pushedAt: new Date(Date.parse('2020-01-01T00:00:00Z') + i * 60_000),
      });
    }
    for (const [i, artifact] of [...built].reverse().entries()) {
      ecr.pushImage('checkout', artifact.tags, {
        pushedAt: new Date(artifact.createdAt),
        seed: artifact.commit,
        annotations:
          i % 2
            ? { 'org.opencontainers.image.created': artifact.createdAt }
            : undefined,
      });
    }
    const entities = demoEntities().map((entity: Entity) =>
      entity.metadata.name === 'checkout'
        ? {
            ...entity,
            metadata: {
              ...entity.metadata,
              annotations: {
                ...entity.metadata.annotations,
                'mainline.dev/artifact-location': ecr.repositoryUri('checkout'),
              },
            },
          }
        : entity,
    );
    ({ server } = await startTestBackend({
      features: [
        ...promotionWithAdapters,
        catalogServiceMock.factory({ entities }),
        memoryCacheFactory(),
        mockServices.rootConfig.factory({
          data: {
            // Static keys for the registry's account: no STS call is needed to find them.
            aws: {
              accounts: [
                {
                  accountId: ecr.accountId,
                  accessKeyId: 'AKIDTEST',
                  secretAccessKey: 'test-secret',
                },
              ],
            },
            promotion: {
              local: { dataDir, demoData: true },
              artifacts: { ecr: { endpoint: ecr.endpoint } },
            },
          },
        }),
      ],
    }));
  });

  afterAll(async () => {
    await ecr?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("shows each commit's image from a registry of more than one page, with its build time", async () => {
    const read = await request(server).get(`${api}/checkout/lineage?limit=100`);
    expect(read.status).toBe(200);
    const commits: any[] = read.body.commits;
    const builtOf = (sha: string) => built.find(a => sha.startsWith(a.commit));
    expect(commits.filter(c => builtOf(c.sha)).length).toBeGreaterThan(20);
    for (const commit of commits) {
      const build = builtOf(commit.sha);
      // Docs-only commits have no image; every other one shows its own, pushed when it was built.
      expect(
        commit.artifacts.map((a: any) => ({
          uri: a.uri.replace(/@.*/, ''),
          createdAt: a.createdAt,
        })),
      ).toEqual(
        build
          ? [
              {
                uri: `${ecr.repositoryUri('checkout')}:${build.commit}`,
                createdAt: build.createdAt,
              },
            ]
          : [],
      );
    }
    for (const environment of read.body.environments) {
      expect(environment.current.artifact.uri).toContain(
        `${ecr.repositoryUri('checkout')}:${environment.current.sha.slice(
          0,
          7,
        )}@sha256:`,
      );
    }
  });

  it('promotes by retagging in ECR, and a yank deletes the image so the sha can never be promoted', async () => {
    const read = await request(server).get(`${api}/checkout/lineage?limit=100`);
    expect(read.body.error?.message).toBeUndefined();
    const lineage = read.body;
    const stage = lineage.environments.find(
      (e: any) => e.name === 'stage',
    ).current;
    expect(stage.artifact.uri).toContain(ecr.repositoryUri('checkout'));
    const before = ecr.image('checkout', { tag: stage.sha.slice(0, 7) })!;

    const promoted = await request(server)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'demo', sha: stage.sha });
    expect(promoted.status).toBe(201);
    expect(promoted.body.status).toBe('succeeded');
    // The release tag is on the very image the build pushed.
    expect(ecr.image('checkout', { tag: promoted.body.tag })?.digest).toBe(
      before.digest,
    );

    // An older built commit that nothing runs: yanked, its image deleted from ECR.
    const candidate = lineage.commits.find(
      (c: any) =>
        c.artifacts.length > 0 && c.environments.length === 0 && !c.yanked,
    );
    const yank = await request(server)
      .post(`${api}/checkout/yanks`)
      .send({ sha: candidate.sha, reason: 'Leaks card numbers into logs' });
    expect(yank.status).toBe(201);
    expect(
      ecr.image('checkout', { tag: candidate.sha.slice(0, 7) }),
    ).toBeUndefined();

    const refused = await request(server)
      .post(`${api}/checkout/rollbacks`)
      .send({ environment: 'stage', sha: candidate.sha });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    expect(refused.body.error.message).toContain(
      'Leaks card numbers into logs',
    );
    const promotion = await request(server)
      .post(`${api}/checkout/promotions`)
      .send({ environment: 'demo', sha: candidate.sha, tag: 'rc-99' });
    expect(promotion.status).toBe(409);
    expect(promotion.body.error.message).toContain(
      'Leaks card numbers into logs',
    );
  });
});
