import crypto from 'node:crypto';
import { CacheService, LoggerService } from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import {
  DefaultGithubCredentialsProvider,
  GithubCredentialsProvider,
  ScmIntegrations,
} from '@backstage/integration';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { ServiceUnavailableError } from '@backstage/errors';
import { RequestError } from '@octokit/request-error';
import { Octokit } from '@octokit/rest';
import { boundedCode } from '@mainline/plugin-promotion-node';

/**
 * Octokit with the throttling and retry plugins: what every GitHub adapter talks through.
 *
 * @public
 */
export const ThrottledOctokit = Octokit.plugin(throttling, retry);
/**
 * A throttled Octokit client.
 *
 * @public
 */
export type GitHubClient = InstanceType<typeof ThrottledOctokit>;

/**
 * Gives the client for a repository (`owner/name`), with credentials that can reach it.
 *
 * @public
 */
export type GitHubClientForRepo = (repo: string) => Promise<GitHubClient>;

/**
 * Options for creating GitHub clients.
 *
 * @public
 */
export interface GitHubClientOptions {
  /** The API base, e.g. `https://api.github.com` or a GitHub Enterprise `https://ghe/api/v3`. */
  baseUrl: string;
  token?: string;
  /** Where ETags and bodies of GET responses are kept for conditional requests. */
  cache?: CacheService;
  logger?: LoggerService;
  /** How long a cached response is kept for revalidation. Default one day. */
  cacheTtlMs?: number;
  /** Retries of 5xx and network failures. Default 3. */
  retries?: number;
  /**
   * Multiplier of the waits the plugins compute, in milliseconds per unit. Default 1000 (waits
   * are seconds); tests shrink it.
   */
  waitUnitMs?: number;
  /**
   * The longest wait for a rate-limit reset before a call fails instead. Default 60 seconds:
   * a page view should fail clearly rather than hang for an hour.
   */
  maxRateLimitWaitSeconds?: number;
  /**
   * Spacing between writes. Default: the throttling plugin's own (one second, GitHub's advice
   * against secondary rate limits); tests set 0.
   */
  writeSpacingMs?: number;
  /**
   * Called with every answer GitHub sends (retries, rate-limit refusals and 304s included): how
   * the rate budget and the upstream-request metrics see each request.
   */
  onResponse?: (answer: GitHubAnswer) => void;
}

/**
 * One HTTP answer from GitHub as `onResponse` sees it (status 0: no answer).
 *
 * @public
 */
export interface GitHubAnswer {
  status: number;
  headers: Record<string, string>;
  path: string;
}

/** `fetch` that reports every answer (or its absence) to `onResponse`. */
function observedFetch(
  fetchFn: typeof fetch,
  onResponse: (answer: GitHubAnswer) => void,
): typeof fetch {
  return async (input, init) => {
    const path = new URL(
      typeof input === 'string' || input instanceof URL ? input : input.url,
    ).pathname;
    try {
      const response = await fetchFn(input, init);
      onResponse({
        status: response.status,
        headers: Object.fromEntries(response.headers),
        path,
      });
      return response;
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      onResponse({
        status: typeof status === 'number' ? status : 0,
        headers: {},
        path,
      });
      throw error;
    }
  };
}

interface CachedResponse {
  etag: string;
  data: unknown;
  link?: string;
}

/** A write limiter with the plugin's `key(id).schedule(options, fn)` shape: writes `ms` apart. */
function spacedWrites(ms: number) {
  let next = 0;
  const limiter = {
    async schedule<T>(_options: unknown, fn: () => Promise<T>): Promise<T> {
      const now = Date.now();
      const at = Math.max(now, next);
      next = at + ms;
      if (at > now) await new Promise(resolve => setTimeout(resolve, at - now));
      return fn();
    },
  };
  return { key: () => limiter };
}

/** A redirect not followed, as Octokit's own error with the 3xx status (never retried). */
function refusedRedirect(
  redirected: string,
  why: string,
  status: number,
  url: URL,
  method: string,
) {
  return new RequestError(`${redirected}: ${why}`, status, {
    request: { method, url: url.href, headers: {} } as any,
  });
}

/**
 * The fetch every GitHub client uses: it follows no redirect by itself. A write answered with a
 * redirect fails (a RequestError with that status, which the retry plugin does not repeat) and
 * nothing is sent on; a read follows a few redirects only within the API's own origin (GitHub
 * moves renamed repositories there), so no response can send the token to another host.
 *
 * @internal
 */
export function apiOnlyFetch(
  baseUrl: string,
  fetchFn: typeof fetch = fetch,
): typeof fetch {
  const origin = new URL(baseUrl).origin;
  return async (input, init) => {
    const method = (init?.method ?? 'GET').toUpperCase();
    let url = new URL(
      typeof input === 'string' || input instanceof URL ? input : input.url,
    );
    for (let hop = 0; ; hop++) {
      const response = await fetchFn(url, { ...init, redirect: 'manual' });
      const { status } = response;
      if (status < 300 || status >= 400 || status === 304) return response;
      await response.body?.cancel().catch(() => undefined);
      const redirected = `GitHub redirected ${method} ${url.pathname} (HTTP ${status})`;
      if (method !== 'GET' && method !== 'HEAD') {
        throw refusedRedirect(
          redirected,
          'writes never follow redirects, so nothing was sent on',
          status,
          url,
          method,
        );
      }
      const location = response.headers.get('location');
      const next = location ? new URL(location, url) : undefined;
      if (!next || next.origin !== origin) {
        throw refusedRedirect(
          redirected,
          `only redirects within ${origin} are followed, not to ${
            next?.host ?? 'nowhere'
          }`,
          status,
          url,
          method,
        );
      }
      if (hop >= 4) {
        throw refusedRedirect(
          redirected,
          'too many redirects',
          status,
          url,
          method,
        );
      }
      url = next;
    }
  };
}

/**
 * A GitHub failure as a bounded message for an API error: the status and GitHub's error code
 * (`already_exists`, a GraphQL `NOT_FOUND`), never the response body, which Octokit puts into
 * its own message and error object.
 *
 * @internal
 */
export function githubFailure(error: unknown): Error {
  const e = error as {
    status?: unknown;
    message?: unknown;
    response?: { data?: unknown };
    errors?: Array<{ type?: unknown }>;
  };
  const name = (error as { name?: unknown })?.name;
  const graphqlErrors = (error as { data?: { errors?: unknown } })?.data
    ?.errors;
  if (
    Array.isArray(graphqlErrors) &&
    graphqlErrors.some(x => x?.type === 'RATE_LIMITED')
  ) {
    // The throttling plugin's error for a GraphQL budget used up (answered 200).
    return new ServiceUnavailableError(
      "GitHub's GraphQL rate limit is used up; try again later",
    );
  }
  if (name !== 'HttpError' && name !== 'GraphqlResponseError') {
    // Not GitHub's answer (our own errors pass through with their names and statuses).
    return error instanceof Error ? error : new Error(String(error));
  }
  if (Array.isArray(e?.errors)) {
    const type = boundedCode(e.errors[0]?.type);
    // GitHub answers a used-up GraphQL budget with status 200 and this error type.
    if (type === 'RATE_LIMITED') {
      return new ServiceUnavailableError(
        "GitHub's GraphQL rate limit is used up; try again later",
      );
    }
    return new Error(`GitHub's GraphQL API answered ${type ?? 'an error'}`);
  }
  const status = typeof e?.status === 'number' ? e.status : undefined;
  if (status === undefined || !e.response) {
    // No answer (a network failure or a refused redirect): the text is Octokit's or ours.
    return new Error(
      typeof e?.message === 'string' ? e.message.slice(0, 200) : 'no answer',
    );
  }
  const { data, headers } = e.response as {
    data?: { errors?: Array<{ code?: unknown }> };
    headers?: Record<string, string | undefined>;
  };
  const code =
    data && typeof data === 'object' && Array.isArray(data.errors)
      ? boundedCode(data.errors[0]?.code)
      : undefined;
  // Rate limits are told by headers, so they can be named without quoting the body.
  const reset = Number(headers?.['x-ratelimit-reset']);
  let limited: string | undefined;
  if (headers?.['x-ratelimit-remaining'] === '0') {
    limited = `the rate limit is used up${
      reset ? ` until ${new Date(reset * 1000).toISOString()}` : ''
    }`;
  } else if (headers?.['retry-after'] && (status === 403 || status === 429)) {
    const after = Number(headers['retry-after']);
    limited = `a secondary rate limit${
      Number.isFinite(after) ? `, retry after ${Math.round(after)}s` : ''
    }`;
  }
  if (limited) {
    // Waiting longer than a page view can is not a failure of ours: 503, try again later.
    return new ServiceUnavailableError(
      `GitHub answered HTTP ${status}${code ? ` (${code})` : ''}: ${limited}`,
    );
  }
  const permission = missingPermission(error);
  return new Error(
    `GitHub answered HTTP ${status}${code ? ` (${code})` : ''}${
      permission ? `: the credentials lack the ${permission} permission` : ''
    }`,
  );
}

/**
 * The permission a 403 says is missing, from `x-accepted-github-permissions` (GitHub sends it to
 * Apps and fine-grained tokens: `name=level`, alternatives separated by `;`), checked to be
 * only names and levels so that nothing else of the answer is repeated.
 *
 * @internal
 */
export function missingPermission(error: unknown): string | undefined {
  const e = error as {
    status?: unknown;
    response?: { headers?: Record<string, unknown> };
  };
  if (e?.status !== 403) return undefined;
  const header = e.response?.headers?.['x-accepted-github-permissions'];
  if (typeof header !== 'string' || header.length > 200) return undefined;
  const sets = header
    .split(';')
    .map(set =>
      set
        .split(',')
        .map(p => p.trim())
        .filter(Boolean),
    )
    .filter(set => set.length > 0);
  const valid = sets.every(set =>
    set.every(p => /^[a-z_]{1,40}=(read|write|admin)$/.test(p)),
  );
  if (!valid || sets.length === 0) return undefined;
  return sets
    .map(set => set.map(p => p.replace('=', ': ')).join(' and '))
    .join(' or ');
}

/**
 * Builds one client: throttled (rate-limit waits up to a bound), retried (5xx), and, with a
 * cache, conditional — every GET carries the `If-None-Match` of the last answer for its URL, and
 * a 304 (which GitHub does not count against the rate limit) is answered from the cache.
 *
 * @public
 */
export function createGitHubClient(options: GitHubClientOptions): GitHubClient {
  const waitUnitMs = options.waitUnitMs ?? 1000;
  const maxWait = options.maxRateLimitWaitSeconds ?? 60;
  const { logger, cache } = options;
  const writes =
    options.writeSpacingMs === undefined
      ? {}
      : {
          // The plugin only calls `key(id).schedule(...)` on its limiter groups.
          write: spacedWrites(options.writeSpacingMs) as never,
          notifications: spacedWrites(options.writeSpacingMs) as never,
        };
  // Wait once for a limit that resets soon; past `maxWait` the call fails with GitHub's message.
  const waitForLimit =
    (kind: string) =>
    (
      retryAfter: number,
      request: any,
      _octokit: unknown,
      retryCount: number,
    ) => {
      const wait = retryAfter <= maxWait && retryCount < 1;
      logger?.warn(
        `GitHub ${kind} for ${request.method} ${request.url}; ${
          wait ? `retrying in ${retryAfter}s` : 'not waiting'
        }`,
      );
      return wait;
    };
  const build = (writeLimits: typeof writes) => {
    const client = new ThrottledOctokit({
      baseUrl: options.baseUrl,
      auth: options.token,
      request: {
        fetch: options.onResponse
          ? observedFetch(apiOnlyFetch(options.baseUrl), options.onResponse)
          : apiOnlyFetch(options.baseUrl),
      },
      log: {
        debug: () => {},
        info: () => {},
        warn: (message: string) => logger?.warn(message),
        error: (message: string) => logger?.error(message),
      },
      throttle: {
        retryAfterBaseValue: waitUnitMs,
        fallbackSecondaryRateRetryAfter: 60,
        onRateLimit: waitForLimit('rate limit reached'),
        onSecondaryRateLimit: waitForLimit('secondary rate limit'),
        ...writeLimits,
      },
      retry: {
        retries: options.retries ?? 3,
        retryAfterBaseValue: waitUnitMs,
        // Only server errors are worth repeating: a 409 or 422 is an answer, and 304 is a hit.
        // 429 is a secondary rate limit, waited for below as its `retry-after` says.
        doNotRetry: [304, 400, 401, 403, 404, 405, 409, 410, 422, 429, 451],
      },
    });

    // The throttling plugin waits out secondary limits answered 403, not those answered 429: wait
    // once as `retry-after` says, when that is within `maxWait`. GitHub refused the request
    // without acting on it, so repeating a write is as safe as repeating a read.
    client.hook.wrap('request', async (request, requestOptions) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await request(requestOptions);
        } catch (error) {
          const e = error as {
            status?: number;
            response?: { headers?: Record<string, string> };
          };
          const after = Number(e.response?.headers?.['retry-after']);
          const limited =
            e.status === 429 && Number.isFinite(after) && after >= 0;
          if (!limited) throw error;
          const wait = attempt < 1 && after <= maxWait;
          logger?.warn(
            `GitHub secondary rate limit (429) for ${requestOptions.method} ${
              requestOptions.url
            }; ${wait ? `retrying in ${after}s` : 'not waiting'}`,
          );
          if (!wait) throw error;
          await new Promise(resolve => setTimeout(resolve, after * waitUnitMs));
        }
      }
    });
    return client;
  };
  const client = build(writes);
  // The throttling plugin spaces every /graphql request a second apart, as it spaces writes; the
  // only GraphQL this backend sends are queries (manifest reads, one per lineage), so they go
  // through a client of their own that does not, or a cold board of N services takes N seconds.
  // A GraphQL mutation added later must not use `client.graphql`.
  client.graphql = build({
    write: spacedWrites(0) as never,
    notifications: spacedWrites(0) as never,
  }).graphql;

  if (cache) {
    const ttl = options.cacheTtlMs ?? 24 * 60 * 60 * 1000;
    client.hook.wrap('request', async (request, requestOptions) => {
      if (requestOptions.method !== 'GET') return request(requestOptions);
      const { url } = client.request.endpoint.parse(requestOptions);
      const key = `github-etag:${crypto
        .createHash('sha256')
        .update(url)
        .digest('hex')}`;
      const cached = (await cache.get(key)) as CachedResponse | undefined;
      if (cached) {
        requestOptions.headers = {
          ...requestOptions.headers,
          'if-none-match': cached.etag,
        };
      }
      try {
        const response = await request(requestOptions);
        const etag = response.headers.etag;
        if (etag) {
          const entry: CachedResponse = {
            etag,
            data: response.data,
            ...(response.headers.link ? { link: response.headers.link } : {}),
          };
          await cache.set(key, entry as any, { ttl });
        }
        return response;
      } catch (error) {
        if ((error as { status?: number }).status === 304 && cached) {
          const headers = (
            error as { response?: { headers?: Record<string, string> } }
          ).response?.headers;
          return {
            status: 200,
            url,
            headers: {
              ...headers,
              ...(cached.link ? { link: cached.link } : {}),
            },
            data: cached.data,
          } as any;
        }
        throw error;
      }
    });
  }
  return client;
}

/**
 * Clients per credential for one `integrations.github` host: a token entry or a GitHub App
 * (whose installation tokens rotate, so a client is kept per token and old ones are dropped).
 *
 * @public
 */
export class GitHubClients {
  private readonly clients = new Map<string, GitHubClient>();

  static fromConfig(
    config: Config,
    options: Omit<GitHubClientOptions, 'baseUrl' | 'token'> & { host?: string },
  ): GitHubClients {
    const host =
      options.host ??
      config.getOptionalString('promotion.github.host') ??
      'github.com';
    const integrations = ScmIntegrations.fromConfig(config);
    const integration = integrations.github.byHost(host);
    if (!integration) {
      throw new Error(
        `No integrations.github entry for host ${host}; add one (token or GitHub App) to read repositories there`,
      );
    }
    return new GitHubClients(
      host,
      integration.config.apiBaseUrl ?? 'https://api.github.com',
      DefaultGithubCredentialsProvider.fromIntegrations(integrations),
      options,
    );
  }

  constructor(
    readonly host: string,
    readonly apiBaseUrl: string,
    private readonly credentials: GithubCredentialsProvider,
    private readonly options: Omit<
      GitHubClientOptions,
      'baseUrl' | 'token'
    > = {},
  ) {}

  /** The web UI base of this host (`https://github.com`, or the GitHub Enterprise host). */
  get webBaseUrl(): string {
    // GitHub Enterprise serves its API on the web host (`https://ghe/api/v3`), github.com on
    // another host; an API on the web host also keeps its scheme (e.g. a loopback test server).
    const api = new URL(this.apiBaseUrl);
    return api.host === this.host ? api.origin : `https://${this.host}`;
  }

  readonly forRepo: GitHubClientForRepo = async repo => {
    const { token } = await this.credentials.getCredentials({
      url: `https://${this.host}/${repo}`,
    });
    const key = token ?? '';
    let client = this.clients.get(key);
    if (!client) {
      if (this.clients.size >= 32) this.clients.clear();
      client = createGitHubClient({
        ...this.options,
        baseUrl: this.apiBaseUrl,
        token,
      });
      this.clients.set(key, client);
    }
    return client;
  };
}
