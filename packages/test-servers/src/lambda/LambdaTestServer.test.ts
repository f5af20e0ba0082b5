import crypto from 'node:crypto';
import {
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListAliasesCommand,
  ListTagsCommand,
  ListVersionsByFunctionCommand,
  ResourceNotFoundException,
  paginateListFunctions,
} from '@aws-sdk/client-lambda';
import { LambdaTestServer, startLambdaTestServer } from './LambdaTestServer';

/*
 * The real `@aws-sdk/client-lambda` against the test server: what the SDK sends is what the
 * server routes, and what the server answers is what the SDK parses into its typed output and
 * its modeled exceptions.
 */

const servers: LambdaTestServer[] = [];
afterAll(() => Promise.all(servers.map(s => s.close())));

async function setup() {
  const server = await startLambdaTestServer();
  servers.push(server);
  const client = new LambdaClient({
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  });
  return { server, client };
}

const zip = Buffer.from('PK\u0003\u0004 the code of one build');
const zipSha256 = crypto.createHash('sha256').update(zip).digest('base64');

describe('Lambda test server', () => {
  it('serves GetFunction with the zip code hash, tags, version and Lambda time format', async () => {
    const { server, client } = await setup();
    server.setFunction({
      name: 'payments-stage-api',
      zip,
      tags: { 'mainline.dev/commit': 'a'.repeat(40), STAGE: 'stage' },
      lastModified: new Date('2024-06-01T10:00:00.123Z'),
    });
    const got = await client.send(
      new GetFunctionCommand({ FunctionName: 'payments-stage-api' }),
    );
    expect(got.Configuration).toMatchObject({
      FunctionName: 'payments-stage-api',
      FunctionArn: server.functionArn('payments-stage-api'),
      CodeSha256: zipSha256,
      CodeSize: zip.length,
      Version: '$LATEST',
      State: 'Active',
      LastUpdateStatus: 'Successful',
      PackageType: 'Zip',
      LastModified: '2024-06-01T10:00:00.123+0000',
    });
    expect(got.Tags).toEqual({
      'mainline.dev/commit': 'a'.repeat(40),
      STAGE: 'stage',
    });
    expect(got.Code?.RepositoryType).toBe('S3');
    // By ARN, as the SDK escapes it in the path.
    const byArn = await client.send(
      new GetFunctionConfigurationCommand({
        FunctionName: server.functionArn('payments-stage-api'),
      }),
    );
    expect(byArn.CodeSha256).toBe(zipSha256);
    const tags = await client.send(
      new ListTagsCommand({
        Resource: server.functionArn('payments-stage-api'),
      }),
    );
    expect(tags.Tags).toEqual(got.Tags);
    expect(server.requests.map(r => [r.operation, r.status])).toEqual([
      ['GetFunction', 200],
      ['GetFunctionConfiguration', 200],
      ['ListTags', 200],
    ]);
  });

  it('pages ListFunctions by Marker, 50 at most whatever MaxItems asks', async () => {
    const { server, client } = await setup();
    for (let i = 0; i < 120; i++) {
      server.setFunction({ name: `svc-stage-fn${String(i).padStart(3, '0')}` });
    }
    const pages: number[] = [];
    const names: string[] = [];
    for await (const page of paginateListFunctions(
      { client, pageSize: 1000 },
      {},
    )) {
      pages.push(page.Functions!.length);
      names.push(...page.Functions!.map(f => f.FunctionName!));
    }
    expect(pages).toEqual([50, 50, 20]);
    expect(new Set(names).size).toBe(120);
    const markers = server.requests.map(r => r.path);
    expect(markers.every(p => /^\/2015-03-31\/functions\/?$/.test(p))).toBe(
      true,
    );
  });

  it('serves published versions, aliases with traffic weights and image functions', async () => {
    const { server, client } = await setup();
    const digest = (c: string) => `sha256:${c.repeat(64)}`;
    server.setFunction({
      name: 'payments-prod-app',
      image: {
        uri: '1.dkr.ecr.eu-west-1.amazonaws.com/p:v2',
        digest: digest('b'),
      },
      versions: [
        {
          image: {
            uri: '1.dkr.ecr.eu-west-1.amazonaws.com/p:v1',
            digest: digest('a'),
          },
        },
        {
          image: {
            uri: '1.dkr.ecr.eu-west-1.amazonaws.com/p:v2',
            digest: digest('b'),
          },
          lastUpdateStatus: 'InProgress',
          lastUpdateStatusReason: 'The function is being updated.',
        },
      ],
      aliases: [
        { name: 'live', version: '2', additionalVersionWeights: { '1': 0.9 } },
      ],
    });
    const alias = await client.send(
      new GetAliasCommand({ FunctionName: 'payments-prod-app', Name: 'live' }),
    );
    expect(alias).toMatchObject({
      Name: 'live',
      FunctionVersion: '2',
      RoutingConfig: { AdditionalVersionWeights: { '1': 0.9 } },
    });
    const atAlias = await client.send(
      new GetFunctionCommand({
        FunctionName: 'payments-prod-app',
        Qualifier: 'live',
      }),
    );
    expect(atAlias.Configuration).toMatchObject({
      Version: '2',
      PackageType: 'Image',
      CodeSha256: 'b'.repeat(64),
      LastUpdateStatus: 'InProgress',
    });
    expect(atAlias.Code?.ResolvedImageUri).toBe(
      `1.dkr.ecr.eu-west-1.amazonaws.com/p@${digest('b')}`,
    );
    const versions = await client.send(
      new ListVersionsByFunctionCommand({ FunctionName: 'payments-prod-app' }),
    );
    expect(versions.Versions!.map(v => [v.Version, v.CodeSha256])).toEqual([
      ['$LATEST', 'b'.repeat(64)],
      ['1', 'a'.repeat(64)],
      ['2', 'b'.repeat(64)],
    ]);
    const aliases = await client.send(
      new ListAliasesCommand({ FunctionName: 'payments-prod-app' }),
    );
    expect(aliases.Aliases!.map(a => a.Name)).toEqual(['live']);
  });

  it('answers Lambda errors the SDK parses: not found, access denied', async () => {
    const { server, client } = await setup();
    server.setFunction({ name: 'secret-fn' });
    server.denyFunction('secret-fn');
    const missing = await client
      .send(new GetFunctionCommand({ FunctionName: 'nope' }))
      .catch(e => e);
    expect(missing).toBeInstanceOf(ResourceNotFoundException);
    expect(missing.message).toBe(
      `Function not found: ${server.functionArn('nope')}`,
    );
    expect(missing.$metadata.httpStatusCode).toBe(404);
    const denied = await client
      .send(new GetFunctionCommand({ FunctionName: 'secret-fn' }))
      .catch(e => e);
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.$metadata.httpStatusCode).toBe(403);
    expect(denied.message).toContain('lambda:GetFunction');
    const noAlias = await client
      .send(new GetAliasCommand({ FunctionName: 'nope', Name: 'live' }))
      .catch(e => e);
    expect(noAlias).toBeInstanceOf(ResourceNotFoundException);
  });

  it('refuses unsigned requests and signatures for another region, as AWS does', async () => {
    const { server } = await setup();
    server.setFunction({ name: 'fn' });
    const unsigned = await fetch(`${server.endpoint}/2015-03-31/functions/fn`);
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe(
      'MissingAuthenticationTokenException',
    );
    const elsewhere = new LambdaClient({
      endpoint: server.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    });
    const refused = await elsewhere
      .send(new GetFunctionCommand({ FunctionName: 'fn' }))
      .catch(e => e);
    expect(refused.name).toBe('InvalidSignatureException');
    expect(refused.$metadata.httpStatusCode).toBe(403);
  });
});
