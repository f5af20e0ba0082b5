import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DemoManifest,
  generateDemoData,
} from '@mainline/plugin-promotion-backend-module-demo';

/**
 * The demo is generated once per test run and copied for each suite: generating it costs seconds
 * of git work, which a dozen suites on a busy two-core machine would pay again and again inside
 * their `beforeAll` hooks. A run is the jest process (its workers are its children), so every
 * worker shares one seed, and a seed never outlives the run's source: it is keyed by the
 * generator's code as well.
 */
function seedDir(): string {
  const run =
    process.env.JEST_WORKER_ID !== undefined ? process.ppid : process.pid;
  const sources = crypto.createHash('sha256');
  // The demo is written by the demo module with the embedded default's adapters.
  for (const pkg of ['demo', 'local']) {
    const dir = path.join(
      path.dirname(
        require.resolve(
          `@mainline/plugin-promotion-backend-module-${pkg}/package.json`,
        ),
      ),
      'src',
    );
    for (const file of fs.readdirSync(dir).sort()) {
      if (file.endsWith('.ts')) {
        sources.update(file).update(fs.readFileSync(path.join(dir, file)));
      }
    }
  }
  return path.join(
    os.tmpdir(),
    `mainline-demo-seed-${run}-${sources.digest('hex').slice(0, 12)}`,
  );
}

let seeding: Promise<{ dir: string; manifest: DemoManifest }> | undefined;

async function seed(): Promise<{ dir: string; manifest: DemoManifest }> {
  const dir = seedDir();
  const manifestFile = path.join(dir, 'demo.json');
  if (!fs.existsSync(manifestFile)) {
    // Generated beside the seed and renamed into place: a worker that loses the race to another
    // one keeps the winner's copy, and nobody ever reads a half-written seed.
    const scratch = fs.mkdtempSync(`${dir}.tmp-`);
    await generateDemoData(scratch);
    try {
      fs.renameSync(scratch, dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw error;
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    removeOldSeeds(dir);
  }
  return {
    dir,
    manifest: JSON.parse(fs.readFileSync(manifestFile, 'utf8')),
  };
}

/** Seeds of earlier runs, once they are a day old (a run in progress keeps its own). */
function removeOldSeeds(current: string) {
  const dayAgo = Date.now() - 24 * 60 * 60 * 1000;
  for (const name of fs.readdirSync(os.tmpdir())) {
    const dir = path.join(os.tmpdir(), name);
    if (!name.startsWith('mainline-demo-seed-') || dir === current) continue;
    try {
      if (fs.statSync(dir).mtimeMs < dayAgo) {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    } catch {
      // another run removed it first
    }
  }
}

/**
 * A fresh data directory holding its own copy of the demo (git repositories, artifact store,
 * `demo.json`), as a first start with `promotion.local.demoData` would generate it; a backend
 * started on it finds the demo and only records its tombstones.
 */
export async function demoDataDir(
  prefix: string,
): Promise<{ dataDir: string; manifest: DemoManifest }> {
  seeding ??= seed();
  const { dir, manifest } = await seeding;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.cpSync(dir, dataDir, { recursive: true, preserveTimestamps: true });
  return { dataDir, manifest };
}
