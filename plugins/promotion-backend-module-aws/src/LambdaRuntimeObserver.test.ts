import crypto from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ConfigReader } from '@backstage/config';
import {
  RuntimeEnvironmentFixture,
  runRuntimeObserverContract,
} from '@mainline/plugin-promotion-node/testUtils';
import {
  LambdaCodeSeed,
  LambdaTestServer,
  S3rverServer,
  startLambdaTestServer,
  startS3rver,
} from '@mainline/test-servers';
import { LambdaRuntimeObserver } from './LambdaRuntimeObserver';
import { readLambdaObserverOptions } from './lambda';

jest.setTimeout(120_000);

const BUCKET = 'packages';
const servers: Array<{ close(): Promise<void> }> = [];
afterAll(() => Promise.all(servers.map(s => s.close())));

async function lambdaServer() {
  const server = await startLambdaTestServer();
  servers.push(server);
  return server;
}

/** The observer exactly as the module builds it from configuration. */
function observerFor(
  lambda: LambdaTestServer,
  s3?: S3rverServer,
  settings: Record<string, unknown> = {},
) {
  const hosts = [new URL(lambda.endpoint).host];
  if (s3) hosts.push(new URL(s3.endpoint).host);
  const config = new ConfigReader({
    aws: { mainAccount: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } },
    promotion: {
      artifacts: {
        insecureHosts: hosts,
        ...(s3
          ? {
              s3: {
                endpoint: s3.endpoint,
                forcePathStyle: true,
                region: 'us-east-1',
                buckets: [BUCKET],
              },
            }
          : {}),
      },
      runtime: {
        lambda: {
          region: lambda.region,
          endpoint: lambda.endpoint,
          ...settings,
        },
      },
    },
  });
  return new LambdaRuntimeObserver(readLambdaObserverOptions(config)!);
}

/**
 * The contract's environments as Lambda runs them: each container of the pods is an image
 * function `payments-<environment>-<container>` reached through alias `live`; a container
 * with two digests (mid-rollout) is two published versions, the alias on the newer one and the
 * older taking half the traffic, as a CodeDeploy canary leaves it. The commit is the
 * `mainline.dev/commit` tag; health and the last operation are the newest version's `State`
 * and `LastUpdateStatus`, its `LastModified` the time the state holds since.
 */
function seedEnvironment(
  server: LambdaTestServer,
  state: RuntimeEnvironmentFixture,
  seeded: Map<string, string[]>,
) {
  for (const name of seeded.get(state.environment) ?? []) {
    server.removeFunction(name);
  }
  const byContainer = new Map<
    string,
    Array<{ image: string; digest: string }>
  >();
  for (const pod of state.pods) {
    for (const c of pod.containers) {
      const list = byContainer.get(c.name) ?? [];
      if (!list.some(i => i.digest === c.digest)) list.push(c);
      byContainer.set(c.name, list);
    }
  }
  const lastUpdateStatus = (
    {
      Running: 'InProgress',
      Failed: 'Failed',
      Error: 'Failed',
      Succeeded: 'Successful',
      Terminating: 'InProgress',
    } as const
  )[state.operation?.phase ?? 'Succeeded'];
  const stateOf = {
    Healthy: 'Active',
    Progressing: 'Active',
    Degraded: 'Failed',
    Suspended: 'Inactive',
    Missing: 'Failed',
    Unknown: 'Pending',
  } as const;
  const names: string[] = [];
  for (const [container, images] of byContainer) {
    const versions: LambdaCodeSeed[] = images.map((image, index) => {
      const newest = index === images.length - 1;
      return {
        image: { uri: image.image, digest: image.digest },
        lastModified: newest
          ? state.health.since
          : new Date(state.health.since.getTime() - 86_400_000),
        ...(newest
          ? {
              state: stateOf[state.health.status],
              stateReason:
                state.health.status === 'Degraded'
                  ? state.health.message
                  : undefined,
              lastUpdateStatus,
              lastUpdateStatusReason:
                state.operation?.message ?? state.health.message,
            }
          : {}),
      };
    });
    const name = `payments-${state.environment}-${container}`;
    server.setFunction({
      name,
      ...versions[versions.length - 1],
      tags: {
        'mainline.dev/commit': state.sync.revision,
        STAGE: state.environment,
      },
      versions,
      aliases: [
        {
          name: 'live',
          version: String(versions.length),
          additionalVersionWeights:
            versions.length > 1
              ? Object.fromEntries(
                  versions
                    .slice(0, -1)
                    .map((_, i) => [
                      String(i + 1),
                      0.5 / (versions.length - 1),
                    ]),
                )
              : undefined,
        },
      ],
    });
    names.push(name);
  }
  seeded.set(state.environment, names);
}

runRuntimeObserverContract('LambdaRuntimeObserver', async fixture => {
  const server = await lambdaServer();
  const seeded = new Map<string, string[]>();
  for (const state of fixture.environments) {
    seedEnvironment(server, state, seeded);
  }
  // Another service whose name starts like this one's: `payments-api`'s qa functions.
  server.setFunction({ name: 'payments-api-qa-app' });
  return {
    observer: observerFor(server),
    subject: {
      ...fixture.entity,
      annotations: {
        'mainline.dev/serverless-service': 'payments',
        'mainline.dev/lambda-alias': 'live',
      },
    },
    stranger: {
      entityRef: 'component:default/nothing-here',
      name: 'nothing-here',
      annotations: { 'mainline.dev/serverless-service': 'nothing-here' },
    },
    transition: async state => seedEnvironment(server, state, seeded),
    // Lambda reports when a function was last modified, not when an update started or ended.
    reportsOperationTimes: false,
  };
});

const SHA = '0123456789abcdef0123456789abcdef01234567';
const OTHER_SHA = 'fedcba9876543210fedcba9876543210fedcba98';
const zip = (text: string) => Buffer.from(`PK\u0003\u0004${text}`);
const base64Sha256 = (bytes: Buffer) =>
  crypto.createHash('sha256').update(bytes).digest('base64');
const subject = {
  entityRef: 'component:default/invoices',
  name: 'invoices',
  annotations: {
    'mainline.dev/serverless-service': 'invoices',
    'mainline.dev/artifact-kind': 'archive',
    'mainline.dev/artifact-location': `s3://${BUCKET}/invoices`,
  },
};

/** A package as the build uploads it: `<prefix>/<sha>/<stage>/` with the zip and templates. */
async function upload(
  s3: S3rverServer,
  sha: string,
  stage: string,
  code: Buffer,
) {
  const client = new S3Client(s3.clientOptions);
  const files: Record<string, Buffer> = {
    'invoices.zip': code,
    'cloudformation-template-update-stack.json': Buffer.from('{}'),
    'serverless-state.json': Buffer.from('{}'),
  };
  for (const [file, Body] of Object.entries(files)) {
    await client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: `invoices/${sha}/${stage}/${file}`,
        Body,
      }),
    );
  }
}

describe('LambdaRuntimeObserver', () => {
  it('reports the code hash, version and tags of zip functions and checks them against the commit package in S3', async () => {
    const lambda = await lambdaServer();
    const s3 = await startS3rver({ buckets: [BUCKET] });
    servers.push(s3);
    const code = zip('build of 0123456');
    await upload(s3, SHA, 'stage', code);
    for (const fn of ['api', 'worker']) {
      lambda.setFunction({
        name: `invoices-stage-${fn}`,
        zip: code,
        tags: { 'mainline.dev/commit': SHA },
        lastModified: new Date('2024-06-01T10:00:00Z'),
      });
    }
    const observer = observerFor(lambda, s3);
    lambda.resetRequests();
    const states = await observer.observe(subject, ['stage', 'prod']);
    expect(states.prod).toBeUndefined();
    expect(states.stage).toMatchObject({
      environment: 'stage',
      source: 'lambda eu-west-1: invoices-stage-* (2)',
      sync: { status: 'Synced', revision: SHA },
      health: { status: 'Healthy' },
      lastOperation: { phase: 'Succeeded', revision: SHA },
      runningDigests: [],
      runningCodeSha256s: [base64Sha256(code)],
      since: '2024-06-01T10:00:00.000Z',
    });
    expect(states.stage!.functions).toEqual([
      {
        name: 'invoices-stage-api',
        version: '$LATEST',
        packageType: 'Zip',
        codeSha256: base64Sha256(code),
        lastModified: '2024-06-01T10:00:00.000Z',
        tags: { 'mainline.dev/commit': SHA },
      },
      expect.objectContaining({ name: 'invoices-stage-worker' }),
    ]);
    // One listing for both environments, one read per function.
    expect(lambda.requests.map(r => r.operation)).toEqual([
      'ListFunctions',
      'GetFunction',
      'GetFunction',
    ]);

    // A deploy of other code under the same tag: the code is not the commit's package.
    lambda.setFunction({
      name: 'invoices-stage-worker',
      zip: zip('a hotfix uploaded by hand'),
      tags: { 'mainline.dev/commit': SHA },
    });
    const drifted = await observer.observe(subject, ['stage']);
    expect(drifted.stage!.sync).toEqual({ status: 'OutOfSync', revision: SHA });
    expect(drifted.stage!.runningCodeSha256s).toHaveLength(2);
  });

  it('sees a package yanked while its code still runs as out of sync', async () => {
    const lambda = await lambdaServer();
    const s3 = await startS3rver({ buckets: [BUCKET] });
    servers.push(s3);
    const code = zip('build of fedcba9');
    await upload(s3, SHA, 'demo', code);
    lambda.setFunction({
      name: 'invoices-demo-api',
      zip: code,
      tags: { 'mainline.dev/commit': OTHER_SHA },
    });
    const states = await observerFor(lambda, s3).observe(subject, ['demo']);
    // The tag names a commit with no package for demo (never built there, or yanked).
    expect(states.demo!.sync).toEqual({
      status: 'OutOfSync',
      revision: OTHER_SHA,
    });
  });

  it('reports a failed update and a failed function as what they are', async () => {
    const lambda = await lambdaServer();
    lambda.setFunction({
      name: 'invoices-prod-api',
      tags: { 'mainline.dev/commit': SHA },
      lastUpdateStatus: 'Failed',
      lastUpdateStatusReason:
        'The role defined for the function cannot be assumed by Lambda.',
    });
    lambda.setFunction({
      name: 'invoices-qa-api',
      state: 'Failed',
      stateReason: 'Lambda was unable to configure your environment variables.',
    });
    const states = await observerFor(lambda).observe(subject, ['prod', 'qa']);
    expect(states.prod).toMatchObject({
      sync: { status: 'OutOfSync', revision: SHA },
      health: { status: 'Healthy' },
      lastOperation: {
        phase: 'Failed',
        message:
          'The role defined for the function cannot be assumed by Lambda.',
      },
    });
    expect(states.qa).toMatchObject({
      sync: { status: 'Unknown' },
      health: {
        status: 'Degraded',
        message: 'Lambda was unable to configure your environment variables.',
      },
    });
  });

  it('answers undefined for an environment without functions, and Missing for a function without the alias', async () => {
    const lambda = await lambdaServer();
    lambda.setFunction({ name: 'invoices-stage-api' });
    const observer = observerFor(lambda, undefined, { alias: 'live' });
    const states = await observer.observe(subject, ['stage', 'prod']);
    expect(states.prod).toBeUndefined();
    expect(states.stage!.health).toEqual({
      status: 'Missing',
      message: 'invoices-stage-api has no alias live',
    });
    expect(states.stage!.sync.status).toBe('OutOfSync');
  });

  it('reads an alias that splits traffic: both versions run, with their weights', async () => {
    const lambda = await lambdaServer();
    const old = zip('version 1');
    const next = zip('version 2');
    lambda.setFunction({
      name: 'invoices-prod-api',
      zip: next,
      tags: { 'mainline.dev/commit': SHA },
      versions: [{ zip: old }, { zip: next }],
      aliases: [
        { name: 'live', version: '2', additionalVersionWeights: { '1': 0.25 } },
      ],
    });
    lambda.resetRequests();
    const states = await observerFor(lambda).observe(
      {
        ...subject,
        annotations: {
          ...subject.annotations,
          'mainline.dev/lambda-alias': 'live',
        },
      },
      ['prod'],
    );
    expect(states.prod!.source).toBe(
      'lambda eu-west-1: invoices-prod-api at live',
    );
    expect(
      states.prod!.functions!.map(f => [f.version, f.weight, f.codeSha256]),
    ).toEqual([
      ['2', 0.75, base64Sha256(next)],
      ['1', 0.25, base64Sha256(old)],
    ]);
    expect(states.prod!.runningCodeSha256s).toEqual(
      [base64Sha256(next), base64Sha256(old)].sort(),
    );
    expect(lambda.requests.map(r => r.operation)).toEqual([
      'ListFunctions',
      'GetFunction',
      'GetAlias',
      'GetFunctionConfiguration',
    ]);
  });

  it('refuses with an error naming the function and region when Lambda denies access', async () => {
    const lambda = await lambdaServer();
    lambda.setFunction({ name: 'invoices-stage-api' });
    lambda.denyFunction('invoices-stage-api');
    const failure = await observerFor(lambda)
      .observe(subject, ['stage'])
      .catch(e => e);
    expect(failure.name).toBe('ServiceUnavailableError');
    expect(failure.message).toBe(
      'Lambda in eu-west-1 could not be read: GetFunction of invoices-stage-api failed; caused by AccessDeniedException: HTTP 403',
    );
  });

  it('pages ListFunctions beyond 50 functions', async () => {
    const lambda = await lambdaServer();
    for (let i = 0; i < 130; i++) {
      lambda.setFunction({
        name: `another-prod-fn${String(i).padStart(3, '0')}`,
      });
    }
    // Sorted after the 130 others: only the third page holds it.
    lambda.setFunction({
      name: 'invoices-prod-api',
      tags: { 'mainline.dev/commit': SHA },
    });
    lambda.resetRequests();
    const states = await observerFor(lambda).observe(subject, ['prod']);
    expect(states.prod!.functions!.map(f => f.name)).toEqual([
      'invoices-prod-api',
    ]);
    expect(lambda.requests.map(r => r.operation)).toEqual([
      'ListFunctions',
      'ListFunctions',
      'ListFunctions',
      'GetFunction',
    ]);
  });

  it('refuses configuration naming an unknown account, a bad region or a plain-http endpoint', () => {
    const read = (lambda: Record<string, string>) => () =>
      readLambdaObserverOptions(
        new ConfigReader({ promotion: { runtime: { lambda } } }),
      );
    expect(read({ region: 'eu-west-1', accountId: '999999999999' })).toThrow(
      'promotion.runtime.lambda.accountId 999999999999 is not in aws.accounts',
    );
    expect(read({ region: 'Europe' })).toThrow(
      'promotion.runtime.lambda.region is not an AWS region: "Europe"',
    );
    expect(
      read({ region: 'eu-west-1', endpoint: 'http://lambda.internal:8080' }),
    ).toThrow('promotion.runtime.lambda.endpoint must be https');
    expect(read({})).toThrow('promotion.runtime.lambda.region is required');
  });
});
