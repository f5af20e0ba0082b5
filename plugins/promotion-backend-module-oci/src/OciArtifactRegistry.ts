import crypto from 'node:crypto';
import {
  ConflictError,
  ForwardedError,
  InputError,
  NotFoundError,
} from '@backstage/errors';
import {
  isOutboundRefused,
  OutboundHosts,
  OutboundRefusedError,
  parseJson,
  readBounded,
  upstreamFailure,
  Artifact,
  ARTIFACT_TAG,
  artifactTagProblem,
  ArtifactLocation,
  PendingArtifactQuery,
  ArtifactRegistry,
  COMMIT_SHA,
  newestFirst,
  findInListing,
} from '@mainline/plugin-promotion-node';

/**
 * Credentials and transport of one registry host, from `promotion.artifacts.oci.registries`.
 *
 * @public
 */
export interface OciRegistryConfig {
  /** `ghcr.io`, `harbor.example.com`, `registry-1.docker.io`, `127.0.0.1:5000`. */
  host: string;
  username?: string;
  /** Password or access token used with `username` (basic auth, or to obtain a bearer token). */
  password?: string;
  /** A ready bearer token (e.g. a GHCR token), used as is. */
  token?: string;
  /** Plain HTTP to this host (a loopback test registry); https otherwise. */
  insecure?: boolean;
  /**
   * Hosts other than `host` whose login realm may be used and may receive these credentials
   * (Docker Hub's `auth.docker.io`); a challenge naming any other host is refused.
   */
  authHosts?: string[];
}

/**
 * Where a service's images live in an OCI registry.
 *
 * @public
 */
export interface OciLocation {
  host: string;
  repository: string;
  uri: string;
}

const HOST =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)(?::\d{1,5})?$/;
const REPOSITORY =
  /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/**
 * Reads `oci://<host>/<repository>` or `<host>/<repository>` (the host has a dot or a port, as in
 * image references); undefined otherwise.
 *
 * @public
 */
export function parseOciLocation(location: string): OciLocation | undefined {
  const bare = location.replace(/^oci:\/\//, '');
  const slash = bare.indexOf('/');
  if (slash < 0) return undefined;
  const host = bare.slice(0, slash);
  const repository = bare.slice(slash + 1);
  if (!/[.:]/.test(host) || !HOST.test(host) || !REPOSITORY.test(repository)) {
    return undefined;
  }
  return { host, repository, uri: `${host}/${repository}` };
}

/** Bounds of what one read of a registry may return (the OCI spec suggests 4 MiB manifests). */
const MANIFEST_LIMIT = 4 * 1024 * 1024;
const LISTING_LIMIT = 8 * 1024 * 1024;
const CONFIG_LIMIT = 4 * 1024 * 1024;
const TOKEN_LIMIT = 64 * 1024;

const sha256 = (data: Buffer) =>
  `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;

/** Runs `fn` over `items` with at most `limit` at a time. */
async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await fn(items[index]);
      }
    }),
  );
  return results;
}

interface Manifest {
  digest: string;
  bytes: Buffer;
  mediaType: string;
}

/**
 * Images in any OCI distribution registry (GHCR, Harbor, Docker Hub, the CNCF registry). A
 * release tag is the exact manifest bytes put under one more tag (the digest does not change); a
 * yank deletes the manifest by digest, which removes every tag on it (registries refuse deletes
 * by tag). The build time is the image config's `created`. The distribution API has no bulk
 * listing, so listing reads each image's manifest and config once, in parallel; digests never
 * change, so those reads are kept in memory.
 *
 * @public
 */
export class OciArtifactRegistry implements ArtifactRegistry {
  private readonly tokens = new Map<string, string>();
  private readonly configs = new Map<string, { created?: string }>();
  private readonly allowed: Set<string>;
  private readonly insecure: Set<string>;

  constructor(
    private readonly registries: OciRegistryConfig[] = [],
    hosts: Partial<OutboundHosts> = {},
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    this.insecure = new Set([
      ...(hosts.insecureHosts ?? []),
      ...registries.filter(r => r.insecure).map(r => r.host),
    ]);
    this.allowed = new Set([
      ...(hosts.allowedHosts ?? []),
      ...this.insecure,
      ...registries.map(r => r.host),
    ]);
  }

  /** The location, refused before any request when its host is not configured. */
  private location(location: ArtifactLocation): OciLocation {
    const parsed =
      location.kind === 'image'
        ? parseOciLocation(location.location)
        : undefined;
    if (!parsed) {
      throw new InputError(
        `"${location.location}" is not an OCI image repository (<host>/<repository>)`,
      );
    }
    if (!this.allowed.has(parsed.host)) {
      throw new OutboundRefusedError(
        `The artifact location ${parsed.uri} names the registry ${parsed.host}, which is not configured; an administrator adds it to promotion.artifacts.oci.registries or promotion.artifacts.allowedHosts`,
      );
    }
    return parsed;
  }

  private registry(host: string): OciRegistryConfig {
    return this.registries.find(r => r.host === host) ?? { host };
  }

  private base(host: string): string {
    return `${this.insecure.has(host) ? 'http' : 'https'}://${host}`;
  }

  /**
   * One request that follows no redirect by itself. Writes never follow one (a 3xx fails them);
   * reads follow a few, each only to an allowed host over an allowed scheme, and keep the
   * credentials only while they stay on the registry's own host.
   */
  private async send(
    registry: OciRegistryConfig,
    url: URL,
    init: {
      method: string;
      headers: Record<string, string>;
      body?: Buffer;
    },
    authorization: string | undefined,
    operation: string,
  ): Promise<Response> {
    const read = init.method === 'GET' || init.method === 'HEAD';
    let target = url;
    for (let hop = 0; ; hop++) {
      const sameHost = target.host === registry.host;
      const response = await this.fetchFn(target, {
        ...init,
        headers: {
          ...init.headers,
          ...(authorization && sameHost ? { authorization } : {}),
        },
        redirect: 'manual',
      });
      if (response.status < 300 || response.status >= 400) return response;
      await response.body?.cancel().catch(() => undefined);
      if (!read) {
        throw new ForwardedError(
          `${registry.host} redirected ${operation}`,
          new Error(
            `HTTP ${response.status}; writes never follow redirects, so nothing was sent on`,
          ),
        );
      }
      const location = response.headers.get('location');
      if (!location || hop >= 4) {
        throw new ForwardedError(
          `${registry.host} redirected ${operation}`,
          new Error(`HTTP ${response.status} without a usable Location`),
        );
      }
      const next = new URL(location, target);
      this.checkTarget(next, `${registry.host} redirected ${operation} to`);
      target = next;
    }
  }

  /** Refuses a URL whose host is not allowed or whose scheme is not https (or allowed http). */
  private checkTarget(url: URL, what: string, hosts?: Set<string>) {
    const host = url.host.toLowerCase();
    if (!(hosts ?? this.allowed).has(host)) {
      throw new OutboundRefusedError(
        `${what} ${host}, which is not configured${
          hosts
            ? ' for its credentials (promotion.artifacts.oci.registries[].authHosts)'
            : ' (promotion.artifacts.allowedHosts)'
        }`,
      );
    }
    const scheme = url.protocol;
    if (
      !(scheme === 'https:' || (scheme === 'http:' && this.insecure.has(host)))
    ) {
      throw new OutboundRefusedError(
        `${what} ${scheme.replace(
          ':',
          '',
        )}://${host}; only https is used, or plain http to a host listed in promotion.artifacts.insecureHosts`,
      );
    }
  }

  /**
   * A bearer token for the challenge's realm and scope (anonymous or with the credentials). The
   * realm must be the registry's own host or one of its `authHosts`, over https (or http to an
   * insecure host): the challenge comes from the registry, so it must not choose where the
   * credentials go.
   */
  private async bearer(
    registry: OciRegistryConfig,
    challenge: string,
  ): Promise<string> {
    const { host } = registry;
    const params = Object.fromEntries(
      [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map(m => [m[1], m[2]]),
    );
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw new OutboundRefusedError(
        `${host} asked for a login without a valid realm URL`,
      );
    }
    this.checkTarget(
      realm,
      `${host}'s login challenge points at`,
      new Set([host, ...(registry.authHosts ?? [])]),
    );
    if (params.service) realm.searchParams.set('service', params.service);
    if (params.scope) realm.searchParams.set('scope', params.scope);
    const key = `${host} ${realm.href}`;
    const cached = this.tokens.get(key);
    if (cached) return cached;
    const { username, password } = registry;
    const response = await this.fetchFn(realm, {
      headers:
        username && password
          ? {
              authorization: `Basic ${Buffer.from(
                `${username}:${password}`,
              ).toString('base64')}`,
            }
          : {},
      redirect: 'manual',
    });
    if (!response.ok) {
      throw new ForwardedError(
        `Could not get a token for ${host}`,
        await upstreamFailure(response, 'the token request', realm.host),
      );
    }
    const body = parseJson<{ token?: string; access_token?: string }>(
      await readBounded(response, TOKEN_LIMIT, 'The token response'),
      'The token response',
    );
    const token = body.token ?? body.access_token;
    if (typeof token !== 'string' || !token) {
      throw new Error(`${realm.host} answered without a token`);
    }
    this.tokens.set(key, token);
    return token;
  }

  private async request(
    oci: OciLocation,
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: Buffer } = {},
  ): Promise<Response> {
    const registry = this.registry(oci.host);
    const { username, password, token } = registry;
    const url = new URL(`${this.base(oci.host)}/v2/${oci.repository}/${path}`);
    const operation = `${method} ${oci.repository}/${path.split('/')[0]}`;
    const send = (authorization?: string) =>
      this.send(
        registry,
        url,
        { method, headers: init.headers ?? {}, body: init.body },
        authorization,
        operation,
      );
    let auth: string | undefined;
    if (token) auth = `Bearer ${token}`;
    else if (username && password) {
      auth = `Basic ${Buffer.from(`${username}:${password}`).toString(
        'base64',
      )}`;
    }
    try {
      let response = await send(auth);
      const challenge = response.headers.get('www-authenticate');
      if (response.status === 401 && challenge?.startsWith('Bearer ')) {
        await response.body?.cancel().catch(() => undefined);
        response = await send(
          `Bearer ${await this.bearer(registry, challenge)}`,
        );
      }
      if (response.status === 401 || response.status === 403) {
        throw new ForwardedError(
          `${oci.host} refused ${operation}`,
          await upstreamFailure(response, operation, oci.host),
        );
      }
      if (response.status >= 500) {
        throw new ForwardedError(
          `${oci.host} failed ${operation}`,
          await upstreamFailure(response, operation, oci.host),
        );
      }
      return response;
    } catch (error) {
      if (error instanceof ForwardedError || isOutboundRefused(error)) {
        throw error;
      }
      throw new ForwardedError(
        `Could not reach the registry ${oci.host}`,
        // The network error's own text (no upstream body reaches it).
        new Error(
          (error as { cause?: { code?: string } })?.cause?.code ??
            (error as Error)?.message?.slice(0, 80) ??
            'unknown',
        ),
      );
    }
  }

  private async manifest(
    oci: OciLocation,
    reference: string,
  ): Promise<Manifest | undefined> {
    const response = await this.request(oci, 'GET', `manifests/${reference}`, {
      headers: { accept: ACCEPT },
    });
    if (response.status === 404) return undefined;
    if (!response.ok) {
      throw new ForwardedError(
        `Could not read ${oci.uri}:${reference}`,
        await upstreamFailure(response, 'GET manifests', oci.host),
      );
    }
    const bytes = await readBounded(response, MANIFEST_LIMIT, 'A manifest');
    return {
      bytes,
      digest: response.headers.get('docker-content-digest') ?? sha256(bytes),
      mediaType:
        response.headers.get('content-type') ??
        'application/vnd.oci.image.manifest.v1+json',
    };
  }

  private async digestOf(
    oci: OciLocation,
    tag: string,
  ): Promise<string | undefined> {
    const response = await this.request(oci, 'HEAD', `manifests/${tag}`, {
      headers: { accept: ACCEPT },
    });
    if (response.status === 404) return undefined;
    return (
      response.headers.get('docker-content-digest') ??
      (await this.manifest(oci, tag))?.digest
    );
  }

  private async tags(oci: OciLocation): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = 'tags/list';
    while (path) {
      const response = await this.request(oci, 'GET', path);
      if (response.status === 404) return [];
      if (!response.ok) {
        throw new ForwardedError(
          `Could not list the tags of ${oci.uri}`,
          await upstreamFailure(response, 'GET tags/list', oci.host),
        );
      }
      const body = parseJson<{ tags?: unknown }>(
        await readBounded(response, LISTING_LIMIT, 'A tag listing'),
        'A tag listing',
      );
      tags.push(
        ...(Array.isArray(body.tags)
          ? body.tags.filter((t): t is string => typeof t === 'string')
          : []),
      );
      // Registries that page say where the next page is; docker-registry does not page.
      const next =
        /<[^>]*\/v2\/[^>]*?\/(tags\/list\?[^>]*)>;\s*rel="next"/.exec(
          response.headers.get('link') ?? '',
        );
      path = next?.[1];
    }
    return tags;
  }

  private async artifact(
    oci: OciLocation,
    commit: string,
    manifest: Manifest,
    tags: string[],
  ): Promise<Artifact> {
    const parsed = parseJson<{
      config?: { digest: string; size: number };
      layers?: Array<{ size: number }>;
    }>(manifest.bytes, `The manifest of ${oci.uri}:${commit}`);
    let config = parsed.config && this.configs.get(parsed.config.digest);
    if (!config && parsed.config) {
      const response = await this.request(
        oci,
        'GET',
        `blobs/${parsed.config.digest}`,
      );
      let created: string | undefined;
      if (response.ok) {
        try {
          const read = parseJson<{ created?: unknown }>(
            await readBounded(response, CONFIG_LIMIT, 'An image config'),
            'An image config',
          );
          if (typeof read.created === 'string') created = read.created;
        } catch {
          // An unreadable config only loses the build time.
        }
      } else {
        await response.body?.cancel().catch(() => undefined);
      }
      config = { created };
      this.configs.set(parsed.config.digest, config);
    }
    const createdAt = new Date(config?.created ?? 0);
    return {
      kind: 'image',
      commit,
      uri: `${oci.uri}:${commit}@${manifest.digest}`,
      digest: manifest.digest,
      size:
        (parsed.config?.size ?? 0) +
        (parsed.layers ?? []).reduce((sum, l) => sum + (l.size ?? 0), 0),
      createdAt: (isNaN(createdAt.getTime())
        ? new Date(0)
        : createdAt
      ).toISOString(),
      tags,
    };
  }

  /** Release tags (not sha tags) with the digest each names. */
  private async releaseTags(oci: OciLocation, all: string[]) {
    const release = all.filter(t => !COMMIT_SHA.test(t));
    const digests = await mapLimit(release, 8, tag => this.digestOf(oci, tag));
    return release.map((tag, i) => ({ tag, digest: digests[i] }));
  }

  async getArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined> {
    const oci = this.location(location);
    if (!COMMIT_SHA.test(sha)) return undefined;
    const commit = sha.slice(0, 7);
    const [manifest, all] = await Promise.all([
      this.manifest(oci, commit),
      this.tags(oci),
    ]);
    if (!manifest) return undefined;
    const release = await this.releaseTags(oci, all);
    return this.artifact(oci, commit, manifest, [
      commit,
      ...release.filter(r => r.digest === manifest.digest).map(r => r.tag),
    ]);
  }

  findArtifacts(location: ArtifactLocation, query: PendingArtifactQuery) {
    return findInListing(this.listArtifacts(location), query);
  }

  async listArtifacts(location: ArtifactLocation): Promise<Artifact[]> {
    const oci = this.location(location);
    const all = await this.tags(oci);
    const shaTags = all.filter(t => COMMIT_SHA.test(t));
    const [manifests, release] = await Promise.all([
      mapLimit(shaTags, 8, tag => this.manifest(oci, tag)),
      this.releaseTags(oci, all),
    ]);
    const artifacts = await mapLimit(shaTags, 8, async tag => {
      const manifest = manifests[shaTags.indexOf(tag)];
      return manifest
        ? this.artifact(oci, tag, manifest, [
            tag,
            ...release
              .filter(r => r.digest === manifest.digest)
              .map(r => r.tag),
          ])
        : undefined;
    });
    return newestFirst(artifacts.filter((a): a is Artifact => Boolean(a)));
  }

  /** The distribution spec's tag rule: what every OCI registry enforces on a manifest PUT. */
  checkTag(_location: ArtifactLocation, tag: string): string | undefined {
    return artifactTagProblem(tag);
  }

  async addTag(
    location: ArtifactLocation,
    sha: string,
    tag: string,
  ): Promise<Artifact> {
    const oci = this.location(location);
    if (!ARTIFACT_TAG.test(tag))
      throw new InputError(`"${tag}" is not a valid image tag`);
    const artifact = await this.getArtifact(location, sha);
    if (!artifact) {
      throw new NotFoundError(
        `No image of ${sha.slice(0, 7)} in ${oci.uri} to tag ${tag}`,
      );
    }
    if (artifact.tags.includes(tag)) return artifact;
    const holder = await this.digestOf(oci, tag);
    if (holder && holder !== artifact.digest) {
      throw new ConflictError(
        `${oci.uri}:${tag} already names another image (${holder}); release tags are never moved`,
      );
    }
    const manifest = await this.manifest(oci, artifact.digest);
    if (!manifest) {
      throw new NotFoundError(
        `The image ${artifact.digest} disappeared from ${oci.uri}`,
      );
    }
    const put = await this.request(oci, 'PUT', `manifests/${tag}`, {
      headers: { 'content-type': manifest.mediaType },
      body: manifest.bytes,
    });
    if (put.status !== 201) {
      throw new ForwardedError(
        `Could not tag ${artifact.digest} as ${tag} in ${oci.uri}`,
        await upstreamFailure(put, 'PUT manifests', oci.host),
      );
    }
    const digest = put.headers.get('docker-content-digest');
    if (digest && digest !== artifact.digest) {
      throw new ConflictError(
        `${oci.host} stored a different digest (${digest}) for ${tag}`,
      );
    }
    return { ...artifact, tags: [...artifact.tags, tag] };
  }

  async deleteArtifact(
    location: ArtifactLocation,
    sha: string,
  ): Promise<Artifact | undefined> {
    const oci = this.location(location);
    const artifact = await this.getArtifact(location, sha);
    if (!artifact) return undefined;
    const response = await this.request(
      oci,
      'DELETE',
      `manifests/${artifact.digest}`,
    );
    if (response.status !== 202 && response.status !== 404) {
      throw new ForwardedError(
        `Could not delete ${artifact.digest} from ${oci.uri}`,
        await upstreamFailure(response, 'DELETE manifests', oci.host),
      );
    }
    return artifact;
  }
}
