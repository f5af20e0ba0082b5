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
import { Octokit } from '@octokit/rest';

/** Octokit with the throttling and retry plugins: what every GitHub adapter talks through. */
export const ThrottledOctokit = Octokit.plugin(throttling, retry);
export type GitHubClient = InstanceType<typeof ThrottledOctokit>;

/** Gives the client for a repository (`owner/name`), with credentials that can reach it. */
export type GitHubClientForRepo = (repo: string) => Promise<GitHubClient>;

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

/**
 * Builds one client: throttled (rate-limit waits up to a bound), retried (5xx), and, with a
 * cache, conditional — every GET carries the `If-None-Match` of the last answer for its URL, and
 * a 304 (which GitHub does not count against the rate limit) is answered from the cache.
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
  const client = new ThrottledOctokit({
    baseUrl: options.baseUrl,
    auth: options.token,
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
      ...writes,
    },
    retry: {
      retries: options.retries ?? 3,
      retryAfterBaseValue: waitUnitMs,
      // Only server errors are worth repeating: a 409 or 422 is an answer, and 304 is a hit.
      doNotRetry: [304, 400, 401, 403, 404, 405, 409, 410, 422, 451],
    },
  });

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
