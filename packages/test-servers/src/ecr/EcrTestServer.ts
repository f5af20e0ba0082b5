import crypto from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';

/*
 * An ECR API on loopback, speaking what the real `@aws-sdk/client-ecr` sends: AWS JSON 1.1
 * (`POST /`, `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Operation>`), errors as
 * `{"__type": "<Exception>", "message": …}` with status 400, `nextToken` paging. Images live in
 * memory with their exact manifest bytes, so a digest is the sha256 of what was stored.
 * Semantics follow ECR's: a tag names one image; putting a tag moves it (unless the repository's
 * tags are immutable); deleting by tag untags and an image goes with its last tag; deleting by
 * digest removes the image and every tag on it.
 * Every request must carry a SigV4 `Authorization` header (with `X-Amz-Date`) scoped to this
 * server's region and the `ecr` service, as AWS's front door refuses anything else before ECR
 * sees it: 403 with ECR's error body (`__type` MissingAuthenticationTokenException,
 * IncompleteSignatureException or InvalidSignatureException). The signature itself is not
 * checked (any secret signs), as with the Lambda test server.
 */

const TARGET_PREFIX = 'AmazonEC2ContainerRegistry_V20150921.';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface StoredImage {
  digest: string;
  manifest: string;
  mediaType: string;
  size: number;
  pushedAt: Date;
  tags: Set<string>;
}

interface StoredRepository {
  name: string;
  createdAt: Date;
  tagMutability: 'MUTABLE' | 'IMMUTABLE';
  scanOnPush: boolean;
  lifecyclePolicy?: string;
  images: Map<string, StoredImage>;
}

/** One call the server answered, for counting upstream requests in tests and the benchmark. */
export interface EcrTestRequest {
  operation: string;
  status: number;
  startedAt: number;
  finishedAt: number;
}

export interface EcrTestServerOptions {
  /** The account id in repository ARNs and URIs. Default `123456789012`. */
  accountId?: string;
  region?: string;
  latencyMs?: number;
  /** Default 0 (any free port). */
  port?: number;
}

export interface EcrTestServer {
  /** The endpoint to give `ECRClient` (`endpoint`), e.g. `http://127.0.0.1:PORT`. */
  endpoint: string;
  accountId: string;
  region: string;
  /** `<account>.dkr.ecr.<region>.amazonaws.com/<name>`: the artifact location of a repository. */
  repositoryUri(name: string): string;
  requests: EcrTestRequest[];
  resetRequests(): void;
  setLatency(ms: number): void;
  /** Creates a repository directly (fixtures). */
  createRepository(
    name: string,
    options?: { tagMutability?: 'MUTABLE' | 'IMMUTABLE' },
  ): void;
  /**
   * Stores an image as `docker push` would (a small OCI manifest with a config and one layer of
   * `size` bytes) under the tags; returns its digest. `pushedAt` defaults to now. `annotations`
   * go on the manifest, as `docker buildx build --annotation` puts them.
   */
  pushImage(
    repository: string,
    tags: string[],
    options?: {
      size?: number;
      pushedAt?: Date;
      seed?: string;
      annotations?: Record<string, string>;
    },
  ): { digest: string; manifest: string };
  /** Stores exact manifest bytes under a tag, as a build's push would (fixtures). */
  putManifest(
    repository: string,
    tag: string,
    manifest: string,
    options?: { pushedAt?: Date; mediaType?: string },
  ): { digest: string };
  /** What the registry holds, read directly (not through the API under test). */
  image(
    repository: string,
    reference: { tag?: string; digest?: string },
  ): { digest: string; manifest: string; tags: string[] } | undefined;
  repository(name: string):
    | {
        tagMutability: string;
        scanOnPush: boolean;
        lifecyclePolicy?: string;
        imageCount: number;
      }
    | undefined;
  close(): Promise<void>;
}

class EcrError extends Error {
  constructor(
    readonly type: string,
    message: string,
    /** 400 for ECR's own errors; 403 for what the front door refuses (authentication). */
    readonly status = 400,
  ) {
    super(message);
  }
}

/** What AWS's front door checks before ECR sees a request: a SigV4 header for `region`/`ecr`. */
function checkSignature(req: http.IncomingMessage, region: string) {
  const authorization = req.headers.authorization;
  if (!authorization) {
    throw new EcrError(
      'MissingAuthenticationTokenException',
      'Missing Authentication Token',
      403,
    );
  }
  const scope =
    /^AWS4-HMAC-SHA256 Credential=[^/\s]+\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=[a-z0-9;-]+, ?Signature=[0-9a-f]{64}$/.exec(
      authorization,
    );
  if (!scope || !req.headers['x-amz-date']) {
    throw new EcrError(
      'IncompleteSignatureException',
      `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters, and an 'X-Amz-Date' header. Authorization=${
        authorization.split(' ')[0]
      }`,
      403,
    );
  }
  const [, , scopeRegion, service] = scope;
  if (scopeRegion !== region) {
    throw new EcrError(
      'InvalidSignatureException',
      `Credential should be scoped to a valid region, not '${scopeRegion}'.`,
      403,
    );
  }
  if (service !== 'ecr') {
    throw new EcrError(
      'InvalidSignatureException',
      "Credential should be scoped to correct service: 'ecr'.",
      403,
    );
  }
}

/** ECR's `filter.tagStatus`: TAGGED, UNTAGGED or ANY (absent). */
const tagStatusFilter =
  (body: { filter?: { tagStatus?: string } }) => (tagged: boolean) => {
    const status = body.filter?.tagStatus;
    if (status === 'TAGGED') return tagged;
    if (status === 'UNTAGGED') return !tagged;
    return true;
  };

const sha256 = (text: string) =>
  `sha256:${crypto.createHash('sha256').update(text).digest('hex')}`;

function manifestSize(manifest: string): number {
  try {
    const parsed = JSON.parse(manifest) as {
      config?: { size?: number };
      layers?: Array<{ size?: number }>;
    };
    return (
      (parsed.config?.size ?? 0) +
      (parsed.layers ?? []).reduce((sum, l) => sum + (l.size ?? 0), 0)
    );
  } catch {
    return manifest.length;
  }
}

/** Starts the server; `close()` stops it. */
export async function startEcrTestServer(
  options: EcrTestServerOptions = {},
): Promise<EcrTestServer> {
  const accountId = options.accountId ?? '123456789012';
  const region = options.region ?? 'eu-west-1';
  let latencyMs = options.latencyMs ?? 0;
  const repositories = new Map<string, StoredRepository>();
  const requests: EcrTestRequest[] = [];

  const repositoryUri = (name: string) =>
    `${accountId}.dkr.ecr.${region}.amazonaws.com/${name}`;

  function repo(name: unknown): StoredRepository {
    const found = typeof name === 'string' ? repositories.get(name) : undefined;
    if (!found) {
      throw new EcrError(
        'RepositoryNotFoundException',
        `The repository with name '${String(
          name,
        )}' does not exist in the registry with id '${accountId}'`,
      );
    }
    return found;
  }

  function createRepository(
    name: string,
    settings: {
      tagMutability?: 'MUTABLE' | 'IMMUTABLE';
      scanOnPush?: boolean;
    } = {},
  ): StoredRepository {
    if (
      !/^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(
        name,
      ) ||
      name.length > 256
    ) {
      throw new EcrError(
        'InvalidParameterException',
        `Invalid parameter at 'repositoryName' failed to satisfy constraint: '${name}'`,
      );
    }
    if (repositories.has(name)) {
      throw new EcrError(
        'RepositoryAlreadyExistsException',
        `The repository with name '${name}' already exists in the registry with id '${accountId}'`,
      );
    }
    const created: StoredRepository = {
      name,
      createdAt: new Date(),
      tagMutability: settings.tagMutability ?? 'MUTABLE',
      scanOnPush: settings.scanOnPush ?? false,
      images: new Map(),
    };
    repositories.set(name, created);
    return created;
  }

  function findImage(
    repository: StoredRepository,
    id: { imageTag?: string; imageDigest?: string },
  ): StoredImage | undefined {
    if (id.imageDigest) {
      const image = repository.images.get(id.imageDigest);
      if (image && id.imageTag && !image.tags.has(id.imageTag))
        return undefined;
      return image;
    }
    if (id.imageTag) {
      for (const image of repository.images.values()) {
        if (image.tags.has(id.imageTag)) return image;
      }
    }
    return undefined;
  }

  function putImage(
    repository: StoredRepository,
    manifest: string,
    mediaType: string,
    tag: string | undefined,
    pushedAt = new Date(),
  ): StoredImage {
    const digest = sha256(manifest);
    const existing = repository.images.get(digest);
    if (tag) {
      const holder = findImage(repository, { imageTag: tag });
      if (holder && holder.digest === digest) {
        throw new EcrError(
          'ImageAlreadyExistsException',
          `Image with digest '${digest}' and tag '${tag}' already exists in the repository with name '${repository.name}' in registry with id '${accountId}'`,
        );
      }
      if (holder && repository.tagMutability === 'IMMUTABLE') {
        throw new EcrError(
          'ImageTagAlreadyExistsException',
          `The image tag '${tag}' already exists in the '${repository.name}' repository and cannot be overwritten because the repository is immutable.`,
        );
      }
      if (holder) {
        holder.tags.delete(tag);
        if (holder.tags.size === 0) repository.images.delete(holder.digest);
      }
    }
    const image = existing ?? {
      digest,
      manifest,
      mediaType,
      size: manifestSize(manifest),
      pushedAt,
      tags: new Set<string>(),
    };
    if (tag) image.tags.add(tag);
    repository.images.set(digest, image);
    return image;
  }

  const page = <T>(items: T[], body: Record<string, any>, max = 1000) => {
    const size = Math.min(Number(body.maxResults ?? max), max);
    const start = body.nextToken
      ? Number(Buffer.from(String(body.nextToken), 'base64url').toString())
      : 0;
    if (!Number.isInteger(start) || start < 0) {
      throw new EcrError('InvalidParameterException', 'Invalid nextToken');
    }
    const slice = items.slice(start, start + size);
    const next =
      start + size < items.length
        ? Buffer.from(String(start + size)).toString('base64url')
        : undefined;
    return { slice, nextToken: next };
  };

  const details = (repository: StoredRepository, image: StoredImage) => ({
    registryId: accountId,
    repositoryName: repository.name,
    imageDigest: image.digest,
    imageTags: [...image.tags],
    imageSizeInBytes: image.size,
    imagePushedAt: image.pushedAt.getTime() / 1000,
    imageManifestMediaType: image.mediaType,
    artifactMediaType: 'application/vnd.oci.image.config.v1+json',
  });

  const repositoryJson = (r: StoredRepository) => ({
    repositoryArn: `arn:aws:ecr:${region}:${accountId}:repository/${r.name}`,
    registryId: accountId,
    repositoryName: r.name,
    repositoryUri: repositoryUri(r.name),
    createdAt: r.createdAt.getTime() / 1000,
    imageTagMutability: r.tagMutability,
    imageScanningConfiguration: { scanOnPush: r.scanOnPush },
    encryptionConfiguration: { encryptionType: 'AES256' },
  });

  const handlers: Record<string, (body: any) => unknown> = {
    CreateRepository(body) {
      const created = createRepository(body.repositoryName, {
        tagMutability: body.imageTagMutability,
        scanOnPush: body.imageScanningConfiguration?.scanOnPush,
      });
      return { repository: repositoryJson(created) };
    },
    DescribeRepositories(body) {
      const names: string[] | undefined = body.repositoryNames;
      const list = names
        ? names.map(name => repo(name))
        : [...repositories.values()];
      const { slice, nextToken } = page(list, body);
      return { repositories: slice.map(repositoryJson), nextToken };
    },
    PutImageScanningConfiguration(body) {
      const r = repo(body.repositoryName);
      r.scanOnPush = Boolean(body.imageScanningConfiguration?.scanOnPush);
      return {
        registryId: accountId,
        repositoryName: r.name,
        imageScanningConfiguration: { scanOnPush: r.scanOnPush },
      };
    },
    PutImageTagMutability(body) {
      const r = repo(body.repositoryName);
      r.tagMutability = body.imageTagMutability;
      return {
        registryId: accountId,
        repositoryName: r.name,
        imageTagMutability: r.tagMutability,
      };
    },
    PutLifecyclePolicy(body) {
      const r = repo(body.repositoryName);
      try {
        const policy = JSON.parse(String(body.lifecyclePolicyText));
        if (!Array.isArray(policy.rules)) throw new Error('rules');
      } catch {
        throw new EcrError(
          'InvalidParameterException',
          "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure'",
        );
      }
      r.lifecyclePolicy = String(body.lifecyclePolicyText);
      return {
        registryId: accountId,
        repositoryName: r.name,
        lifecyclePolicyText: r.lifecyclePolicy,
      };
    },
    GetLifecyclePolicy(body) {
      const r = repo(body.repositoryName);
      if (!r.lifecyclePolicy) {
        throw new EcrError(
          'LifecyclePolicyNotFoundException',
          `Lifecycle policy does not exist for the repository with name '${r.name}'`,
        );
      }
      return {
        registryId: accountId,
        repositoryName: r.name,
        lifecyclePolicyText: r.lifecyclePolicy,
      };
    },
    ListImages(body) {
      const keep = tagStatusFilter(body);
      const r = repo(body.repositoryName);
      const ids: Array<{ imageDigest: string; imageTag?: string }> = [
        ...r.images.values(),
      ].flatMap(image =>
        image.tags.size === 0
          ? [{ imageDigest: image.digest }]
          : [...image.tags].map(tag => ({
              imageDigest: image.digest,
              imageTag: tag,
            })),
      );
      const filtered = ids.filter(id => keep(Boolean(id.imageTag)));
      const { slice, nextToken } = page(filtered, body);
      return { imageIds: slice, nextToken };
    },
    DescribeImages(body) {
      const keepTagged = tagStatusFilter(body);
      const r = repo(body.repositoryName);
      let images = [...r.images.values()];
      if (Array.isArray(body.imageIds) && body.imageIds.length > 0) {
        images = body.imageIds.map((id: any) => {
          const found = findImage(r, id);
          if (!found) {
            throw new EcrError(
              'ImageNotFoundException',
              `The image with imageId {imageDigest:'${
                id.imageDigest ?? 'null'
              }', imageTag:'${
                id.imageTag ?? 'null'
              }'} does not exist within the repository with name '${
                r.name
              }' in the registry with id '${accountId}'`,
            );
          }
          return found;
        });
      }
      images = images.filter(i => keepTagged(i.tags.size > 0));
      const { slice, nextToken } = page(images, body);
      return { imageDetails: slice.map(i => details(r, i)), nextToken };
    },
    BatchGetImage(body) {
      const r = repo(body.repositoryName);
      const images: unknown[] = [];
      const failures: unknown[] = [];
      for (const id of body.imageIds ?? []) {
        const image = findImage(r, id);
        if (!image) {
          failures.push({
            imageId: id,
            failureCode: 'ImageNotFound',
            failureReason: 'Requested image not found',
          });
          continue;
        }
        images.push({
          registryId: accountId,
          repositoryName: r.name,
          imageId: { imageDigest: image.digest, imageTag: id.imageTag },
          imageManifest: image.manifest,
          imageManifestMediaType: image.mediaType,
        });
      }
      return { images, failures };
    },
    PutImage(body) {
      const r = repo(body.repositoryName);
      const manifest = String(body.imageManifest ?? '');
      let mediaType: string = body.imageManifestMediaType;
      try {
        mediaType ??= JSON.parse(manifest).mediaType ?? OCI_MANIFEST;
      } catch {
        throw new EcrError(
          'InvalidParameterException',
          'Invalid parameter at imageManifest',
        );
      }
      if (body.imageDigest && body.imageDigest !== sha256(manifest)) {
        throw new EcrError(
          'ImageDigestDoesNotMatchException',
          `The provided image digest '${body.imageDigest}' does not match the digest of the manifest`,
        );
      }
      const image = putImage(r, manifest, mediaType, body.imageTag);
      return {
        image: {
          registryId: accountId,
          repositoryName: r.name,
          imageId: { imageDigest: image.digest, imageTag: body.imageTag },
          imageManifest: image.manifest,
          imageManifestMediaType: image.mediaType,
        },
      };
    },
    BatchDeleteImage(body) {
      const r = repo(body.repositoryName);
      const imageIds: unknown[] = [];
      const failures: unknown[] = [];
      for (const id of body.imageIds ?? []) {
        const image = findImage(r, id);
        if (!image) {
          failures.push({
            imageId: id,
            failureCode: 'ImageNotFound',
            failureReason: 'Requested image not found',
          });
          continue;
        }
        if (id.imageDigest) {
          r.images.delete(image.digest);
          for (const tag of image.tags)
            imageIds.push({ imageDigest: image.digest, imageTag: tag });
          if (image.tags.size === 0)
            imageIds.push({ imageDigest: image.digest });
        } else {
          image.tags.delete(id.imageTag);
          if (image.tags.size === 0) r.images.delete(image.digest);
          imageIds.push({ imageDigest: image.digest, imageTag: id.imageTag });
        }
      }
      return { imageIds, failures };
    },
    GetAuthorizationToken() {
      return {
        authorizationData: [
          {
            authorizationToken:
              Buffer.from('AWS:test-password').toString('base64'),
            expiresAt: Date.now() / 1000 + 12 * 3600,
            proxyEndpoint: `https://${accountId}.dkr.ecr.${region}.amazonaws.com`,
          },
        ],
      };
    },
  };

  const server = http.createServer(async (req, res) => {
    const startedAt = performance.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith(TARGET_PREFIX)
      ? target.slice(TARGET_PREFIX.length)
      : '';
    let status = 200;
    let payload: unknown;
    try {
      checkSignature(req, region);
      const handler = Object.hasOwn(handlers, operation)
        ? handlers[operation]
        : undefined;
      if (req.method !== 'POST' || !handler) {
        throw new EcrError(
          'UnknownOperationException',
          `Unknown operation ${target}`,
        );
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        throw new EcrError('SerializationException', 'Malformed JSON body');
      }
      payload = handler(body);
    } catch (error) {
      status = error instanceof EcrError ? error.status : 400;
      payload =
        error instanceof EcrError
          ? { __type: error.type, message: error.message }
          : { __type: 'ServerException', message: String(error) };
      if (!(error instanceof EcrError)) status = 500;
    }
    if (latencyMs > 0) await new Promise(r => setTimeout(r, latencyMs));
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-requestid': crypto.randomUUID(),
    });
    res.end(JSON.stringify(payload));
    requests.push({
      operation,
      status,
      startedAt,
      finishedAt: performance.now(),
    });
  });
  await new Promise<void>(resolve =>
    server.listen(options.port ?? 0, '127.0.0.1', resolve),
  );
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    accountId,
    region,
    repositoryUri,
    requests,
    resetRequests() {
      requests.length = 0;
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    createRepository(name, settings) {
      createRepository(name, settings);
    },
    pushImage(repository, tags, image = {}) {
      const r = repositories.get(repository) ?? createRepository(repository);
      const seed = image.seed ?? tags.join(',');
      const layer = {
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: sha256(`layer:${repository}:${seed}`),
        size: image.size ?? 1024,
      };
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: sha256(`config:${repository}:${seed}`),
          size: 512,
        },
        layers: [layer],
        ...(image.annotations ? { annotations: image.annotations } : {}),
      });
      let stored: StoredImage | undefined;
      for (const tag of tags.length ? tags : [undefined]) {
        stored = putImage(r, manifest, OCI_MANIFEST, tag, image.pushedAt);
      }
      return { digest: stored!.digest, manifest };
    },
    putManifest(repository, tag, manifest, put = {}) {
      const r = repositories.get(repository) ?? createRepository(repository);
      let mediaType = put.mediaType;
      try {
        mediaType ??= JSON.parse(manifest).mediaType ?? OCI_MANIFEST;
      } catch {
        mediaType ??= OCI_MANIFEST;
      }
      const image = putImage(r, manifest, mediaType!, tag, put.pushedAt);
      return { digest: image.digest };
    },
    image(repository, reference) {
      const r = repositories.get(repository);
      const found = r
        ? findImage(r, {
            imageTag: reference.tag,
            imageDigest: reference.digest,
          })
        : undefined;
      return (
        found && {
          digest: found.digest,
          manifest: found.manifest,
          tags: [...found.tags],
        }
      );
    },
    repository(name) {
      const r = repositories.get(name);
      return (
        r && {
          tagMutability: r.tagMutability,
          scanOnPush: r.scanOnPush,
          lifecyclePolicy: r.lifecyclePolicy,
          imageCount: r.images.size,
        }
      );
    },
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
