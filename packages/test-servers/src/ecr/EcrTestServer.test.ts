import {
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
} from '@aws-sdk/client-ecr';
import { EcrTestServer, startEcrTestServer } from './EcrTestServer';

describe('EcrTestServer authentication', () => {
  let ecr: EcrTestServer;
  // Any key id signs (the signature is not checked), as the existing suites' `test` keys do.
  const credentials = { accessKeyId: 'test', secretAccessKey: 'secret' };

  beforeAll(async () => {
    ecr = await startEcrTestServer({ region: 'eu-west-1' });
    ecr.createRepository('checkout');
  });
  afterAll(() => ecr?.close());

  it('answers SigV4-signed requests scoped to its region and ecr', async () => {
    const client = new ECRClient({
      endpoint: ecr.endpoint,
      region: 'eu-west-1',
      credentials,
    });
    const { repositories } = await client.send(
      new DescribeRepositoriesCommand({}),
    );
    expect(repositories?.map(r => r.repositoryName)).toEqual(['checkout']);
    const { authorizationData } = await client.send(
      new GetAuthorizationTokenCommand({}),
    );
    expect(
      Buffer.from(authorizationData![0].authorizationToken!, 'base64')
        .toString()
        .startsWith('AWS:'),
    ).toBe(true);
  });

  it('refuses unsigned requests and signatures for another region, as AWS does', async () => {
    const unsigned = await fetch(ecr.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target':
          'AmazonEC2ContainerRegistry_V20150921.DescribeRepositories',
      },
      body: '{}',
    });
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toEqual({
      __type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    });
    const elsewhere = new ECRClient({
      endpoint: ecr.endpoint,
      region: 'us-east-1',
      credentials,
    });
    const refused = await elsewhere
      .send(new DescribeRepositoriesCommand({}))
      .catch(e => e);
    expect(refused.name).toBe('InvalidSignatureException');
    expect(refused.message).toBe(
      "Credential should be scoped to a valid region, not 'us-east-1'.",
    );
    expect(refused.$metadata.httpStatusCode).toBe(403);
    expect(ecr.requests.map(r => [r.operation, r.status])).toEqual([
      ['DescribeRepositories', 200],
      ['GetAuthorizationToken', 200],
      ['DescribeRepositories', 403],
      ['DescribeRepositories', 403],
    ]);
  });
});
