import { Entity } from '@backstage/catalog-model';

/**
 * Catalog annotations read by the Mainline promotion plugins.
 *
 * @public
 */
export const PROMOTION_ANNOTATIONS = {
  /** `owner/name` of the service's source repository (shared with Backstage's GitHub plugins). */
  sourceRepo: 'github.com/project-slug',
  /** `image` (container through the GitOps manifest repo) or `archive` (Serverless package). */
  artifactKind: 'mainline.dev/artifact-kind',
  /**
   * Where the build-once artifacts live: an image repository (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`,
   * `ghcr.io/<org>/<name>`, or `local/<name>` on the embedded default), or for archives
   * `s3://<bucket>/<prefix>` (`local://<prefix>` on the embedded default).
   */
  artifactLocation: 'mainline.dev/artifact-location',
  /** `owner/name` of the GitOps manifest repository watched by Argo CD (containers only). */
  manifestRepo: 'mainline.dev/manifest-repo',
  /**
   * Path of each environment's file in the manifest repository; `{environment}` is replaced by the
   * environment name, e.g. `apps/checkout/overlays/{environment}/kustomization.yaml`.
   */
  manifestPath: 'mainline.dev/manifest-path',
  /**
   * Where the image tag is in each environment's file when it is neither a kustomization's
   * `images[].newTag` nor Helm's `image.tag`: a dot path such as `app.image.tag` or
   * `spec.source.helm.valuesObject.image.tag` (indices as `[0]`).
   */
  manifestImagePath: 'mainline.dev/manifest-image-path',
  /** Name of the Serverless framework service (archives only). */
  serverlessService: 'mainline.dev/serverless-service',
  /** `semver` (default) or `calver`: how `v*` release tags are numbered. */
  versioning: 'mainline.dev/versioning',
  /** `true` to allow the discouraged `release/*` branch flow for this entity. */
  releaseBranches: 'mainline.dev/release-branches',
  /**
   * The component's folder in a monorepo (e.g. `services/cart`): its lineage lists only the
   * commits that changed something there, and a commit that did not has no artifact of its own.
   */
  sourcePath: 'mainline.dev/source-path',
} as const;

/** @public */
export type ArtifactKind = 'image' | 'archive';

/** @public */
export const ARTIFACT_KINDS: readonly ArtifactKind[] = ['image', 'archive'];

/** @public */
export type VersioningScheme = 'semver' | 'calver';

/** @public */
export const VERSIONING_SCHEMES: readonly VersioningScheme[] = [
  'semver',
  'calver',
];

/**
 * The promotion settings of one entity, parsed from its annotations.
 *
 * @public
 */
export interface PromotionTarget {
  sourceRepo: string;
  artifactKind: ArtifactKind;
  artifactLocation: string;
  manifestRepo?: string;
  manifestPath?: string;
  /** The YAML path of the image tag, when the manifest is not kustomize or Helm values. */
  manifestImagePath?: string;
  serverlessService?: string;
  versioning: VersioningScheme;
  releaseBranches: boolean;
  /** The component's folder when several components share the repository. */
  sourcePath?: string;
}

/**
 * Why an entity cannot be promoted: which annotation is missing or malformed.
 *
 * @public
 */
export interface PromotionAnnotationProblem {
  annotation: string;
  message: string;
}

const SLUG = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9_.-]+$/;

function isSafeSlug(value: string): boolean {
  return (
    SLUG.test(value) && !value.split('/').some(p => p === '.' || p === '..')
  );
}

function isSafeRelativePath(value: string): boolean {
  if (value.startsWith('/') || value.includes('\\') || value.includes('\0')) {
    return false;
  }
  return value
    .split('/')
    .every(part => part !== '' && part !== '.' && part !== '..');
}

/**
 * Reads an entity's promotion annotations. Returns the parsed settings, or every problem found so
 * that an error can name each missing or malformed annotation at once.
 *
 * @public
 */
export function readPromotionTarget(
  entity: Entity,
):
  | { ok: true; target: PromotionTarget }
  | { ok: false; problems: PromotionAnnotationProblem[] } {
  const annotations = entity.metadata.annotations ?? {};
  const problems: PromotionAnnotationProblem[] = [];
  const get = (name: string) => annotations[name]?.trim() || undefined;

  const sourceRepo = get(PROMOTION_ANNOTATIONS.sourceRepo);
  if (!sourceRepo) {
    problems.push({
      annotation: PROMOTION_ANNOTATIONS.sourceRepo,
      message: 'missing: the source repository as owner/name',
    });
  } else if (!isSafeSlug(sourceRepo)) {
    problems.push({
      annotation: PROMOTION_ANNOTATIONS.sourceRepo,
      message: `"${sourceRepo}" is not a repository slug of the form owner/name`,
    });
  }

  const kind = get(PROMOTION_ANNOTATIONS.artifactKind);
  if (!kind) {
    problems.push({
      annotation: PROMOTION_ANNOTATIONS.artifactKind,
      message: `missing: one of ${ARTIFACT_KINDS.join(', ')}`,
    });
  } else if (!(ARTIFACT_KINDS as readonly string[]).includes(kind)) {
    problems.push({
      annotation: PROMOTION_ANNOTATIONS.artifactKind,
      message: `"${kind}" is not one of ${ARTIFACT_KINDS.join(', ')}`,
    });
  }

  const artifactLocation = get(PROMOTION_ANNOTATIONS.artifactLocation);
  if (!artifactLocation) {
    problems.push({
      annotation: PROMOTION_ANNOTATIONS.artifactLocation,
      message: 'missing: the image repository or package bucket',
    });
  } else if (/\s|\.\.|\0/.test(artifactLocation)) {
    problems.push({
      annotation: PROMOTION_ANNOTATIONS.artifactLocation,
      message: `"${artifactLocation}" must not contain whitespace or ".."`,
    });
  }

  const manifestRepo = get(PROMOTION_ANNOTATIONS.manifestRepo);
  const manifestPath = get(PROMOTION_ANNOTATIONS.manifestPath);
  const serverlessService = get(PROMOTION_ANNOTATIONS.serverlessService);
  if (kind === 'image') {
    if (!manifestRepo) {
      problems.push({
        annotation: PROMOTION_ANNOTATIONS.manifestRepo,
        message:
          'missing: container services deploy through a manifest repository (owner/name)',
      });
    } else if (!isSafeSlug(manifestRepo)) {
      problems.push({
        annotation: PROMOTION_ANNOTATIONS.manifestRepo,
        message: `"${manifestRepo}" is not a repository slug of the form owner/name`,
      });
    }
    if (!manifestPath) {
      problems.push({
        annotation: PROMOTION_ANNOTATIONS.manifestPath,
        message:
          'missing: the path of each environment file, with {environment}',
      });
    } else if (
      !manifestPath.includes('{environment}') ||
      !isSafeRelativePath(manifestPath.replace(/\{environment\}/g, 'env'))
    ) {
      problems.push({
        annotation: PROMOTION_ANNOTATIONS.manifestPath,
        message: `"${manifestPath}" must be a relative path inside the repository containing {environment}`,
      });
    }
  }
  if (kind === 'archive' && !serverlessService) {
    problems.push({
      annotation: PROMOTION_ANNOTATIONS.serverlessService,
      message: 'missing: the Serverless service name of this Lambda service',
    });
  }

  const manifestImagePath = get(PROMOTION_ANNOTATIONS.manifestImagePath);
  if (manifestImagePath !== undefined && !parseYamlPath(manifestImagePath)) {
    problems.push({
      annotation: PROMOTION_ANNOTATIONS.manifestImagePath,
      message: `"${manifestImagePath}" is not a YAML path such as app.image.tag`,
    });
  }

  const versioning = get(PROMOTION_ANNOTATIONS.versioning) ?? 'semver';
  if (!(VERSIONING_SCHEMES as readonly string[]).includes(versioning)) {
    problems.push({
      annotation: PROMOTION_ANNOTATIONS.versioning,
      message: `"${versioning}" is not one of ${VERSIONING_SCHEMES.join(', ')}`,
    });
  }

  const rawSourcePath = get(PROMOTION_ANNOTATIONS.sourcePath);
  const sourcePath = rawSourcePath?.replace(/\/+$/, '');
  if (
    rawSourcePath !== undefined &&
    (!sourcePath || !isSafeRelativePath(sourcePath) || sourcePath.length > 200)
  ) {
    problems.push({
      annotation: PROMOTION_ANNOTATIONS.sourcePath,
      message: `"${rawSourcePath}" must be a folder inside the repository, such as services/cart`,
    });
  }

  if (problems.length > 0) {
    return { ok: false, problems };
  }
  return {
    ok: true,
    target: {
      sourceRepo: sourceRepo!,
      artifactKind: kind as ArtifactKind,
      artifactLocation: artifactLocation!,
      manifestRepo: kind === 'image' ? manifestRepo : undefined,
      manifestPath: kind === 'image' ? manifestPath : undefined,
      manifestImagePath: kind === 'image' ? manifestImagePath : undefined,
      serverlessService: kind === 'archive' ? serverlessService : undefined,
      versioning: versioning as VersioningScheme,
      releaseBranches: get(PROMOTION_ANNOTATIONS.releaseBranches) === 'true',
      ...(sourcePath ? { sourcePath } : {}),
    },
  };
}

/**
 * Whether an entity carries the annotations that make it promotable. Used to decide where the
 * Environments tab and card are shown.
 *
 * @public
 */
export function isPromotionAvailable(entity: Entity): boolean {
  const annotations = entity.metadata.annotations ?? {};
  return Boolean(
    annotations[PROMOTION_ANNOTATIONS.sourceRepo] &&
      annotations[PROMOTION_ANNOTATIONS.artifactKind],
  );
}

/**
 * Reads a YAML path such as `app.image.tag` or `spec.values.images[0].tag` as keys and indices;
 * undefined when it is not one (empty segments, anything but `[n]` in brackets).
 *
 * @public
 */
export function parseYamlPath(
  yamlPath: string,
): Array<string | number> | undefined {
  const steps: Array<string | number> = [];
  for (const segment of yamlPath.split('.')) {
    const match = /^([^[\]]+)((?:\[\d{1,4}\])*)$/.exec(segment);
    if (!match) return undefined;
    steps.push(match[1]);
    for (const index of match[2].matchAll(/\[(\d+)\]/g)) {
      steps.push(Number(index[1]));
    }
  }
  return steps.length > 0 && steps.length <= 32 ? steps : undefined;
}

/**
 * The prefix of the per-environment approvals annotation: `mainline.dev/approvals-<environment>`
 * set to a count (e.g. `"2"`, `"0"` for none) on a component or on its System overrides
 * `promotion.environments[].policy.approvals.count` for that environment; the component's wins.
 *
 * @public
 */
export const APPROVALS_ANNOTATION_PREFIX = 'mainline.dev/approvals-';

/**
 * The approvals annotation of one environment, e.g. `mainline.dev/approvals-prod`.
 *
 * @public
 */
export function approvalsAnnotation(environment: string): string {
  return `${APPROVALS_ANNOTATION_PREFIX}${environment}`;
}
