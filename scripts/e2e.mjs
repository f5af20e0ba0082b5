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
// `node scripts/e2e.mjs [--github | --local] [playwright arguments...]`: one pass only, and the
// remaining arguments (spec files, --grep) handed to Playwright, e.g.
// `node scripts/e2e.mjs --github e2e-tests/github-mode.spec.ts`.
const args = process.argv.slice(2);
const only = ['--github', '--local'].find(flag => args.includes(flag));
const playwrightArgs = args.filter(
  arg => arg !== '--github' && arg !== '--local',
);

/**
 * Runs the browser tests against one app: the embedded default runs every test but those tagged
 * `@github`, GitHub mode (the app against the GitHub test server) runs those.
 */
async function pass(github) {
  let app;
  try {
    app = await startApp({ github });
    const run = spawn(
      'yarn',
      [
        'playwright',
        'test',
        github ? '--grep' : '--grep-invert',
        '@github',
        ...playwrightArgs,
      ],
      {
        cwd: root,
        stdio: 'inherit',
        env: {
          ...process.env,
          CHROMIUM_PATH: chromium,
          PLAYWRIGHT_BASE_URL: appUrl,
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
  }
}

const local = only === '--github' ? 0 : await pass(false);
const github = only === '--local' ? 0 : await pass(true);
process.exit(local || github);
