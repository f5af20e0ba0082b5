import {
  FunctionConfiguration,
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListFunctionsCommand,
} from '@aws-sdk/client-lambda';
import { ServiceUnavailableError } from '@backstage/errors';
import {
  RuntimeFunctionState,
  RuntimeHealthStatus,
  RuntimeObserver,
  RuntimeOperationPhase,
  RuntimeState,
  RuntimeSubject,
  RuntimeSyncStatus,
  sdkFailure,
} from '@mainline/plugin-promotion-node';
import { S3PackageCodeHashes } from './S3PackageCodeHashes';
import { parseS3Location, S3Location } from './S3PackageRegistry';

/**
 * The Serverless service name (`mainline.dev/serverless-service`): the observer finds an
 * environment's functions as Serverless v3 names them, `<service>-<stage>-<function>`.
 *
 * @public
 */
export const SERVERLESS_SERVICE_ANNOTATION = 'mainline.dev/serverless-service';
/**
 * Optional: the alias whose version runs (`live`), for services that publish versions and route
 * traffic through an alias; without it, `$LATEST` is what runs.
 *
 * @public
 */
export const LAMBDA_ALIAS_ANNOTATION = 'mainline.dev/lambda-alias';
/**
 * The function tag carrying the commit a deploy deployed (a Serverless `provider.tags` entry
 * compiled into the package at build time).
 *
 * @public
 */
export const LAMBDA_COMMIT_TAG = 'mainline.dev/commit';

const ARTIFACT_LOCATION = 'mainline.dev/artifact-location';
const MESSAGE_LIMIT = 500;
const FULL_SHA = /^[0-9a-f]{40}$/;
const DIGEST_HEX = /^[0-9a-f]{64}$/;

/**
 * Where an environment's functions live: an account (from `aws.accounts`, the main one when
 * unset) and region.
 *
 * @public
 */
export interface LambdaTarget {
  accountId?: string;
  region: string;
}

/**
 * Options of the Lambda runtime observer.
 *
 * @public
 */
export interface LambdaObserverOptions {
  /** The target of an environment (the configured default, or its own). */
  targetFor(environment: string): LambdaTarget;
  /** The Lambda client of a target. */
  clientFor(target: LambdaTarget): Promise<LambdaClient>;
  /** The default alias; an entity's `mainline.dev/lambda-alias` overrides it. */
  alias?: string;
  /** The code hashes of packages, for checking a deployed commit; unset, nothing is checked. */
  packages?: S3PackageCodeHashes;
  /** Whether a bucket may be read (the configured S3 buckets). */
  bucketAllowed?(bucket: string): boolean;
}

/** One function as observed: its configuration at the qualifier, tags and any split versions. */
interface ObservedFunction {
  config: FunctionConfiguration;
  tags: Record<string, string>;
  resolvedImageUri?: string;
  /** Versions an alias routes part of the traffic to, with their weights. */
  others: Array<{ config: FunctionConfiguration; weight: number }>;
  weight?: number;
  /** The alias named no version: nothing of this function serves the environment. */
  missingAlias?: string;
}

function bounded(message: string | undefined): string | undefined {
  if (!message) return undefined;
  return message.length > MESSAGE_LIMIT
    ? `${message.slice(0, MESSAGE_LIMIT)}…`
    : message;
}

/**
 * Lambda's `2024-06-01T10:00:00.000+0000` as ISO 8601 (`…Z`); undefined when unreadable.
 *
 * @public
 */
export function lambdaTimeToIso(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const normalized = value.replace(/([+-]\d\d)(\d\d)$/, '$1:$2');
  const time = Date.parse(normalized);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

function healthOf(config: FunctionConfiguration): {
  status: RuntimeHealthStatus;
  message?: string;
} {
  switch (config.State) {
    case 'Failed':
      return { status: 'Degraded', message: bounded(config.StateReason) };
    case 'Inactive':
      return { status: 'Suspended', message: bounded(config.StateReason) };
    case 'Pending':
      return { status: 'Progressing', message: bounded(config.StateReason) };
    case 'Active':
      return config.LastUpdateStatus === 'InProgress'
        ? {
            status: 'Progressing',
            message: bounded(config.LastUpdateStatusReason),
          }
        : { status: 'Healthy' };
    default:
      return { status: 'Unknown' };
  }
}

function phaseOf(
  config: FunctionConfiguration,
): RuntimeOperationPhase | undefined {
  switch (config.LastUpdateStatus) {
    case 'InProgress':
      return 'Running';
    case 'Successful':
      return 'Succeeded';
    case 'Failed':
      return 'Failed';
    default:
      return undefined;
  }
}

/** Worst first: an environment is as healthy as its least healthy function. */
const HEALTH_ORDER: RuntimeHealthStatus[] = [
  'Degraded',
  'Missing',
  'Progressing',
  'Suspended',
  'Unknown',
  'Healthy',
];
const PHASE_ORDER: RuntimeOperationPhase[] = [
  'Failed',
  'Error',
  'Running',
  'Terminating',
  'Succeeded',
];

function imageDigest(fn: {
  config: FunctionConfiguration;
  resolvedImageUri?: string;
}): string | undefined {
  const resolved = /@(sha256:[0-9a-f]{64})$/.exec(fn.resolvedImageUri ?? '');
  if (resolved) return resolved[1];
  // For image functions Lambda's CodeSha256 is the hex of the image manifest digest.
  return DIGEST_HEX.test(fn.config.CodeSha256 ?? '')
    ? `sha256:${fn.config.CodeSha256}`
    : undefined;
}

/**
 * What runs in each environment of a Serverless service on AWS Lambda: the environment's
 * functions (`<service>-<stage>-*` as Serverless v3 names them, found with one ListFunctions
 * listing per account and region), read at `$LATEST` or at the entity's alias (GetFunction; an
 * alias that splits traffic adds each other version's configuration). It reports the code
 * hashes the functions run (`CodeSha256`, base64 as Lambda spells it), image digests of image
 * functions, versions and tags; health from each function's `State` and `LastUpdateStatus`;
 * the revision from the `mainline.dev/commit` tag. `Synced` means every function carries that
 * one commit, no update failed, and (for zip functions of an S3 package location) every code
 * hash is the SHA-256 of a zip of that commit's package for the stage; code that is not the
 * commit's package, or a package that is gone, is `OutOfSync`.
 *
 * @public
 */
export class LambdaRuntimeObserver implements RuntimeObserver {
  constructor(private readonly options: LambdaObserverOptions) {}

  serves(subject: RuntimeSubject): boolean {
    const location = subject.annotations[ARTIFACT_LOCATION] ?? '';
    return Boolean(
      subject.annotations[SERVERLESS_SERVICE_ANNOTATION]?.trim() &&
        !location.startsWith('local://'),
    );
  }

  async observe(
    subject: RuntimeSubject,
    environments: string[],
  ): Promise<Record<string, RuntimeState | undefined>> {
    const service = subject.annotations[SERVERLESS_SERVICE_ANNOTATION].trim();
    const alias =
      subject.annotations[LAMBDA_ALIAS_ANNOTATION]?.trim() ||
      this.options.alias;
    const targets = new Map<string, LambdaTarget>();
    for (const environment of environments) {
      const target = this.options.targetFor(environment);
      targets.set(targetKey(target), target);
    }
    const listings = new Map<string, string[]>();
    await Promise.all(
      [...targets.entries()].map(async ([key, target]) =>
        listings.set(key, await this.listFunctionNames(target)),
      ),
    );
    const observedAt = new Date().toISOString();
    const entries = await Promise.all(
      environments.map(async environment => {
        const target = this.options.targetFor(environment);
        const prefix = `${service}-${environment}-`;
        const names = listings
          .get(targetKey(target))!
          .filter(name => name.startsWith(prefix))
          .sort();
        const functions = (
          await Promise.all(
            names.map(name => this.readFunction(target, name, alias)),
          )
        ).filter((f): f is ObservedFunction => f !== undefined);
        if (functions.length === 0) return [environment, undefined] as const;
        return [
          environment,
          await this.state(
            subject,
            environment,
            target,
            prefix,
            alias,
            functions,
            observedAt,
          ),
        ] as const;
      }),
    );
    return Object.fromEntries(entries);
  }

  private describe(target: LambdaTarget) {
    return `Lambda in ${target.region}${
      target.accountId ? ` (account ${target.accountId})` : ''
    }`;
  }

  private failure(target: LambdaTarget, what: string, error: unknown): Error {
    // Upstream text stays out (it can quote role ARNs); the code and status say what failed.
    return new ServiceUnavailableError(
      `${this.describe(target)} could not be read: ${what} failed`,
      sdkFailure(error),
    );
  }

  /** Every function name of the target, paging ListFunctions (50 a page, Lambda's most). */
  private async listFunctionNames(target: LambdaTarget): Promise<string[]> {
    const client = await this.options.clientFor(target);
    const names: string[] = [];
    let marker: string | undefined;
    try {
      do {
        const page = await client.send(
          new ListFunctionsCommand({ Marker: marker, MaxItems: 50 }),
        );
        names.push(...(page.Functions ?? []).map(f => f.FunctionName!));
        marker = page.NextMarker || undefined;
      } while (marker);
    } catch (error) {
      throw this.failure(target, 'ListFunctions', error);
    }
    return names;
  }

  private async readFunction(
    target: LambdaTarget,
    name: string,
    alias: string | undefined,
  ): Promise<ObservedFunction | undefined> {
    const client = await this.options.clientFor(target);
    const notFound = (error: unknown) =>
      (error as { name?: string }).name === 'ResourceNotFoundException';
    let got;
    try {
      got = await client.send(
        new GetFunctionCommand({ FunctionName: name, Qualifier: alias }),
      );
    } catch (error) {
      if (notFound(error) && alias) {
        return {
          config: { FunctionName: name },
          tags: {},
          others: [],
          missingAlias: alias,
        };
      }
      // Deleted between the listing and this read: it no longer runs.
      if (notFound(error)) return undefined;
      throw this.failure(target, `GetFunction of ${name}`, error);
    }
    const observed: ObservedFunction = {
      config: got.Configuration ?? {},
      tags: got.Tags ?? {},
      resolvedImageUri: got.Code?.ResolvedImageUri,
      others: [],
    };
    if (!alias) return observed;
    try {
      const routing = await client.send(
        new GetAliasCommand({ FunctionName: name, Name: alias }),
      );
      const weights = routing.RoutingConfig?.AdditionalVersionWeights ?? {};
      const shares = Object.entries(weights);
      if (shares.length > 0) {
        observed.weight = 1 - shares.reduce((sum, [, w]) => sum + w, 0);
        observed.others = await Promise.all(
          shares.map(async ([version, weight]) => ({
            config: await client.send(
              new GetFunctionConfigurationCommand({
                FunctionName: name,
                Qualifier: version,
              }),
            ),
            weight,
          })),
        );
      }
    } catch (error) {
      throw this.failure(target, `GetAlias of ${name}:${alias}`, error);
    }
    return observed;
  }

  private async state(
    subject: RuntimeSubject,
    environment: string,
    target: LambdaTarget,
    prefix: string,
    alias: string | undefined,
    functions: ObservedFunction[],
    observedAt: string,
  ): Promise<RuntimeState> {
    const running = functions.filter(f => !f.missingAlias);
    const configs = running.flatMap(f => [
      { ...f, weight: f.weight },
      ...f.others.map(o => ({
        config: o.config,
        tags: f.tags,
        resolvedImageUri: undefined,
        weight: o.weight,
      })),
    ]);
    const states: RuntimeFunctionState[] = configs.map(c => ({
      name: c.config.FunctionName!,
      version: c.config.Version ?? '$LATEST',
      ...(c.weight !== undefined ? { weight: c.weight } : {}),
      packageType: c.config.PackageType === 'Image' ? 'Image' : 'Zip',
      codeSha256: c.config.CodeSha256 ?? '',
      lastModified: lambdaTimeToIso(c.config.LastModified),
      tags: c.tags,
    }));
    const sorted = (values: Array<string | undefined>) =>
      [...new Set(values.filter((v): v is string => Boolean(v)))].sort();
    const runningDigests = sorted(
      configs
        .filter(c => c.config.PackageType === 'Image')
        .map(c => imageDigest(c)),
    );
    const zips = configs.filter(c => c.config.PackageType !== 'Image');
    const runningCodeSha256s = sorted(zips.map(c => c.config.CodeSha256));

    // Health: the least healthy function's; a function without the alias is missing.
    const healths = [
      ...configs.map(c => healthOf(c.config)),
      ...functions
        .filter(f => f.missingAlias)
        .map(f => ({
          status: 'Missing' as const,
          message: `${f.config.FunctionName} has no alias ${f.missingAlias}`,
        })),
    ];
    const health = HEALTH_ORDER.map(s =>
      healths.find(h => h.status === s),
    ).find(Boolean)!;

    // The deployed commit: one tag value across the functions, or none.
    const commits = sorted(running.map(f => f.tags[LAMBDA_COMMIT_TAG]));
    const revision =
      commits.length === 1 && FULL_SHA.test(commits[0])
        ? commits[0]
        : undefined;
    const phases = configs
      .map(c => ({ phase: phaseOf(c.config), config: c.config }))
      .filter(p => p.phase);
    const last = PHASE_ORDER.map(o => phases.find(p => p.phase === o)).find(
      Boolean,
    );
    const modified = sorted(
      configs.map(c => lambdaTimeToIso(c.config.LastModified)),
    );
    let status: RuntimeSyncStatus = 'Unknown';
    if (
      commits.length > 1 ||
      configs.some(c => c.config.LastUpdateStatus === 'Failed') ||
      functions.some(f => f.missingAlias)
    ) {
      status = 'OutOfSync';
    } else if (revision) {
      status = (await this.codeIsPackage(subject, revision, environment, zips))
        ? 'Synced'
        : 'OutOfSync';
    }
    const names = functions.map(f => f.config.FunctionName!);
    return {
      environment,
      source: `lambda ${target.region}${
        target.accountId ? ` ${target.accountId}` : ''
      }: ${names.length === 1 ? names[0] : `${prefix}* (${names.length})`}${
        alias ? ` at ${alias}` : ''
      }`,
      url:
        names.length === 1
          ? `https://${target.region}.console.aws.amazon.com/lambda/home?region=${target.region}#/functions/${names[0]}`
          : `https://${
              target.region
            }.console.aws.amazon.com/lambda/home?region=${
              target.region
            }#/functions?fo=and&k0=functionName&o0=%3A&v0=${encodeURIComponent(
              prefix,
            )}`,
      sync: { status, ...(revision ? { revision } : {}) },
      health: {
        status: health.status,
        ...(health.message ? { message: health.message } : {}),
      },
      ...(last
        ? {
            lastOperation: {
              phase: last.phase!,
              ...(last.config.LastUpdateStatusReason
                ? { message: bounded(last.config.LastUpdateStatusReason) }
                : {}),
              ...(revision ? { revision } : {}),
              startedAt: lambdaTimeToIso(last.config.LastModified),
            },
          }
        : {}),
      runningDigests,
      ...(zips.length > 0 ? { runningCodeSha256s } : {}),
      functions: states,
      since: modified[modified.length - 1],
      observedAt,
    };
  }

  /**
   * Whether every zip function runs a zip of the commit's package for the stage. True when there
   * is nothing to check (image functions only, no S3 package location, no package reader).
   */
  private async codeIsPackage(
    subject: RuntimeSubject,
    revision: string,
    environment: string,
    zips: Array<{ config: FunctionConfiguration }>,
  ): Promise<boolean> {
    const location: S3Location | undefined = parseS3Location(
      subject.annotations[ARTIFACT_LOCATION]?.trim() ?? '',
    );
    if (
      zips.length === 0 ||
      !location ||
      !this.options.packages ||
      !(this.options.bucketAllowed?.(location.bucket) ?? false)
    ) {
      return true;
    }
    const hashes = await this.options.packages.codeSha256s(
      location,
      revision,
      environment,
    );
    if (!hashes) return false;
    const known = new Set(Object.values(hashes));
    return zips.every(z => known.has(z.config.CodeSha256 ?? ''));
  }
}

function targetKey(target: LambdaTarget): string {
  return `${target.accountId ?? ''}/${target.region}`;
}
