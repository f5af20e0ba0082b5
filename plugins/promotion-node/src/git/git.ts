import { execFile } from 'node:child_process';

/**
 * The outcome of one git invocation; non-zero exits are data, not exceptions, for the callers.
 *
 * @public
 */
export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the `git` binary against one repository. Arguments go straight to git (no shell), and
 * callers pass user-supplied refs after `--end-of-options`, so neither shell nor option injection
 * is possible.
 *
 * @public
 */
export class GitRunner {
  constructor(
    private readonly gitDir: string,
    private readonly env: Record<string, string> = {},
    private readonly hooks: {
      /** Told of every git process's exit code (-1: it could not be started) and subcommand. */
      onExit?: (code: number, command: string) => void;
    } = {},
  ) {}

  run(
    args: string[],
    options: { input?: string; env?: Record<string, string> } = {},
  ): Promise<GitResult> {
    const { onExit } = this.hooks;
    if (!onExit) return this.spawn(args, options);
    return this.spawn(args, options).then(
      result => {
        onExit(result.code, args[0] ?? '');
        return result;
      },
      error => {
        onExit(-1, args[0] ?? '');
        throw error;
      },
    );
  }

  private spawn(
    args: string[],
    options: { input?: string; env?: Record<string, string> },
  ): Promise<GitResult> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        'git',
        [`--git-dir=${this.gitDir}`, ...args],
        {
          maxBuffer: 256 * 1024 * 1024,
          env: {
            ...process.env,
            GIT_TERMINAL_PROMPT: '0',
            GIT_CONFIG_NOSYSTEM: '1',
            LC_ALL: 'C',
            ...this.env,
            ...options.env,
          },
        },
        (error, stdout, stderr) => {
          if (!error) {
            resolve({ code: 0, stdout, stderr });
            return;
          }
          const code = (error as { code?: unknown }).code;
          if (typeof code !== 'number') {
            // git could not be started at all (missing binary, bad cwd): not a git answer.
            reject(error);
            return;
          }
          resolve({ code, stdout, stderr });
        },
      );
      if (options.input !== undefined) {
        child.stdin?.end(options.input);
      }
    });
  }

  /** Runs git and returns stdout, failing with git's own message on a non-zero exit. */
  async output(
    args: string[],
    options?: { input?: string; env?: Record<string, string> },
  ): Promise<string> {
    const result = await this.run(args, options);
    if (result.code !== 0) {
      throw new Error(
        `git ${args[0]} failed (${result.code}): ${
          result.stderr.trim() || result.stdout.trim()
        }`,
      );
    }
    return result.stdout;
  }
}
