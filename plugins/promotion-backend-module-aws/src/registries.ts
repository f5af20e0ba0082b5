import { ECRClient } from '@aws-sdk/client-ecr';
import { S3Client } from '@aws-sdk/client-s3';
import { Config } from '@backstage/config';
import { DefaultAwsCredentialsManager } from '@backstage/integration-aws-node';
import {
  ArtifactRegistryEntry,
  OutboundRefusedError,
  UpstreamAnswer,
  readOutboundHosts,
} from '@mainline/plugin-promotion-node';
import { EcrArtifactRegistry, EcrLocation } from './EcrArtifactRegistry';
import { S3PackageRegistry } from './S3PackageRegistry';

/** Keeps one client per key (account and region, bucket settings). */
function memo<T>(create: (key: string) => Promise<T>) {
  const clients = new Map<string, Promise<T>>();
  return (key: string) => {
    let client = clients.get(key);
    if (!client) {
      client = create(key);
      clients.set(key, client);
      client.catch(() => clients.delete(key));
    }
    return client;
  };
}
/**
 * Tells `report` of every HTTP answer the client gets (each attempt, retries included; status 0
 * when none came), from a middleware inside the SDK's retry loop.
 */
function reportAnswers(
  client: ECRClient | S3Client,
  system: 'ecr' | 's3',
  report: ((answer: UpstreamAnswer) => void) | undefined,
) {
  if (!report) return;
  const stack = client.middlewareStack as {
    add(middleware: unknown, options: Record<string, unknown>): void;
  };
  stack.add(
    (next: (args: any) => Promise<any>) => async (args: any) => {
      const answer = {
        system,
        host: String(args.request?.hostname ?? ''),
        path: String(args.request?.path ?? ''),
        headers: {},
      };
      try {
        const result = await next(args);
        report({ ...answer, status: result?.response?.statusCode ?? 0 });
        return result;
      } catch (error) {
        const e = error as {
          $metadata?: { httpStatusCode?: number };
          $response?: { statusCode?: number };
        };
        report({
          ...answer,
          status: e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode ?? 0,
        });
        throw error;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'promotionAnswers' },
  );
}

/**
 * Which ECR repositories may be contacted: accounts and regions an administrator configured.
 *
 * @public
 */
export interface EcrAllowList {
  /** Registry hosts, `<account>.dkr.ecr.<region>.amazonaws.com`. */
  hosts?: string[];
  /** Accounts (from `aws.accounts`) allowed in `regions`, or in any region without it. */
  accountIds?: string[];
  regions?: string[];
}

/**
 * An ECR entry: `<account>.dkr.ecr.<region>.amazonaws.com/<name>` locations.
 *
 * @public
 */
export function ecrEntry(
  clientFor: (accountId: string, region: string) => Promise<ECRClient>,
  allow: EcrAllowList,
): ArtifactRegistryEntry {
  const allowed = (ecr: EcrLocation) =>
    (allow.hosts ?? []).includes(ecr.uri.split('/')[0]) ||
    ((allow.accountIds ?? []).includes(ecr.accountId) &&
      (!allow.regions || allow.regions.includes(ecr.region)));
  return {
    name: 'ECR',
    serves: l => l.kind === 'image' && /\.dkr\.ecr\./.test(l.location),
    registry: new EcrArtifactRegistry(ecr => {
      if (!allowed(ecr)) {
        throw new OutboundRefusedError(
          `The artifact location ${ecr.uri} names ECR account ${ecr.accountId} in ${ecr.region}, which is not configured; an administrator adds the account to aws.accounts (and the region to promotion.artifacts.ecr.regions) or the registry host to promotion.artifacts.allowedHosts`,
        );
      }
      return clientFor(ecr.accountId, ecr.region);
    }),
  };
}

/**
 * An S3 entry: `s3://<bucket>/<prefix>` locations in the configured buckets.
 *
 * @public
 */
export function s3Entry(
  clientFor: () => Promise<S3Client>,
  buckets: string[],
): ArtifactRegistryEntry {
  return {
    name: 'S3',
    serves: l => l.kind === 'archive' && l.location.startsWith('s3://'),
    registry: new S3PackageRegistry(s3 => {
      if (!buckets.includes(s3.bucket)) {
        throw new OutboundRefusedError(
          `The artifact location s3://${s3.bucket}/${s3.prefix} names the bucket ${s3.bucket}, which is not configured; an administrator adds it to promotion.artifacts.s3.buckets`,
        );
      }
      return clientFor();
    }),
  };
}
/**
 * The S3 client of `promotion.artifacts.s3` (region, endpoint, addressing, the account whose
 * credentials read it), made once.
 *
 * @public
 */
export function awsS3Client(
  config: Config,
  credentials: DefaultAwsCredentialsManager = DefaultAwsCredentialsManager.fromConfig(
    config,
  ),
  onUpstreamAnswer?: (answer: UpstreamAnswer) => void,
): () => Promise<S3Client> {
  const s3 = config.getOptionalConfig('promotion.artifacts.s3');
  const client = memo(async () => {
    const { sdkCredentialProvider } = await credentials.getCredentialProvider(
      s3?.has('accountId') ? { accountId: s3.getString('accountId') } : {},
    );
    const created = new S3Client({
      region: s3?.getOptionalString('region') ?? 'us-east-1',
      credentials: sdkCredentialProvider,
      endpoint: s3?.getOptionalString('endpoint'),
      forcePathStyle: s3?.getOptionalBoolean('forcePathStyle') ?? false,
      // S3-compatible stores (MinIO, Ceph, s3rver) do not all speak the newer checksum headers.
      ...(s3?.getOptionalString('endpoint')
        ? {
            requestChecksumCalculation: 'WHEN_REQUIRED' as const,
            responseChecksumValidation: 'WHEN_REQUIRED' as const,
          }
        : {}),
    });
    reportAnswers(created, 's3', onUpstreamAnswer);
    return created;
  });
  return () => client('s3');
}

/**
 * The AWS registries from configuration: credentials per account through
 * `@backstage/integration-aws-node` (`aws.accounts`, role assumption, the main account by
 * default), endpoints and S3 addressing from `promotion.artifacts`.
 *
 * @public
 */
export function awsRegistryEntries(
  config: Config,
  onUpstreamAnswer?: (answer: UpstreamAnswer) => void,
): ArtifactRegistryEntry[] {
  const credentials = DefaultAwsCredentialsManager.fromConfig(config);
  const ecrEndpoint = config.getOptionalString(
    'promotion.artifacts.ecr.endpoint',
  );
  const s3 = config.getOptionalConfig('promotion.artifacts.s3');
  const ecrClient = memo(async key => {
    const [accountId, region] = key.split('/');
    const { sdkCredentialProvider } = await credentials.getCredentialProvider({
      accountId,
    });
    const client = new ECRClient({
      region,
      credentials: sdkCredentialProvider,
      endpoint: ecrEndpoint,
    });
    reportAnswers(client, 'ecr', onUpstreamAnswer);
    return client;
  });
  const s3Client = awsS3Client(config, credentials, onUpstreamAnswer);
  const hosts = readOutboundHosts(config);
  return [
    ecrEntry((accountId, region) => ecrClient(`${accountId}/${region}`), {
      hosts: hosts.allowedHosts,
      accountIds: (config.getOptionalConfigArray('aws.accounts') ?? []).map(a =>
        a.getString('accountId'),
      ),
      regions: config.getOptionalStringArray('promotion.artifacts.ecr.regions'),
    }),
    s3Entry(s3Client, s3?.getOptionalStringArray('buckets') ?? []),
  ];
}
