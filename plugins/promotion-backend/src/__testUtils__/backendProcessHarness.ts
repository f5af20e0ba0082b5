import { ChildProcess, spawn } from 'node:child_process';
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import type { BackendProcessOptions } from './backendProcess';

/** The promotion API of an entity of the demo catalog. */
export const entityApi = (name: string) =>
  `/api/promotion/v1/entities/component/default/${name}`;

/**
 * A real backend process (see backendProcess.ts) a test can SIGKILL: started with Node and the
 * Backstage CLI's TypeScript transform, its output kept so the test can wait for markers.
 */
export class BackendProcess {
  private output = '';
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', chunk => {
      this.output += chunk;
    });
    child.stderr!.on('data', chunk => {
      this.output += chunk;
    });
    this.exited = new Promise(resolve => child.once('exit', () => resolve()));
  }

  /** Starts a backend and waits until it serves requests. */
  static async start(
    options: BackendProcessOptions,
    env: Record<string, string> = {},
  ): Promise<BackendProcess & { url: string }> {
    const child = spawn(
      process.execPath,
      [
        '--no-experimental-strip-types',
        '--require',
        require.resolve('@backstage/cli-node/config/nodeTransform.cjs'),
        resolvePackagePath(
          '@mainline/plugin-promotion-backend',
          'src/__testUtils__/backendProcess.ts',
        ),
      ],
      {
        env: {
          ...process.env,
          MAINLINE_TEST_PAUSE_AFTER_STEP: '',
          ...env,
          MAINLINE_BACKEND_PROCESS: JSON.stringify(options),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const backend = new BackendProcess(child);
    const [, port] = await backend.waitFor(
      /MAINLINE_BACKEND_LISTENING (\d+)/,
      120_000,
    );
    return Object.assign(backend, { url: `http://127.0.0.1:${port}` });
  }

  /** Waits until the process printed a line matching `pattern`. */
  async waitFor(
    pattern: RegExp,
    timeoutMs = 60_000,
  ): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `backend exited before printing ${pattern}:\n${this.output.slice(
            -4000,
          )}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(
          `backend did not print ${pattern} within ${timeoutMs} ms:\n${this.output.slice(
            -4000,
          )}`,
        );
      }
      await new Promise(resolve => setTimeout(resolve, 50));
    }
  }

  /** The process id (for reading its memory). */
  get pid(): number {
    return this.child.pid!;
  }

  /** What the process printed so far. */
  get printed(): string {
    return this.output;
  }

  /** A real SIGKILL: no shutdown hook, no finally block runs. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
    await this.exited;
  }
}

/** Polls `read` until `done` holds, or fails after `timeoutMs` naming the last value read. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) {
      throw new Error(
        `not done within ${timeoutMs} ms; last read: ${JSON.stringify(
          value,
        ).slice(0, 2000)}`,
      );
    }
    await new Promise(resolve => setTimeout(resolve, 250));
    value = await read();
  }
  return value;
}

/** JSON over HTTP from a backend process (the test backend signs every caller in as a user). */
export async function call(
  url: string,
  method: 'GET' | 'POST',
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Left as text: the assertion shows it.
  }
  return { status: res.status, body: parsed };
}

/** The commits of a lineage (API body) a demo promotion can take: built, not yanked, untouched. */
export function promotableCommits(lineage: {
  commits: Array<{
    sha: string;
    artifacts: unknown[];
    yanked?: unknown;
    environments: unknown[];
    tags: unknown[];
  }>;
}): string[] {
  return lineage.commits
    .filter(
      c =>
        c.artifacts.length > 0 &&
        !c.yanked &&
        c.environments.length === 0 &&
        c.tags.length === 0,
    )
    .map(c => c.sha);
}
