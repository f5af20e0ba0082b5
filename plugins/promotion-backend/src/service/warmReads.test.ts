import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BackstageCredentials,
  coreServices,
  createServiceFactory,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import catalogPlugin from '@backstage/plugin-catalog-backend';
import request from 'supertest';
import { promotionWithAdapters } from '../__testUtils__/adapterModules';
import { memoryCacheFactory } from '../__testUtils__/demoBackend';

jest.setTimeout(180_000);

const api = '/api/promotion/v1/entities/component/default';
const alice = mockCredentials.user.header('user:default/alice');
const mallory = mockCredentials.user.header('user:default/mallory');
/** How long a caller's catalog answer serves their reads here (promotion.catalogReadCacheSeconds). */
const READ_CACHE_SECONDS = 1;

/**
 * Warm and cold lineage reads through the real router, the real catalog backend (which applies
 * the permission service to every entity read) and real git on the embedded default. Every git
 * process is counted by a wrapper placed first on PATH.
 */
describe('lineage reads', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  const refused = new Set<string>();
  let dir: string;
  let countFile: string;
  let originalPath: string | undefined;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];

  const gitProcesses = () =>
    fs.existsSync(countFile)
      ? fs.readFileSync(countFile, 'utf8').split('\n').length - 1
      : 0;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mainline-warm-reads-'));
    countFile = path.join(dir, 'git-processes');
    const realGit = execFileSync('sh', ['-c', 'command -v git'], {
      encoding: 'utf8',
    }).trim();
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(
      path.join(dir, 'bin', 'git'),
      `#!/bin/sh\necho "$1" >> '${countFile}'\nexec '${realGit}' "$@"\n`,
      { mode: 0o755 },
    );
    originalPath = process.env.PATH;
    process.env.PATH = `${path.join(dir, 'bin')}:${process.env.PATH}`;

    // Refuses everything to the callers in `refused`, allows everyone else: the catalog answers
    // a refused entity read as "no such entity".
    const decide = (credentials: BackstageCredentials) =>
      credentials.principal &&
      (credentials.principal as { userEntityRef?: string }).userEntityRef &&
      refused.has(
        (credentials.principal as { userEntityRef: string }).userEntityRef,
      )
        ? AuthorizeResult.DENY
        : AuthorizeResult.ALLOW;
    const permissions = createServiceFactory({
      service: coreServices.permissions,
      deps: {},
      factory: (): PermissionsService => ({
        authorize: async (requests, { credentials }) =>
          requests.map(() => ({ result: decide(credentials) })) as any,
        authorizeConditional: async (requests, { credentials }) =>
          requests.map(() => ({ result: decide(credentials) })) as any,
      }),
    });

    const knex = await databases.init('SQLITE_3');
    ({ server } = await startTestBackend({
      features: [
        catalogPlugin,
        ...promotionWithAdapters,
        permissions,
        memoryCacheFactory(),
        mockServices.database.factory({ knex }),
        mockServices.rootConfig.factory({
          data: {
            catalog: {
              rules: [
                { allow: ['Component', 'System', 'Group', 'User', 'Location'] },
              ],
              locations: [
                {
                  type: 'file',
                  target: path.resolve(
                    __dirname,
                    '../../../../catalog/all.yaml',
                  ),
                },
              ],
            },
            promotion: {
              catalogReadCacheSeconds: READ_CACHE_SECONDS,
              local: { dataDir: path.join(dir, 'data'), demoData: true },
            },
          },
        }),
      ],
    }));
    // The catalog ingests the demo files asynchronously.
    for (let attempt = 0; attempt < 240; attempt++) {
      const res = await request(server)
        .get(`${api}/checkout/target`)
        .set('authorization', alice);
      if (res.status === 200) break;
      await new Promise(resolve => setTimeout(resolve, 250));
    }
    // The demo is generated in the background: lineage answers 503 until it is ready.
    for (let attempt = 0; attempt < 480; attempt++) {
      const res = await request(server)
        .get(`${api}/checkout/lineage`)
        .set('authorization', alice);
      if (res.status !== 503) break;
      await new Promise(resolve => setTimeout(resolve, 250));
    }
  });

  afterAll(() => {
    process.env.PATH = originalPath;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const lineage = (authorization: string, query = '') =>
    request(server)
      .get(`${api}/checkout/lineage${query}`)
      .set('authorization', authorization);

  it('answers 304 to a matching If-None-Match, and a new body and ETag after a write', async () => {
    const first = await lineage(alice);
    expect(first.status).toBe(200);
    const etag = first.headers.etag;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(first.headers['cache-control']).toBe('private, no-cache');

    const again = await lineage(alice).set('if-none-match', etag);
    expect(again.status).toBe(304);
    expect(again.text).toBeFalsy();
    const other = await lineage(alice).set('if-none-match', '"something-else"');
    expect(other.status).toBe(200);
    expect(other.body).toEqual(first.body);
    // Asked without gzip, the same body as it is.
    const plain = await lineage(alice).set('accept-encoding', 'identity');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(plain.text)).toEqual(first.body);

    // Someone the catalog refuses gets no 304 for a body they could not read.
    refused.add('user:default/mallory');
    try {
      const denied = await lineage(mallory).set('if-none-match', etag);
      expect(denied.status).toBe(404);
    } finally {
      refused.delete('user:default/mallory');
    }

    const sha = first.body.commits.find(
      (c: any) => c.environments.length === 0 && !c.yanked,
    ).sha;
    const yank = await request(server)
      .post(`${api}/checkout/yanks`)
      .set('authorization', alice)
      .send({ sha, reason: 'ETag test' });
    expect(yank.status).toBe(201);
    const after = await lineage(alice).set('if-none-match', etag);
    expect(after.status).toBe(200);
    expect(after.headers.etag).not.toBe(etag);
    expect(
      after.body.commits.find((c: any) => c.sha === sha).yanked,
    ).toMatchObject({ reason: 'ETag test' });
  });

  it("refuses a caller the catalog refuses while another caller's read is cached, and stops serving a revoked caller after the cache time", async () => {
    refused.add('user:default/mallory');
    try {
      expect((await lineage(alice)).status).toBe(200);
      for (const read of ['lineage', 'target', 'promotions', 'yanks']) {
        const res = await request(server)
          .get(`${api}/checkout/${read}`)
          .set('authorization', mallory);
        expect(res.status).toBe(404);
        expect(res.body.error.message).toContain('No entity');
      }
      expect((await lineage(alice)).status).toBe(200);

      // Alice's access is revoked: her cached lookup serves her for at most the cache time.
      refused.add('user:default/alice');
      await new Promise(resolve =>
        setTimeout(resolve, READ_CACHE_SECONDS * 1000 + 200),
      );
      expect((await lineage(alice)).status).toBe(404);
      expect((await lineage(alice)).status).toBe(404);
    } finally {
      refused.delete('user:default/alice');
      refused.delete('user:default/mallory');
    }
    expect((await lineage(alice)).status).toBe(200);
  });

  it('assembles the lineage once for 200 concurrent cold reads right after a write (git processes counted)', async () => {
    const { body } = await lineage(alice);
    const candidates = body.commits.filter(
      (c: any) => c.environments.length === 0 && !c.yanked,
    );
    const write = async (sha: string) => {
      const res = await request(server)
        .post(`${api}/checkout/yanks`)
        .set('authorization', alice)
        .send({ sha, reason: 'single flight test' });
      expect(res.status).toBe(201);
    };

    // One cold read after a write: what one assembly costs.
    await write(candidates[0].sha);
    fs.rmSync(countFile, { force: true });
    expect((await lineage(alice)).status).toBe(200);
    const one = gitProcesses();
    expect(one).toBeGreaterThan(0);

    // 200 at once after the next write: the same cost, everyone the same answer.
    await write(candidates[1].sha);
    fs.rmSync(countFile, { force: true });
    const responses = await Promise.all(
      Array.from({ length: 200 }, () => lineage(alice)),
    );
    expect(responses.map(r => r.status)).toEqual(
      Array.from({ length: 200 }, () => 200),
    );
    expect(new Set(responses.map(r => r.headers.etag)).size).toBe(1);
    expect(
      responses[0].body.commits.find((c: any) => c.sha === candidates[1].sha)
        .yanked,
    ).toMatchObject({ reason: 'single flight test' });
    expect(gitProcesses()).toBe(one);
  });
});
