import fs from 'node:fs';
import http from 'node:http';
import { startTestBackend } from '@backstage/backend-test-utils';
import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import { Entity } from '@backstage/catalog-model';
import {
  DockerRegistryServer,
  startDockerRegistry,
} from '@mainline/test-servers';
import request from 'supertest';
import { Artifact } from '@mainline/plugin-promotion-node';
import {
  LocalArtifactRegistry,
  localLayout,
} from '@mainline/plugin-promotion-backend-module-local';
import { demoDataDir } from '../__testUtils__/demoData';
import { demoEntities } from '../testUtils';
import { demoBackendFeatures } from '../__testUtils__/demoBackend';
import { capturingLogger } from '../__testUtils__/capturingLogger';
import { Listener, listen } from '../__testUtils__/countingListener';

jest.setTimeout(180_000);

const api = '/api/promotion/v1/entities/component/default';
const USERNAME = 'mainline-bot';
const PASSWORD = 'REGISTRY-PASSWORD-0123456789abcdef';
const BASIC = `Basic ${Buffer.from(`${USERNAME}:${PASSWORD}`).toString(
  'base64',
)}`;
const ISSUED = 'issued-bearer-token-for-acme-login';
const SECRET = 'INTERNAL-SERVICE-SECRET-7f3a9c2e11d04b5a';

/** Forwards a request to the real registry as is. */
function forward(
  registry: DockerRegistryServer,
  req: http.IncomingMessage,
  res: http.ServerResponse,
) {
  const upstream = http.request(
    `${registry.url}${req.url}`,
    { method: req.method, headers: { ...req.headers, host: registry.host } },
    answer => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    },
  );
  req.pipe(upstream);
}

describe('outbound requests go only where an administrator configured', () => {
  let dataDir: string;
  let registry: DockerRegistryServer;
  /** The configured registry: a proxy in front of docker-registry, hostile per repository. */
  let proxy: Listener;
  /** A host nobody configured. */
  let stranger: Listener;
  /** The login realm configured for the registry's credentials (http only as 127.0.0.1). */
  let auth: Listener;
  /** Blob storage a registry redirects reads to, allowed (as an insecure host) by config. */
  let storage: Listener;
  /** The configured ECR endpoint, which an unconfigured account must not reach either. */
  let ecrEndpoint: Listener;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  let built: Artifact[];
  const logs: string[] = [];
  const bodies: string[] = [];
  const record = (res: request.Response) => {
    bodies.push(JSON.stringify(res.headers), res.text);
    return res;
  };
  const strangerSaw = () => stranger.requests.length;

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-outbound-'));
    registry = await startDockerRegistry();
    stranger = await listen((_req, res) => {
      // What an internal service would answer: a body worth stealing.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: SECRET, tags: [SECRET] }));
    });
    storage = await listen((req, res) => forward(registry, req, res));
    ecrEndpoint = await listen((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ __type: 'AccessDeniedException' }));
    });
    auth = await listen((req, res) => {
      if (req.headers.authorization !== BASIC) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: ISSUED }));
    });
    proxy = await listen((req, res) => {
      const scenario = /^\/v2\/acme\/([a-z-]+)\//.exec(req.url!)?.[1];
      const challenge = (realm: string) => {
        if (req.headers.authorization === `Bearer ${ISSUED}`) return false;
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="${realm}",service="proxy",scope="repository:acme/${scenario}:pull,push"`,
        });
        res.end();
        return true;
      };
      const write = req.method !== 'GET' && req.method !== 'HEAD';
      if (scenario === 'realm' && challenge(`http://${stranger.host}/token`))
        return;
      if (
        scenario === 'http-realm' &&
        challenge(`http://localhost:${auth.port}/token`)
      )
        return;
      if (scenario === 'login' && challenge(`http://${auth.host}/token`))
        return;
      if (scenario === 'redirect' && write) {
        res.writeHead(307, { location: `http://${stranger.host}${req.url}` });
        res.end();
        return;
      }
      if (scenario === 'secret' && write) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            errors: [{ code: 'UNKNOWN', message: `upstream said ${SECRET}` }],
            detail: SECRET,
          }),
        );
        return;
      }
      // Blob reads redirected, as registries do to their storage: allowed and not.
      if (scenario === 'blobs' && req.url!.includes('/blobs/')) {
        res.writeHead(307, { location: `http://${storage.host}${req.url}` });
        res.end();
        return;
      }
      if (scenario === 'blobs-elsewhere' && req.url!.includes('/blobs/')) {
        res.writeHead(307, { location: `http://${stranger.host}${req.url}` });
        res.end();
        return;
      }
      if (scenario === 'secret-read') {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`Bad gateway; internal token ${SECRET}`);
        return;
      }
      forward(registry, req, res);
    });

    // The demo's checkout builds, pushed to each scenario's repository of the real registry.
    const local = new LocalArtifactRegistry(localLayout(dataDir).artifacts);
    built = await local.listArtifacts({
      kind: 'image',
      location: 'local/checkout',
    });
    const layers = [Buffer.from('checkout layer')];
    // The refused login scenarios never get to read an image.
    for (const scenario of [
      'login',
      'redirect',
      'secret',
      'blobs',
      'blobs-elsewhere',
    ]) {
      const repository = `acme/${scenario}`;
      for (const artifact of built) {
        await registry.pushImage(repository, artifact.tags, {
          // One config per repository, so no digest is shared (configs are cached by digest).
          config: {
            created: artifact.createdAt,
            config: { Labels: { commit: artifact.commit, repository } },
          },
          layers,
        });
      }
    }

    const checkout = demoEntities().find(e => e.metadata.name === 'checkout')!;
    const copy = (name: string, location: string): Entity => ({
      ...checkout,
      metadata: {
        ...checkout.metadata,
        name,
        annotations: {
          ...checkout.metadata.annotations,
          'mainline.dev/artifact-location': location,
        },
      },
    });
    const entities = [
      ...demoEntities(),
      copy('unconfigured', `oci://${stranger.host}/acme/checkout`),
      copy(
        'unconfigured-ecr',
        '210987654321.dkr.ecr.eu-west-1.amazonaws.com/checkout',
      ),
      ...[
        'realm',
        'http-realm',
        'login',
        'redirect',
        'secret',
        'secret-read',
        'blobs',
        'blobs-elsewhere',
      ].map(scenario => copy(scenario, `oci://${proxy.host}/acme/${scenario}`)),
    ];
    ({ server } = await startTestBackend({
      features: [
        ...demoBackendFeatures({
          dataDir,
          entities,
          promotion: {
            artifacts: {
              oci: {
                registries: [
                  {
                    host: proxy.host,
                    username: USERNAME,
                    password: PASSWORD,
                    insecure: true,
                    // Its credentials may go to the login realm on the auth host, under
                    // either name; plain http only to the name listed as insecure.
                    authHosts: [auth.host, `localhost:${auth.port}`],
                  },
                ],
              },
              insecureHosts: [auth.host, storage.host],
              // An unconfigured ECR account must not reach even the configured endpoint.
              ecr: { endpoint: `http://${ecrEndpoint.host}` },
            },
          },
        }),
        createServiceFactory({
          service: coreServices.rootLogger,
          deps: {},
          factory: () => capturingLogger(logs),
        }),
      ],
    }));
  });

  afterAll(async () => {
    await Promise.all([proxy, stranger, auth, registry].map(s => s?.close()));
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const stageOf = (lineage: any) =>
    lineage.environments.find((e: any) => e.name === 'stage').current;

  it('an artifact location on a host nobody configured: the lineage says why, a promotion and a yank answer 400, and the host hears nothing', async () => {
    const read = record(
      await request(server).get(`${api}/unconfigured/lineage?limit=100`),
    );
    expect(read.status).toBe(200);
    expect(read.body.artifactLookup).toEqual({
      status: 'refused',
      reason: expect.stringContaining(
        `names the registry ${stranger.host}, which is not configured`,
      ),
    });
    expect(read.body.commits.length).toBeGreaterThan(10);
    expect(read.body.commits.every((c: any) => c.artifacts.length === 0)).toBe(
      true,
    );

    const sha = built[0].commit;
    const promoted = record(
      await request(server)
        .post(`${api}/unconfigured/promotions`)
        .send({ environment: 'demo', sha }),
    );
    expect(promoted.status).toBe(400);
    expect(promoted.body.error.message).toContain('is not configured');
    const yanked = record(
      await request(server)
        .post(`${api}/unconfigured/yanks`)
        .send({ sha, reason: 'Probing' }),
    );
    expect(yanked.status).toBe(400);
    expect(strangerSaw()).toBe(0);

    // The same for an ECR account no administrator configured (not even its endpoint is tried).
    const ecr = record(
      await request(server).get(`${api}/unconfigured-ecr/lineage?limit=5`),
    );
    expect(ecr.status).toBe(200);
    expect(ecr.body.artifactLookup.reason).toContain(
      'names ECR account 210987654321 in eu-west-1, which is not configured',
    );
    expect(ecrEndpoint.requests).toHaveLength(0);
  });

  it("a login challenge pointing at another host: refused, that host hears nothing, the registry's credentials go nowhere else", async () => {
    const read = record(
      await request(server).get(`${api}/realm/lineage?limit=100`),
    );
    expect(read.status).toBe(200);
    expect(read.body.artifactLookup.reason).toContain(
      `${proxy.host}'s login challenge points at ${stranger.host}, which is not configured for its credentials`,
    );
    const promoted = record(
      await request(server)
        .post(`${api}/realm/promotions`)
        .send({ environment: 'demo', sha: built[0].commit }),
    );
    expect(promoted.status).toBe(400);
    expect(strangerSaw()).toBe(0);
    // The registry itself got its own credentials; nobody else did.
    expect(
      proxy.requests.filter(r => r.url.startsWith('/v2/acme/realm/')).length,
    ).toBeGreaterThan(0);
  });

  it('a login realm over plain http on a host not listed as insecure: refused before any request', async () => {
    const before = auth.requests.length;
    const read = record(
      await request(server).get(`${api}/http-realm/lineage?limit=100`),
    );
    expect(read.status).toBe(200);
    expect(read.body.artifactLookup.reason).toContain(
      `login challenge points at http://localhost:${auth.port}; only https is used`,
    );
    expect(auth.requests.length).toBe(before);
  });

  it('a login realm configured for the credentials gets them, and the registry answers with the token it issued', async () => {
    const read = record(
      await request(server).get(`${api}/login/lineage?limit=100`),
    );
    expect(read.status).toBe(200);
    expect(read.body.artifactLookup).toBeUndefined();
    expect(stageOf(read.body).artifact.uri).toContain(
      `${proxy.host}/acme/login:`,
    );
    expect(auth.requests.length).toBeGreaterThan(0);
    expect(auth.requests.every(r => r.authorization === BASIC)).toBe(true);
    expect(auth.requests.every(r => r.host === auth.host)).toBe(true);
  });

  it('a blob read redirected to allowed storage is followed without the credentials; to another host, refused', async () => {
    const read = record(
      await request(server).get(`${api}/blobs/lineage?limit=100`),
    );
    expect(read.status).toBe(200);
    expect(read.body.artifactLookup).toBeUndefined();
    const stage = stageOf(read.body);
    // The build time comes from the config blob, read from storage.
    const build = built.find(a => stage.sha.startsWith(a.commit))!;
    expect(stage.artifact.createdAt).toBe(build.createdAt);
    expect(storage.requests.length).toBeGreaterThan(0);
    expect(storage.requests.filter(r => r.authorization)).toHaveLength(0);

    const elsewhere = record(
      await request(server).get(`${api}/blobs-elsewhere/lineage?limit=100`),
    );
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.body.artifactLookup.reason).toContain(
      `${proxy.host} redirected GET acme/blobs-elsewhere/blobs to ${stranger.host}, which is not configured`,
    );
    expect(strangerSaw()).toBe(0);
  });

  it('a registry answering 307 to the retag PUT and the yank DELETE: nothing follows it, both fail naming the redirect', async () => {
    const read = record(
      await request(server).get(`${api}/redirect/lineage?limit=100`),
    );
    expect(read.status).toBe(200);
    const stage = stageOf(read.body);
    expect(stage.artifact).toBeDefined();
    const promoted = record(
      await request(server)
        .post(`${api}/redirect/promotions`)
        .send({ environment: 'demo', sha: stage.sha }),
    );
    const promotion = promoted.body;
    expect(promotion.status).toBe('failed');
    const retag = promotion.steps.find((s: any) => s.name === 'retag');
    expect(retag.status).toBe('failed');
    expect(retag.detail).toContain(
      `${proxy.host} redirected PUT acme/redirect/manifests`,
    );
    expect(retag.detail).toContain('writes never follow redirects');

    const candidate = read.body.commits.find(
      (c: any) =>
        c.artifacts.length > 0 && c.environments.length === 0 && !c.yanked,
    );
    const yanked = record(
      await request(server)
        .post(`${api}/redirect/yanks`)
        .send({ sha: candidate.sha, reason: 'Leaks card numbers into logs' }),
    );
    expect(yanked.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(yanked.body)).toContain(
      `${proxy.host} redirected DELETE acme/redirect/manifests`,
    );
    expect(
      proxy.requests.filter(
        r => r.method === 'PUT' && r.url.startsWith('/v2/acme/redirect/'),
      ),
    ).toHaveLength(1);
    expect(
      proxy.requests.filter(
        r => r.method === 'DELETE' && r.url.startsWith('/v2/acme/redirect/'),
      ),
    ).toHaveLength(1);
    expect(strangerSaw()).toBe(0);
  });

  it('an upstream error body carrying a secret: the secret reaches no response and no log line', async () => {
    const read = record(
      await request(server).get(`${api}/secret/lineage?limit=100`),
    );
    const stage = stageOf(read.body);
    const promoted = record(
      await request(server)
        .post(`${api}/secret/promotions`)
        .send({ environment: 'demo', sha: stage.sha }),
    );
    expect(promoted.body.status).toBe('failed');
    const retag = promoted.body.steps.find((s: any) => s.name === 'retag');
    expect(retag.detail).toContain(
      `${proxy.host} answered HTTP 500 to PUT acme/secret/manifests (UNKNOWN)`,
    );
    record(await request(server).get(`${api}/secret/promotions`));
    const candidate = read.body.commits.find(
      (c: any) =>
        c.artifacts.length > 0 && c.environments.length === 0 && !c.yanked,
    );
    const yanked = record(
      await request(server)
        .post(`${api}/secret/yanks`)
        .send({ sha: candidate.sha, reason: 'Leaks card numbers into logs' }),
    );
    expect(yanked.status).toBeGreaterThanOrEqual(400);
    const failedRead = record(
      await request(server).get(`${api}/secret-read/lineage?limit=100`),
    );
    expect(failedRead.status).toBeGreaterThanOrEqual(500);
    expect(failedRead.body.error.message).toContain(
      `${proxy.host} answered HTTP 502 to GET`,
    );

    const everything = [...bodies, ...logs].join('\n');
    expect(logs.length).toBeGreaterThan(0);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(BASIC.slice(6));
    expect(everything).not.toContain(ISSUED);
  });

  afterAll(() => {
    // The measured figures docs/reliability.md quotes.
    const credentials = (l: Listener) =>
      l.requests.filter(r => r.authorization).length;
    // eslint-disable-next-line no-console
    console.log(
      [
        `outbound: stranger ${stranger.requests.length} requests (${credentials(
          stranger,
        )} with credentials)`,
        `ECR endpoint ${ecrEndpoint.requests.length}`,
        `storage ${storage.requests.length} (${credentials(
          storage,
        )} with credentials)`,
        `auth host ${auth.requests.length} (${credentials(
          auth,
        )} with credentials, ${
          auth.requests.filter(r => r.host !== auth.host).length
        } as localhost)`,
        `registry ${proxy.requests.length} (${
          proxy.requests.filter(r => r.method === 'PUT').length
        } PUT, ${
          proxy.requests.filter(r => r.method === 'DELETE').length
        } DELETE)`,
        `${bodies.length / 2} responses and ${logs.length} log lines checked`,
      ].join('; '),
    );
  });
});
