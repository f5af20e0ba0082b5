#!/usr/bin/env node
// The adoption check: Mainline installed as a new user would. Packs the published packages, creates
// a fresh app with the current @backstage/create-app, adds the packed packages the way
// docs/adopting.md says, type-checks the app (with the guide's frontend snippets inside it), counts
// the Backstage packages installed more than once, starts the app, asks the lineage API for the
// guide's demo entity and opens its Environments tab in the system Chromium.
//
//   node scripts/adoption-check.mjs        (or MAINLINE_ADOPTION_CHECK=1 ./mainline test)
//
// MAINLINE_ADOPTION_DIR=<dir> keeps the work in <dir> (default: a new folder under the system
// temporary directory, removed on success); MAINLINE_CREATE_APP_VERSION pins create-app (default:
// latest). create-app cannot fetch its yarn.lock seed offline, so it runs with --skip-install and
// the app resolves against the registry, with the root resolutions this repository needs there.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findChromium, root } from './lib/app.mjs';

const packages = [
  {
    dir: 'plugins/promotion-common',
    name: '@mainline/plugin-promotion-common',
  },
  { dir: 'plugins/promotion-node', name: '@mainline/plugin-promotion-node' },
  { dir: 'plugins/promotion', name: '@mainline/plugin-promotion' },
  {
    dir: 'plugins/promotion-backend',
    name: '@mainline/plugin-promotion-backend',
  },
  ...['local', 'demo', 'gitops', 'github', 'aws', 'oci', 'argocd'].map(
    adapter => ({
      dir: `plugins/promotion-backend-module-${adapter}`,
      name: `@mainline/plugin-promotion-backend-module-${adapter}`,
    }),
  ),
  {
    dir: 'plugins/scaffolder-backend-module-promotion',
    name: '@mainline/plugin-scaffolder-backend-module-promotion',
  },
];
// What the guide's backend section adds for the embedded default, in its order: the plugin, the
// modules the embedded default needs, the scaffolder actions. The other modules are packed (they
// stand in for the published ones in the resolutions) but a first try leaves them out.
const backendAdds = [
  '@mainline/plugin-promotion-backend',
  '@mainline/plugin-promotion-backend-module-local',
  '@mainline/plugin-promotion-backend-module-gitops',
  '@mainline/plugin-promotion-backend-module-demo',
  '@mainline/plugin-scaffolder-backend-module-promotion',
];
// Each of these must be installed once: a second copy under @mainline/* is what makes exported
// types fail to compile (TS2742) and extension points or API refs not meet.
const single = [
  '@backstage/backend-plugin-api',
  '@backstage/frontend-plugin-api',
  '@backstage/core-plugin-api',
  '@backstage/plugin-catalog-react',
  '@backstage/plugin-catalog-node',
  '@backstage/plugin-scaffolder-node',
  '@backstage/plugin-events-node',
  '@backstage/plugin-permission-common',
];
const appPort = 3200;
const backendPort = 7207;
const appUrl = `http://localhost:${appPort}`;
const backendUrl = `http://localhost:${backendPort}`;

const work =
  process.env.MAINLINE_ADOPTION_DIR ??
  fs.mkdtempSync(path.join(os.tmpdir(), 'mainline-adoption-'));
const appDir = path.join(work, 'app');
const packDir = path.join(work, 'packs');
const logPath = path.join(work, 'app.log');
const started = Date.now();
const times = [];
let duplicates = [];

function elapsed(since) {
  return `${Math.round((Date.now() - since) / 1000)}s`;
}

async function step(name, fn) {
  const since = Date.now();
  console.log(`\n=== ${name}`);
  const result = await fn();
  times.push(`${name}: ${elapsed(since)}`);
  console.log(`--- ${name}: ${elapsed(since)}`);
  return result;
}

function run(cmd, args, options = {}) {
  execFileSync(cmd, args, {
    stdio: options.input ? ['pipe', 'inherit', 'inherit'] : 'inherit',
    cwd: options.cwd ?? root,
    input: options.input,
    env: { ...process.env, ...options.env },
  });
}

function editJson(file, fn) {
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  fn(json);
  fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
}

async function waitFor(what, probe, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`the app exited with code ${child.exitCode} (${what})`);
    }
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise(resolve => setTimeout(resolve, 1000));
  }
  throw new Error(
    `${what}: no answer within ${timeoutMs / 1000}s${last ? ` (${last})` : ''}`,
  );
}

// Native addons (better-sqlite3) build against the running Node's headers: the toolchain's Node
// package ships them, and node-gyp would otherwise try to download them (scripts/bootstrap.sh
// exports the same).
if (
  !process.env.npm_config_nodedir &&
  fs.existsSync(path.join(process.execPath, '../../include/node'))
) {
  process.env.npm_config_nodedir = path.resolve(process.execPath, '../..');
}

fs.mkdirSync(packDir, { recursive: true });
console.log(`adoption check in ${work}`);

await step('build and pack the Mainline packages', () => {
  run('yarn', ['tsc']);
  for (const pkg of packages) {
    const cwd = path.join(root, pkg.dir);
    run('yarn', ['backstage-cli', 'package', 'build'], { cwd });
    pkg.tarball = path.join(packDir, `${pkg.name.replace('/', '+')}.tgz`);
    run('yarn', ['pack', '--out', pkg.tarball], { cwd });
  }
});

const createAppVersion = process.env.MAINLINE_CREATE_APP_VERSION ?? 'latest';
await step(
  `create an app with @backstage/create-app@${createAppVersion}`,
  () => {
    fs.rmSync(appDir, { recursive: true, force: true });
    // It asks for the app's name on stdin; the yarn.lock seed fetch fails offline (a warning).
    run(
      'npx',
      [
        '--yes',
        `@backstage/create-app@${createAppVersion}`,
        '--skip-install',
        '--path',
        appDir,
      ],
      { cwd: work, input: 'adopter\n' },
    );
  },
);

await step(
  'bump the app to the Backstage release of this repository (versions:bump)',
  () => {
    // create-app pins the release it was published with, and its caret ranges float only for
    // packages at 1.0 or above (and within the minor for 0.x), so a fresh app mixes two
    // releases until its yarn.lock seed is applied; offline there is no seed, and such an app
    // fails at start (e.g. a newer signals-backend on the older backend-defaults). The upgrade
    // an adopter makes, `backstage-cli versions:bump`, needs the release manifest from a host
    // that is not reachable here, so the same bump is made by hand: every @backstage/* range
    // goes to the version this repository's yarn.lock resolves, and to the registry's latest
    // for the packages this repository does not use.
    const ours = new Map();
    const lock = fs.readFileSync(path.join(root, 'yarn.lock'), 'utf8');
    for (const match of lock.matchAll(
      /^"(@backstage\/[^@]+)@npm:[^\n]*\n  version: ([^\n]+)/gm,
    )) {
      const [, name, version] = match;
      if (!ours.has(name) || newer(version, ours.get(name))) {
        ours.set(name, version);
      }
    }
    const files = [
      'package.json',
      'packages/app/package.json',
      'packages/backend/package.json',
    ].map(f => path.join(appDir, f));
    for (const file of files) {
      editJson(file, json => {
        for (const field of ['dependencies', 'devDependencies']) {
          for (const name of Object.keys(json[field] ?? {})) {
            if (!name.startsWith('@backstage/')) continue;
            const version =
              ours.get(name) ??
              execFileSync('npm', ['view', name, 'version'], {
                encoding: 'utf8',
              }).trim();
            json[field][name] = `^${version}`;
          }
        }
      });
    }
    fs.copyFileSync(
      path.join(root, 'backstage.json'),
      path.join(appDir, 'backstage.json'),
    );
  },
);

function newer(a, b) {
  const pa = a.split(/[.-]/).map(Number);
  const pb = b.split(/[.-]/).map(Number);
  for (let i = 0; i < 3; i++) {
    if (pa[i] !== pb[i]) return pa[i] > pb[i];
  }
  return false;
}

await step('add Mainline as docs/adopting.md describes', () => {
  const rootResolutions = JSON.parse(
    fs.readFileSync(path.join(root, 'package.json'), 'utf8'),
  ).resolutions;
  const rootJson = JSON.parse(
    fs.readFileSync(path.join(root, 'package.json'), 'utf8'),
  );
  editJson(path.join(appDir, 'package.json'), json => {
    // keytar (an optional CLI dependency) cannot build without libsecret.
    json.dependenciesMeta = {
      ...json.dependenciesMeta,
      ...rootJson.dependenciesMeta,
    };
    json.resolutions = {
      ...json.resolutions,
      // The registry mirror's gaps and the better-sqlite3 pin for Node 24 (docs: TOOLCHAIN).
      ...rootResolutions,
      // The packed packages stand in for the published ones.
      ...Object.fromEntries(packages.map(p => [p.name, `file:${p.tarball}`])),
    };
  });
  const version = name =>
    `^${
      JSON.parse(
        fs.readFileSync(
          path.join(
            root,
            packages.find(p => p.name === name).dir,
            'package.json',
          ),
          'utf8',
        ),
      ).version
    }`;
  editJson(path.join(appDir, 'packages/backend/package.json'), json => {
    for (const name of backendAdds) json.dependencies[name] = version(name);
  });
  editJson(path.join(appDir, 'packages/app/package.json'), json => {
    json.dependencies['@mainline/plugin-promotion'] = version(
      '@mainline/plugin-promotion',
    );
  });
  const backendIndex = path.join(appDir, 'packages/backend/src/index.ts');
  const index = fs.readFileSync(backendIndex, 'utf8');
  if (!index.includes('backend.start();')) {
    throw new Error(`${backendIndex} has no backend.start() line`);
  }
  fs.writeFileSync(
    backendIndex,
    index.replace(
      'backend.start();',
      [
        ...backendAdds.map(name => `backend.add(import('${name}'));`),
        '',
        'backend.start();',
      ].join('\n'),
    ),
  );
  fs.appendFileSync(
    path.join(appDir, '.gitignore'),
    '\n# Mainline embedded default\ndata/\n',
  );
  fs.copyFileSync(
    path.join(root, 'docs/adopting/mainline-demo.yaml'),
    path.join(appDir, 'examples/mainline-demo.yaml'),
  );
  // The guide's frontend snippets, type-checked against the adopter's dependencies.
  const snippets = path.join(appDir, 'packages/app/src/mainline-snippets');
  fs.mkdirSync(snippets, { recursive: true });
  for (const file of fs.readdirSync(path.join(root, 'docs/snippets'))) {
    fs.copyFileSync(
      path.join(root, 'docs/snippets', file),
      path.join(snippets, file),
    );
  }
  fs.writeFileSync(
    path.join(appDir, 'app-config.local.yaml'),
    `# Written by Mainline's adoption check: its own ports, the guide's promotion section.
app:
  baseUrl: ${appUrl}
backend:
  baseUrl: ${backendUrl}
  listen:
    port: ${backendPort}
  cors:
    origin: ${appUrl}
catalog:
  rules:
    - allow: [Component, System, API, Resource, Location]
  locations:
    - type: file
      target: ../../examples/entities.yaml
    - type: file
      target: ../../examples/template/template.yaml
      rules:
        - allow: [Template]
    - type: file
      target: ../../examples/org.yaml
      rules:
        - allow: [User, Group]
    - type: file
      target: ../../examples/mainline-demo.yaml
      rules:
        - allow: [Group, System, Component]
promotion:
  local:
    dataDir: ../../data/promotion
    demoData: true
`,
  );
});

await step('yarn install in the app', () => {
  run('yarn', ['install'], {
    cwd: appDir,
    env: { YARN_ENABLE_IMMUTABLE_INSTALLS: 'false' },
  });
});

await step('count the copies of each Backstage package', () => {
  // The stock app itself may hold two lines of a package: create-app pins the release it was
  // published with, and its caret ranges float to the newest release only for packages at 1.0 or
  // above. Printed for the record; what fails the check is a copy that only Mainline brings, i.e.
  // one installed under node_modules/@mainline/*/node_modules.
  const lock = fs.readFileSync(path.join(appDir, 'yarn.lock'), 'utf8');
  for (const name of single) {
    const versions = new Set();
    const entry = new RegExp(
      `^"${name.replace('/', '\\/')}@npm:[^\\n]*\\n  version: ([^\\n]+)`,
      'gm',
    );
    for (const match of lock.matchAll(entry)) versions.add(match[1]);
    console.log(`app: ${name} ${[...versions].join(', ') || 'not installed'}`);
  }
  for (const pkg of packages) {
    const nested = path.join(appDir, 'node_modules', pkg.name, 'node_modules');
    const scope = path.join(nested, '@backstage');
    if (!fs.existsSync(scope)) continue;
    for (const dir of fs.readdirSync(scope)) {
      const { version } = JSON.parse(
        fs.readFileSync(path.join(scope, dir, 'package.json'), 'utf8'),
      );
      duplicates.push(`${pkg.name} brings @backstage/${dir}@${version}`);
    }
  }
  console.log(
    duplicates.length
      ? `second copies under @mainline/*: ${duplicates.join('; ')}`
      : 'no second copy of a Backstage package under @mainline/*',
  );
});

await step('yarn tsc in the app', () => {
  run('yarn', ['tsc'], { cwd: appDir });
});

const app = await step('start the app', async () => {
  fs.mkdirSync(path.join(appDir, 'data'), { recursive: true });
  const log = fs.openSync(logPath, 'w');
  const child = spawn('yarn', ['start'], {
    cwd: appDir,
    stdio: ['ignore', log, log],
    detached: true,
    env: { ...process.env, BROWSER: 'none' },
  });
  process.on('SIGINT', () => {
    stopApp(child);
    process.exit(130);
  });
  try {
    await waitFor(
      'backend readiness',
      async () =>
        (
          await fetch(`${backendUrl}/.backstage/health/v1/readiness`)
        ).ok,
      child,
      10 * 60_000,
    );
    await waitFor(
      'frontend',
      async () => (await fetch(appUrl)).ok,
      child,
      10 * 60_000,
    );
  } catch (error) {
    stopApp(child);
    throw error;
  }
  return child;
});

function stopApp(child) {
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

let failed;
try {
  await step('the lineage API answers for the demo entity', async () => {
    const token = await waitFor(
      'guest sign-in',
      async () =>
        (
          await (await fetch(`${backendUrl}/api/auth/guest/refresh`)).json()
        ).backstageIdentity.token,
      app,
      120_000,
    );
    const headers = { authorization: `Bearer ${token}` };
    await waitFor(
      'catalog ingestion of component:default/checkout',
      async () =>
        (
          await fetch(
            `${backendUrl}/api/catalog/entities/by-name/component/default/checkout`,
            { headers },
          )
        ).ok,
      app,
      180_000,
    );
    const lineageUrl = `${backendUrl}/api/promotion/v1/entities/component/default/checkout/lineage`;
    // A first start prepares the demo in the background and answers 503 until it is ready.
    await waitFor(
      'the demo preparation (lineage stops answering 503)',
      async () => (await fetch(lineageUrl, { headers })).status !== 503,
      app,
      180_000,
    );
    const response = await fetch(lineageUrl, { headers });
    const body = await response.json();
    if (!response.ok) {
      throw new Error(
        `lineage answered ${response.status}: ${JSON.stringify(body)}`,
      );
    }
    const names = body.environments.map(e => e.name).join(',');
    if (names !== 'stage,demo,prod' || !body.environments[0].current?.sha) {
      throw new Error(
        `unexpected lineage: ${JSON.stringify(body).slice(0, 500)}`,
      );
    }
    console.log(
      `lineage: ${names}; stage runs ${body.environments[0].current.sha.slice(
        0,
        7,
      )}, ${body.commits?.length ?? 0} commits`,
    );
  });

  await step('the Environments tab renders in Chromium', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: findChromium(),
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(120_000);
      await page.goto(appUrl);
      await page.getByRole('button', { name: 'Enter' }).click();
      await page
        .getByRole('link', { name: 'Catalog', exact: true })
        .first()
        .waitFor();
      await page.goto(`${appUrl}/catalog/default/component/checkout`);
      await page
        .getByRole('link', { name: 'Environments', exact: true })
        .click();
      for (const lane of ['stage', 'demo', 'prod']) {
        await page.getByTestId(`lane-${lane}`).waitFor();
      }
      await page
        .getByTestId('lane-demo')
        .getByRole('button', { name: 'Promote to demo' })
        .waitFor();
      await page.screenshot({ path: path.join(work, 'environments.png') });
      console.log(`screenshot: ${path.join(work, 'environments.png')}`);
    } finally {
      await browser.close();
    }
  });
} catch (error) {
  failed = error;
} finally {
  stopApp(app);
}
if (!failed && duplicates.length) {
  failed = new Error(
    `more than one copy installed: ${duplicates.join(
      '; ',
    )} (yarn why in ${appDir})`,
  );
}

console.log(`\n${times.join('\n')}\ntotal: ${elapsed(started)}`);
if (failed) {
  console.error(
    `\nadoption check failed: ${
      failed.message
    }\napp log (last 40 lines, ${logPath}):\n${fs
      .readFileSync(logPath, 'utf8')
      .split('\n')
      .slice(-40)
      .join('\n')}`,
  );
  process.exit(1);
}
if (!process.env.MAINLINE_ADOPTION_DIR) {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log('adoption check passed');
