#!/usr/bin/env node
// Browser end-to-end harness: starts the app on its own ports with throwaway data, runs
// Playwright against the system Chromium, and stops the app again whatever happened.
import { spawn } from 'node:child_process';
import { findChromium, root, startApp } from './lib/app.mjs';

let chromium;
try {
  chromium = findChromium();
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
// `node scripts/e2e.mjs [--local | --approvals | --github] [playwright arguments...]`: one pass
// only, and the remaining arguments (spec files, --grep) handed to Playwright, e.g.
// `node scripts/e2e.mjs --github e2e-tests/github-mode.spec.ts`.
const PASSES = ['--local', '--approvals', '--github'];
const args = process.argv.slice(2);
const only = PASSES.find(flag => args.includes(flag));
const playwrightArgs = args.filter(arg => !PASSES.includes(arg));

/**
 * Runs the browser tests against one app: the embedded default runs every test but those tagged
 * `@github` or `@approvals`; the approvals app (demo needs an approval, which would hold up the
 * other tests' promotions to demo) runs those tagged `@approvals`; GitHub mode (the app against
 * the GitHub test server) runs those tagged `@github`.
 */
async function pass(mode) {
  let app;
  const started = Date.now();
  try {
    app = await startApp({
      github: mode === 'github',
      approvals: mode === 'approvals',
    });
    const grep =
      mode === 'local'
        ? ['--grep-invert', '@github|@approvals']
        : ['--grep', `@${mode}`];
    const run = spawn(
      'yarn',
      ['playwright', 'test', ...grep, ...playwrightArgs],
      {
        cwd: root,
        stdio: 'inherit',
        env: {
          ...process.env,
          CHROMIUM_PATH: chromium,
          PLAYWRIGHT_BASE_URL: app.appUrl,
        },
      },
    );
    return await new Promise(resolve =>
      run.on('exit', code => resolve(code ?? 1)),
    );
  } catch (error) {
    console.error(String(error));
    return 1;
  } finally {
    app?.stop();
    console.log(`${mode} pass: ${Math.round((Date.now() - started) / 1000)}s`);
  }
}

// The local pass first: it starts from an empty e2e-test-results/, the others from their own folder.
let failed = 0;
for (const flag of PASSES) {
  if (only && only !== flag) continue;
  failed = (await pass(flag.slice(2))) || failed;
}
process.exit(failed);
