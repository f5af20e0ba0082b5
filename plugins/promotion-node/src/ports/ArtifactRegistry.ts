import {
  ArtifactKind,
  REGISTRY_TAG,
  checkRegistryTag,
} from '@mainline/plugin-promotion-common';

/**
 * Where a service's build-once artifacts live, from its annotations.
 *
 * @public
 */
export interface ArtifactLocation {
  kind: ArtifactKind;
  /** The `mainline.dev/artifact-location` annotation value. */
  location: string;
}

/**
 * One build of one commit: a container image or a Serverless package.
 *
 * @public
 */
export interface Artifact {
  kind: ArtifactKind;
  /**
   * The commit the artifact was built from, as the build named it: the short sha for images (the
   * image tag), the full sha for packages (the `<sha>/` prefix).
   */
  commit: string;
  /** Where to fetch it: `repo:tag@digest` for images, the package prefix for archives. */
  uri: string;
  /** `sha256:…` of the image manifest, or of the package archive. */
  digest: string;
  /** Bytes: layers and config for images, all objects for packages. */
  size: number;
  /** ISO 8601 time of the build. */
  createdAt: string;
  /** Every tag on the same image (short sha, `rc-*`, `v*`); release tags recorded for packages. */
  tags: string[];
}

/**
 * The registry holding a service's artifacts. Listing is one bulk read (paged by the adapter),
 * so lineage never asks per commit.
 *
 * @public
 */
export interface ArtifactRegistry {
  /**
   * Why the registry would refuse `tag` as a release tag on an artifact of `location`, or
   * undefined when it accepts it. Answered without a request: a promotion asks every registry it
   * involves in its checks, before the release tag is created anywhere.
   */
  checkTag(location: ArtifactLocation, tag: string): string | undefined;
  /** The artifact built for the commit (full or short sha), or undefined when there is none. */
  getArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined>;
  /** Every artifact in the location, newest first. */
  listArtifacts(location: ArtifactLocation): Promise<Artifact[]>;
  /**
   * The artifacts built from these commits (full or short shas), newest first: what a lineage page
   * or a promotion needs, read without listing the whole location where the registry allows it
   * (ECR: one `BatchGetImage` per 100 commits). `tags` names other tags (release tags, what
   * environments pin) to report on those artifacts when they hold them; a registry that cannot
   * list every tag of an image cheaply reports only the commit's tag and these. The query may
   * still be being worked out (the commits of a page being read): the registry can start reading
   * meanwhile (ECR: its first page of images, all it needs when the repository holds ≤ 1,000).
   */
  findArtifacts(
    location: ArtifactLocation,
    query: PendingArtifactQuery,
  ): Promise<Artifact[]>;
  /**
   * Adds a release tag to the artifact built for `sha`, without rebuilding: for images the same
   * manifest bytes under one more tag (the digest does not change), for packages a marker. Adding a
   * tag that is already on this artifact succeeds (a retried promotion); a tag on a different
   * artifact is a ConflictError; no artifact for the sha is a NotFoundError.
   */
  addTag(
    location: ArtifactLocation,
    sha: string,
    tag: string,
  ): Promise<Artifact>;
  /**
   * Deletes the artifact built for `sha` (a yank): every tag on the image, every object of the
   * package. Returns what was deleted, or undefined when there was nothing (already yanked).
   */
  deleteArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined>;
}

/**
 * Which artifacts `findArtifacts` reads.
 *
 * @public
 */
export interface ArtifactQuery {
  commits: string[];
  tags?: string[];
}

/**
 * A query, or one still being worked out.
 *
 * @public
 */
export type PendingArtifactQuery = ArtifactQuery | Promise<ArtifactQuery>;

/**
 * Whether an artifact was built from a commit, whichever form of the sha the build used.
 *
 * @public
 */
export function artifactMatchesCommit(
  artifact: Artifact,
  sha: string,
): boolean {
  return sha.startsWith(artifact.commit) || artifact.commit.startsWith(sha);
}

/**
 * A commit as builds name it: the short or full sha.
 *
 * @public
 */
export const COMMIT_SHA = /^[0-9a-f]{7,40}$/;

/**
 * What registries accept as a tag (the OCI distribution spec's rule), release tags included.
 *
 * @public
 */
export const ARTIFACT_TAG = REGISTRY_TAG;

/**
 * `checkTag` under the OCI distribution spec's rule, which ECR applies as well.
 *
 * @public
 */
export const artifactTagProblem = checkRegistryTag;

/**
 * Artifacts newest first, as `listArtifacts` returns them.
 *
 * @public
 */
export function newestFirst(artifacts: Artifact[]): Artifact[] {
  return artifacts.sort(
    (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt),
  );
}

/**
 * `findArtifacts` over a listing, for registries whose listing is the cheapest read: the listing
 * is read while the query is worked out.
 *
 * @public
 */
export async function findInListing(
  listing: Promise<Artifact[]>,
  query: PendingArtifactQuery,
): Promise<Artifact[]> {
  const [artifacts, asked] = await Promise.all([listing, query]);
  return selectArtifacts(artifacts, asked);
}

/**
 * The artifacts of a listing built from the query's commits.
 *
 * @public
 */
export function selectArtifacts(
  artifacts: Artifact[],
  query: ArtifactQuery,
): Artifact[] {
  const byPrefix = new Map<string, string[]>();
  for (const sha of query.commits.filter(c => COMMIT_SHA.test(c))) {
    byPrefix.set(sha.slice(0, 7), [
      ...(byPrefix.get(sha.slice(0, 7)) ?? []),
      sha,
    ]);
  }
  return artifacts.filter(artifact =>
    (byPrefix.get(artifact.commit.slice(0, 7)) ?? []).some(sha =>
      artifactMatchesCommit(artifact, sha),
    ),
  );
}
