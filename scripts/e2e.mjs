#!/usr/bin/env node
// Browser end-to-end harness: starts the app (frontend dev server and backend) on its own ports
// with throwaway data, waits until both answer, runs Playwright against the system Chromium, and
// stops the app again whatever happened.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = path.join(root, 'e2e-test-results');
const appUrl = 'http://localhost:3100';
const backendReady = 'http://localhost:7107/.backstage/health/v1/readiness';
const startTimeoutMs = 8 * 60_000;

function findChromium() {
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
  console.error(
    'No Chromium found. Install the system browser (Debian: apt-get install -y chromium) or set CHROMIUM_PATH.',
  );
  process.exit(1);
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

const chromium = findChromium();
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

let status = 1;
try {
  const deadline = Date.now() + startTimeoutMs;
  await waitFor(backendReady, app, deadline);
  await waitFor(appUrl, app, deadline);
  console.log(
    `app ready in ${Math.round(
      (Date.now() - started) / 1000,
    )}s (log: ${path.relative(root, logPath)})`,
  );
  const run = spawn('yarn', ['playwright', 'test'], {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      CHROMIUM_PATH: chromium,
      PLAYWRIGHT_BASE_URL: appUrl,
    },
  });
  status = await new Promise(resolve =>
    run.on('exit', code => resolve(code ?? 1)),
  );
} catch (error) {
  console.error(String(error));
  console.error(
    fs.readFileSync(logPath, 'utf8').split('\n').slice(-40).join('\n'),
  );
} finally {
  stop();
}
process.exit(status);
