import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import {
  Artifact,
  ARTIFACT_TAG,
  artifactTagProblem,
  ArtifactLocation,
  artifactMatchesCommit,
  PendingArtifactQuery,
  ArtifactRegistry,
  newestFirst,
  findInListing,
} from '@mainline/plugin-promotion-node';

const NAME = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** What an image tag file records. */
interface TagRecord {
  digest: string;
  createdAt: string;
}

/**
 * A filesystem artifact registry for the embedded default, shaped like the real ones:
 * - images (`local/<name>`): `images/<name>/blobs/<digest>` holds the manifest bytes and
 *   `images/<name>/tags/<tag>` the digest a tag points at, so a retag is one more tag file on the
 *   same digest and a delete by digest removes every tag on it, as in an OCI registry;
 * - packages (`local://<prefix>`): `archives/<prefix>/<sha>/` holds the package's files, as in the
 *   S3 bucket a Serverless build copies to; `archives/<prefix>/tags/<tag>` marks a release tag.
 *
 * @public
 */
export class LocalArtifactRegistry implements ArtifactRegistry {
  constructor(private readonly root: string) {}

  private imageDir(location: string): string {
    const name = location.replace(/^local\//, '');
    if (!location.startsWith('local/') || !NAME.test(name)) {
      throw new InputError(
        `Image location "${location}" is not a local registry repository (local/<name>)`,
      );
    }
    return path.join(this.root, 'images', name);
  }

  private archiveDir(location: string): string {
    const prefix = location.replace(/^local:\/\//, '');
    if (!location.startsWith('local://') || !NAME.test(prefix)) {
      throw new InputError(
        `Package location "${location}" is not a local package prefix (local://<prefix>)`,
      );
    }
    return path.join(this.root, 'archives', prefix);
  }

  async getArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined> {
    if (!/^[0-9a-f]{7,40}$/.test(sha)) {
      return undefined;
    }
    const artifacts = await this.listArtifacts(location);
    return artifacts.find(artifact => artifactMatchesCommit(artifact, sha));
  }

  findArtifacts(location: ArtifactLocation, query: PendingArtifactQuery) {
    return findInListing(this.listArtifacts(location), query);
  }

  async listArtifacts(location: ArtifactLocation): Promise<Artifact[]> {
    const artifacts =
      location.kind === 'image'
        ? await this.listImages(location.location)
        : await this.listArchives(location.location);
    return newestFirst(artifacts);
  }

  private async listImages(location: string): Promise<Artifact[]> {
    const dir = this.imageDir(location);
    const tags = await readDirOrEmpty(path.join(dir, 'tags'));
    const byDigest = new Map<string, { tags: string[]; createdAt: string }>();
    for (const tag of tags) {
      const record = JSON.parse(
        await fs.readFile(path.join(dir, 'tags', tag), 'utf8'),
      ) as TagRecord;
      const entry = byDigest.get(record.digest) ?? {
        tags: [],
        createdAt: record.createdAt,
      };
      entry.tags.push(tag);
      if (record.createdAt < entry.createdAt)
        entry.createdAt = record.createdAt;
      byDigest.set(record.digest, entry);
    }
    const artifacts: Artifact[] = [];
    for (const [digest, entry] of byDigest) {
      // The build tags each image with its commit's short sha; release tags come later.
      const commit = entry.tags.find(tag => /^[0-9a-f]{7,40}$/.test(tag));
      if (!commit) continue;
      const manifest = JSON.parse(
        await fs.readFile(
          path.join(dir, 'blobs', digest.replace(':', '-')),
          'utf8',
        ),
      );
      const size =
        (manifest.config?.size ?? 0) +
        (manifest.layers ?? []).reduce(
          (sum: number, l: { size?: number }) => sum + (l.size ?? 0),
          0,
        );
      artifacts.push({
        kind: 'image',
        commit,
        uri: `${location}:${commit}@${digest}`,
        digest,
        size,
        createdAt: entry.createdAt,
        tags: entry.tags.sort(),
      });
    }
    return artifacts;
  }

  private async listArchives(location: string): Promise<Artifact[]> {
    const dir = this.archiveDir(location);
    // Release tags of packages are marker files `tags/<tag>` holding the sha (one read for all).
    const tagsBySha = new Map<string, string[]>();
    for (const tag of await readDirOrEmpty(path.join(dir, 'tags'))) {
      const sha = (
        await fs.readFile(path.join(dir, 'tags', tag), 'utf8')
      ).trim();
      tagsBySha.set(sha, [...(tagsBySha.get(sha) ?? []), tag]);
    }
    const artifacts: Artifact[] = [];
    for (const sha of await readDirOrEmpty(dir)) {
      if (!/^[0-9a-f]{40}$/.test(sha)) continue;
      const files = (await readDirOrEmpty(path.join(dir, sha))).sort();
      if (files.length === 0) continue;
      const hash = crypto.createHash('sha256');
      let size = 0;
      let createdAt = '';
      for (const file of files) {
        const full = path.join(dir, sha, file);
        const [stat, bytes] = await Promise.all([
          fs.stat(full),
          fs.readFile(full),
        ]);
        hash.update(file).update(bytes);
        size += stat.size;
        const mtime = stat.mtime.toISOString();
        if (!createdAt || mtime < createdAt) createdAt = mtime;
      }
      artifacts.push({
        kind: 'archive',
        commit: sha,
        uri: `${location}/${sha}/`,
        digest: `sha256:${hash.digest('hex')}`,
        size,
        createdAt,
        tags: (tagsBySha.get(sha) ?? []).sort(),
      });
    }
    return artifacts;
  }

  /** Stores an image manifest under a tag (what a build's push does). */
  async putImage(
    location: string,
    tag: string,
    manifest: Buffer,
    createdAt: Date = new Date(),
  ): Promise<string> {
    if (!ARTIFACT_TAG.test(tag)) {
      throw new InputError(`"${tag}" is not a valid image tag`);
    }
    const dir = this.imageDir(location);
    const digest = `sha256:${crypto
      .createHash('sha256')
      .update(manifest)
      .digest('hex')}`;
    await fs.mkdir(path.join(dir, 'blobs'), { recursive: true });
    await fs.mkdir(path.join(dir, 'tags'), { recursive: true });
    await fs.writeFile(
      path.join(dir, 'blobs', digest.replace(':', '-')),
      manifest,
    );
    const record: TagRecord = { digest, createdAt: createdAt.toISOString() };
    await fs.writeFile(path.join(dir, 'tags', tag), JSON.stringify(record));
    return digest;
  }

  /** Stores a package's files under `<sha>/` (what a Serverless build's copy does). */
  async putArchive(
    location: string,
    sha: string,
    files: Record<string, Buffer | string>,
    createdAt: Date = new Date(),
  ): Promise<void> {
    if (!/^[0-9a-f]{40}$/.test(sha)) {
      throw new InputError(`"${sha}" is not a full commit sha`);
    }
    const dir = path.join(this.archiveDir(location), sha);
    await fs.mkdir(dir, { recursive: true });
    for (const [name, content] of Object.entries(files)) {
      if (!NAME.test(name) || name.includes('/')) {
        throw new InputError(`"${name}" is not a valid package file name`);
      }
      const file = path.join(dir, name);
      await fs.writeFile(file, content);
      await fs.utimes(file, createdAt, createdAt);
    }
  }

  /** A tag is a file name in the image's `tags/` folder: the registry tag rule keeps it one. */
  checkTag(_location: ArtifactLocation, tag: string): string | undefined {
    return artifactTagProblem(tag);
  }

  async addTag(
    location: ArtifactLocation,
    sha: string,
    tag: string,
  ): Promise<Artifact> {
    if (!ARTIFACT_TAG.test(tag)) {
      throw new InputError(`"${tag}" is not a valid release tag`);
    }
    const artifact = await this.getArtifact(location, sha);
    if (!artifact) {
      throw new NotFoundError(
        `No artifact for ${sha.slice(0, 7)} in ${location.location}`,
      );
    }
    if (artifact.tags.includes(tag)) {
      return artifact;
    }
    if (/^[0-9a-f]{7,40}$/.test(tag)) {
      // Such a tag names the commit an image was built from (see listImages).
      throw new InputError(
        `"${tag}" looks like a commit sha, which only a build may tag`,
      );
    }
    const isImage = location.kind === 'image';
    const file = isImage
      ? path.join(this.imageDir(location.location), 'tags', tag)
      : path.join(this.archiveDir(location.location), 'tags', tag);
    // The same manifest (same bytes, same digest) under one more tag; `wx` makes creation atomic,
    // so a concurrent retag to another artifact cannot overwrite this one.
    const content = isImage
      ? JSON.stringify({
          digest: artifact.digest,
          createdAt: new Date().toISOString(),
        })
      : artifact.commit;
    await fs.mkdir(path.dirname(file), { recursive: true });
    // Written in full beside it, then linked into place: `link` creates the tag only if it does
    // not exist, and a concurrent reader never sees a tag file that is still empty.
    // (Outside every listed folder, and on the same filesystem, which `link` needs.)
    const pendingDir = path.join(this.root, '.pending');
    await fs.mkdir(pendingDir, { recursive: true });
    const pending = path.join(pendingDir, crypto.randomUUID());
    await fs.writeFile(pending, content);
    try {
      await fs.link(pending, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const existing = await fs.readFile(file, 'utf8');
      const same = isImage
        ? (JSON.parse(existing) as TagRecord).digest === artifact.digest
        : existing.trim() === artifact.commit;
      if (!same) {
        throw new ConflictError(
          `${location.location}:${tag} already names another artifact; release tags are never moved`,
        );
      }
    } finally {
      await fs.rm(pending, { force: true });
    }
    return (await this.getArtifact(location, sha))!;
  }

  async deleteArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined> {
    const artifact = await this.getArtifact(location, sha);
    if (!artifact) {
      return undefined;
    }
    if (location.kind === 'image') {
      await this.deleteImage(location.location, artifact.digest);
    } else {
      const tagsDir = path.join(this.archiveDir(location.location), 'tags');
      for (const tag of artifact.tags) {
        await fs.rm(path.join(tagsDir, tag), { force: true });
      }
      await this.deleteArchive(location.location, artifact.commit);
    }
    return artifact;
  }

  /** Deletes an image by digest: every tag on it goes, as in an OCI registry. */
  async deleteImage(location: string, digest: string): Promise<void> {
    if (!DIGEST.test(digest)) {
      throw new InputError(`"${digest}" is not a sha256 digest`);
    }
    const dir = this.imageDir(location);
    for (const tag of await readDirOrEmpty(path.join(dir, 'tags'))) {
      const record = JSON.parse(
        await fs.readFile(path.join(dir, 'tags', tag), 'utf8'),
      ) as TagRecord;
      if (record.digest === digest) {
        await fs.rm(path.join(dir, 'tags', tag), { force: true });
      }
    }
    await fs.rm(path.join(dir, 'blobs', digest.replace(':', '-')), {
      force: true,
    });
  }

  /** Deletes every file of a package. */
  async deleteArchive(location: string, sha: string): Promise<void> {
    if (!/^[0-9a-f]{40}$/.test(sha)) {
      throw new InputError(`"${sha}" is not a full commit sha`);
    }
    await fs.rm(path.join(this.archiveDir(location), sha), {
      recursive: true,
      force: true,
    });
  }
}

async function readDirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
