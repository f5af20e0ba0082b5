import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  ARTIFACT_REGISTRY_FIXTURE,
  ArtifactRegistryFixture,
  runArtifactRegistryContract,
} from '../ArtifactRegistry.contract';
import { ArtifactLocation } from '../ArtifactRegistry';
import { LocalArtifactRegistry } from './LocalArtifactRegistry';

const IMAGES = 'local/checkout';
const PACKAGES = 'local://invoices';
const imageLocation: ArtifactLocation = { kind: 'image', location: IMAGES };
const archiveLocation: ArtifactLocation = {
  kind: 'archive',
  location: PACKAGES,
};

const roots: string[] = [];

/** A registry in a fresh temp dir, seeded with the fixture as builds would push it. */
async function seeded(
  fixture: ArtifactRegistryFixture,
): Promise<{ root: string; registry: LocalArtifactRegistry }> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'artifact-registry-'));
  roots.push(root);
  const registry = new LocalArtifactRegistry(root);
  for (const image of fixture.images) {
    await registry.putImage(IMAGES, image.tag, image.manifest, image.createdAt);
  }
  for (const image of fixture.images) {
    for (const retag of image.retags) {
      await registry.putImage(IMAGES, retag.tag, image.manifest, retag.at);
    }
  }
  for (const archive of fixture.archives) {
    await registry.putArchive(
      PACKAGES,
      archive.sha,
      archive.files,
      archive.createdAt,
    );
  }
  return { root, registry };
}

afterAll(async () => {
  await Promise.all(
    roots.map(root => fs.rm(root, { recursive: true, force: true })),
  );
});

runArtifactRegistryContract('local filesystem', async fixture => {
  const { registry } = await seeded(fixture);
  return { registry, imageLocation, archiveLocation };
});

describe('LocalArtifactRegistry writes', () => {
  const [oldest, retagged, middle] = ARTIFACT_REGISTRY_FIXTURE.images;
  const [olderPackage, newerPackage] = ARTIFACT_REGISTRY_FIXTURE.archives;
  let root: string;
  let registry: LocalArtifactRegistry;

  beforeEach(async () => {
    ({ root, registry } = await seeded(ARTIFACT_REGISTRY_FIXTURE));
  });

  it('deletes an image by digest with every tag on it', async () => {
    const artifact = await registry.getArtifact(imageLocation, retagged.sha);
    expect(artifact?.tags).toEqual(expect.arrayContaining(['rc-1']));

    await registry.deleteImage(IMAGES, artifact!.digest);

    await expect(
      registry.getArtifact(imageLocation, retagged.sha),
    ).resolves.toBeUndefined();
    const remaining = await registry.listArtifacts(imageLocation);
    expect(remaining.map(a => a.commit)).toEqual([middle.tag, oldest.tag]);
    expect(remaining.flatMap(a => a.tags)).not.toContain('rc-1');
    // Neither tag is left behind pointing at the deleted manifest.
    const tags = await fs.readdir(
      path.join(root, 'images', 'checkout', 'tags'),
    );
    expect(tags.sort()).toEqual([middle.tag, oldest.tag].sort());
    // Pushing the same manifest again brings back only the tag pushed.
    await registry.putImage(IMAGES, retagged.tag, retagged.manifest);
    await expect(
      registry.getArtifact(imageLocation, retagged.sha),
    ).resolves.toMatchObject({
      digest: artifact!.digest,
      tags: [retagged.tag],
    });
  });

  it('rejects deleting by something that is not a digest', async () => {
    await expect(
      registry.deleteImage(IMAGES, retagged.tag),
    ).rejects.toMatchObject({ name: 'InputError' });
    await expect(
      registry.deleteImage('local/../x', `sha256:${'0'.repeat(64)}`),
    ).rejects.toMatchObject({ name: 'InputError' });
    expect(await registry.listArtifacts(imageLocation)).toHaveLength(3);
  });

  it('deletes a package', async () => {
    await registry.deleteArchive(PACKAGES, olderPackage.sha);

    await expect(
      registry.getArtifact(archiveLocation, olderPackage.sha),
    ).resolves.toBeUndefined();
    const remaining = await registry.listArtifacts(archiveLocation);
    expect(remaining.map(a => a.commit)).toEqual([newerPackage.sha]);
    await expect(
      fs.access(path.join(root, 'archives', 'invoices', olderPackage.sha)),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects deleting a package by short sha', async () => {
    await expect(
      registry.deleteArchive(PACKAGES, olderPackage.sha.slice(0, 7)),
    ).rejects.toMatchObject({ name: 'InputError' });
    expect(await registry.listArtifacts(archiveLocation)).toHaveLength(2);
  });

  it('records release tags of packages', async () => {
    await registry.tagArchive(PACKAGES, newerPackage.sha, 'v1.2.0');
    await expect(
      registry.getArtifact(archiveLocation, newerPackage.sha),
    ).resolves.toMatchObject({ tags: ['v1.2.0'] });
    await expect(
      registry.getArtifact(archiveLocation, olderPackage.sha),
    ).resolves.toMatchObject({ tags: [] });
  });
});
