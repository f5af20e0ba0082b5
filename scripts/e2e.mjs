#!/usr/bin/env node
// Browser end-to-end harness: starts the app on its own ports with throwaway data, runs
// Playwright against the system Chromium, and stops the app again whatever happened.
import { spawn } from 'node:child_process';
import { appUrl, findChromium, root, startApp } from './lib/app.mjs';

let chromium;
try {
  chromium = findChromium();
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
let status = 1;
let app;
try {
  app = await startApp();
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
} finally {
  app?.stop();
}
process.exit(status);
