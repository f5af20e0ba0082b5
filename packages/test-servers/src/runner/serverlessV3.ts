import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

/*
 * The real Serverless Framework v3 for the workflow runner's `serverless package`. It is not in
 * the workspace's lockfile (about 430 packages and 250 MB that every `yarn install` would pay
 * for, for one test file): it is installed once with npm, on demand, into a cache folder
 * (default `.toolchain/serverless-<version>` at the repository root, which CI provisions before
 * the tests, scripts/test.sh), without install scripts, and reused from there.
 */

/** Where the framework was installed, and how long the install took (0 when it was cached). */
export interface ServerlessV3Install {
  /** The package folder (holds `bin/serverless.js`): the runner's `serverlessV3` option. */
  dir: string;
  version: string;
  installMs: number;
}

/** The repository root: the nearest folder up from here with a `yarn.lock`. */
function repositoryRoot(): string {
  // eslint-disable-next-line no-restricted-syntax
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'yarn.lock'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('no yarn.lock above the test servers');
    dir = parent;
  }
  return dir;
}

/** `MAINLINE_SERVERLESS_V3_CACHE`, else `<repository>/.toolchain`. */
export function serverlessV3CacheRoot(): string {
  return (
    process.env.MAINLINE_SERVERLESS_V3_CACHE ??
    path.join(repositoryRoot(), '.toolchain')
  );
}

const installedVersion = (dir: string): string | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
      .version;
  } catch {
    return undefined;
  }
};

/**
 * Installs `serverless@<version>` (an exact v3 version, as the rendered workflows pin it) unless
 * the cache already holds it. Throws with npm's output when it cannot be installed.
 */
export async function installServerlessV3(
  version: string,
  options: { cacheRoot?: string; npm?: string } = {},
): Promise<ServerlessV3Install> {
  if (!/^3\.\d+\.\d+$/.test(version)) {
    throw new Error(`serverless ${version} is not an exact v3 version`);
  }
  const prefix = path.join(
    options.cacheRoot ?? serverlessV3CacheRoot(),
    `serverless-${version}`,
  );
  const dir = path.join(prefix, 'node_modules', 'serverless');
  if (
    installedVersion(dir) === version &&
    fs.existsSync(path.join(prefix, '.complete'))
  ) {
    return { dir, version, installMs: 0 };
  }
  const started = Date.now();
  fs.rmSync(prefix, { recursive: true, force: true });
  fs.mkdirSync(prefix, { recursive: true });
  try {
    await promisify(execFile)(
      options.npm ?? 'npm',
      [
        'install',
        '--prefix',
        prefix,
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        // Its postinstall only prints; nothing may run or phone home at install.
        '--ignore-scripts',
        '--loglevel=error',
        `serverless@${version}`,
      ],
      { maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 },
    );
  } catch (error) {
    const e = error as Error & { stderr?: string };
    throw new Error(
      `npm could not install serverless@${version} into ${prefix}: ${
        e.stderr?.trim() || e.message
      }`,
    );
  }
  if (installedVersion(dir) !== version) {
    throw new Error(`npm left no serverless@${version} in ${prefix}`);
  }
  fs.writeFileSync(path.join(prefix, '.complete'), '');
  return { dir, version, installMs: Date.now() - started };
}
