/* eslint-disable jest/no-export -- a contract suite is a test suite that adapter tests import and run */
import crypto from 'node:crypto';
import {
  Artifact,
  ArtifactLocation,
  ArtifactRegistry,
} from '../ports/ArtifactRegistry';

/*
 * The contract every ArtifactRegistry adapter passes. The fixture is data: the adapter's setup
 * seeds it the way builds would (pushes for the local registry, a test server for ECR/OCI, objects
 * for S3) and the tests talk to the adapter only through the interface.
 */

/**
 * One image build: pushed under the commit's short sha, perhaps retagged later.
 *
 * @public
 */
export interface ImageBuildFixture {
  /** The full sha of the commit built. */
  sha: string;
  /** The tag the build pushed: the commit's short sha. */
  tag: string;
  /** The image manifest's bytes (OCI image manifest JSON). */
  manifest: Buffer;
  /** config.size plus every layer's size. */
  size: number;
  /** When the build pushed the image. */
  createdAt: Date;
  /** Tags added later to the same image (same manifest, no new build). */
  retags: Array<{ tag: string; at: Date }>;
  /**
   * The blobs the manifest references (config first, then the layers), for registries that
   * check them on push. The config is an OCI image config whose `created` is the build time.
   */
  blobs(): Buffer[];
}

/**
 * One Serverless package: its files under `<full sha>/`.
 *
 * @public
 */
export interface ArchiveBuildFixture {
  sha: string;
  files: Record<string, Buffer>;
  /** The sum of the files' sizes. */
  size: number;
  /** When the build uploaded the package. */
  createdAt: Date;
}

/**
 * What every adapter's setup seeds.
 *
 * @public
 */
export interface ArtifactRegistryFixture {
  images: ImageBuildFixture[];
  archives: ArchiveBuildFixture[];
}

/**
 * What an adapter's setup returns: the registry, and the locations it seeded the fixture at.
 *
 * @public
 */
export interface ArtifactRegistryUnderTest {
  registry: ArtifactRegistry;
  imageLocation: ArtifactLocation;
  archiveLocation: ArtifactLocation;
}

function sha256(data: string | Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

function imageBuild(options: {
  sha: string;
  configSize: number;
  layerSizes: number[];
  createdAt: string;
  retags?: Array<{ tag: string; at: string }>;
  /**
   * The build recorded its time and commit as OCI manifest annotations, as the scaffolded
   * workflow does (`docker buildx build --annotation`).
   */
  annotated?: boolean;
}): ImageBuildFixture {
  const configJson = JSON.stringify({
    created: options.createdAt,
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: { 'org.opencontainers.image.revision': options.sha } },
    rootfs: { type: 'layers', diff_ids: [] },
  });
  // Padded with spaces (still the same JSON) to the size the build produced.
  const config = Buffer.from(
    configJson.padEnd(Math.max(options.configSize, configJson.length), ' '),
  );
  // Layer content depends on its size and position only, so builds share identical base layers
  // as real ones do (a registry stores them once).
  const layer = (size: number, index: number) =>
    Buffer.alloc(size, `layer ${index} of ${size} bytes\n`);
  const digestOf = (size: number, index: number) => {
    const hash = crypto.createHash('sha256');
    const chunk = `layer ${index} of ${size} bytes\n`;
    const block = Buffer.alloc(65536 - (65536 % chunk.length), chunk);
    let left = size;
    while (left >= block.length) {
      hash.update(block);
      left -= block.length;
    }
    hash.update(block.subarray(0, left));
    return `sha256:${hash.digest('hex')}`;
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${sha256(config)}`,
      size: config.length,
    },
    layers: options.layerSizes.map((size, index) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: digestOf(size, index),
      size,
    })),
    ...(options.annotated
      ? {
          annotations: {
            'org.opencontainers.image.created': options.createdAt,
            'org.opencontainers.image.revision': options.sha,
          },
        }
      : {}),
  };
  return {
    sha: options.sha,
    tag: options.sha.slice(0, 7),
    manifest: Buffer.from(JSON.stringify(manifest, null, 2)),
    size: config.length + options.layerSizes.reduce((a, b) => a + b, 0),
    blobs: () => [config, ...options.layerSizes.map(layer)],
    createdAt: new Date(options.createdAt),
    retags: (options.retags ?? []).map(r => ({
      tag: r.tag,
      at: new Date(r.at),
    })),
  };
}

function archiveBuild(options: {
  sha: string;
  /** Each file's content, or its size for filler bytes (as a zip would be). */
  files: Record<string, string | number>;
  createdAt: string;
}): ArchiveBuildFixture {
  const files = Object.fromEntries(
    Object.entries(options.files).map(([name, content]) => [
      name,
      typeof content === 'number'
        ? Buffer.alloc(content, `${options.sha}:${name}`)
        : Buffer.from(content),
    ]),
  );
  return {
    sha: options.sha,
    files,
    size: Object.values(files).reduce((sum, file) => sum + file.length, 0),
    createdAt: new Date(options.createdAt),
  };
}

/**
 * Three image builds (the middle one also tagged `rc-1` two days after its build, and pushed in
 * an order that is not their age; the other two annotated with their build time and commit) and
 * two Serverless packages.
 *
 * @public
 */
export const ARTIFACT_REGISTRY_FIXTURE: ArtifactRegistryFixture = {
  images: [
    imageBuild({
      sha: '3f2a1c9e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39',
      configSize: 1432,
      layerSizes: [29_123_456, 4_096_000, 12_345],
      createdAt: '2024-03-01T09:00:00Z',
      annotated: true,
    }),
    imageBuild({
      sha: 'b41c0de5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1',
      configSize: 1510,
      layerSizes: [29_123_456, 4_100_000, 13_001],
      createdAt: '2024-03-03T09:00:00Z',
      retags: [{ tag: 'rc-1', at: '2024-03-05T15:30:00Z' }],
    }),
    imageBuild({
      sha: '9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d',
      configSize: 1498,
      layerSizes: [29_123_456, 4_098_112],
      createdAt: '2024-03-02T09:00:00Z',
      annotated: true,
    }),
  ],
  archives: [
    archiveBuild({
      sha: 'c0ffee0123456789abcdef0123456789abcdef01',
      files: {
        'invoices.zip': 4096,
        'serverless-state.json': '{"service":{"service":"invoices"}}\n',
        'cloudformation-template-update-stack.json':
          '{"AWSTemplateFormatVersion":"2010-09-09"}\n',
      },
      createdAt: '2024-04-01T12:00:00Z',
    }),
    archiveBuild({
      sha: 'decaf00123456789abcdef0123456789abcdef02',
      files: {
        'invoices.zip': 5120,
        'serverless-state.json': '{"service":{"service":"invoices","v":2}}\n',
        'cloudformation-template-update-stack.json':
          '{"AWSTemplateFormatVersion":"2010-09-09","Resources":{}}\n',
      },
      createdAt: '2024-04-02T12:00:00Z',
    }),
  ],
};

/** Malformed variants of a location: a `..` segment in place of, or after, its last segment. */
function malformed(location: ArtifactLocation): ArtifactLocation[] {
  return [
    location.location.replace(/[^/]+$/, '../x'),
    `${location.location}/../x`,
    '../x',
    '',
  ].map(l => ({ kind: location.kind, location: l }));
}

/**
 * Runs the ArtifactRegistry contract against an adapter. `setup` seeds the fixture (images at
 * `imageLocation`, packages at `archiveLocation`) and returns the adapter reading them.
 *
 * @public
 */
export function runArtifactRegistryContract(
  adapterName: string,
  setup: (
    fixture: ArtifactRegistryFixture,
  ) => Promise<ArtifactRegistryUnderTest>,
): void {
  describe(`ArtifactRegistry contract: ${adapterName}`, () => {
    const fixture = ARTIFACT_REGISTRY_FIXTURE;
    const [oldest, retagged, middle] = fixture.images;
    const [olderPackage, newerPackage] = fixture.archives;
    let registry: ArtifactRegistry;
    let imageLocation: ArtifactLocation;
    let archiveLocation: ArtifactLocation;

    beforeAll(async () => {
      ({ registry, imageLocation, archiveLocation } = await setup(fixture));
    }, 30_000);

    describe('images', () => {
      it('finds the image built for a full sha', async () => {
        const artifact = await registry.getArtifact(imageLocation, oldest.sha);
        expect(artifact).toBeDefined();
        expect(artifact?.kind).toBe('image');
        expect(artifact?.commit).toBe(oldest.tag);
        expect(artifact?.tags).toEqual([oldest.tag]);
        expect(Date.parse(artifact?.createdAt ?? '')).toBe(
          oldest.createdAt.getTime(),
        );
      });

      it('finds the same image for a short sha', async () => {
        const byFull = await registry.getArtifact(imageLocation, middle.sha);
        const bySeven = await registry.getArtifact(
          imageLocation,
          middle.sha.slice(0, 7),
        );
        const byTwelve = await registry.getArtifact(
          imageLocation,
          middle.sha.slice(0, 12),
        );
        expect(byFull?.digest).toMatch(/^sha256:/);
        expect(bySeven).toEqual(byFull);
        expect(byTwelve).toEqual(byFull);
      });

      it('gives the sha256 digest of the manifest bytes', async () => {
        for (const build of fixture.images) {
          const artifact = await registry.getArtifact(imageLocation, build.sha);
          expect(artifact?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
          expect(artifact?.digest).toBe(`sha256:${sha256(build.manifest)}`);
        }
      });

      it('sizes an image as its config plus its layers', async () => {
        for (const build of fixture.images) {
          const artifact = await registry.getArtifact(imageLocation, build.sha);
          expect(artifact?.size).toBe(build.size);
        }
        expect(
          (await registry.getArtifact(imageLocation, oldest.sha))?.size,
        ).toBe(1432 + 29_123_456 + 4_096_000 + 12_345);
      });

      it('lists every tag on the same image, keeping the build time', async () => {
        const artifact = await registry.getArtifact(
          imageLocation,
          retagged.sha,
        );
        expect(artifact?.commit).toBe(retagged.tag);
        expect([...(artifact?.tags ?? [])].sort()).toEqual(
          [retagged.tag, 'rc-1'].sort(),
        );
        expect(Date.parse(artifact?.createdAt ?? '')).toBe(
          retagged.createdAt.getTime(),
        );
      });

      it('names where to pull the image from, by tag and digest', async () => {
        const artifact = await registry.getArtifact(imageLocation, oldest.sha);
        expect(artifact?.uri).toMatch(
          new RegExp(`:${oldest.tag}@${artifact?.digest}$`),
        );
      });

      it('lists every image once, newest first', async () => {
        const artifacts = await registry.listArtifacts(imageLocation);
        expect(artifacts.map(a => a.commit)).toEqual([
          retagged.tag,
          middle.tag,
          oldest.tag,
        ]);
        expect(artifacts.every(a => a.kind === 'image')).toBe(true);
        const times = artifacts.map(a => Date.parse(a.createdAt));
        expect(times).toEqual([...times].sort((a, b) => b - a));
        expect(artifacts[0]).toEqual(
          await registry.getArtifact(imageLocation, retagged.sha),
        );
      });

      it('finds the images of the commits asked for, as getArtifact does', async () => {
        const query = {
          commits: [
            oldest.sha,
            middle.sha.slice(0, 7),
            retagged.sha.slice(0, 12),
            '5555555555555555555555555555555555555555',
            'deadbee',
            '../x',
          ],
          tags: ['rc-1', 'v9.9.9', 'not a tag'],
        };
        const sorted = (artifacts: Array<Artifact | undefined>) =>
          artifacts.map(a => a && { ...a, tags: [...a.tags].sort() });
        const found = await registry.findArtifacts(imageLocation, query);
        expect(found.map(a => a.commit)).toEqual([
          retagged.tag,
          middle.tag,
          oldest.tag,
        ]);
        expect(sorted(found)).toEqual(
          sorted(
            await Promise.all(
              found.map(a => registry.getArtifact(imageLocation, a.commit)),
            ),
          ),
        );
        // A query still being worked out (a page of commits being read) finds the same.
        expect(
          sorted(
            await registry.findArtifacts(imageLocation, Promise.resolve(query)),
          ),
        ).toEqual(sorted(found));
      });

      it('finds one commit, or none, alone', async () => {
        expect(
          await registry.findArtifacts(imageLocation, {
            commits: [middle.sha],
          }),
        ).toEqual([await registry.getArtifact(imageLocation, middle.sha)]);
        expect(
          await registry.findArtifacts(imageLocation, {
            commits: ['5555555555555555555555555555555555555555', 'rc-1'],
          }),
        ).toEqual([]);
        expect(
          await registry.findArtifacts(imageLocation, { commits: [] }),
        ).toEqual([]);
      });

      it.each([
        ['an unknown full sha', '5555555555555555555555555555555555555555'],
        ['an unknown short sha', 'deadbee'],
        ['a path', '../x'],
        ['not a sha', 'zzz'],
        ['a release tag', 'rc-1'],
        ['an empty string', ''],
      ])('finds nothing for %s', async (_, sha) => {
        await expect(
          registry.getArtifact(imageLocation, sha),
        ).resolves.toBeUndefined();
      });
    });

    describe('packages', () => {
      it('finds the package built for a full sha', async () => {
        const artifact = await registry.getArtifact(
          archiveLocation,
          olderPackage.sha,
        );
        expect(artifact).toBeDefined();
        expect(artifact?.kind).toBe('archive');
        expect(artifact?.commit).toBe(olderPackage.sha);
        expect(artifact?.uri).toContain(olderPackage.sha);
        expect(artifact?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect(Date.parse(artifact?.createdAt ?? '')).toBe(
          olderPackage.createdAt.getTime(),
        );
      });

      it('sizes a package as the sum of its files', async () => {
        for (const build of fixture.archives) {
          const artifact = await registry.getArtifact(
            archiveLocation,
            build.sha,
          );
          expect(artifact?.size).toBe(build.size);
        }
        expect(newerPackage.size).toBeGreaterThan(5120);
      });

      it('tells packages apart by digest', async () => {
        const [a, b] = await Promise.all(
          fixture.archives.map(build =>
            registry.getArtifact(archiveLocation, build.sha),
          ),
        );
        expect(a?.digest).not.toBe(b?.digest);
      });

      it('finds a package by short sha', async () => {
        const artifact = await registry.getArtifact(
          archiveLocation,
          newerPackage.sha.slice(0, 7),
        );
        expect(artifact?.commit).toBe(newerPackage.sha);
      });

      it('lists every package, newest first', async () => {
        const artifacts = await registry.listArtifacts(archiveLocation);
        expect(artifacts.map(a => a.commit)).toEqual([
          newerPackage.sha,
          olderPackage.sha,
        ]);
        expect(artifacts.every(a => a.kind === 'archive')).toBe(true);
      });

      it('finds the packages of the commits asked for', async () => {
        const found = await registry.findArtifacts(archiveLocation, {
          commits: [
            olderPackage.sha.slice(0, 7),
            '5555555555555555555555555555555555555555',
          ],
        });
        expect(found).toEqual([
          await registry.getArtifact(archiveLocation, olderPackage.sha),
        ]);
      });

      it.each([
        ['an unknown full sha', '5555555555555555555555555555555555555555'],
        ['a path', '../x'],
        ['not a sha', 'zzz'],
      ])('finds nothing for %s', async (_, sha) => {
        await expect(
          registry.getArtifact(archiveLocation, sha),
        ).resolves.toBeUndefined();
      });
    });

    describe('malformed locations', () => {
      it('rejects a malformed image location with an InputError', async () => {
        for (const location of malformed(imageLocation)) {
          await expect(registry.listArtifacts(location)).rejects.toMatchObject({
            name: 'InputError',
          });
          await expect(
            registry.getArtifact(location, oldest.sha),
          ).rejects.toMatchObject({ name: 'InputError' });
        }
      });

      it('rejects a malformed package location with an InputError', async () => {
        for (const location of malformed(archiveLocation)) {
          await expect(registry.listArtifacts(location)).rejects.toMatchObject({
            name: 'InputError',
          });
          await expect(
            registry.getArtifact(location, olderPackage.sha),
          ).rejects.toMatchObject({ name: 'InputError' });
        }
      });
    });
  });

  describe(`ArtifactRegistry contract, writes: ${adapterName}`, () => {
    const fixture = ARTIFACT_REGISTRY_FIXTURE;
    const [oldest, retagged, middle] = fixture.images;
    const [olderPackage, newerPackage] = fixture.archives;
    let registry: ArtifactRegistry;
    let imageLocation: ArtifactLocation;
    let archiveLocation: ArtifactLocation;

    beforeEach(async () => {
      ({ registry, imageLocation, archiveLocation } = await setup(fixture));
    }, 30_000);

    it('adds a release tag to an image without changing its digest', async () => {
      const before = await registry.getArtifact(imageLocation, oldest.sha);
      const after = await registry.addTag(imageLocation, oldest.sha, 'rc-7');
      expect(after.digest).toBe(before!.digest);
      expect(after.tags).toEqual(expect.arrayContaining([oldest.tag, 'rc-7']));
      expect(
        (await registry.getArtifact(imageLocation, oldest.sha))?.tags,
      ).toContain('rc-7');
      // Adding it again is what a retried promotion does.
      await expect(
        registry.addTag(imageLocation, oldest.sha, 'rc-7'),
      ).resolves.toMatchObject({
        digest: before!.digest,
      });
    });

    it('refuses a release tag that already names another artifact, and a missing artifact', async () => {
      await expect(
        registry.addTag(imageLocation, oldest.sha, 'rc-1'),
      ).rejects.toMatchObject({
        name: 'ConflictError',
      });
      expect(
        (await registry.getArtifact(imageLocation, retagged.sha))?.tags,
      ).toContain('rc-1');
      await expect(
        registry.addTag(
          imageLocation,
          'ffffffffffffffffffffffffffffffffffffffff',
          'rc-8',
        ),
      ).rejects.toMatchObject({ name: 'NotFoundError' });
    });

    it('records a release tag for a package', async () => {
      const tagged = await registry.addTag(
        archiveLocation,
        olderPackage.sha,
        'v2024.4.0',
      );
      expect(tagged.tags).toEqual(['v2024.4.0']);
      expect(
        (await registry.getArtifact(archiveLocation, olderPackage.sha))?.tags,
      ).toEqual(['v2024.4.0']);
    });

    it('yanks: deletes every tag of an image and every object of a package', async () => {
      const image = await registry.deleteArtifact(imageLocation, retagged.sha);
      expect(image?.tags).toEqual(
        expect.arrayContaining([retagged.tag, 'rc-1']),
      );
      expect(
        await registry.getArtifact(imageLocation, retagged.sha),
      ).toBeUndefined();
      expect(
        (await registry.listArtifacts(imageLocation)).map(a => a.commit),
      ).not.toContain(retagged.tag);
      expect(
        await registry.deleteArtifact(imageLocation, retagged.sha),
      ).toBeUndefined();

      const pkg = await registry.deleteArtifact(
        archiveLocation,
        olderPackage.sha,
      );
      expect(pkg?.commit).toBe(olderPackage.sha);
      expect(
        await registry.getArtifact(archiveLocation, olderPackage.sha),
      ).toBeUndefined();
    });

    it('retags by short sha, keeping the build time and adding no artifact', async () => {
      const before = await registry.getArtifact(imageLocation, middle.sha);

      const after = await registry.addTag(
        imageLocation,
        middle.sha.slice(0, 7),
        'v1.4.0',
      );

      expect(after).toEqual({
        ...before,
        tags: [...before!.tags, 'v1.4.0'].sort(),
      });
      expect(after.digest).toBe(`sha256:${sha256(middle.manifest)}`);
      expect(Date.parse(after.createdAt)).toBe(middle.createdAt.getTime());
      const listed = await registry.listArtifacts(imageLocation);
      expect(listed.map(a => a.commit)).toEqual([
        retagged.tag,
        middle.tag,
        oldest.tag,
      ]);
      expect(listed.find(a => a.commit === middle.tag)?.tags).toContain(
        'v1.4.0',
      );
    });

    it('accepts a tag the image already has', async () => {
      const before = await registry.getArtifact(imageLocation, retagged.sha);
      await expect(
        registry.addTag(imageLocation, retagged.sha, 'rc-1'),
      ).resolves.toEqual(before);
      await expect(
        registry.addTag(imageLocation, retagged.sha, retagged.tag),
      ).resolves.toEqual(before);
      expect(await registry.getArtifact(imageLocation, retagged.sha)).toEqual(
        before,
      );
    });

    it('leaves both images as they were on a conflict', async () => {
      const [before, owner] = await Promise.all([
        registry.getArtifact(imageLocation, middle.sha),
        registry.getArtifact(imageLocation, retagged.sha),
      ]);
      await expect(
        registry.addTag(imageLocation, middle.sha, 'rc-1'),
      ).rejects.toMatchObject({ name: 'ConflictError' });
      expect(await registry.getArtifact(imageLocation, middle.sha)).toEqual(
        before,
      );
      expect(await registry.getArtifact(imageLocation, retagged.sha)).toEqual(
        owner,
      );
    });

    it('tags nothing for a commit without an artifact', async () => {
      await expect(
        registry.addTag(
          archiveLocation,
          '5555555555555555555555555555555555555555',
          'v1',
        ),
      ).rejects.toMatchObject({ name: 'NotFoundError' });
      const all = [
        ...(await registry.listArtifacts(imageLocation)),
        ...(await registry.listArtifacts(archiveLocation)),
      ];
      expect(all.flatMap(a => a.tags)).not.toContain('rc-8');
      expect(all.flatMap(a => a.tags)).not.toContain('v1');
    });

    it('declares its tag rule, and refuses with addTag exactly what checkTag refuses', async () => {
      // Git takes every one of these as a tag name; a registry does not.
      const refused = [
        'rc-1;id',
        'rc-a+b',
        'rc-1@x',
        'rc-1/x',
        'rc-#1',
        '.rc-1',
      ];
      for (const location of [imageLocation, archiveLocation]) {
        expect(registry.checkTag(location, 'rc-7')).toBeUndefined();
        expect(registry.checkTag(location, 'v2024.4.1')).toBeUndefined();
        for (const tag of refused) {
          expect(registry.checkTag(location, tag)).toMatch(/registry tag/);
        }
      }
      for (const tag of refused) {
        await expect(
          registry.addTag(imageLocation, oldest.sha, tag),
        ).rejects.toMatchObject({ name: 'InputError' });
        await expect(
          registry.addTag(archiveLocation, newerPackage.sha, tag),
        ).rejects.toMatchObject({ name: 'InputError' });
      }
      expect(
        (await registry.getArtifact(imageLocation, oldest.sha))!.tags,
      ).not.toEqual(expect.arrayContaining([expect.stringMatching(/[;+@/#]/)]));
    });

    it('retags a package idempotently, refusing a tag on another package', async () => {
      const before = await registry.getArtifact(
        archiveLocation,
        newerPackage.sha,
      );

      const tagged = await registry.addTag(
        archiveLocation,
        newerPackage.sha.slice(0, 7),
        'v2024.4.1',
      );
      expect(tagged).toEqual({ ...before, tags: ['v2024.4.1'] });
      await expect(
        registry.addTag(archiveLocation, newerPackage.sha, 'v2024.4.1'),
      ).resolves.toEqual(tagged);
      await expect(
        registry.addTag(archiveLocation, olderPackage.sha, 'v2024.4.1'),
      ).rejects.toMatchObject({ name: 'ConflictError' });

      expect(
        await registry.getArtifact(archiveLocation, olderPackage.sha),
      ).toMatchObject({ tags: [] });
      expect(
        await registry.getArtifact(archiveLocation, newerPackage.sha),
      ).toEqual(tagged);
    });

    it('yanks a package with its release tags, once', async () => {
      await registry.addTag(archiveLocation, olderPackage.sha, 'v2024.4.0');
      const before = await registry.getArtifact(
        archiveLocation,
        olderPackage.sha,
      );

      await expect(
        registry.deleteArtifact(archiveLocation, olderPackage.sha.slice(0, 7)),
      ).resolves.toEqual(before);

      expect(
        (await registry.listArtifacts(archiveLocation)).map(a => a.commit),
      ).toEqual([newerPackage.sha]);
      await expect(
        registry.deleteArtifact(archiveLocation, olderPackage.sha),
      ).resolves.toBeUndefined();
      // The yanked package's release tag no longer names anything.
      await expect(
        registry.addTag(archiveLocation, newerPackage.sha, 'v2024.4.0'),
      ).resolves.toMatchObject({ tags: ['v2024.4.0'] });
    });

    it('yanks one image, leaving the others', async () => {
      const [keptA, keptB] = await Promise.all([
        registry.getArtifact(imageLocation, oldest.sha),
        registry.getArtifact(imageLocation, middle.sha),
      ]);

      await registry.deleteArtifact(imageLocation, retagged.sha);

      expect(await registry.listArtifacts(imageLocation)).toEqual([
        keptB,
        keptA,
      ]);
      await expect(
        registry.deleteArtifact(
          imageLocation,
          '5555555555555555555555555555555555555555',
        ),
      ).resolves.toBeUndefined();
      // rc-1 went with the image: it can name another one now.
      await expect(
        registry.addTag(imageLocation, oldest.sha, 'rc-1'),
      ).resolves.toMatchObject({ digest: keptA!.digest });
    });
  });
}
