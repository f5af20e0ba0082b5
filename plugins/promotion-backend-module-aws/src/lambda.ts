import { LambdaClient } from '@aws-sdk/client-lambda';
import { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';
import { DefaultAwsCredentialsManager } from '@backstage/integration-aws-node';
import {
  configuredHost,
  readOutboundHosts,
} from '@mainline/plugin-promotion-node';
import {
  LambdaObserverOptions,
  LambdaRuntimeObserver,
  LambdaTarget,
} from './LambdaRuntimeObserver';
import { awsS3Client } from './registries';
import { S3PackageCodeHashes } from './S3PackageCodeHashes';

const KEY = 'promotion.runtime.lambda';
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/;
const ALIAS = /^(?!^[0-9]+$)[a-zA-Z0-9-_]{1,128}$/;

function target(section: Config, key: string, accounts: string[]) {
  const region = section.getOptionalString('region');
  if (region !== undefined && !REGION.test(region)) {
    throw new InputError(`${key}.region is not an AWS region: "${region}"`);
  }
  const accountId = section.getOptionalString('accountId');
  if (accountId !== undefined && !accounts.includes(accountId)) {
    throw new InputError(
      `${key}.accountId ${accountId} is not in aws.accounts; an administrator adds it there (with its credentials or role)`,
    );
  }
  return { region, accountId };
}

/**
 * The Lambda observer's options from `promotion.runtime.lambda`, or undefined when it is not
 * configured. The backend contacts only the configured regions' Lambda endpoints (or
 * `endpoint`), with the credentials `aws.accounts` gives each account; a mistake stops the
 * backend at start, naming the key.
 *
 * @public
 */
export function readLambdaObserverOptions(
  config: Config,
): LambdaObserverOptions | undefined {
  const section = config.getOptionalConfig(KEY);
  if (!section) return undefined;
  const accounts = (config.getOptionalConfigArray('aws.accounts') ?? []).map(
    a => a.getString('accountId'),
  );
  const base = target(section, KEY, accounts);
  if (!base.region) {
    throw new InputError(
      `${KEY}.region is required: the region of the functions`,
    );
  }
  const defaults: LambdaTarget = {
    region: base.region,
    accountId: base.accountId,
  };
  const environments = new Map<string, LambdaTarget>();
  const perEnvironment = section.getOptionalConfig('environments');
  for (const name of perEnvironment?.keys() ?? []) {
    const own = target(
      perEnvironment!.getConfig(name),
      `${KEY}.environments.${name}`,
      accounts,
    );
    environments.set(name, {
      region: own.region ?? defaults.region,
      accountId: own.accountId ?? defaults.accountId,
    });
  }
  const alias = section.getOptionalString('alias');
  if (alias !== undefined && !ALIAS.test(alias)) {
    throw new InputError(`${KEY}.alias is not a Lambda alias name: "${alias}"`);
  }
  const endpoint = section.getOptionalString('endpoint');
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new InputError(`${KEY}.endpoint is not a URL: "${endpoint}"`);
    }
    const host = configuredHost(url.host, `${KEY}.endpoint`);
    const { insecureHosts } = readOutboundHosts(config);
    if (
      url.protocol !== 'https:' &&
      !(url.protocol === 'http:' && insecureHosts.includes(host))
    ) {
      throw new InputError(
        `${KEY}.endpoint must be https (plain http only for a host in promotion.artifacts.insecureHosts), not "${endpoint}"`,
      );
    }
  }
  const credentials = DefaultAwsCredentialsManager.fromConfig(config);
  const clients = new Map<string, Promise<LambdaClient>>();
  const clientFor = (t: LambdaTarget) => {
    const key = `${t.accountId ?? ''}/${t.region}`;
    let client = clients.get(key);
    if (!client) {
      client = credentials
        .getCredentialProvider(t.accountId ? { accountId: t.accountId } : {})
        .then(
          ({ sdkCredentialProvider }) =>
            new LambdaClient({
              region: t.region,
              credentials: sdkCredentialProvider,
              endpoint,
            }),
        );
      clients.set(key, client);
      client.catch(() => clients.delete(key));
    }
    return client;
  };
  const buckets =
    config.getOptionalStringArray('promotion.artifacts.s3.buckets') ?? [];
  const s3 = awsS3Client(config, credentials);
  return {
    targetFor: environment => environments.get(environment) ?? defaults,
    clientFor,
    alias,
    packages: new S3PackageCodeHashes(() => s3()),
    bucketAllowed: bucket => buckets.includes(bucket),
  };
}

/**
 * The Lambda runtime observer of `promotion.runtime.lambda`, or undefined when not configured.
 *
 * @public
 */
export function createLambdaRuntimeObserver(
  config: Config,
): LambdaRuntimeObserver | undefined {
  const options = readLambdaObserverOptions(config);
  return options && new LambdaRuntimeObserver(options);
}
