import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import schema from './argocd-schema.json';
import {
  ArgoCdApplicationSeed,
  ArgoCdTestServer,
  startArgoCdTestServer,
} from './ArgoCdTestServer';
import { syncFromManifestRepository } from './manifestSync';

/*
 * The test server's answers against Argo CD's own API document: argocd-schema.json holds the
 * definitions of the served types, extracted from assets/swagger.json of argoproj/argo-cd at
 * the commit it records (scripts/extract-argocd-schema.mjs). Every object the document declares
 * properties for is closed here (`additionalProperties: false`), so a field Argo CD does not
 * have, or a misspelled one, fails the test, not only a wrongly typed one.
 */

type JsonSchema = { [key: string]: unknown };

function closed(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closed);
  if (!node || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] =
      key === 'properties'
        ? Object.fromEntries(
            Object.entries(value as JsonSchema).map(([k, v]) => [k, closed(v)]),
          )
        : closed(value);
  }
  if (out.properties && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv, ['date-time', 'byte']);
ajv.addFormat('int64', { type: 'number', validate: Number.isInteger });
ajv.addFormat('int32', { type: 'number', validate: Number.isInteger });
ajv.addFormat('uint32', { type: 'number', validate: Number.isInteger });
ajv.addSchema({ $id: 'argocd', definitions: closed(schema.definitions) });

function validator(definition: string): ValidateFunction {
  expect(Object.keys(schema.definitions)).toContain(definition);
  return ajv.getSchema(`argocd#/definitions/${definition}`)!;
}

function expectValid(definition: string, body: unknown) {
  const validate = validator(definition);
  const valid = validate(body);
  expect(valid ? [] : validate.errors).toEqual([]);
}

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const REVISION = '0123456789abcdef0123456789abcdef01234567';

const seed = (name: string, extra: Partial<ArgoCdApplicationSeed> = {}) =>
  ({
    name,
    labels: {
      'app.kubernetes.io/part-of': 'payments',
      env: name.split('-')[1],
    },
    sync: { status: 'Synced', revision: REVISION },
    health: {
      status: 'Healthy',
      lastTransitionTime: new Date('2024-06-01T10:00:00Z'),
    },
    operation: {
      phase: 'Succeeded',
      message: 'successfully synced (all tasks run)',
      revision: REVISION,
      startedAt: new Date('2024-06-01T09:59:00Z'),
      finishedAt: new Date('2024-06-01T10:00:00Z'),
    },
    pods: [
      {
        name: `${name}-7d9f-abcde`,
        containers: [
          {
            name: 'app',
            image: 'ecr.example/payments:0123456',
            digest: DIGEST,
          },
        ],
      },
    ],
    ...extra,
  } as ArgoCdApplicationSeed);

describe('ArgoCdTestServer', () => {
  let server: ArgoCdTestServer;

  beforeAll(async () => {
    server = await startArgoCdTestServer({ hidden: ['payments-secret'] });
    server.setApplication(seed('payments-stage'));
    server.setApplication(seed('payments-prod', { operation: undefined }));
    server.setApplication(seed('payments-secret'));
  });

  afterAll(() => server.close());

  const get = async (path: string, token = server.token) => {
    const response = await fetch(`${server.baseUrl}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: response.status, body: await response.json() };
  };

  it('records the Argo CD commit the schema facts come from', () => {
    expect(schema.source).toMatchObject({
      repository: 'argoproj/argo-cd',
      path: 'assets/swagger.json',
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
  });

  it('rejects an answer with a field Argo CD does not have', () => {
    const validate = validator('v1alpha1Application');
    expect(
      validate({ status: { sync: { status: 'Synced', revison: 'x' } } }),
    ).toBe(false);
    expect(validate({ status: { health: { status: 3 } } })).toBe(false);
  });

  it('lists Applications as a v1alpha1ApplicationList, filtered by name, selector and RBAC', async () => {
    const all = await get('/api/v1/applications');
    expect(all.status).toBe(200);
    expectValid('v1alpha1ApplicationList', all.body);
    expect(all.body.items.map((a: any) => a.metadata.name)).toEqual([
      'payments-prod',
      'payments-stage',
    ]);
    const byName = await get('/api/v1/applications?name=payments-stage');
    expect(byName.body.items).toHaveLength(1);
    const bySelector = await get(
      `/api/v1/applications?selector=${encodeURIComponent(
        'app.kubernetes.io/part-of=payments,env=prod',
      )}`,
    );
    expect(bySelector.body.items.map((a: any) => a.metadata.name)).toEqual([
      'payments-prod',
    ]);
  });

  it('serves an Application with sync, health and the last operation', async () => {
    const { status, body } = await get('/api/v1/applications/payments-stage');
    expect(status).toBe(200);
    expectValid('v1alpha1Application', body);
    expect(body.status).toMatchObject({
      sync: { status: 'Synced', revision: REVISION },
      health: { status: 'Healthy', lastTransitionTime: '2024-06-01T10:00:00Z' },
      operationState: {
        phase: 'Succeeded',
        finishedAt: '2024-06-01T10:00:00Z',
      },
    });
    expectValid(
      'v1alpha1Application',
      (await get('/api/v1/applications/payments-prod')).body,
    );
  });

  it('serves the resource tree, the managed resources and the live Pods with their image digests', async () => {
    const tree = await get('/api/v1/applications/payments-stage/resource-tree');
    expectValid('v1alpha1ApplicationTree', tree.body);
    const pods = tree.body.nodes.filter((n: any) => n.kind === 'Pod');
    expect(pods.map((p: any) => p.name)).toEqual(['payments-stage-7d9f-abcde']);

    const managed = await get(
      '/api/v1/applications/payments-stage/managed-resources',
    );
    expectValid('applicationManagedResourcesResponse', managed.body);

    const pod = pods[0];
    const live = await get(
      `/api/v1/applications/payments-stage/resource?namespace=${pod.namespace}&resourceName=${pod.name}&version=v1&kind=Pod&group=`,
    );
    expect(live.status).toBe(200);
    expectValid('applicationApplicationResourceResponse', live.body);
    expect(JSON.parse(live.body.manifest).status.containerStatuses).toEqual([
      expect.objectContaining({
        name: 'app',
        imageID: `ecr.example/payments@${DIGEST}`,
      }),
    ]);
  });

  it('answers errors as Argo CD does: 401 without a valid token, 403 for a missing or hidden Application', async () => {
    const unauthenticated = await get('/api/v1/applications', 'wrong');
    expect(unauthenticated.status).toBe(401);
    expectValid('runtimeError', unauthenticated.body);
    expect(unauthenticated.body.code).toBe(16);
    for (const name of ['nothing-here', 'payments-secret']) {
      const denied = await get(`/api/v1/applications/${name}`);
      expect(denied.status).toBe(403);
      expectValid('runtimeError', denied.body);
      expect(denied.body).toMatchObject({
        code: 7,
        message: 'permission denied',
      });
    }
  });

  it('drives a sync that succeeds and one that fails, every state valid', async () => {
    const next = 'fedcba9876543210fedcba9876543210fedcba98';
    const newDigest = `sha256:${'cd'.repeat(32)}`;
    server.startSync('payments-stage', next);
    let app = (await get('/api/v1/applications/payments-stage')).body;
    expectValid('v1alpha1Application', app);
    expect(app.status.sync).toMatchObject({
      status: 'OutOfSync',
      revision: next,
    });
    expect(app.status.operationState.phase).toBe('Running');
    expect(app.status.operationState.finishedAt).toBeUndefined();

    server.finishSync('payments-stage', {
      phase: 'Succeeded',
      pods: [
        {
          name: 'payments-stage-8e8e-new',
          containers: [
            {
              name: 'app',
              image: 'ecr.example/payments:fedcba9',
              digest: newDigest,
            },
          ],
        },
      ],
    });
    app = (await get('/api/v1/applications/payments-stage')).body;
    expectValid('v1alpha1Application', app);
    expect(app.status.sync.status).toBe('Synced');
    expect(app.status.operationState.phase).toBe('Succeeded');

    server.startSync('payments-prod', next);
    server.finishSync('payments-prod', {
      phase: 'Failed',
      message: 'one or more objects failed to apply',
    });
    app = (await get('/api/v1/applications/payments-prod')).body;
    expectValid('v1alpha1Application', app);
    expect(app.status).toMatchObject({
      sync: { status: 'OutOfSync', revision: next },
      health: { status: 'Healthy' },
      operationState: {
        phase: 'Failed',
        message: 'one or more objects failed to apply',
      },
    });
  });
});

describe('syncFromManifestRepository', () => {
  it('syncs each change of an Application’s file in a bare repository, its answers valid at every step', async () => {
    const root = fs.mkdtempSync(join(os.tmpdir(), 'argocd-manifests-'));
    const work = join(root, 'work');
    const bare = join(root, 'deployments.git');
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: work,
        encoding: 'utf8',
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 'Test',
          GIT_AUTHOR_EMAIL: 'test@example.com',
          GIT_COMMITTER_NAME: 'Test',
          GIT_COMMITTER_EMAIL: 'test@example.com',
        },
      }).trim();
    fs.mkdirSync(work);
    git('init', '--quiet', '--initial-branch=main');
    const pin = (tag: string) => {
      fs.writeFileSync(join(work, 'demo.yaml'), `newTag: ${tag}\n`);
      git('add', '.');
      git('commit', '--quiet', '-m', `demo: ${tag}`);
      git('push', '--quiet', bare, 'main');
    };
    execFileSync('git', ['init', '--quiet', '--bare', bare]);
    pin('rc-1');
    const server = await startArgoCdTestServer();
    server.setApplication(seed('payments-demo'));
    const digestOf = (tag: string) =>
      `sha256:${tag === 'rc-2' ? 'cd'.repeat(32) : 'ab'.repeat(32)}`;
    const sync = syncFromManifestRepository(server, {
      gitDir: bare,
      pollMs: 50,
      syncMs: 300,
      apps: [
        {
          name: 'payments-demo',
          path: 'demo.yaml',
          pods: content => {
            const tag = content.split(': ')[1];
            return [
              {
                name: `payments-demo-${tag}`,
                containers: [
                  {
                    name: 'app',
                    image: `ecr.example/payments:${tag}`,
                    digest: digestOf(tag),
                  },
                ],
              },
            ];
          },
        },
      ],
    });
    const app = async () => {
      const response = await fetch(
        `${server.baseUrl}/api/v1/applications/payments-demo`,
        { headers: { authorization: `Bearer ${server.token}` } },
      );
      const body = await response.json();
      expectValid('v1alpha1Application', body);
      return body;
    };
    const until = async (done: (body: any) => boolean) => {
      for (let i = 0; i < 100; i++) {
        const body = await app();
        if (done(body)) return body;
        await new Promise(resolve => setTimeout(resolve, 50));
      }
      throw new Error('the Application never got there');
    };
    try {
      // What the repository had when following started runs: no sync.
      await new Promise(resolve => setTimeout(resolve, 200));
      expect((await app()).status.sync.revision).toBe(REVISION);
      pin('rc-2');
      const head = git('rev-parse', 'HEAD');
      const syncing = await until(b => b.status.sync.revision === head);
      expect(syncing.status).toMatchObject({
        sync: { status: 'OutOfSync' },
        health: { status: 'Progressing' },
        operationState: { phase: 'Running' },
      });
      const synced = await until(b => b.status.sync.status === 'Synced');
      expect(synced.status).toMatchObject({
        sync: { status: 'Synced', revision: head },
        health: { status: 'Healthy' },
        operationState: { phase: 'Succeeded' },
        summary: { images: ['ecr.example/payments:rc-2'] },
      });
      expect(sync.healthyAt.has('payments-demo')).toBe(true);
      // The next change fails to sync: the operation says so, health stays green.
      sync.apps[0].outcome = 'sync-fails';
      pin('rc-3');
      const failed = await until(
        b => b.status.operationState?.phase === 'Failed',
      );
      expect(failed.status).toMatchObject({
        sync: { status: 'OutOfSync', revision: git('rev-parse', 'HEAD') },
        health: { status: 'Healthy' },
        summary: { images: ['ecr.example/payments:rc-2'] },
      });
    } finally {
      await sync.stop();
      await server.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
