import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  ARTIFACT_REGISTRY_FIXTURE,
  ArtifactRegistryFixture,
  runArtifactRegistryContract,
} from '@mainline/plugin-promotion-node/testUtils';
import { ArtifactLocation } from '@mainline/plugin-promotion-node';
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
    await registry.addTag(archiveLocation, newerPackage.sha, 'v1.2.0');
    await expect(
      registry.getArtifact(archiveLocation, newerPackage.sha),
    ).resolves.toMatchObject({ tags: ['v1.2.0'] });
    await expect(
      registry.getArtifact(archiveLocation, olderPackage.sha),
    ).resolves.toMatchObject({ tags: [] });
  });
});

describe('LocalArtifactRegistry retag and yank on disk', () => {
  const [oldest, retagged, middle] = ARTIFACT_REGISTRY_FIXTURE.images;
  const [olderPackage, newerPackage] = ARTIFACT_REGISTRY_FIXTURE.archives;
  let root: string;
  let registry: LocalArtifactRegistry;
  const images = () => path.join(root, 'images', 'checkout');
  const archives = () => path.join(root, 'archives', 'invoices');

  beforeEach(async () => {
    ({ root, registry } = await seeded(ARTIFACT_REGISTRY_FIXTURE));
  });

  it('retags an image with the same manifest bytes: same digest, no new blob', async () => {
    const blobsBefore = (await fs.readdir(path.join(images(), 'blobs'))).sort();

    const artifact = await registry.addTag(imageLocation, oldest.sha, 'rc-7');

    const record = JSON.parse(
      await fs.readFile(path.join(images(), 'tags', 'rc-7'), 'utf8'),
    );
    expect(record.digest).toBe(artifact.digest);
    const bytes = await fs.readFile(
      path.join(images(), 'blobs', record.digest.replace(':', '-')),
    );
    expect(bytes.equals(oldest.manifest)).toBe(true);
    expect(
      `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`,
    ).toBe(record.digest);
    expect((await fs.readdir(path.join(images(), 'blobs'))).sort()).toEqual(
      blobsBefore,
    );
  });

  it('records a package tag as a marker holding the full sha, removed with the package', async () => {
    await registry.addTag(archiveLocation, olderPackage.sha.slice(0, 7), 'v1');
    await registry.addTag(archiveLocation, newerPackage.sha, 'v2');
    await expect(
      fs.readFile(path.join(archives(), 'tags', 'v1'), 'utf8'),
    ).resolves.toBe(olderPackage.sha);

    await registry.deleteArtifact(archiveLocation, olderPackage.sha);

    expect(await fs.readdir(path.join(archives(), 'tags'))).toEqual(['v2']);
    await expect(
      fs.access(path.join(archives(), olderPackage.sha)),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('yanks an image: its blob and every tag file on it', async () => {
    const artifact = await registry.getArtifact(imageLocation, retagged.sha);

    await registry.deleteArtifact(imageLocation, retagged.sha);

    expect((await fs.readdir(path.join(images(), 'tags'))).sort()).toEqual(
      [oldest.tag, middle.tag].sort(),
    );
    expect(await fs.readdir(path.join(images(), 'blobs'))).not.toContain(
      artifact!.digest.replace(':', '-'),
    );
  });

  it.each([
    ['a path', '../rc-1'],
    ['an empty tag', ''],
    ['a tag with a space', 'rc 1'],
    ['a short sha, which names a build', 'deadbee'],
    ['a full sha', '5555555555555555555555555555555555555555'],
  ])('refuses %s as a release tag', async (_, tag) => {
    await expect(
      registry.addTag(imageLocation, middle.sha, tag),
    ).rejects.toMatchObject({ name: 'InputError' });
    await expect(
      registry.getArtifact(imageLocation, middle.sha),
    ).resolves.toMatchObject({ commit: middle.tag, tags: [middle.tag] });
  });

  it('lets one of two concurrent retags of one tag win', async () => {
    const results = await Promise.allSettled(
      [oldest, middle, oldest, middle].map(build =>
        registry.addTag(imageLocation, build.sha, 'rc-race'),
      ),
    );

    const owner = (await registry.listArtifacts(imageLocation)).filter(a =>
      a.tags.includes('rc-race'),
    );
    expect(owner).toHaveLength(1);
    results.forEach((result, i) => {
      const build = [oldest, middle, oldest, middle][i];
      expect(result.status).toBe(
        build.tag === owner[0].commit ? 'fulfilled' : 'rejected',
      );
    });
  });
});
