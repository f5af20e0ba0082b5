import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  DockerRegistryServer,
  startDockerRegistry,
  startS3rver,
} from '@mainline/test-servers';
import {
  ArtifactRegistries,
  UpstreamAnswer,
} from '@mainline/plugin-promotion-node';
import { s3Entry } from '@mainline/plugin-promotion-backend-module-aws';
import { ociEntry } from './registries';
import { runArtifactRegistryContract } from '@mainline/plugin-promotion-node/testUtils';

jest.setTimeout(120_000);

const servers: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  await Promise.all(servers.map(s => s.close()));
});

async function pushFixtureImage(
  registry: DockerRegistryServer,
  repository: string,
  tags: string[],
  manifest: Buffer,
  blobs: Buffer[],
) {
  for (const blob of blobs) await registry.pushBlob(repository, blob);
  for (const tag of tags) await registry.putManifest(repository, tag, manifest);
}

runArtifactRegistryContract(
  'OCI registry (docker-registry) and S3 packages',
  async fixture => {
    const registry = await startDockerRegistry();
    const s3 = await startS3rver({ buckets: ['artifacts'] });
    servers.push(registry, s3);
    for (const build of fixture.images) {
      await pushFixtureImage(
        registry,
        'acme/checkout',
        [build.tag, ...build.retags.map(r => r.tag)],
        build.manifest,
        build.blobs(),
      );
    }
    const s3Client = new S3Client(s3.clientOptions);
    for (const build of fixture.archives) {
      for (const [file, body] of Object.entries(build.files)) {
        const Key = `invoices/${build.sha}/${file}`;
        await s3Client.send(
          new PutObjectCommand({ Bucket: 'artifacts', Key, Body: body }),
        );
        await s3.setLastModified('artifacts', Key, build.createdAt);
      }
    }
    return {
      registry: new ArtifactRegistries([
        ociEntry([{ host: registry.host, insecure: true }]),
        s3Entry(async () => s3Client, ['artifacts']),
      ]),
      imageLocation: {
        kind: 'image',
        location: `${registry.host}/acme/checkout`,
      },
      archiveLocation: { kind: 'archive', location: 's3://artifacts/invoices' },
    };
  },
);

describe('OCI registry, checked directly', () => {
  it('a retag keeps the digest the registry reports, and a yank deletes the manifest', async () => {
    const registry = await startDockerRegistry();
    servers.push(registry);
    const sha = '0a1b2c3d4e5f60718293a4b5c6d7e8f901234567';
    const digest = await registry.pushImage('svc', [sha.slice(0, 7)], {
      config: { created: '2024-05-01T00:00:00Z' },
      layers: [Buffer.from('layer bytes')],
    });
    const registries = new ArtifactRegistries([
      ociEntry([], { insecureHosts: [registry.host] }),
    ]);
    const location = {
      kind: 'image' as const,
      location: `oci://${registry.host}/svc`,
    };

    await registries.addTag(location, sha, 'v3.0.0');
    const head = await fetch(`${registry.url}/v2/svc/manifests/v3.0.0`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(head.headers.get('docker-content-digest')).toBe(digest);

    await registries.deleteArtifact(location, sha);
    const gone = await fetch(`${registry.url}/v2/svc/manifests/${digest}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(gone.status).toBe(404);
  });
});

describe('upstream answers (the promotion_upstream_requests metric)', () => {
  it('tells of every registry answer with its HTTP status', async () => {
    const registry = await startDockerRegistry();
    servers.push(registry);
    const sha = '1b2c3d4e5f60718293a4b5c6d7e8f9012345678a';
    await registry.pushImage('svc', [sha.slice(0, 7)], {
      config: { created: '2024-05-01T00:00:00Z' },
      layers: [Buffer.from('layer bytes')],
    });
    const answers: UpstreamAnswer[] = [];
    const registries = new ArtifactRegistries([
      ociEntry([], { insecureHosts: [registry.host] }, answer =>
        answers.push(answer),
      ),
    ]);
    const image = { kind: 'image' as const, location: `${registry.host}/svc` };
    expect(await registries.getArtifact(image, sha)).toBeDefined();
    expect(
      await registries.getArtifact(
        { ...image, location: `${registry.host}/nobody-pushed-this` },
        sha,
      ),
    ).toBeUndefined();
    expect(
      answers.every(a => a.system === 'oci' && a.host === registry.host),
    ).toBe(true);
    const statuses = new Set(answers.map(a => a.status));
    expect(statuses.has(200)).toBe(true);
    expect(statuses.has(404)).toBe(true);
  });
});
