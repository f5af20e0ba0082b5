import {
  BatchDeleteImageCommand,
  DescribeImagesCommand,
  ECRClient,
} from '@aws-sdk/client-ecr';
import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { startEcrTestServer, startS3rver } from '@mainline/test-servers';
import { mockClient } from 'aws-sdk-client-mock';
import { ArtifactRegistries, ecrEntry, s3Entry } from './ArtifactRegistries';
import { runArtifactRegistryContract } from './ArtifactRegistry.contract';
import { EcrArtifactRegistry } from './ecr/EcrArtifactRegistry';
import { S3PackageRegistry } from './s3/S3PackageRegistry';

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
    ecrEntry(async () => ecrClient),
    s3Entry(async () => s3Client),
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
      /Could not look up the image of ddddddd in ECR repository .*svc; caused by ThrottlingException/,
    );
    await expect(registry.getArtifact(location, sha)).resolves.toMatchObject({
      commit: sha.slice(0, 7),
    });
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
      /ECR did not delete .*KmsError: KMS key unavailable/,
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
