import crypto from 'node:crypto';
import {
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  _Object,
} from '@aws-sdk/client-s3';
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
  PendingArtifactQuery,
  ArtifactRegistry,
  COMMIT_SHA,
  newestFirst,
  findInListing,
  boundedCode,
  sdkFailure,
} from '@mainline/plugin-promotion-node';

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const SEGMENT = /^[A-Za-z0-9_.=-]+$/;
const FULL_SHA = /^[0-9a-f]{40}$/;

/**
 * Where a service's packages live in S3.
 *
 * @public
 */
export interface S3Location {
  bucket: string;
  /** The key prefix packages live under, without a trailing slash ('' for the bucket root). */
  prefix: string;
}

/**
 * Reads `s3://<bucket>[/<prefix>]`; undefined when it is not a safe S3 location.
 *
 * @public
 */
export function parseS3Location(location: string): S3Location | undefined {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(location);
  if (!match || !BUCKET.test(match[1])) return undefined;
  const prefix = (match[2] ?? '').replace(/\/$/, '');
  if (
    prefix &&
    prefix
      .split('/')
      .some(s => !SEGMENT.test(s) || s === '.' || s === '..' || s === 'tags')
  ) {
    return undefined;
  }
  return { bucket: match[1], prefix };
}

/**
 * Gives the S3 client for a bucket (region, endpoint and credentials from configuration).
 *
 * @public
 */
export type S3ClientFor = (location: S3Location) => Promise<S3Client>;

const join = (...parts: string[]) => parts.filter(Boolean).join('/');

/**
 * Serverless packages in S3: the build runs `sls package --package <sha>` and copies the folder to
 * `<prefix>/<full sha>/`. A package is found by listing that prefix (no per-file requests); a
 * release tag is an empty marker object `<prefix>/tags/<tag>/<sha>`, so one listing of `tags/`
 * maps every tag to its package without reading any object, and no bytes are copied; a yank
 * deletes every object of the package and its markers with paged DeleteObjects.
 *
 * The digest is the sha256 of the package's object list (relative key, size and ETag per object,
 * sorted): it changes whenever any file of the package does, and costs no download.
 *
 * @public
 */
export class S3PackageRegistry implements ArtifactRegistry {
  constructor(private readonly clientFor: S3ClientFor) {}

  private location(location: ArtifactLocation): S3Location {
    const parsed =
      location.kind === 'archive'
        ? parseS3Location(location.location)
        : undefined;
    if (!parsed) {
      throw new InputError(
        `"${location.location}" is not an S3 package location (s3://<bucket>/<prefix>)`,
      );
    }
    return parsed;
  }

  private async list(s3: S3Location, prefix: string): Promise<_Object[]> {
    const client = await this.clientFor(s3);
    const objects: _Object[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await client.send(
          new ListObjectsV2Command({
            Bucket: s3.bucket,
            Prefix: prefix,
            ContinuationToken: token,
          }),
        );
        objects.push(...(page.Contents ?? []));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchBucket') {
        throw new NotFoundError(`S3 bucket ${s3.bucket} does not exist`);
      }
      throw new ForwardedError(
        `Could not list s3://${s3.bucket}/${prefix}`,
        sdkFailure(error),
      );
    }
    return objects;
  }

  /** Every release tag marker, as tag → package sha. */
  private async tags(s3: S3Location): Promise<Map<string, string>> {
    const base = `${join(s3.prefix, 'tags')}/`;
    const tags = new Map<string, string>();
    for (const object of await this.list(s3, base)) {
      const [tag, sha] = object.Key!.slice(base.length).split('/');
      if (ARTIFACT_TAG.test(tag) && FULL_SHA.test(sha ?? ''))
        tags.set(tag, sha);
    }
    return tags;
  }

  /** Groups objects under `<prefix>/<sha>/` into packages. */
  private packages(
    s3: S3Location,
    objects: _Object[],
    tags: Map<string, string>,
  ): Artifact[] {
    const base = s3.prefix ? `${s3.prefix}/` : '';
    const bySha = new Map<string, _Object[]>();
    for (const object of objects) {
      const [sha, ...rest] = object.Key!.slice(base.length).split('/');
      if (!FULL_SHA.test(sha) || rest.length === 0) continue;
      bySha.set(sha, [...(bySha.get(sha) ?? []), object]);
    }
    return [...bySha.entries()].map(([sha, files]) => {
      const prefix = `${base}${sha}/`;
      const listing = files
        .map(
          f =>
            `${f.Key!.slice(prefix.length)}\t${f.Size ?? 0}\t${f.ETag ?? ''}`,
        )
        .sort()
        .join('\n');
      const uploaded = files
        .map(f => (f.LastModified ?? new Date(0)).getTime())
        .reduce((a, b) => Math.min(a, b));
      return {
        kind: 'archive' as const,
        commit: sha,
        uri: `s3://${s3.bucket}/${prefix}`,
        digest: `sha256:${crypto
          .createHash('sha256')
          .update(listing)
          .digest('hex')}`,
        size: files.reduce((sum, f) => sum + (f.Size ?? 0), 0),
        createdAt: new Date(uploaded).toISOString(),
        tags: [...tags.entries()].filter(([, s]) => s === sha).map(([t]) => t),
      };
    });
  }

  async getArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined> {
    const s3 = this.location(location);
    if (!COMMIT_SHA.test(sha)) return undefined;
    const [objects, tags] = await Promise.all([
      this.list(s3, join(s3.prefix, sha)),
      this.tags(s3),
    ]);
    const matches = this.packages(s3, objects, tags).filter(p =>
      p.commit.startsWith(sha),
    );
    // A short sha that names two packages names none.
    return matches.length === 1 ? matches[0] : undefined;
  }

  findArtifacts(location: ArtifactLocation, query: PendingArtifactQuery) {
    return findInListing(this.listArtifacts(location), query);
  }

  async listArtifacts(location: ArtifactLocation): Promise<Artifact[]> {
    const s3 = this.location(location);
    const [objects, tags] = await Promise.all([
      this.list(s3, s3.prefix ? `${s3.prefix}/` : ''),
      this.tags(s3),
    ]);
    return newestFirst(this.packages(s3, objects, tags));
  }

  /**
   * A release tag is recorded as one object key segment under the package: S3 would take more,
   * but `/` would nest it and other characters need escaping in every tool that lists keys, so
   * the registry tag rule is kept.
   */
  checkTag(_location: ArtifactLocation, tag: string): string | undefined {
    return artifactTagProblem(tag);
  }

  async addTag(
    location: ArtifactLocation,
    sha: string,
    tag: string,
  ): Promise<Artifact> {
    const s3 = this.location(location);
    if (!ARTIFACT_TAG.test(tag)) {
      throw new InputError(`"${tag}" is not a valid release tag`);
    }
    const artifact = await this.getArtifact(location, sha);
    if (!artifact) {
      throw new NotFoundError(
        `No package of ${sha.slice(0, 7)} under s3://${s3.bucket}/${
          s3.prefix
        } to tag ${tag}`,
      );
    }
    const owner = (await this.tags(s3)).get(tag);
    if (owner && owner !== artifact.commit) {
      throw new ConflictError(
        `Release tag ${tag} already marks the package of ${owner.slice(
          0,
          7,
        )}; release tags are never moved`,
      );
    }
    if (!owner) {
      const client = await this.clientFor(s3);
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: s3.bucket,
            Key: join(s3.prefix, 'tags', tag, artifact.commit),
            Body: Buffer.alloc(0),
            ContentLength: 0,
          }),
        );
      } catch (error) {
        throw new ForwardedError(
          `Could not record release tag ${tag} in s3://${s3.bucket}`,
          sdkFailure(error),
        );
      }
    }
    return { ...artifact, tags: [...new Set([...artifact.tags, tag])] };
  }

  async deleteArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined> {
    const s3 = this.location(location);
    const artifact = await this.getArtifact(location, sha);
    if (!artifact) return undefined;
    const keys = [
      ...(await this.list(s3, join(s3.prefix, artifact.commit, ''))).map(
        o => o.Key!,
      ),
      ...artifact.tags.map(tag =>
        join(s3.prefix, 'tags', tag, artifact.commit),
      ),
    ];
    const client = await this.clientFor(s3);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      let errors: Array<{ Key?: string; Code?: string; Message?: string }>;
      try {
        errors =
          (
            await client.send(
              new DeleteObjectsCommand({
                Bucket: s3.bucket,
                Delete: { Objects: batch.map(Key => ({ Key })), Quiet: true },
              }),
            )
          ).Errors ?? [];
      } catch (error) {
        throw new ForwardedError(
          `Could not delete the package of ${artifact.commit.slice(
            0,
            7,
          )} from s3://${s3.bucket}`,
          sdkFailure(error),
        );
      }
      if (errors.length > 0) {
        // What was deleted stays deleted; a retried yank deletes the rest.
        throw new ForwardedError(
          `S3 did not delete ${
            errors.length
          } objects of the package of ${artifact.commit.slice(0, 7)}`,
          // Keys and codes only: the messages are upstream text.
          new Error(
            errors
              .slice(0, 5)
              .map(e => `${e.Key}: ${boundedCode(e.Code) ?? 'failed'}`)
              .join('; '),
          ),
        );
      }
    }
    return artifact;
  }
}
