import crypto from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';

/*
 * An AWS Lambda API on loopback, speaking the REST-JSON protocol the real `@aws-sdk/client-lambda`
 * sends: `GET /2015-03-31/functions/` (ListFunctions, `Marker`/`MaxItems` paging, at most 50 per
 * page whatever `MaxItems` asks, as Lambda documents), `GET /2015-03-31/functions/{name}`
 * (GetFunction: Configuration, Code, Tags), `…/{name}/configuration`, `…/{name}/versions`
 * (ListVersionsByFunction), `…/{name}/aliases` and `…/{name}/aliases/{alias}`, and
 * `GET /2017-03-31/tags/{arn}` (ListTags). A function is named by its name, its ARN or its
 * partial ARN, optionally with `:qualifier`. Errors are what Lambda sends: the status, an
 * `x-amzn-errortype` header and a `{"Type": "User", "Message": …}` body (`message` for the
 * authentication errors the front door answers). Every request must carry a SigV4
 * `Authorization` header scoped to this server's region and the `lambda` service, as AWS
 * refuses anything else; the signature itself is not checked.
 *
 * Functions are seeded with their code bytes or hash: `CodeSha256` is the base64 SHA-256 of the
 * deployment package (the zip) as Lambda reports it, and for container images the hex of the
 * image's manifest digest, with `ResolvedImageUri` naming it.
 */

/** One call the server answered, for counting upstream requests in tests and the benchmark. */
export interface LambdaTestRequest {
  operation: string;
  method: string;
  path: string;
  status: number;
}

/** What Lambda reports about a function's (or version's) readiness. */
export type LambdaState = 'Pending' | 'Active' | 'Inactive' | 'Failed';
/** What Lambda reports about the last update of the function's code or configuration. */
export type LambdaLastUpdateStatus = 'Successful' | 'Failed' | 'InProgress';

/** What a seeded function (its `$LATEST`, or a published version) holds. */
export interface LambdaCodeSeed {
  /** The deployment package: its base64 SHA-256 becomes `CodeSha256`. */
  zip?: Buffer;
  /** A container image instead: `<repository>@sha256:<hex>` (the resolved image URI). */
  image?: { uri: string; digest: string };
  state?: LambdaState;
  stateReason?: string;
  lastUpdateStatus?: LambdaLastUpdateStatus;
  lastUpdateStatusReason?: string;
  /** Default now. */
  lastModified?: Date;
  runtime?: string;
  handler?: string;
}

export interface LambdaFunctionSeed extends LambdaCodeSeed {
  name: string;
  tags?: Record<string, string>;
  /** Published versions (1, 2, …), oldest first: each a snapshot of code and state. */
  versions?: LambdaCodeSeed[];
  /** Aliases: the version each points to and the other versions' traffic weights. */
  aliases?: Array<{
    name: string;
    version: string;
    additionalVersionWeights?: Record<string, number>;
  }>;
}

export interface LambdaTestServerOptions {
  /** The account id in ARNs. Default `123456789012`. */
  accountId?: string;
  /** Default `eu-west-1`; a request signed for another region is refused, as AWS does. */
  region?: string;
  /** Default 0 (any free port). */
  port?: number;
}

export interface LambdaTestServer {
  /** The endpoint to give `LambdaClient` (`endpoint`), e.g. `http://127.0.0.1:PORT`. */
  endpoint: string;
  accountId: string;
  region: string;
  /** `arn:aws:lambda:<region>:<account>:function:<name>`. */
  functionArn(name: string): string;
  requests: LambdaTestRequest[];
  resetRequests(): void;
  /** Creates or replaces a function (fixtures, and a deploy as the runtime would see it). */
  setFunction(seed: LambdaFunctionSeed): void;
  removeFunction(name: string): void;
  /**
   * Answers every request about the function with AccessDeniedException, as Lambda does for a
   * role whose policy does not allow the action on it.
   */
  denyFunction(name: string): void;
  close(): Promise<void>;
}

class LambdaError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly front = false,
  ) {
    super(message);
  }
}

interface StoredCode {
  codeSha256: string;
  codeSize: number;
  image?: { uri: string; digest: string };
  state: LambdaState;
  stateReason?: string;
  lastUpdateStatus: LambdaLastUpdateStatus;
  lastUpdateStatusReason?: string;
  lastModified: Date;
  runtime?: string;
  handler?: string;
  revisionId: string;
}

interface StoredFunction {
  name: string;
  latest: StoredCode;
  versions: StoredCode[];
  aliases: Map<
    string,
    { version: string; weights?: Record<string, number>; revisionId: string }
  >;
  tags: Record<string, string>;
}

/** Lambda's LastModified: `2024-06-01T10:00:00.000+0000`. */
function lambdaTime(at: Date): string {
  return at.toISOString().replace('Z', '+0000');
}

function stored(seed: LambdaCodeSeed): StoredCode {
  let codeSha256: string;
  let codeSize: number;
  if (seed.image) {
    const hex = /^sha256:([0-9a-f]{64})$/.exec(seed.image.digest)?.[1];
    if (!hex) throw new Error(`not an image digest: ${seed.image.digest}`);
    codeSha256 = hex;
    codeSize = 0;
  } else {
    const zip = seed.zip ?? Buffer.from('PK\u0005\u0006'.padEnd(22, '\0'));
    codeSha256 = crypto.createHash('sha256').update(zip).digest('base64');
    codeSize = zip.length;
  }
  return {
    codeSha256,
    codeSize,
    image: seed.image,
    state: seed.state ?? 'Active',
    stateReason: seed.stateReason,
    lastUpdateStatus: seed.lastUpdateStatus ?? 'Successful',
    lastUpdateStatusReason: seed.lastUpdateStatusReason,
    lastModified: seed.lastModified ?? new Date(),
    runtime: seed.image ? undefined : seed.runtime ?? 'nodejs20.x',
    handler: seed.image ? undefined : seed.handler ?? 'handler.main',
    revisionId: crypto.randomUUID(),
  };
}

/** Function names, ARNs and partial ARNs, with an optional `:qualifier` (Lambda's pattern). */
const FUNCTION_REF =
  /^(?:arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:|(\d{12}):function:)?([a-zA-Z0-9_-]{1,64})(?::(\$LATEST|[a-zA-Z0-9_-]+))?$/;

/** Starts the server; `close()` stops it. */
export async function startLambdaTestServer(
  options: LambdaTestServerOptions = {},
): Promise<LambdaTestServer> {
  const accountId = options.accountId ?? '123456789012';
  const region = options.region ?? 'eu-west-1';
  const functions = new Map<string, StoredFunction>();
  const denied = new Set<string>();
  const requests: LambdaTestRequest[] = [];

  const functionArn = (name: string) =>
    `arn:aws:lambda:${region}:${accountId}:function:${name}`;

  function resolve(
    ref: string,
    operation: string,
    qualifierParam?: string | null,
  ): { fn: StoredFunction; qualifier?: string } {
    const match = FUNCTION_REF.exec(ref);
    if (!match) {
      throw new LambdaError(
        400,
        'ValidationException',
        `1 validation error detected: Value '${ref}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?`,
      );
    }
    const [, arnRegion, arnAccount, partialAccount, name, refQualifier] = match;
    const qualifier = refQualifier ?? qualifierParam ?? undefined;
    if (denied.has(name)) {
      throw new LambdaError(
        403,
        'AccessDeniedException',
        `User: arn:aws:sts::${accountId}:assumed-role/mainline-reader/mainline is not authorized to perform: lambda:${operation} on resource: ${functionArn(
          name,
        )} because no identity-based policy allows the lambda:${operation} action`,
      );
    }
    const fn = functions.get(name);
    if (
      !fn ||
      (arnRegion && arnRegion !== region) ||
      ((arnAccount ?? partialAccount) &&
        (arnAccount ?? partialAccount) !== accountId)
    ) {
      throw new LambdaError(
        404,
        'ResourceNotFoundException',
        `Function not found: ${functionArn(name)}${
          qualifier ? `:${qualifier}` : ''
        }`,
      );
    }
    return { fn, qualifier };
  }

  /** The code a qualifier names: `$LATEST`, a version number, or an alias (its main version). */
  function codeAt(
    fn: StoredFunction,
    qualifier: string | undefined,
  ): { code: StoredCode; version: string } {
    if (!qualifier || qualifier === '$LATEST') {
      return { code: fn.latest, version: '$LATEST' };
    }
    const alias = fn.aliases.get(qualifier);
    const version = alias ? alias.version : qualifier;
    const code = /^\d+$/.test(version)
      ? fn.versions[Number(version) - 1]
      : undefined;
    if (!code) {
      throw new LambdaError(
        404,
        'ResourceNotFoundException',
        `Function not found: ${functionArn(fn.name)}:${qualifier}`,
      );
    }
    return { code, version };
  }

  function configuration(
    fn: StoredFunction,
    code: StoredCode,
    version: string,
  ) {
    return {
      FunctionName: fn.name,
      FunctionArn:
        version === '$LATEST'
          ? functionArn(fn.name)
          : `${functionArn(fn.name)}:${version}`,
      Runtime: code.runtime,
      Role: `arn:aws:iam::${accountId}:role/${fn.name}-role`,
      Handler: code.handler,
      CodeSize: code.codeSize,
      Description: '',
      Timeout: 6,
      MemorySize: 1024,
      LastModified: lambdaTime(code.lastModified),
      CodeSha256: code.codeSha256,
      Version: version,
      TracingConfig: { Mode: 'PassThrough' },
      RevisionId: code.revisionId,
      State: code.state,
      StateReason: code.stateReason,
      LastUpdateStatus: code.lastUpdateStatus,
      LastUpdateStatusReason: code.lastUpdateStatusReason,
      PackageType: code.image ? 'Image' : 'Zip',
      Architectures: ['x86_64'],
      EphemeralStorage: { Size: 512 },
    };
  }

  function aliasJson(fn: StoredFunction, name: string) {
    const alias = fn.aliases.get(name)!;
    return {
      AliasArn: `${functionArn(fn.name)}:${name}`,
      Name: name,
      FunctionVersion: alias.version,
      Description: '',
      RoutingConfig: alias.weights
        ? { AdditionalVersionWeights: alias.weights }
        : undefined,
      RevisionId: alias.revisionId,
    };
  }

  /** Lambda's paging: an opaque marker, `MaxItems` 1–10000 (ListFunctions serves 50 at most). */
  function page<T>(items: T[], query: URLSearchParams, cap = 10_000) {
    const maxItems = query.get('MaxItems');
    if (
      maxItems !== null &&
      (!/^\d+$/.test(maxItems) ||
        Number(maxItems) < 1 ||
        Number(maxItems) > 10_000)
    ) {
      throw new LambdaError(
        400,
        'InvalidParameterValueException',
        `1 validation error detected: Value '${maxItems}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000`,
      );
    }
    const size = Math.min(Number(maxItems ?? 50), cap);
    const marker = query.get('Marker');
    let start = 0;
    if (marker) {
      const decoded = /^\d+$/.test(
        Buffer.from(marker, 'base64url').toString('utf8'),
      )
        ? Number(Buffer.from(marker, 'base64url').toString('utf8'))
        : NaN;
      if (!Number.isInteger(decoded) || decoded > items.length) {
        throw new LambdaError(
          400,
          'InvalidParameterValueException',
          'Invalid marker value',
        );
      }
      start = decoded;
    }
    const end = start + size;
    return {
      slice: items.slice(start, end),
      next:
        end < items.length
          ? Buffer.from(String(end)).toString('base64url')
          : undefined,
    };
  }

  type Route = {
    operation: string;
    pattern: RegExp;
    handle(match: string[], query: URLSearchParams): unknown;
  };

  const routes: Route[] = [
    {
      operation: 'ListFunctions',
      pattern: /^\/2015-03-31\/functions\/?$/,
      handle(_m, query) {
        const all = query.get('FunctionVersion') === 'ALL';
        const list = [...functions.values()]
          .sort((a, b) => a.name.localeCompare(b.name))
          .flatMap(fn => [
            configuration(fn, fn.latest, '$LATEST'),
            ...(all
              ? fn.versions.map((v, i) => configuration(fn, v, String(i + 1)))
              : []),
          ]);
        const { slice, next } = page(list, query, 50);
        return { Functions: slice, NextMarker: next };
      },
    },
    {
      operation: 'GetFunctionConfiguration',
      pattern: /^\/2015-03-31\/functions\/([^/]+)\/configuration$/,
      handle([ref], query) {
        const { fn, qualifier } = resolve(
          ref,
          'GetFunctionConfiguration',
          query.get('Qualifier'),
        );
        const { code, version } = codeAt(fn, qualifier);
        return configuration(fn, code, version);
      },
    },
    {
      operation: 'ListVersionsByFunction',
      pattern: /^\/2015-03-31\/functions\/([^/]+)\/versions$/,
      handle([ref], query) {
        const { fn } = resolve(ref, 'ListVersionsByFunction');
        const { slice, next } = page(
          [
            configuration(fn, fn.latest, '$LATEST'),
            ...fn.versions.map((v, i) => configuration(fn, v, String(i + 1))),
          ],
          query,
        );
        return { Versions: slice, NextMarker: next };
      },
    },
    {
      operation: 'ListAliases',
      pattern: /^\/2015-03-31\/functions\/([^/]+)\/aliases$/,
      handle([ref], query) {
        const { fn } = resolve(ref, 'ListAliases');
        const version = query.get('FunctionVersion');
        const { slice, next } = page(
          [...fn.aliases.keys()]
            .sort()
            .filter(a => !version || fn.aliases.get(a)!.version === version)
            .map(a => aliasJson(fn, a)),
          query,
        );
        return { Aliases: slice, NextMarker: next };
      },
    },
    {
      operation: 'GetAlias',
      pattern: /^\/2015-03-31\/functions\/([^/]+)\/aliases\/([^/]+)$/,
      handle([ref, name]) {
        const { fn } = resolve(ref, 'GetAlias');
        if (!fn.aliases.has(name)) {
          throw new LambdaError(
            404,
            'ResourceNotFoundException',
            `Cannot find alias arn: ${functionArn(fn.name)}:${name}`,
          );
        }
        return aliasJson(fn, name);
      },
    },
    {
      operation: 'GetFunction',
      pattern: /^\/2015-03-31\/functions\/([^/]+)$/,
      handle([ref], query) {
        const { fn, qualifier } = resolve(
          ref,
          'GetFunction',
          query.get('Qualifier'),
        );
        const { code, version } = codeAt(fn, qualifier);
        return {
          Configuration: configuration(fn, code, version),
          Code: code.image
            ? {
                RepositoryType: 'ECR',
                ImageUri: code.image.uri,
                ResolvedImageUri: `${code.image.uri.replace(/[:@].*$/, '')}@${
                  code.image.digest
                }`,
              }
            : {
                RepositoryType: 'S3',
                Location: `https://awslambda-${region}-tasks.s3.${region}.amazonaws.com/snapshots/${accountId}/${fn.name}-${code.revisionId}`,
              },
          Tags: Object.keys(fn.tags).length > 0 ? fn.tags : undefined,
        };
      },
    },
    {
      operation: 'ListTags',
      pattern: /^\/2017-03-31\/tags\/([^/]+)$/,
      handle([arn]) {
        const match =
          /^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:([a-zA-Z0-9_-]+)$/.exec(
            arn,
          );
        if (!match) {
          throw new LambdaError(
            400,
            'ValidationException',
            `1 validation error detected: Value '${arn}' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`,
          );
        }
        const { fn } = resolve(arn, 'ListTags');
        return { Tags: fn.tags };
      },
    },
  ];

  /** What AWS's front door checks before any service sees the request. */
  function checkSignature(req: http.IncomingMessage) {
    const authorization = req.headers.authorization;
    if (!authorization) {
      throw new LambdaError(
        403,
        'MissingAuthenticationTokenException',
        'Missing Authentication Token',
        true,
      );
    }
    const scope =
      /^AWS4-HMAC-SHA256 Credential=[A-Z0-9]+\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=[a-z0-9;-]+, ?Signature=[0-9a-f]{64}$/.exec(
        authorization,
      );
    if (!scope || !req.headers['x-amz-date']) {
      throw new LambdaError(
        403,
        'IncompleteSignatureException',
        `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters, and an 'X-Amz-Date' header. Authorization=${
          authorization.split(' ')[0]
        }`,
        true,
      );
    }
    const [, , scopeRegion, service] = scope;
    if (service !== 'lambda' || scopeRegion !== region) {
      throw new LambdaError(
        403,
        'InvalidSignatureException',
        `Credential should be scoped to a valid region and service: expected ${region}/lambda, got ${scopeRegion}/${service}.`,
        true,
      );
    }
  }

  const server = http.createServer(async (req, res) => {
    for await (const _chunk of req) {
      // Every read of this API is a GET; a body is drained and ignored.
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    let status = 200;
    let payload: unknown;
    let operation = 'Unknown';
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-amzn-requestid': crypto.randomUUID(),
    };
    try {
      checkSignature(req);
      let matched: string[] | undefined;
      const route = routes.find(r => {
        const m = r.pattern.exec(url.pathname);
        if (m) matched = m.slice(1).map(decodeURIComponent);
        return Boolean(m);
      });
      if (!route || req.method !== 'GET') {
        throw new LambdaError(
          404,
          'UnknownOperationException',
          `Unknown operation ${req.method} ${url.pathname}`,
        );
      }
      operation = route.operation;
      payload = route.handle(matched!, url.searchParams);
    } catch (error) {
      if (error instanceof LambdaError) {
        status = error.status;
        headers['x-amzn-errortype'] = error.type;
        payload = error.front
          ? { message: error.message }
          : { Type: 'User', Message: error.message };
      } else {
        status = 500;
        headers['x-amzn-errortype'] = 'ServiceException';
        payload = { Type: 'Service', Message: String(error) };
      }
    }
    res.writeHead(status, headers);
    res.end(JSON.stringify(payload));
    requests.push({
      operation,
      method: req.method ?? 'GET',
      path: url.pathname,
      status,
    });
  });
  await new Promise<void>(done =>
    server.listen(options.port ?? 0, '127.0.0.1', done),
  );
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    accountId,
    region,
    functionArn,
    requests,
    resetRequests() {
      requests.length = 0;
    },
    setFunction(seed) {
      if (!/^[a-zA-Z0-9_-]{1,64}$/.test(seed.name)) {
        throw new Error(`not a Lambda function name: ${seed.name}`);
      }
      const versions = (seed.versions ?? []).map(stored);
      const fn: StoredFunction = {
        name: seed.name,
        latest: stored(seed),
        versions,
        aliases: new Map(
          (seed.aliases ?? []).map(a => [
            a.name,
            {
              version: a.version,
              weights: a.additionalVersionWeights,
              revisionId: crypto.randomUUID(),
            },
          ]),
        ),
        tags: { ...seed.tags },
      };
      for (const [alias, { version, weights }] of fn.aliases) {
        for (const v of [version, ...Object.keys(weights ?? {})]) {
          if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > versions.length)
            throw new Error(`alias ${alias} names no version ${v}`);
        }
      }
      functions.set(seed.name, fn);
    },
    removeFunction(name) {
      functions.delete(name);
    },
    denyFunction(name) {
      denied.add(name);
    },
    close: () =>
      new Promise<void>((done, fail) =>
        server.close(error => (error ? fail(error) : done())),
      ),
  };
}
