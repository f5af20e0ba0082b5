/*
 * Lineage reads through the real HTTP router: the backend of ./httpBackend.ts on the embedded
 * default over the bench's own repositories, driven over loopback by the worker-thread load
 * generator, beside the same read in process and the catalog's own `entities/by-name`. Every git
 * process the backend starts is counted by a wrapper placed first on PATH.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigReader } from '@backstage/config';
import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import { Knex } from 'knex';
import { createAdapterResolver } from '../../plugins/promotion-backend/src/adapters';
import { LocalArtifactRegistry } from '@mainline/plugin-promotion-backend-module-local';
import { YankStore } from '../../plugins/promotion-backend/src/database/YankStore';
import { LineageService } from '../../plugins/promotion-backend/src/lineage/LineageService';
import { adapterProviders } from '../../plugins/promotion-backend/src/__testUtils__/adapterModules';
import { memoryCache } from '../../plugins/promotion-backend/src/testUtils';
import { load, LoadResult, startHttpBackend } from './httpBackend';

export interface HttpRow {
  what: string;
  clients: string;
  reads: string;
  rate: string;
  p50: string;
  p95: string;
  p975: string;
  git: string;
  target: string;
  verdict: string;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
};
const ms = (v: number) => `${v.toFixed(v < 1 ? 3 : 1)} ms`;

const silentLogger = {
  info() {},
  warn() {},
  error() {},
  debug() {},
  child() {
    return this;
  },
} as any;

/**
 * Measures the lineage of `service` (a repository under `<root>/git/bench/`, with its manifests
 * in `bench/deployments`) read warm and cold over HTTP, and returns the table rows.
 */
export async function httpBench(options: {
  root: string;
  service: { name: string; commits: number; shas: string[] };
  db: Knex;
  quick: boolean;
}): Promise<{ rows: HttpRow[]; startSeconds: number }> {
  const { root, service, quick } = options;
  const seconds = (full: number, short: number) =>
    (quick ? short : full) * 1000;
  const coldRounds = quick ? 1 : 3;

  // Images for the newest 100 commits in the embedded default's registry.
  const registry = new LocalArtifactRegistry(path.join(root, 'artifacts'));
  const location = `local/${service.name}`;
  for (const [i, sha] of service.shas.slice(0, 100).entries()) {
    await registry.putImage(
      location,
      sha.slice(0, 7),
      Buffer.from(JSON.stringify({ schemaVersion: 2, commit: sha })),
      new Date(1_700_000_000_000 - i * 60_000),
    );
  }
  const annotations = {
    'github.com/project-slug': `bench/${service.name}`,
    'mainline.dev/artifact-kind': 'image',
    'mainline.dev/artifact-location': location,
    'mainline.dev/manifest-repo': 'bench/deployments',
    'mainline.dev/manifest-path': `apps/${service.name}/overlays/{environment}/kustomization.yaml`,
  };
  const catalogFile = path.join(root, 'catalog.yaml');
  fs.writeFileSync(
    catalogFile,
    JSON.stringify({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: { name: service.name, annotations },
      spec: {
        type: 'service',
        owner: 'group:default/bench',
        lifecycle: 'production',
      },
    }),
  );

  // Every git process the backend starts, counted by a wrapper first on PATH.
  const counted = path.join(root, 'git-processes');
  const bin = path.join(root, 'bin');
  const realGit = execFileSync('sh', ['-c', 'command -v git'], {
    encoding: 'utf8',
  }).trim();
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(
    path.join(bin, 'git'),
    `#!/bin/sh\necho >> '${counted}'\nexec '${realGit}' "$@"\n`,
    { mode: 0o755 },
  );
  const originalPath = process.env.PATH;
  process.env.PATH = `${bin}:${originalPath}`;
  const gitProcesses = () =>
    fs.existsSync(counted)
      ? fs.readFileSync(counted, 'utf8').split('\n').length - 1
      : 0;

  // The backend logs every request at info (and warns that no notifications backend listens).
  process.env.LOG_LEVEL = process.env.LOG_LEVEL ?? 'error';
  const startedAt = Date.now();
  const backend = await startHttpBackend({
    dataDir: root,
    catalogFile,
    entityPath: `component/default/${service.name}`,
  });
  const startSeconds = (Date.now() - startedAt) / 1000;
  const headers = { authorization: `Bearer ${backend.token}` };
  const entityApi = `${backend.baseUrl}/api/promotion/v1/entities/component/default/${service.name}`;
  const lineageUrl = `${entityApi}/lineage`;
  const byNameUrl = `${backend.baseUrl}/api/catalog/entities/by-name/component/default/${service.name}`;
  const rows: HttpRow[] = [];
  const row = (
    what: string,
    clients: number,
    r: LoadResult,
    extra: { git?: number; target: string; pass?: boolean },
  ) => {
    const ok = r.statuses['200'] ?? 0;
    const failed = r.latencies.length - ok;
    rows.push({
      what,
      clients: String(clients),
      reads: `${r.latencies.length}${failed ? ` (${failed} not 200)` : ''}`,
      rate: `${((r.latencies.length / r.elapsedMs) * 1000).toFixed(0)}/s`,
      p50: ms(percentile(r.latencies, 50)),
      p95: ms(percentile(r.latencies, 95)),
      p975: ms(percentile(r.latencies, 97.5)),
      git: extra.git === undefined ? '' : String(extra.git),
      target: extra.target,
      verdict:
        extra.pass === undefined ? '' : extra.pass && !failed ? 'PASS' : 'MISS',
    });
  };

  try {
    const first = await fetch(lineageUrl, { headers });
    if (!first.ok) {
      throw new Error(
        `lineage answered ${first.status}: ${await first.text()}`,
      );
    }
    const lineage = (await first.json()) as {
      commits: Array<{ sha: string; environments: string[] }>;
    };
    // Warm-up: code compiled, connections and caches filled.
    await load({
      url: lineageUrl,
      headers,
      connections: 50,
      durationMs: seconds(2, 0.3),
    });

    const one = await load({
      url: lineageUrl,
      headers,
      connections: 1,
      durationMs: seconds(5, 0.5),
    });
    row(`lineage ${service.commits} commits, warm, one client`, 1, one, {
      git: 0,
      target: 'p50 ≤ 10 ms',
      pass: percentile(one.latencies, 50) <= 10,
    });
    fs.rmSync(counted, { force: true });
    const fifty = await load({
      url: lineageUrl,
      headers,
      connections: 50,
      durationMs: seconds(10, 1),
    });
    row(`lineage ${service.commits} commits, warm, sustained`, 50, fifty, {
      git: gitProcesses(),
      target: '≥ 300/s, p97.5 ≤ 250 ms',
      pass:
        (fifty.latencies.length / fifty.elapsedMs) * 1000 >= 300 &&
        percentile(fifty.latencies, 97.5) <= 250,
    });
    const burst = await load({
      url: lineageUrl,
      headers,
      connections: 200,
      requests: 200,
    });
    row(`lineage ${service.commits} commits, warm, 200 at once`, 200, burst, {
      target: 'all answered, p95 ≤ 1 s',
      pass:
        burst.statuses['200'] === 200 &&
        percentile(burst.latencies, 95) <= 1000,
    });

    // Cold: right after a write (a yank through the API invalidates the entity's lineage).
    const writable = lineage.commits.filter(c => c.environments.length === 0);
    const cold: LoadResult = {
      latencies: [],
      statuses: {},
      elapsedMs: 0,
      bytes: 0,
    };
    let coldGit = 0;
    for (let i = 0; i < coldRounds; i++) {
      const yank = await fetch(`${entityApi}/yanks`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({
          sha: writable[i].sha,
          reason: 'bench: cold read',
        }),
      });
      if (yank.status !== 201) throw new Error(`yank answered ${yank.status}`);
      fs.rmSync(counted, { force: true });
      const round = await load({
        url: lineageUrl,
        headers,
        connections: 200,
        requests: 200,
      });
      coldGit = Math.max(coldGit, gitProcesses());
      cold.latencies.push(...round.latencies);
      cold.elapsedMs += round.elapsedMs;
      for (const [status, n] of Object.entries(round.statuses)) {
        cold.statuses[status] = (cold.statuses[status] ?? 0) + n;
      }
    }
    row(
      `lineage ${service.commits} commits, cold after a write, 200 at once (${coldRounds}×)`,
      200,
      cold,
      {
        git: coldGit,
        target: 'all answered, p95 ≤ 2 s',
        pass:
          cold.statuses['200'] === 200 * coldRounds &&
          percentile(cold.latencies, 95) <= 2000,
      },
    );

    const catalog = await load({
      url: byNameUrl,
      headers,
      connections: 50,
      durationMs: seconds(10, 1),
    });
    row(`catalog entities/by-name, same backend`, 50, catalog, {
      target: '(reference)',
    });
  } finally {
    await backend.stop();
    process.env.PATH = originalPath;
  }

  // The same lineage in process: LineageService over the same repositories, no HTTP.
  const lineage = new LineageService({
    adapters: createAdapterResolver(
      new ConfigReader({ promotion: { local: { dataDir: root } } }),
      { cache: memoryCache(), logger: silentLogger },
      adapterProviders(),
    ),
    yanks: new YankStore(options.db),
    cache: memoryCache(),
    environments: DEFAULT_ENVIRONMENTS.map(e => ({ ...e })),
    mainBranch: 'main',
    cacheTtlMs: 3600_000,
  });
  const entityRef = `component:default/${service.name}`;
  const target = {
    sourceRepo: `bench/${service.name}`,
    artifactKind: 'image' as const,
    artifactLocation: location,
    manifestRepo: 'bench/deployments',
    manifestPath: annotations['mainline.dev/manifest-path'],
    versioning: 'semver' as const,
    releaseBranches: false,
  };
  await lineage.lineage(entityRef, target, { limit: 50 });
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < (quick ? 500 : 5000); i++) {
    const t0 = performance.now();
    await lineage.lineage(entityRef, target, { limit: 50 });
    times.push(performance.now() - t0);
  }
  row(
    `lineage ${service.commits} commits, warm, in process (no HTTP)`,
    1,
    {
      latencies: times,
      statuses: { 200: times.length },
      elapsedMs: performance.now() - started,
      bytes: 0,
    },
    { target: '(reference)' },
  );
  // One caller in a loop, no network: a rate would say nothing.
  rows[rows.length - 1].rate = '';
  return { rows, startSeconds };
}

/** Prints the rows as a table. */
export function printHttpRows(rows: HttpRow[], write: (s: string) => void) {
  const header: HttpRow = {
    what: 'through the HTTP router (embedded default, loopback)',
    clients: 'clients',
    reads: 'reads',
    rate: 'reads/s',
    p50: 'p50',
    p95: 'p95',
    p975: 'p97.5',
    git: 'git processes',
    target: 'target',
    verdict: '',
  };
  const keys = Object.keys(header) as Array<keyof HttpRow>;
  const widths = keys.map(k =>
    Math.max(...[header, ...rows].map(r => r[k].length)),
  );
  const line = (r: HttpRow) =>
    keys.map((k, i) => r[k].padEnd(widths[i])).join(' | ');
  write(`${line(header)}\n${widths.map(w => '-'.repeat(w)).join('-|-')}\n`);
  for (const r of rows) write(`${line(r)}\n`);
}
