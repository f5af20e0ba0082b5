import {
  BatchDeleteImageCommand,
  BatchGetImageCommand,
  DescribeImagesCommand,
  ECRClient,
  ImageFailure,
  ImageFailureCode,
} from '@aws-sdk/client-ecr';
import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { startEcrTestServer, startS3rver } from '@mainline/test-servers';
import { mockClient } from 'aws-sdk-client-mock';
import { ConfigReader } from '@backstage/config';
import {
  ArtifactRegistries,
  UpstreamAnswer,
} from '@mainline/plugin-promotion-node';
import { awsRegistryEntries, ecrEntry, s3Entry } from './registries';
import { runArtifactRegistryContract } from '@mainline/plugin-promotion-node/testUtils';
import { EcrArtifactRegistry } from './EcrArtifactRegistry';
import { S3PackageRegistry } from './S3PackageRegistry';

jest.setTimeout(60_000);

const BUCKET = 'artifacts';
const servers: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  await Promise.all(servers.map(s => s.close()));
});

async function serve() {
  const ecr = await startEcrTestServer();
  const s3 = await startS3rver({ buckets: [BUCKET] });
  servers.push(ecr, s3);
  const ecrClient = new ECRClient({
    endpoint: ecr.endpoint,
    region: ecr.region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const s3Client = new S3Client(s3.clientOptions);
  const registry = new ArtifactRegistries([
    ecrEntry(async () => ecrClient, { accountIds: [ecr.accountId] }),
    s3Entry(async () => s3Client, [BUCKET]),
  ]);
  return { ecr, s3, ecrClient, s3Client, registry };
}

runArtifactRegistryContract('ECR images and S3 packages', async fixture => {
  const { ecr, s3, s3Client, registry } = await serve();
  for (const build of fixture.images) {
    ecr.putManifest('checkout', build.tag, build.manifest.toString('utf8'), {
      pushedAt: build.createdAt,
    });
    for (const retag of build.retags) {
      ecr.putManifest('checkout', retag.tag, build.manifest.toString('utf8'));
    }
  }
  for (const build of fixture.archives) {
    for (const [file, body] of Object.entries(build.files)) {
      const Key = `invoices/${build.sha}/${file}`;
      await s3Client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key, Body: body }),
      );
      await s3.setLastModified(BUCKET, Key, build.createdAt);
    }
  }
  return {
    registry,
    imageLocation: { kind: 'image', location: ecr.repositoryUri('checkout') },
    archiveLocation: { kind: 'archive', location: `s3://${BUCKET}/invoices` },
  };
});

describe('against the servers directly', () => {
  it('a retag keeps the digest ECR reports, and a yank removes the image from ECR', async () => {
    const { ecr, ecrClient, registry } = await serve();
    const sha = 'ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12';
    const { digest } = ecr.pushImage('svc', [sha.slice(0, 7)]);
    const location = {
      kind: 'image' as const,
      location: ecr.repositoryUri('svc'),
    };

    await registry.addTag(location, sha, 'v1.0.0');
    const described = await ecrClient.send(
      new DescribeImagesCommand({
        repositoryName: 'svc',
        imageIds: [{ imageTag: 'v1.0.0' }],
      }),
    );
    expect(described.imageDetails?.[0].imageDigest).toBe(digest);
    expect(ecr.image('svc', { tag: 'v1.0.0' })?.digest).toBe(digest);

    await expect(registry.deleteArtifact(location, sha)).resolves.toMatchObject(
      { digest },
    );
    expect(ecr.image('svc', { digest })).toBeUndefined();
    expect(ecr.repository('svc')?.imageCount).toBe(0);
  });

  it('never moves a release tag in a mutable repository, and accepts it on an immutable one', async () => {
    const { ecr, registry } = await serve();
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    ecr.createRepository('strict', { tagMutability: 'IMMUTABLE' });
    for (const repo of ['loose', 'strict']) {
      ecr.pushImage(repo, [a.slice(0, 7)], { seed: 'a' });
      ecr.pushImage(repo, [b.slice(0, 7)], { seed: 'b' });
      const location = {
        kind: 'image' as const,
        location: ecr.repositoryUri(repo),
      };
      const tagged = await registry.addTag(location, a, 'v2.0.0');
      await expect(registry.addTag(location, a, 'v2.0.0')).resolves.toEqual(
        tagged,
      );
      await expect(
        registry.addTag(location, b, 'v2.0.0'),
      ).rejects.toMatchObject({
        name: 'ConflictError',
      });
      expect(ecr.image(repo, { tag: 'v2.0.0' })?.digest).toBe(tagged.digest);
    }
  });

  it("reads a page of commits' images by tag, not the repository's listing", async () => {
    const { ecr, registry } = await serve();
    const sha = (i: number) => i.toString(16).padStart(7, '0').padEnd(40, '0');
    const built = new Date('2024-05-01T10:00:00Z');
    // 2,500 builds (three DescribeImages pages); all but every tenth annotated by the build.
    for (let i = 0; i < 2500; i++) {
      const at = new Date(built.getTime() + i * 60_000);
      ecr.pushImage('big', [sha(i).slice(0, 7)], {
        seed: String(i),
        pushedAt: at,
        annotations:
          i % 10 === 0
            ? undefined
            : { 'org.opencontainers.image.created': at.toISOString() },
      });
    }
    ecr.pushImage('big', ['rc-7'], { seed: '2490', pushedAt: new Date() });
    const location = {
      kind: 'image' as const,
      location: ecr.repositoryUri('big'),
    };
    // The newest 150 commits and 5 that were never built.
    const commits = [
      ...Array.from({ length: 150 }, (_, i) => sha(2499 - i)),
      ...Array.from({ length: 5 }, (_, i) => `${'f'.repeat(39)}${i}`),
    ];
    ecr.resetRequests();
    const found = await registry.findArtifacts(location, {
      commits,
      tags: ['rc-7'],
    });
    const operations = ecr.requests.map(r => r.operation).sort();
    expect(operations).toEqual([
      'BatchGetImage',
      'BatchGetImage',
      'DescribeImages',
    ]);
    expect(found).toHaveLength(150);
    expect(found[0].commit).toBe(sha(2499).slice(0, 7));
    expect(found.map(a => a.createdAt)).toEqual(
      Array.from({ length: 150 }, (_, i) =>
        new Date(built.getTime() + (2499 - i) * 60_000).toISOString(),
      ),
    );
    const listed = await registry.listArtifacts(location);
    for (const artifact of found) {
      const same = listed.find(a => a.commit === artifact.commit)!;
      expect(artifact.digest).toBe(same.digest);
      expect(artifact.size).toBe(same.size);
    }
    expect(found.find(a => a.commit === sha(2490).slice(0, 7))?.tags).toEqual([
      sha(2490).slice(0, 7),
      'rc-7',
    ]);

    // Asked while the commits are still being read: the first page of the listing overlaps
    // with that, and what it describes needs no DescribeImages by digest.
    ecr.resetRequests();
    const overlapped = await registry.findArtifacts(
      location,
      new Promise(resolve =>
        setTimeout(() => resolve({ commits, tags: ['rc-7'] }), 20),
      ),
    );
    expect(overlapped).toEqual(found);
    expect(ecr.requests.map(r => r.operation)).toEqual(
      expect.arrayContaining([
        'DescribeImages',
        'BatchGetImage',
        'BatchGetImage',
      ]),
    );
    expect(ecr.requests.length).toBeLessThanOrEqual(4);

    // A repository of one page: that page answers alone.
    ecr.pushImage('small', [sha(1).slice(0, 7)], { seed: '1' });
    ecr.resetRequests();
    const small = await registry.findArtifacts(
      { kind: 'image', location: ecr.repositoryUri('small') },
      Promise.resolve({ commits: [sha(1), sha(2)] }),
    );
    expect(small.map(a => a.commit)).toEqual([sha(1).slice(0, 7)]);
    expect(ecr.requests.map(r => r.operation)).toEqual(['DescribeImages']);
  });

  it('a yank deletes every object of the package in S3, across pages', async () => {
    const { s3Client, registry } = await serve();
    const sha = 'c'.repeat(40);
    const files = Array.from({ length: 1205 }, (_, i) => `layer-${i}.zip`);
    for (let i = 0; i < files.length; i += 50) {
      await Promise.all(
        files.slice(i, i + 50).map(file =>
          s3Client.send(
            new PutObjectCommand({
              Bucket: BUCKET,
              Key: `big/${sha}/${file}`,
              Body: 'x',
            }),
          ),
        ),
      );
    }
    const location = {
      kind: 'archive' as const,
      location: `s3://${BUCKET}/big`,
    };
    await registry.addTag(location, sha, '2024.10.1');
    expect((await registry.getArtifact(location, sha))?.size).toBe(1205);

    await registry.deleteArtifact(location, sha);
    const left = await s3Client.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'big/' }),
    );
    expect(left.KeyCount ?? 0).toBe(0);
  });
});

describe('upstream failures', () => {
  const location = {
    kind: 'image' as const,
    location: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/svc',
  };
  const sha = 'd'.repeat(40);

  it('names the operation when ECR throttling outlasts the SDK retries, and answers on the next call', async () => {
    const client = new ECRClient({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      maxAttempts: 3,
      retryStrategy: undefined,
    });
    const mock = mockClient(client);
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
      $retryable: { throttling: true },
    });
    mock
      .on(DescribeImagesCommand)
      .rejectsOnce(throttled)
      .resolves({
        imageDetails: [
          {
            imageDigest: `sha256:${'e'.repeat(64)}`,
            imageTags: [sha.slice(0, 7)],
            imagePushedAt: new Date('2024-01-01T00:00:00Z'),
            imageSizeInBytes: 10,
          },
        ],
      });
    const registry = new EcrArtifactRegistry(async () => client);
    // aws-sdk-client-mock replaces the send pipeline, so the SDK's retry does not run: the
    // adapter must surface the throttling clearly rather than hide it.
    await expect(registry.getArtifact(location, sha)).rejects.toThrow(
      /Could not look up the image tagged ddddddd in ECR repository .*svc; caused by ThrottlingException/,
    );
    await expect(registry.getArtifact(location, sha)).resolves.toMatchObject({
      commit: sha.slice(0, 7),
    });
  });

  it('reports a failed image read instead of calling the images missing', async () => {
    const client = new ECRClient({ region: 'eu-west-1' });
    const mock = mockClient(client);
    const failed = (
      tag: string,
      failureCode: ImageFailureCode,
      failureReason: string,
    ): ImageFailure => ({
      imageId: { imageTag: tag },
      failureCode,
      failureReason,
    });
    const notFound = failed(
      'aaaaaaa',
      'ImageNotFound',
      'Requested image not found',
    );
    mock
      .on(BatchGetImageCommand)
      .resolvesOnce({
        images: [],
        failures: [
          notFound,
          failed('v1..0', 'InvalidImageTag', 'Invalid image tag'),
        ],
      })
      .resolves({
        images: [],
        failures: [
          notFound,
          failed('bbbbbbb', 'KmsError', 'The KMS key is disabled'),
        ],
      });
    const registry = new EcrArtifactRegistry(async () => client);
    // Tags that name no image, or that ECR will not take as tags: no artifacts, no error.
    await expect(
      registry.findArtifacts(location, {
        commits: ['a'.repeat(40), 'b'.repeat(40)],
      }),
    ).resolves.toEqual([]);
    // The failure code, not ECR's reason text (upstream text never reaches an API error).
    const error = await registry
      .findArtifacts(location, { commits: ['a'.repeat(40), 'b'.repeat(40)] })
      .catch(e => e as Error);
    expect(String(error)).toMatch(
      /Could not read images in ECR repository .*svc; caused by Error: KmsError \(bbbbbbb\)/,
    );
    expect(String(error)).not.toContain('The KMS key is disabled');
  });

  it('leaves out an image yanked between reading it and describing it', async () => {
    const client = new ECRClient({ region: 'eu-west-1' });
    const mock = mockClient(client);
    const manifest = (n: number) =>
      JSON.stringify({
        schemaVersion: 2,
        config: { size: 1, digest: `sha256:${String(n).repeat(64)}` },
        layers: [],
      });
    mock.on(BatchGetImageCommand).resolves({
      images: [1, 2].map(n => ({
        imageId: {
          imageTag: String(n).repeat(7),
          imageDigest: `sha256:${String(n + 2).repeat(64)}`,
        },
        imageManifest: manifest(n),
      })),
    });
    const notFound = Object.assign(new Error('gone'), {
      name: 'ImageNotFoundException',
    });
    mock
      .on(DescribeImagesCommand)
      .rejects(notFound)
      .on(DescribeImagesCommand, {
        imageIds: [{ imageDigest: `sha256:${'3'.repeat(64)}` }],
      })
      .resolves({
        imageDetails: [
          {
            imageDigest: `sha256:${'3'.repeat(64)}`,
            imageTags: ['1111111'],
            imagePushedAt: new Date('2024-01-01T00:00:00Z'),
            imageSizeInBytes: 10,
          },
        ],
      });
    const registry = new EcrArtifactRegistry(async () => client);
    const found = await registry.findArtifacts(location, {
      commits: ['1'.repeat(40), '2'.repeat(40)],
    });
    expect(found.map(a => a.commit)).toEqual(['1111111']);
  });

  it('reports a partial ECR delete instead of claiming the yank', async () => {
    const client = new ECRClient({ region: 'eu-west-1' });
    const mock = mockClient(client);
    mock.on(DescribeImagesCommand).resolves({
      imageDetails: [
        {
          imageDigest: `sha256:${'e'.repeat(64)}`,
          imageTags: [sha.slice(0, 7)],
          imagePushedAt: new Date(),
        },
      ],
    });
    mock.on(BatchDeleteImageCommand).resolves({
      imageIds: [],
      failures: [
        {
          imageId: { imageDigest: `sha256:${'e'.repeat(64)}` },
          failureCode: 'KmsError',
          failureReason: 'KMS key unavailable',
        },
      ],
    });
    const registry = new EcrArtifactRegistry(async () => client);
    await expect(registry.deleteArtifact(location, sha)).rejects.toThrow(
      /ECR did not delete .*KmsError$/,
    );
  });

  it('reports S3 objects that were not deleted, so a retried yank finishes the job', async () => {
    const client = new S3Client({ region: 'us-east-1' });
    const mock = mockClient(client);
    const full = 'f'.repeat(40);
    mock.on(ListObjectsV2Command).resolves({
      Contents: [
        {
          Key: `pkgs/${full}/a.zip`,
          Size: 1,
          ETag: '"1"',
          LastModified: new Date(),
        },
        {
          Key: `pkgs/${full}/b.json`,
          Size: 1,
          ETag: '"2"',
          LastModified: new Date(),
        },
      ],
    });
    mock.on(DeleteObjectsCommand).resolves({
      Errors: [
        { Key: `pkgs/${full}/b.json`, Code: 'AccessDenied', Message: 'denied' },
      ],
    });
    const registry = new S3PackageRegistry(async () => client);
    await expect(
      registry.deleteArtifact(
        { kind: 'archive', location: 's3://bucket/pkgs' },
        full,
      ),
    ).rejects.toThrow(/did not delete 1 objects/);
  });
});

describe('only configured accounts, regions and buckets', () => {
  it('refuses an ECR account, region or S3 bucket nobody configured before making a client, and serves the configured ones', async () => {
    const asked: string[] = [];
    const client = new ECRClient({ region: 'eu-west-1' });
    mockClient(client).on(DescribeImagesCommand).resolves({ imageDetails: [] });
    const s3 = new S3Client({ region: 'us-east-1' });
    mockClient(s3).on(ListObjectsV2Command).resolves({ Contents: [] });
    const registries = new ArtifactRegistries([
      ecrEntry(
        async (accountId, region) => {
          asked.push(`${accountId}/${region}`);
          return client;
        },
        {
          accountIds: ['111111111111'],
          regions: ['eu-west-1'],
          hosts: ['222222222222.dkr.ecr.us-east-2.amazonaws.com'],
        },
      ),
      s3Entry(async () => {
        asked.push('s3');
        return s3;
      }, ['artifacts']),
    ]);
    const image = (location: string) => ({ kind: 'image' as const, location });
    const sha = 'a'.repeat(40);

    await expect(
      registries.getArtifact(
        image('333333333333.dkr.ecr.eu-west-1.amazonaws.com/svc'),
        sha,
      ),
    ).rejects.toThrow(
      /names ECR account 333333333333 in eu-west-1, which is not configured/,
    );
    await expect(
      registries.getArtifact(
        image('111111111111.dkr.ecr.eu-central-1.amazonaws.com/svc'),
        sha,
      ),
    ).rejects.toThrow(
      /ECR account 111111111111 in eu-central-1, which is not configured/,
    );
    await expect(
      registries.getArtifact(
        { kind: 'archive', location: 's3://someone-elses/pkgs' },
        sha,
      ),
    ).rejects.toThrow(
      /names the bucket someone-elses, which is not configured/,
    );
    expect(asked).toEqual([]);

    await registries.getArtifact(
      image('111111111111.dkr.ecr.eu-west-1.amazonaws.com/svc'),
      sha,
    );
    await registries.getArtifact(
      image('222222222222.dkr.ecr.us-east-2.amazonaws.com/svc'),
      sha,
    );
    await registries.getArtifact(
      { kind: 'archive', location: 's3://artifacts/pkgs' },
      sha,
    );
    // (An S3 read lists the package and its tag markers: one client each time.)
    expect([...new Set(asked)]).toEqual([
      '111111111111/eu-west-1',
      '222222222222/us-east-2',
      's3',
    ]);
  });
});

describe('upstream answers (the promotion_upstream_requests metric)', () => {
  it('tells of every ECR and S3 answer, each with its system and HTTP status', async () => {
    const ecr = await startEcrTestServer();
    const s3 = await startS3rver({ buckets: [BUCKET] });
    servers.push(ecr, s3);
    const answers: UpstreamAnswer[] = [];
    const config = new ConfigReader({
      aws: {
        // The S3 client reads with the main account's credentials.
        mainAccount: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        accounts: [
          {
            accountId: ecr.accountId,
            accessKeyId: 'test',
            secretAccessKey: 'test',
          },
        ],
      },
      promotion: {
        artifacts: {
          ecr: { endpoint: ecr.endpoint },
          s3: {
            endpoint: s3.clientOptions.endpoint,
            region: 'us-east-1',
            forcePathStyle: true,
            buckets: [BUCKET],
          },
        },
      },
    });
    const registries = new ArtifactRegistries(
      awsRegistryEntries(config, answer => answers.push(answer)),
    );
    const sha = 'c'.repeat(40);
    // A repository nobody created: ECR answers 400 (RepositoryNotFoundException).
    await registries
      .getArtifact(
        { kind: 'image', location: ecr.repositoryUri('missing') },
        sha,
      )
      .catch(() => undefined);
    expect(
      await registries.getArtifact(
        { kind: 'archive', location: `s3://${BUCKET}/invoices` },
        sha,
      ),
    ).toBeUndefined();
    const seen = new Set(answers.map(a => `${a.system} ${a.status}`));
    expect([...seen].sort()).toEqual(['ecr 400', 's3 200']);
    expect(answers.every(a => a.host !== '')).toBe(true);
  });
});
