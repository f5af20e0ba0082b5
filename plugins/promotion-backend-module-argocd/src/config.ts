import { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';
import {
  configuredHost,
  readOutboundHosts,
} from '@mainline/plugin-promotion-node';

/**
 * One configured Argo CD API server.
 *
 * @public
 */
export interface ArgoCdInstance {
  name: string;
  /** Without a trailing slash. */
  baseUrl: string;
  token: string;
  appNamespace?: string;
  /**
   * The secret the instance's notifications controller sends in the
   * `x-mainline-argocd-secret` header; unset, its notifications are refused.
   */
  notificationSecret?: string;
}

/**
 * Options of the Argo CD runtime observer.
 *
 * @public
 */
export interface ArgoCdOptions {
  instances: ArgoCdInstance[];
  appNamePattern: string;
  environmentLabel: string;
}

const KEY = 'promotion.argocd';
/** Shorter secrets are guessable; 32 random bytes in hex or base64 are well over it. */
const MIN_SECRET_LENGTH = 16;

function readSecret(instance: Config, key: string): string | undefined {
  const secret = instance.getOptionalString('notifications.secret');
  if (secret === undefined) return undefined;
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new InputError(
      `${key} must be at least ${MIN_SECRET_LENGTH} characters (e.g. openssl rand -hex 32)`,
    );
  }
  return secret;
}

/**
 * `promotion.argocd`, or undefined when no instance is configured. The backend contacts only
 * these URLs; each is checked against the outbound rules every adapter follows: https, or plain
 * http for a host in `promotion.artifacts.insecureHosts`, and no credentials or path tricks in
 * the URL. A mistake stops the backend at start, naming the key.
 *
 * @public
 */
export function readArgoCdOptions(config: Config): ArgoCdOptions | undefined {
  const section = config.getOptionalConfig(KEY);
  const instances = section?.getOptionalConfigArray('instances') ?? [];
  if (instances.length === 0) return undefined;
  const { insecureHosts } = readOutboundHosts(config);
  const names = new Set<string>();
  const parsed = instances.map((instance, index) => {
    const key = `${KEY}.instances[${index}]`;
    const name = instance.getString('name');
    if (names.has(name)) {
      throw new InputError(
        `${key}.name: two Argo CD instances are named "${name}"`,
      );
    }
    names.add(name);
    const raw = instance.getString('url');
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new InputError(`${key}.url is not a URL: "${raw}"`);
    }
    const host = configuredHost(url.host, `${key}.url`);
    if (url.username || url.password || url.search || url.hash) {
      throw new InputError(
        `${key}.url must not carry credentials, a query or a fragment; the token goes in ${key}.token`,
      );
    }
    if (
      url.protocol !== 'https:' &&
      !(url.protocol === 'http:' && insecureHosts.includes(host))
    ) {
      throw new InputError(
        `${key}.url must be https (plain http only for a host in promotion.artifacts.insecureHosts), not "${raw}"`,
      );
    }
    return {
      name,
      baseUrl: `${url.protocol}//${host}${url.pathname.replace(/\/+$/, '')}`,
      token: instance.getString('token'),
      appNamespace: instance.getOptionalString('appNamespace'),
      notificationSecret: readSecret(instance, `${key}.notifications.secret`),
    };
  });
  const appNamePattern =
    section?.getOptionalString('appNamePattern') ?? '{name}-{environment}';
  if (!appNamePattern.includes('{environment}')) {
    throw new InputError(
      `${KEY}.appNamePattern must contain {environment}, or every environment would name one Application: "${appNamePattern}"`,
    );
  }
  return {
    instances: parsed,
    appNamePattern,
    environmentLabel:
      section?.getOptionalString('environmentLabel') ??
      'mainline.dev/environment',
  };
}
