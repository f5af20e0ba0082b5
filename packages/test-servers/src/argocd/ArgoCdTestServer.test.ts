import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import schema from './argocd-schema.json';
import {
  ArgoCdApplicationSeed,
  ArgoCdTestServer,
  startArgoCdTestServer,
} from './ArgoCdTestServer';

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
