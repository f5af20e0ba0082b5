import { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';

/**
 * A request the backend refused to send because its host (or scheme, or credentials) is not
 * what an administrator configured. An InputError, so a write answers 400 in its checks round;
 * the lineage shows the artifact lookup as failed with this message instead of failing.
 *
 * @public
 */
export class OutboundRefusedError extends InputError {
  constructor(message: string) {
    super(message);
    // The error handler maps statuses by name: keep InputError's.
    this.name = 'InputError';
  }
}

/**
 * Whether an error is an {@link OutboundRefusedError}.
 *
 * @public
 */
export function isOutboundRefused(
  error: unknown,
): error is OutboundRefusedError {
  return error instanceof OutboundRefusedError;
}

/**
 * The artifact hosts an administrator allowed beside those configured with credentials:
 * `promotion.artifacts.allowedHosts` (contacted over https) and
 * `promotion.artifacts.insecureHosts` (also allowed, over plain http).
 *
 * @public
 */
export interface OutboundHosts {
  allowedHosts: string[];
  insecureHosts: string[];
}

const HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/;

/**
 * A configured host, lower-cased; a URL or path where a host belongs stops the backend at
 * start-up instead of silently never matching.
 *
 * @public
 */
export function configuredHost(host: string, key: string): string {
  const normalized = host.trim().toLowerCase();
  if (!HOST.test(normalized)) {
    throw new InputError(
      `${key} must list hosts (e.g. ghcr.io or 127.0.0.1:5000), not "${host}"`,
    );
  }
  return normalized;
}

/**
 * Reads the hosts the backend may contact for artifacts from config.
 *
 * @public
 */
export function readOutboundHosts(config: Config): OutboundHosts {
  const list = (key: string) =>
    (config.getOptionalStringArray(`promotion.artifacts.${key}`) ?? []).map(
      host => configuredHost(host, `promotion.artifacts.${key}`),
    );
  return {
    allowedHosts: list('allowedHosts'),
    insecureHosts: list('insecureHosts'),
  };
}

/** The longest upstream error code quoted in a message. */
const CODE_LENGTH = 40;
const CODE = /^[A-Za-z][A-Za-z0-9_.:-]*$/;

/**
 * An upstream's error code (e.g. `MANIFEST_UNKNOWN`, `AccessDenied`), or undefined.
 *
 * @public
 */
export function boundedCode(code: unknown): string | undefined {
  if (typeof code !== 'string' || !CODE.test(code)) return undefined;
  return code.slice(0, CODE_LENGTH);
}

/** The largest error body read for its code; the rest is dropped unread. */
const ERROR_BODY_LIMIT = 16 * 1024;

/**
 * Reads at most `limit` bytes of a response body; a longer body fails the read (and is not read
 * further), so a hostile upstream cannot make the backend buffer without bound.
 *
 * @public
 */
export async function readBounded(
  response: Response,
  limit: number,
  what: string,
): Promise<Buffer> {
  const reader = response.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`${what} is larger than ${limit} bytes`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

/**
 * Parses a JSON body without quoting it: JSON.parse's own messages include the text.
 *
 * @public
 */
export function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch {
    throw new Error(`${what} is not valid JSON`);
  }
}

/**
 * What an upstream said when it failed, as a bounded message that never quotes its body: the
 * status, the operation, the host and, when the body is a distribution-style error document
 * (`{"errors": [{"code": …}]}`), the first error code. The body is read (at most 16 KiB) only for
 * that code and then dropped.
 *
 * @public
 */
export async function upstreamFailure(
  response: Response,
  operation: string,
  host: string,
): Promise<Error> {
  let code: string | undefined;
  try {
    const body = parseJson<{ errors?: Array<{ code?: unknown }> }>(
      await readBounded(response, ERROR_BODY_LIMIT, 'error body'),
      'error body',
    );
    code = boundedCode(body?.errors?.[0]?.code);
  } catch {
    // Not a readable error document: the status says enough.
  }
  return new Error(
    `${host} answered HTTP ${response.status} to ${operation}${
      code ? ` (${code})` : ''
    }`,
  );
}

/**
 * An AWS SDK failure as a bounded message: the exception's name and HTTP status, never its
 * message (which the SDK takes from the response body).
 *
 * @public
 */
export function sdkFailure(error: unknown): Error {
  const e = error as {
    name?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    code?: unknown;
  };
  const status =
    typeof e?.$metadata?.httpStatusCode === 'number'
      ? `HTTP ${e.$metadata.httpStatusCode}`
      : undefined;
  // Network failures carry a system code (ECONNREFUSED) and no upstream text.
  const failure = new Error(status ?? boundedCode(e?.code) ?? 'no response');
  failure.name = boundedCode(e?.name) ?? 'Error';
  return failure;
}
