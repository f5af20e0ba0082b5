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
  ArtifactLocation,
  ArtifactRegistry,
  COMMIT_SHA,
  newestFirst,
} from '../ArtifactRegistry';

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

export interface EcrLocation {
  accountId: string;
  region: string;
  repository: string;
  uri: string;
}

/** Reads an ECR artifact location; undefined when it is not one. */
export function parseEcrLocation(location: string): EcrLocation | undefined {
  const match = ECR_LOCATION.exec(location);
  if (!match) return undefined;
  const [, accountId, region, repository] = match;
  return { accountId, region, repository, uri: location };
}

/** Gives the ECR client for an account and region (credentials from integration-aws-node). */
export type EcrClientFor = (location: EcrLocation) => Promise<ECRClient>;

const errorName = (error: unknown) => (error as { name?: string })?.name;

/**
 * Images in Amazon ECR. A build pushes `<repository>:<short sha>`; a promotion adds a release tag
 * by putting the exact manifest bytes the build pushed under one more tag (ECR computes the same
 * digest, nothing is rebuilt or re-uploaded); a yank deletes the image by digest, which removes
 * every tag on it.
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
    if (errorName(error) === 'RepositoryNotFoundException') {
      throw new NotFoundError(
        `ECR repository ${ecr.repository} does not exist in account ${ecr.accountId} (${ecr.region})`,
      );
    }
    throw new ForwardedError(
      `Could not ${what} in ECR repository ${ecr.uri}`,
      error,
    );
  }

  /** The image tagged with the commit's short sha, read in one DescribeImages call. */
  private async describe(
    ecr: EcrLocation,
    sha: string,
  ): Promise<ImageDetail | undefined> {
    if (!COMMIT_SHA.test(sha)) return undefined;
    const client = await this.clientFor(ecr);
    try {
      const { imageDetails } = await client.send(
        new DescribeImagesCommand({
          repositoryName: ecr.repository,
          registryId: ecr.accountId,
          imageIds: [{ imageTag: sha.slice(0, 7) }],
        }),
      );
      return imageDetails?.[0];
    } catch (error) {
      if (errorName(error) === 'ImageNotFoundException') return undefined;
      return this.fail(ecr, `look up the image of ${sha.slice(0, 7)}`, error);
    }
  }

  async getArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined> {
    const ecr = this.location(location);
    const image = await this.describe(ecr, sha);
    const artifact = image && this.toArtifact(ecr, image);
    return artifact &&
      (sha.startsWith(artifact.commit) || artifact.commit.startsWith(sha))
      ? artifact
      : undefined;
  }

  async listArtifacts(location: ArtifactLocation): Promise<Artifact[]> {
    const ecr = this.location(location);
    const client = await this.clientFor(ecr);
    const artifacts: Artifact[] = [];
    try {
      for await (const page of paginateDescribeImages(
        { client, pageSize: 1000 },
        {
          repositoryName: ecr.repository,
          registryId: ecr.accountId,
          filter: { tagStatus: 'TAGGED' },
        },
      )) {
        for (const image of page.imageDetails ?? []) {
          const artifact = this.toArtifact(ecr, image);
          if (artifact) artifacts.push(artifact);
        }
      }
    } catch (error) {
      return this.fail(ecr, 'list images', error);
    }
    return newestFirst(artifacts);
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
    const client = await this.clientFor(ecr);
    const ids = {
      repositoryName: ecr.repository,
      registryId: ecr.accountId,
    };
    // One round: the build's image, its manifest bytes, and whoever holds the tag already.
    const [image, manifests, holder] = await Promise.all([
      this.describe(ecr, sha),
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
      client
        .send(
          new DescribeImagesCommand({ ...ids, imageIds: [{ imageTag: tag }] }),
        )
        .then(
          r => r.imageDetails?.[0],
          error => {
            if (errorName(error) === 'ImageNotFoundException') return undefined;
            return this.fail(ecr, `look up the tag ${tag}`, error);
          },
        ),
    ]);
    const artifact = image && this.toArtifact(ecr, image);
    const manifest = manifests.images?.[0];
    if (
      !artifact ||
      !(sha.startsWith(artifact.commit) || artifact.commit.startsWith(sha)) ||
      !manifest?.imageManifest
    ) {
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
          new Error(`${failure.failureCode}: ${failure.failureReason}`),
        );
      }
    } catch (error) {
      if (error instanceof ForwardedError) throw error;
      return this.fail(ecr, `delete ${artifact.digest}`, error);
    }
    return artifact;
  }
}
