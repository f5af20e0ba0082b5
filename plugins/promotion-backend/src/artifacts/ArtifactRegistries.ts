import { ECRClient } from '@aws-sdk/client-ecr';
import { S3Client } from '@aws-sdk/client-s3';
import { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';
import { DefaultAwsCredentialsManager } from '@backstage/integration-aws-node';
import {
  Artifact,
  ArtifactLocation,
  ArtifactRegistryEntry,
  PendingArtifactQuery,
  ArtifactRegistry,
} from '@mainline/plugin-promotion-node';
import { EcrArtifactRegistry, EcrLocation } from './ecr/EcrArtifactRegistry';
import { S3PackageRegistry } from './s3/S3PackageRegistry';
import {
  OciArtifactRegistry,
  OciRegistryConfig,
  parseOciLocation,
} from './oci/OciArtifactRegistry';
import {
  configuredHost,
  OutboundHosts,
  OutboundRefusedError,
  readOutboundHosts,
} from './outbound';

/** One registry and the locations it serves. */
export type RegistryEntry = ArtifactRegistryEntry;

/**
 * The artifact registries of a backend, chosen by an entity's artifact location (ECR image
 * repositories, S3 package prefixes, OCI registries, the embedded store). Itself an
 * ArtifactRegistry, so one object serves every location.
 */
export class ArtifactRegistries implements ArtifactRegistry {
  constructor(private readonly entries: RegistryEntry[]) {}

  lookup(location: ArtifactLocation): ArtifactRegistry | undefined {
    return this.entries.find(e => e.serves(location))?.registry;
  }

  private pick(location: ArtifactLocation): ArtifactRegistry {
    const registry = this.lookup(location);
    if (!registry) {
      throw new InputError(
        `No ${
          location.kind === 'image' ? 'image' : 'package'
        } registry serves "${location.location}"${
          this.entries.length
            ? ` (configured: ${this.entries.map(e => e.name).join(', ')})`
            : ''
        }`,
      );
    }
    return registry;
  }

  async getArtifact(location: ArtifactLocation, sha: string) {
    return this.pick(location).getArtifact(location, sha);
  }

  async listArtifacts(location: ArtifactLocation): Promise<Artifact[]> {
    return this.pick(location).listArtifacts(location);
  }

  async findArtifacts(location: ArtifactLocation, query: PendingArtifactQuery) {
    return this.pick(location).findArtifacts(location, query);
  }

  checkTag(location: ArtifactLocation, tag: string): string | undefined {
    return this.pick(location).checkTag(location, tag);
  }

  async addTag(location: ArtifactLocation, sha: string, tag: string) {
    return this.pick(location).addTag(location, sha, tag);
  }

  async deleteArtifact(location: ArtifactLocation, sha: string) {
    return this.pick(location).deleteArtifact(location, sha);
  }
}

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

/** The embedded store: `local/<name>` images and `local://<prefix>` packages. */
export function localEntry(registry: ArtifactRegistry): RegistryEntry {
  return {
    name: 'embedded',
    serves: l => /^local(\/|:\/\/)/.test(l.location),
    registry,
  };
}

/** Which ECR repositories may be contacted: accounts and regions an administrator configured. */
export interface EcrAllowList {
  /** Registry hosts, `<account>.dkr.ecr.<region>.amazonaws.com`. */
  hosts?: string[];
  /** Accounts (from `aws.accounts`) allowed in `regions`, or in any region without it. */
  accountIds?: string[];
  regions?: string[];
}

/** An ECR entry: `<account>.dkr.ecr.<region>.amazonaws.com/<name>` locations. */
export function ecrEntry(
  clientFor: (accountId: string, region: string) => Promise<ECRClient>,
  allow: EcrAllowList,
): RegistryEntry {
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

/** An S3 entry: `s3://<bucket>/<prefix>` locations in the configured buckets. */
export function s3Entry(
  clientFor: () => Promise<S3Client>,
  buckets: string[],
): RegistryEntry {
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
 * An OCI distribution entry: `<host>/<repository>` and `oci://<host>/<repository>` image
 * locations (GHCR, Harbor, Docker Hub), for the registries configured with their credentials
 * and the hosts allowed without any.
 */
export function ociEntry(
  registries: OciRegistryConfig[] = [],
  hosts: Partial<OutboundHosts> = {},
): RegistryEntry {
  return {
    name: 'OCI',
    generic: true,
    serves: l =>
      l.kind === 'image' && parseOciLocation(l.location) !== undefined,
    registry: new OciArtifactRegistry(registries, hosts),
  };
}

/** `promotion.artifacts.oci.registries`: credentials and transport per registry host. */
export function readOciRegistries(config: Config): OciRegistryConfig[] {
  return (
    config.getOptionalConfigArray('promotion.artifacts.oci.registries') ?? []
  ).map(r => ({
    host: configuredHost(
      r.getString('host'),
      'promotion.artifacts.oci.registries[].host',
    ),
    username: r.getOptionalString('username'),
    password: r.getOptionalString('password'),
    token: r.getOptionalString('token'),
    insecure: r.getOptionalBoolean('insecure'),
    authHosts: r
      .getOptionalStringArray('authHosts')
      ?.map(h =>
        configuredHost(h, 'promotion.artifacts.oci.registries[].authHosts'),
      ),
  }));
}

/**
 * The AWS registries from configuration: credentials per account through
 * `@backstage/integration-aws-node` (`aws.accounts`, role assumption, the main account by
 * default), endpoints and S3 addressing from `promotion.artifacts`.
 */
export function awsRegistryEntries(config: Config): RegistryEntry[] {
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
    return new ECRClient({
      region,
      credentials: sdkCredentialProvider,
      endpoint: ecrEndpoint,
    });
  });
  const s3Client = memo(async () => {
    const { sdkCredentialProvider } = await credentials.getCredentialProvider(
      s3?.has('accountId') ? { accountId: s3.getString('accountId') } : {},
    );
    return new S3Client({
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
  });
  const hosts = readOutboundHosts(config);
  return [
    ecrEntry((accountId, region) => ecrClient(`${accountId}/${region}`), {
      hosts: hosts.allowedHosts,
      accountIds: (config.getOptionalConfigArray('aws.accounts') ?? []).map(a =>
        a.getString('accountId'),
      ),
      regions: config.getOptionalStringArray('promotion.artifacts.ecr.regions'),
    }),
    s3Entry(() => s3Client('s3'), s3?.getOptionalStringArray('buckets') ?? []),
  ];
}
