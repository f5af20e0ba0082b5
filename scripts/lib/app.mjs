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
const backendReady = 'http://localhost:7107/.backstage/health/v1/readiness';
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
 * The catalog ingests the demo entities in the background after start; tests begin once the last
 * of them (and the guest user) can be read, so that no test races the ingestion.
 */
async function waitForCatalog(child, deadline) {
  const backend = 'http://localhost:7107';
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
        ].map(
          async ref =>
            (
              await fetch(`${backend}/api/catalog/entities/by-name/${ref}`, {
                headers,
              })
            ).ok,
        ),
      );
      if (ready.every(Boolean)) return;
    } catch {
      // auth or catalog not answering yet
    }
    await new Promise(resolve => setTimeout(resolve, 1000));
  }
  throw new Error('the demo catalog was not ingested in time');
}

/** Starts the app and resolves when both halves answer; `stop()` ends it whatever happened. */
export async function startApp() {
  fs.rmSync(resultsDir, { recursive: true, force: true });
  fs.mkdirSync(path.join(resultsDir, 'sqlite'), { recursive: true });
  const logPath = path.join(resultsDir, 'app.log');
  const log = fs.openSync(logPath, 'w');
  const started = Date.now();
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
  };
  process.on('SIGINT', () => {
    stop();
    process.exit(130);
  });
  try {
    const deadline = Date.now() + startTimeoutMs;
    await waitFor(backendReady, app, deadline);
    await waitFor(appUrl, app, deadline);
    await waitForCatalog(app, deadline);
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
  return { stop };
}
