import {
  BatchDeleteImageCommand,
  BatchGetImageCommand,
  DescribeImagesCommand,
  ECRClient,
  ImageDetail,
  PutImageCommand,
  paginateDescribeImages,
} from '@aws-sdk/client-ecr';
import {
  ConflictError,
  ForwardedError,
  InputError,
  NotFoundError,
} from '@backstage/errors';
import {
  Artifact,
  ARTIFACT_TAG,
  artifactTagProblem,
  ArtifactLocation,
  artifactMatchesCommit,
  ArtifactQuery,
  ArtifactRegistry,
  PendingArtifactQuery,
  COMMIT_SHA,
  newestFirst,
  selectArtifacts,
  boundedCode,
  isOutboundRefused,
  sdkFailure,
} from '@mainline/plugin-promotion-node';

/** `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>`, as `docker push` names it. */
const ECR_LOCATION =
  /^(\d{12})\.dkr\.ecr\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?\/((?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*)$/;

/** Manifest types retagging asks ECR for: whatever the build pushed, byte for byte. */
const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

/**
 * Where a service's images live in ECR.
 *
 * @public
 */
export interface EcrLocation {
  accountId: string;
  region: string;
  repository: string;
  uri: string;
}

/**
 * Reads an ECR artifact location; undefined when it is not one.
 *
 * @public
 */
export function parseEcrLocation(location: string): EcrLocation | undefined {
  const match = ECR_LOCATION.exec(location);
  if (!match) return undefined;
  const [, accountId, region, repository] = match;
  return { accountId, region, repository, uri: location };
}

/**
 * Gives the ECR client for an account and region (credentials from integration-aws-node).
 *
 * @public
 */
export type EcrClientFor = (location: EcrLocation) => Promise<ECRClient>;

const errorName = (error: unknown) => (error as { name?: string })?.name;

/** The OCI annotation a build sets to its creation time (the scaffolded workflow does). */
const CREATED_ANNOTATION = 'org.opencontainers.image.created';

/** BatchGetImage and DescribeImages take at most 100 image ids per call. */
const IDS_PER_CALL = 100;

const chunks = <T>(items: T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) =>
    items.slice(i * size, (i + 1) * size),
  );

/**
 * What a single-image manifest tells without another read: its size (config plus layers, as ECR
 * counts it) and, when the build annotated it, its creation time. Undefined for an index (its
 * size is its images') or a manifest without the annotation.
 */
function fromManifest(
  manifest: string | undefined,
): { size: number; createdAt: string } | undefined {
  try {
    const parsed = JSON.parse(manifest ?? '') as {
      config?: { size?: number };
      layers?: Array<{ size?: number }>;
      annotations?: Record<string, string>;
    };
    const created = Date.parse(parsed.annotations?.[CREATED_ANNOTATION] ?? '');
    if (!parsed.config || !Array.isArray(parsed.layers) || isNaN(created)) {
      return undefined;
    }
    return {
      size:
        (parsed.config.size ?? 0) +
        parsed.layers.reduce((sum, l) => sum + (l.size ?? 0), 0),
      createdAt: new Date(created).toISOString(),
    };
  } catch {
    return undefined;
  }
}

/**
 * Images in Amazon ECR. A build pushes `<repository>:<short sha>`; a promotion adds a release tag
 * by putting the exact manifest bytes the build pushed under one more tag (ECR computes the same
 * digest, nothing is rebuilt or re-uploaded); a yank deletes the image by digest, which removes
 * every tag on it.
 *
 * @public
 */
export class EcrArtifactRegistry implements ArtifactRegistry {
  constructor(private readonly clientFor: EcrClientFor) {}

  private location(location: ArtifactLocation): EcrLocation {
    const parsed =
      location.kind === 'image'
        ? parseEcrLocation(location.location)
        : undefined;
    if (!parsed) {
      throw new InputError(
        `"${location.location}" is not an ECR image repository (<account>.dkr.ecr.<region>.amazonaws.com/<name>)`,
      );
    }
    return parsed;
  }

  private toArtifact(
    ecr: EcrLocation,
    image: ImageDetail,
  ): Artifact | undefined {
    const tags = image.imageTags ?? [];
    const commit = tags
      .filter(tag => COMMIT_SHA.test(tag))
      .sort((a, b) => a.length - b.length)[0];
    if (!commit || !image.imageDigest) return undefined;
    return {
      kind: 'image',
      commit,
      uri: `${ecr.uri}:${commit}@${image.imageDigest}`,
      digest: image.imageDigest,
      size: image.imageSizeInBytes ?? 0,
      createdAt: (image.imagePushedAt ?? new Date(0)).toISOString(),
      tags,
    };
  }

  private fail(ecr: EcrLocation, what: string, error: unknown): never {
    if (isOutboundRefused(error)) throw error;
    if (errorName(error) === 'RepositoryNotFoundException') {
      throw new NotFoundError(
        `ECR repository ${ecr.repository} does not exist in account ${ecr.accountId} (${ecr.region})`,
      );
    }
    throw new ForwardedError(
      `Could not ${what} in ECR repository ${ecr.uri}`,
      sdkFailure(error),
    );
  }

  /** The image a tag names, read in one DescribeImages call; undefined when none does. */
  private async describeTag(
    ecr: EcrLocation,
    tag: string,
  ): Promise<ImageDetail | undefined> {
    const client = await this.clientFor(ecr);
    try {
      const { imageDetails } = await client.send(
        new DescribeImagesCommand({
          repositoryName: ecr.repository,
          registryId: ecr.accountId,
          imageIds: [{ imageTag: tag }],
        }),
      );
      return imageDetails?.[0];
    } catch (error) {
      if (errorName(error) === 'ImageNotFoundException') return undefined;
      return this.fail(ecr, `look up the image tagged ${tag}`, error);
    }
  }

  /** The artifact built for the commit (full or short sha), from its short-sha tag. */
  private async artifactOf(
    ecr: EcrLocation,
    sha: string,
  ): Promise<Artifact | undefined> {
    if (!COMMIT_SHA.test(sha)) return undefined;
    const image = await this.describeTag(ecr, sha.slice(0, 7));
    const artifact = image && this.toArtifact(ecr, image);
    return artifact && artifactMatchesCommit(artifact, sha)
      ? artifact
      : undefined;
  }

  /** Artifacts of described images, newest first. */
  private artifacts(ecr: EcrLocation, images: ImageDetail[]): Artifact[] {
    return newestFirst(
      images
        .map(image => this.toArtifact(ecr, image))
        .filter((a): a is Artifact => a !== undefined),
    );
  }

  /** The listing of tagged images, page by page (1,000 per page, one after another). */
  private async *pages(ecr: EcrLocation) {
    const client = await this.clientFor(ecr);
    try {
      yield* paginateDescribeImages(
        { client, pageSize: 1000 },
        {
          repositoryName: ecr.repository,
          registryId: ecr.accountId,
          filter: { tagStatus: 'TAGGED' },
        },
      );
    } catch (error) {
      this.fail(ecr, 'list images', error);
    }
  }

  async getArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined> {
    return this.artifactOf(this.location(location), sha);
  }

  async listArtifacts(location: ArtifactLocation): Promise<Artifact[]> {
    const ecr = this.location(location);
    const images: ImageDetail[] = [];
    for await (const page of this.pages(ecr)) {
      images.push(...(page.imageDetails ?? []));
    }
    return this.artifacts(ecr, images);
  }

  /**
   * One DescribeImages call answers a single commit completely. More commits are read by their
   * tags with BatchGetImage (missing ones come back as failures, where DescribeImages would fail
   * the whole call), 100 per call in parallel; an image whose manifest carries the build's
   * creation time is complete from that, any other is described by digest in a second round.
   * Either way the read costs what the commits asked for, not what the repository holds. A query
   * still being worked out overlaps with the first page of the listing, which answers it alone
   * when the repository holds at most one page of images.
   */
  async findArtifacts(
    location: ArtifactLocation,
    query: PendingArtifactQuery,
  ): Promise<Artifact[]> {
    const ecr = this.location(location);
    if (!(query instanceof Promise)) return this.findByTags(ecr, query);
    const [page, asked] = await Promise.all([this.pages(ecr).next(), query]);
    const listed = page.value?.imageDetails ?? [];
    if (!page.value?.nextToken) {
      return selectArtifacts(this.artifacts(ecr, listed), asked);
    }
    return this.findByTags(ecr, asked, listed);
  }

  private async findByTags(
    ecr: EcrLocation,
    query: ArtifactQuery,
    listed: ImageDetail[] = [],
  ): Promise<Artifact[]> {
    const commits = [
      ...new Set(
        query.commits.filter(c => COMMIT_SHA.test(c)).map(c => c.slice(0, 7)),
      ),
    ];
    if (commits.length === 0) return [];
    const tags = [
      ...new Set(
        (query.tags ?? []).filter(
          t => ARTIFACT_TAG.test(t) && !commits.includes(t),
        ),
      ),
    ];
    if (commits.length === 1 && tags.length === 0) {
      const artifact = await this.artifactOf(ecr, query.commits[0]);
      return artifact ? [artifact] : [];
    }
    const known = new Map(listed.map(image => [image.imageDigest, image]));
    const client = await this.clientFor(ecr);
    const ids = {
      repositoryName: ecr.repository,
      registryId: ecr.accountId,
    };
    const responses = await Promise.all(
      chunks([...commits, ...tags], IDS_PER_CALL).map(chunk =>
        client
          .send(
            new BatchGetImageCommand({
              ...ids,
              imageIds: chunk.map(imageTag => ({ imageTag })),
              acceptedMediaTypes: MANIFEST_TYPES,
            }),
          )
          .catch(error => this.fail(ecr, 'read images', error)),
      ),
    );
    const byDigest = new Map<string, { tags: string[]; manifest?: string }>();
    for (const response of responses) {
      // A tag ECR finds no image for, or will not accept as a tag, names no image; anything
      // else (KMS, an upstream registry) is a failed read, not a missing artifact.
      const failure = response.failures?.find(
        f => !['ImageNotFound', 'InvalidImageTag'].includes(f.failureCode!),
      );
      if (failure) {
        throw new ForwardedError(
          `Could not read images in ECR repository ${ecr.uri}`,
          // The code only: the reason is upstream text.
          new Error(
            `${boundedCode(failure.failureCode) ?? 'failure'} (${
              failure.imageId?.imageTag
            })`,
          ),
        );
      }
      for (const image of response.images ?? []) {
        const digest = image.imageId?.imageDigest;
        const tag = image.imageId?.imageTag;
        if (!digest || !tag) continue;
        const entry = byDigest.get(digest) ?? {
          tags: [],
          manifest: image.imageManifest,
        };
        entry.tags.push(tag);
        byDigest.set(digest, entry);
      }
    }
    const images: ImageDetail[] = [];
    const undescribed: string[] = [];
    for (const [digest, image] of byDigest) {
      if (!image.tags.some(t => commits.includes(t))) continue;
      const detail = known.get(digest);
      if (detail) {
        images.push(detail);
        continue;
      }
      const built = fromManifest(image.manifest);
      if (!built) {
        undescribed.push(digest);
        continue;
      }
      images.push({
        imageDigest: digest,
        imageTags: image.tags,
        imageSizeInBytes: built.size,
        imagePushedAt: new Date(built.createdAt),
      });
    }
    const described = await Promise.all(
      chunks(undescribed, IDS_PER_CALL).map(digests =>
        this.describeDigests(ecr, digests),
      ),
    );
    return selectArtifacts(
      this.artifacts(ecr, [...images, ...described.flat()]),
      query,
    );
  }

  /** Images by digest; one deleted since it was read (a concurrent yank) is left out. */
  private async describeDigests(
    ecr: EcrLocation,
    digests: string[],
  ): Promise<ImageDetail[]> {
    const client = await this.clientFor(ecr);
    const byDigest = (some: string[]) =>
      client.send(
        new DescribeImagesCommand({
          repositoryName: ecr.repository,
          registryId: ecr.accountId,
          imageIds: some.map(imageDigest => ({ imageDigest })),
        }),
      );
    try {
      return (await byDigest(digests)).imageDetails ?? [];
    } catch (error) {
      if (errorName(error) !== 'ImageNotFoundException') {
        return this.fail(ecr, 'describe images', error);
      }
      const one = await Promise.all(
        digests.map(digest =>
          byDigest([digest]).then(
            r => r.imageDetails ?? [],
            e => {
              if (errorName(e) === 'ImageNotFoundException') return [];
              return this.fail(ecr, 'describe images', e);
            },
          ),
        ),
      );
      return one.flat();
    }
  }

  /** ECR applies the distribution spec's tag rule to PutImage. */
  checkTag(_location: ArtifactLocation, tag: string): string | undefined {
    return artifactTagProblem(tag);
  }

  async addTag(
    location: ArtifactLocation,
    sha: string,
    tag: string,
  ): Promise<Artifact> {
    const ecr = this.location(location);
    if (!COMMIT_SHA.test(sha)) {
      throw new NotFoundError(`No image of ${sha} in ${ecr.uri} to tag ${tag}`);
    }
    const problem = this.checkTag(location, tag);
    if (problem) throw new InputError(`"${tag}": ${problem}`);
    const client = await this.clientFor(ecr);
    const ids = {
      repositoryName: ecr.repository,
      registryId: ecr.accountId,
    };
    // One round: the build's image, its manifest bytes, and whoever holds the tag already.
    const [artifact, manifests, holder] = await Promise.all([
      this.artifactOf(ecr, sha),
      client
        .send(
          new BatchGetImageCommand({
            ...ids,
            imageIds: [{ imageTag: sha.slice(0, 7) }],
            acceptedMediaTypes: MANIFEST_TYPES,
          }),
        )
        .catch(error =>
          this.fail(ecr, `read the image of ${sha.slice(0, 7)}`, error),
        ),
      this.describeTag(ecr, tag),
    ]);
    const manifest = manifests.images?.[0];
    if (!artifact || !manifest?.imageManifest) {
      throw new NotFoundError(
        `No image of ${sha.slice(0, 7)} in ${ecr.uri} to tag ${tag}`,
      );
    }
    if (artifact.tags.includes(tag)) return artifact;
    // In a mutable repository PutImage would silently move a tag that names another image.
    if (holder && holder.imageDigest !== artifact.digest) {
      throw new ConflictError(
        `${ecr.uri}:${tag} already names another image (${holder.imageDigest}); release tags are never moved`,
      );
    }
    try {
      const { image: put } = await client.send(
        new PutImageCommand({
          ...ids,
          imageManifest: manifest.imageManifest,
          imageManifestMediaType: manifest.imageManifestMediaType,
          imageDigest: artifact.digest,
          imageTag: tag,
        }),
      );
      if (
        put?.imageId?.imageDigest &&
        put.imageId.imageDigest !== artifact.digest
      ) {
        throw new ConflictError(
          `ECR stored ${ecr.uri}:${tag} as ${put.imageId.imageDigest}, not ${artifact.digest}`,
        );
      }
    } catch (error) {
      const name = errorName(error);
      if (error instanceof ConflictError) throw error;
      // Already done (a retried promotion), or an immutable repository that has the tag: both
      // mean the tag is on this image, since a tag on another one was refused above.
      if (
        name !== 'ImageAlreadyExistsException' &&
        name !== 'ImageTagAlreadyExistsException'
      ) {
        return this.fail(ecr, `tag ${artifact.digest} as ${tag}`, error);
      }
      if (name === 'ImageTagAlreadyExistsException') {
        // Someone tagged an image between our read and our write: only fine if it is this one.
        const now = await this.getArtifact(location, sha);
        if (!now?.tags.includes(tag)) {
          throw new ConflictError(
            `${ecr.uri}:${tag} was given to another image meanwhile; release tags are never moved`,
          );
        }
      }
    }
    return { ...artifact, tags: [...artifact.tags, tag] };
  }

  async deleteArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined> {
    const ecr = this.location(location);
    const artifact = await this.getArtifact(location, sha);
    if (!artifact) return undefined;
    const client = await this.clientFor(ecr);
    try {
      const { failures } = await client.send(
        new BatchDeleteImageCommand({
          repositoryName: ecr.repository,
          registryId: ecr.accountId,
          imageIds: [{ imageDigest: artifact.digest }],
        }),
      );
      const failure = failures?.find(f => f.failureCode !== 'ImageNotFound');
      if (failure) {
        throw new ForwardedError(
          `ECR did not delete ${artifact.digest} from ${ecr.uri}`,
          new Error(boundedCode(failure.failureCode) ?? 'failure'),
        );
      }
    } catch (error) {
      if (error instanceof ForwardedError) throw error;
      return this.fail(ecr, `delete ${artifact.digest}`, error);
    }
    return artifact;
  }
}
