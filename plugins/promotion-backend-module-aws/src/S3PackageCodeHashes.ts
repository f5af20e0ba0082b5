import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import {
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { ForwardedError } from '@backstage/errors';
import { sdkFailure } from '@mainline/plugin-promotion-node';
import { S3Location } from './S3PackageRegistry';

/** Entries kept; one per zip of a package stage, each a few dozen bytes. */
const CACHE_LIMIT = 10_000;

/**
 * The SHA-256 of the code zips of a Serverless package in S3, base64 as Lambda's `CodeSha256`
 * spells it: what a function deployed from that package runs. The build copies the package to
 * `<prefix>/<sha>/<stage>/`, the `.zip` files beside the compiled templates.
 *
 * Cost: one listing of the stage's folder per call (never cached, so a yanked package is seen
 * gone). A zip's hash is S3's stored `ChecksumSHA256` when the upload recorded one for the whole
 * object (`aws s3 cp --checksum-algorithm SHA256` of a file under the multipart threshold), read
 * from the GetObject headers and the body left unread; otherwise the object is streamed through
 * SHA-256 once. Either way the result is kept by key and ETag, so each zip version is read
 * once per backend process.
 *
 * @public
 */
export class S3PackageCodeHashes {
  private readonly cache = new Map<string, string>();

  constructor(
    private readonly clientFor: (location: S3Location) => Promise<S3Client>,
  ) {}

  /**
   * The base64 SHA-256 of each zip of the package of `sha` built for `stage`, by file name;
   * undefined when no zip is there (never built for the stage, or yanked).
   */
  async codeSha256s(
    location: S3Location,
    sha: string,
    stage: string,
  ): Promise<Record<string, string> | undefined> {
    const client = await this.clientFor(location);
    const folder = `${[location.prefix, sha, stage]
      .filter(Boolean)
      .join('/')}/`;
    let listing;
    try {
      listing = await client.send(
        new ListObjectsV2Command({ Bucket: location.bucket, Prefix: folder }),
      );
    } catch (error) {
      throw new ForwardedError(
        `Could not list the package s3://${location.bucket}/${folder}`,
        sdkFailure(error),
      );
    }
    const zips = (listing.Contents ?? []).filter(
      o =>
        o.Key!.endsWith('.zip') && !o.Key!.slice(folder.length).includes('/'),
    );
    if (zips.length === 0) return undefined;
    const hashes = await Promise.all(
      zips.map(async object => {
        const key = `${location.bucket}/${object.Key}\t${object.ETag ?? ''}`;
        let hash = this.cache.get(key);
        if (!hash) {
          hash = await this.hash(client, location.bucket, object.Key!);
          if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
          this.cache.set(key, hash);
        }
        return [object.Key!.slice(folder.length), hash] as const;
      }),
    );
    return Object.fromEntries(hashes);
  }

  private async hash(
    client: S3Client,
    bucket: string,
    key: string,
  ): Promise<string> {
    try {
      const object = await client.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          ChecksumMode: 'ENABLED',
        }),
      );
      const body = object.Body as Readable;
      // A multipart upload's checksum is of its parts' checksums (`…-<parts>`), not the bytes.
      if (
        object.ChecksumSHA256 &&
        !object.ChecksumSHA256.includes('-') &&
        object.ChecksumType !== 'COMPOSITE'
      ) {
        body.destroy();
        return object.ChecksumSHA256;
      }
      const sha256 = crypto.createHash('sha256');
      for await (const chunk of body) sha256.update(chunk as Buffer);
      return sha256.digest('base64');
    } catch (error) {
      throw new ForwardedError(
        `Could not read s3://${bucket}/${key} to hash it`,
        sdkFailure(error),
      );
    }
  }
}
