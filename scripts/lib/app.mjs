// Starts the app (frontend dev server and backend) on the harness ports with throwaway data, for
// the browser tests and the frontend measurements; finds the system Chromium.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../..',
);
export const resultsDir = path.join(root, 'e2e-test-results');
export const appUrl = 'http://localhost:3100';
const backendUrl = 'http://localhost:7107';
/**
 * The approvals pass's own ports (e2e-tests/app-config.e2e-approvals.yaml), so that it can run
 * beside another pass of the harness on the same machine.
 */
const approvalsUrls = {
  app: 'http://localhost:3101',
  backend: 'http://localhost:7108',
};
const startTimeoutMs = 8 * 60_000;

export function findChromium() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], {
        encoding: 'utf8',
      }).trim();
    } catch {
      // try the next name
    }
  }
  throw new Error(
    'No Chromium found. Install the system browser (Debian: apt-get install -y chromium) or set CHROMIUM_PATH.',
  );
}

async function waitFor(url, child, deadline) {
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(
        `the app exited with code ${child.exitCode} before ${url} answered`,
      );
    }
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise(resolve => setTimeout(resolve, 1000));
  }
  throw new Error(`${url} did not answer within ${startTimeoutMs / 1000}s`);
}

/**
 * The catalog ingests the demo entities in the background after start, and the demo data is
 * generated in the background; tests begin once the last of them (and the guest user) can be
 * read and the lineage answers, so that no test races either.
 */
async function waitForCatalog(child, deadline, backend, extraRefs = []) {
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`the app exited with code ${child.exitCode}`);
    try {
      const { backstageIdentity } = await (
        await fetch(`${backend}/api/auth/guest/refresh`)
      ).json();
      const headers = { authorization: `Bearer ${backstageIdentity.token}` };
      const ready = await Promise.all(
        [
          'component/default/invoices',
          'component/default/checkout',
          'user/default/guest',
          ...extraRefs,
        ].map(
          async ref =>
            (
              await fetch(`${backend}/api/catalog/entities/by-name/${ref}`, {
                headers,
              })
            ).ok,
        ),
      );
      // The demo data is generated in the background: lineage answers 503 until it is ready.
      const lineage = await fetch(
        `${backend}/api/promotion/v1/entities/component/default/checkout/lineage`,
        { headers },
      );
      if (ready.every(Boolean) && lineage.status !== 503) return;
    } catch {
      // auth or catalog not answering yet
    }
    await new Promise(resolve => setTimeout(resolve, 1000));
  }
  throw new Error('the demo catalog was not ingested in time');
}

/** GitHub mode: the repository's GitHub test server, on the port e2e-tests/app-config.e2e-github.yaml names. */
const githubPort = 7170;
export const githubGitRoot = path.join(
  resultsDir,
  'github-mode',
  'promotion',
  'git',
);

async function startGitHubServer(log) {
  fs.mkdirSync(githubGitRoot, { recursive: true });
  const server = spawn(
    process.execPath,
    [
      '--require',
      '@backstage/cli/config/nodeTransform.cjs',
      'packages/test-servers/src/github/cli.ts',
      '--root',
      githubGitRoot,
      '--port',
      String(githubPort),
      '--token',
      'mainline-e2e-token',
      '--complete-runs-after-ms',
      '2000',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', log], detached: true },
  );
  await new Promise((resolve, reject) => {
    server.stdout.once('data', resolve);
    server.once('exit', code =>
      reject(new Error(`the GitHub test server exited with code ${code}`)),
    );
  });
  return () => {
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
}

/**
 * Starts the app and resolves when both halves answer, with `appUrl` where it answers; `stop()`
 * ends it whatever happened. With `github: true` it runs in GitHub mode against the GitHub test
 * server; with `approvals: true` demo needs an approval and the harness's approver is in the
 * catalog (each with its own data and log, beside the embedded default's).
 */
export async function startApp({ github = false, approvals = false } = {}) {
  const mode = github ? 'github-mode' : approvals ? 'approvals' : undefined;
  const runDir = mode ? path.join(resultsDir, mode) : resultsDir;
  const urls = approvals ? approvalsUrls : { app: appUrl, backend: backendUrl };
  // Each pass starts from fresh data, also when a mode's pass runs alone.
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(runDir, 'sqlite'), { recursive: true });
  const logPath = path.join(runDir, 'app.log');
  const log = fs.openSync(logPath, 'w');
  const started = Date.now();
  const stopGitHub = github ? await startGitHubServer(log) : () => {};
  const app = spawn(
    'yarn',
    [
      'backstage-cli',
      'repo',
      'start',
      '--config',
      path.join(root, 'app-config.yaml'),
      '--config',
      path.join(root, 'e2e-tests/app-config.e2e.yaml'),
      ...(mode
        ? [
            '--config',
            path.join(
              root,
              `e2e-tests/app-config.e2e-${
                github ? 'github' : 'approvals'
              }.yaml`,
            ),
          ]
        : []),
    ],
    {
      cwd: root,
      stdio: ['ignore', log, log],
      detached: true,
      env: { ...process.env, BROWSER: 'none' },
    },
  );
  const stop = () => {
    try {
      process.kill(-app.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    stopGitHub();
  };
  process.on('SIGINT', () => {
    stop();
    process.exit(130);
  });
  try {
    const deadline = Date.now() + startTimeoutMs;
    await waitFor(
      `${urls.backend}/.backstage/health/v1/readiness`,
      app,
      deadline,
    );
    await waitFor(urls.app, app, deadline);
    await waitForCatalog(
      app,
      deadline,
      urls.backend,
      approvals ? ['user/default/e2e-approver'] : [],
    );
  } catch (error) {
    stop();
    console.error(
      fs.readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n'),
    );
    throw error;
  }
  console.log(
    `app ready in ${Math.round(
      (Date.now() - started) / 1000,
    )}s (log: ${path.relative(root, logPath)})`,
  );
  return { stop, appUrl: urls.app };
}
