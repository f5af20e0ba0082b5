/*
 * `yarn bench --org [--services 2000] [--minutes 3] [--drop 0.1]`: an organisation on the GitHub
 * test server, served by two real backend processes on one PostgreSQL 15 database sharing one
 * redis-server as Backstage's cache store. It measures the cold board and how the background
 * warmer spreads the rest of it within the rate budget, then an hour of changes (300 merges, 40
 * rc-* and 10 v* tags, each delivered as a signed webhook to one replica at random, a share of
 * them dropped) compressed into `--minutes`, and prints what GitHub was asked, counted at the
 * test server (REST requests that count against the budget, GraphQL queries, free 304s), the
 * freshness of every change on both replicas, a restarted replica's board (from the persisted
 * snapshots) and each replica's memory.
 *
 * Time compression: the hour of changes, GitHub's rate-limit window (the test server's budget is
 * whole again every `--minutes`) and the warmer's refresh interval (an unchanged service's
 * snapshot is read again once an hour) are compressed by 60 / `--minutes`; freshness and the
 * lineage cache's TTL are in real seconds.
 *
 * Needs PostgreSQL 15 (BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING) and redis-server.
 */
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import {
  GitHubTestRequest,
  startGitHubTestServer,
} from '@mainline/test-servers';
import {
  BackendProcess,
  call,
} from '../../plugins/promotion-backend/src/__testUtils__/backendProcessHarness';
import { startRedisServer } from '../../plugins/promotion-backend/src/__testUtils__/redisServer';

const OWNER = 'org';
const SECRET = 'org-bench-secret';
const TOKEN = 'org-bench-token';
const ENVIRONMENTS = ['stage', 'demo', 'prod'];
/** Components per monorepo; a fifth of the services have a repository of their own. */
const PER_MONOREPO = 10;
const COMMITS_PER_SERVICE = 8;
/** One hour of an organisation's changes. */
const HOURLY = { merges: 300, rc: 40, v: 10 };

/**
 * A share of the services are Lambdas (Serverless packages in the artifact store, deploys recorded
 * per environment as `sls deploy` makes them): every tenth standalone repository and every fifth
 * monorepo component, about 12 % of the organisation.
 */
const LAMBDA_EVERY = { standalone: 10, component: 5 };

interface Service {
  name: string;
  repo: string;
  sourcePath?: string;
  shas: string[];
  lambda: boolean;
}

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
};

function kustomization(image: string, tag: string) {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n  - name: ${image}\n    newTag: ${tag}\n`;
}

/** One repository by `git fast-import`: `commits` commits per component, interleaved. */
function buildRepo(
  dir: string,
  components: Array<string | undefined>,
): string[][] {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('git', [
    'init',
    '--quiet',
    '--bare',
    '--initial-branch=main',
    dir,
  ]);
  const lines: string[] = [];
  let mark = 0;
  const marks: number[][] = components.map(() => []);
  for (let i = 0; i < COMMITS_PER_SERVICE; i++) {
    components.forEach((component, c) => {
      mark += 1;
      const message = `Merge pull request #${mark} from org/change-${mark}`;
      const file = component ? `${component}/app.txt` : 'app.txt';
      const content = `${c}-${i}`;
      lines.push(
        'commit refs/heads/main',
        `mark :${mark}`,
        `committer Dev <dev@example.com> ${1_700_000_000 + mark * 60} +0000`,
        `data ${message.length}`,
        message,
        ...(mark > 1 ? [`from :${mark - 1}`] : []),
        `M 100644 inline ${file}`,
        `data ${content.length}`,
        content,
        '',
      );
      marks[c].push(mark);
    });
  }
  lines.push('');
  const exported = path.join(dir, 'marks');
  execFileSync(
    'git',
    ['--git-dir', dir, 'fast-import', '--quiet', `--export-marks=${exported}`],
    { input: lines.join('\n') },
  );
  const shaOf = new Map(
    fs
      .readFileSync(exported, 'utf8')
      .trim()
      .split('\n')
      .map(line => {
        const [m, sha] = line.split(' ');
        return [Number(m.slice(1)), sha] as const;
      }),
  );
  fs.rmSync(exported);
  // Newest first, as a lineage lists them.
  return marks.map(ms => ms.map(m => shaOf.get(m)!).reverse());
}

function generate(root: string, count: number) {
  const services: Service[] = [];
  const standalone = Math.round(count / 5);
  for (let i = 0; i < standalone; i++) {
    const repo = `svc-${i}`;
    const [shas] = buildRepo(path.join(root, 'git', OWNER, `${repo}.git`), [
      undefined,
    ]);
    services.push({
      name: `svc-${i}`,
      repo: `${OWNER}/${repo}`,
      shas,
      lambda: i % LAMBDA_EVERY.standalone === LAMBDA_EVERY.standalone - 1,
    });
  }
  for (let m = 0; services.length < count; m++) {
    const n = Math.min(PER_MONOREPO, count - services.length);
    const repo = `mono-${m}`;
    const paths = Array.from({ length: n }, (_, c) => `services/c${c}`);
    const shas = buildRepo(path.join(root, 'git', OWNER, `${repo}.git`), paths);
    paths.forEach((sourcePath, c) =>
      services.push({
        name: `mono-${m}-c${c}`,
        repo: `${OWNER}/${repo}`,
        sourcePath,
        shas: shas[c],
        lambda: c % LAMBDA_EVERY.component === LAMBDA_EVERY.component - 1,
      }),
    );
  }
  // One GitOps repository for the organisation: stage runs the newest, demo and prod older.
  const deployments = path.join(root, 'git', OWNER, 'deployments.git');
  execFileSync('git', [
    'init',
    '--quiet',
    '--bare',
    '--initial-branch=main',
    deployments,
  ]);
  const lines = [
    'commit refs/heads/main',
    'mark :1',
    'committer CI <ci@example.com> 1700000000 +0000',
    'data 10',
    'Manifests.',
  ];
  // Lambdas: what `sls deploy -s <environment> -p <sha>` recorded, stage newest, prod oldest.
  const lambdaDeploys = path.join(root, 'deployments');
  fs.mkdirSync(lambdaDeploys, { recursive: true });
  for (const s of services.filter(x => x.lambda)) {
    fs.writeFileSync(
      path.join(lambdaDeploys, `${s.name}.jsonl`),
      ENVIRONMENTS.map(
        (environment, e) =>
          `${JSON.stringify({
            environment,
            sha: s.shas[Math.min(e * 2, s.shas.length - 1)],
            deployedAt: new Date(1_700_000_000_000 + e * 60_000).toISOString(),
            deployedBy: 'user:default/ci',
          })}\n`,
      ).join(''),
    );
  }
  for (const s of services.filter(x => !x.lambda)) {
    ENVIRONMENTS.forEach((environment, e) => {
      const content = kustomization(
        `local/${s.name}`,
        s.shas[Math.min(e * 2, s.shas.length - 1)].slice(0, 7),
      );
      lines.push(
        `M 100644 inline apps/${s.name}/overlays/${environment}/kustomization.yaml`,
        `data ${Buffer.byteLength(content)}`,
        content,
      );
    });
  }
  lines.push('', '');
  execFileSync('git', ['--git-dir', deployments, 'fast-import', '--quiet'], {
    input: lines.join('\n'),
  });
  const entities = services.map(s => ({
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name: s.name,
      namespace: 'default',
      annotations: {
        'github.com/project-slug': s.repo,
        ...(s.sourcePath ? { 'mainline.dev/source-path': s.sourcePath } : {}),
        ...(s.lambda
          ? {
              'mainline.dev/artifact-kind': 'archive',
              'mainline.dev/artifact-location': `local://${s.name}`,
              'mainline.dev/serverless-service': s.name,
            }
          : {
              'mainline.dev/artifact-kind': 'image',
              'mainline.dev/artifact-location': `local/${s.name}`,
              'mainline.dev/manifest-repo': `${OWNER}/deployments`,
              'mainline.dev/manifest-path': `apps/${s.name}/overlays/{environment}/kustomization.yaml`,
            }),
      },
    },
    spec: {
      type: 'service',
      lifecycle: 'production',
      owner: `group:default/team-${services.indexOf(s) % 20}`,
    },
    relations: [
      {
        type: 'ownedBy',
        targetRef: `group:default/team-${services.indexOf(s) % 20}`,
      },
    ],
  }));
  return { services, entities };
}

/** What GitHub was asked, from the test server's own log. */
function tally(requests: GitHubTestRequest[]) {
  const api = requests.filter(r => r.kind === 'api');
  return {
    rest: api.filter(r => r.path !== '/graphql' && !r.conditional).length,
    graphql: api.filter(r => r.path === '/graphql').length,
    free304: api.filter(r => r.conditional).length,
    git: requests.filter(r => r.kind === 'git').length,
  };
}

/** The release board as a browser reads it, with the server's own account of its time. */
async function readBoard(url: string) {
  const res = await fetch(`${url}/api/promotion/v1/board`);
  const body: any = await res.json().catch(() => undefined);
  return {
    status: res.status,
    body,
    serverTiming: res.headers.get('server-timing') ?? '',
  };
}

/** `catalog;dur=12, cache;dur=40` → `catalog 12, cache 40` (ms). */
const timingText = (header: string) =>
  header
    .split(',')
    .map(part => part.trim().replace(/;dur=/, ' '))
    .filter(Boolean)
    .join(', ');

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

export async function orgBench(options: {
  services: number;
  minutes: number;
  drop: number;
  /** How long the warmer's spread of the cold board is watched at most. */
  warmMinutes: number;
}) {
  const pg = process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
  if (!pg) {
    throw new Error(
      'yarn bench --org needs PostgreSQL 15: set BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING',
    );
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mainline-org-bench-'));
  const cleanups: Array<() => Promise<unknown>> = [
    async () => fs.rmSync(root, { recursive: true, force: true }),
  ];
  const log = (line: string) => process.stderr.write(`[org bench] ${line}\n`);
  try {
    let started = Date.now();
    const { services, entities } = generate(root, options.services);
    const entitiesFile = path.join(root, 'entities.json');
    fs.writeFileSync(entitiesFile, JSON.stringify(entities));
    log(
      `${services.length} services in ${
        new Set(services.map(s => s.repo)).size
      } repositories generated in ${((Date.now() - started) / 1000).toFixed(
        0,
      )} s`,
    );

    const hourMs = options.minutes * 60_000;
    const compression = 60 / options.minutes;
    const github = await startGitHubTestServer({
      root: path.join(root, 'git'),
      token: TOKEN,
      // A GitHub App installation's budget, its hourly window compressed with the hour.
      rateLimit: 5000,
      rateLimitWindowMs: hourMs,
    });
    cleanups.unshift(() => github.close());
    const redis = await startRedisServer();
    cleanups.unshift(() => redis.stop());
    const database = `org_bench_${crypto.randomBytes(4).toString('hex')}`;
    const admin = knexFactory({ client: 'pg', connection: pg });
    await admin.raw(`CREATE DATABASE ${database}`);
    cleanups.push(async () => {
      await admin.raw(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.destroy();
    });
    // The database in the URL: node-postgres takes a connection string's (default) database over
    // a separate `database` field, which would put every run in the server's default database.
    const url = new URL(pg);
    url.pathname = `/${database}`;
    const connection = { connectionString: url.toString() };
    const processOptions = {
      database: { client: 'pg', connection },
      entitiesFile,
      notificationsFile: path.join(root, 'notifications.jsonl'),
      config: {
        integrations: {
          github: [
            { host: github.host, apiBaseUrl: github.baseUrl, token: TOKEN },
          ],
        },
        backend: { cache: { store: 'redis', connection: redis.url } },
        events: {
          useEventBus: 'never',
          http: { topics: ['github'] },
          modules: { github: { webhookSecret: SECRET } },
        },
        promotion: {
          source: { provider: 'github' },
          github: { host: github.host, lambdaDeploys: 'recorded' },
          local: { dataDir: root, demoData: false },
          // People's promotions from tags are outside this bench: tags only change lineage.
          tags: { fromPushes: false },
          // Every unchanged service read again once an hour (compressed), 10 rounds a minute.
          warmer: {
            enabled: true,
            intervalSeconds: 2,
            perRound: 40,
            concurrency: 4,
            refreshAfterMinutes: 60 / compression,
          },
        },
      },
    };
    started = Date.now();
    const loopEnv = { MAINLINE_REPORT_EVENT_LOOP: '1' };
    const a = await BackendProcess.start(processOptions as any, loopEnv);
    cleanups.unshift(() => a.kill());
    const b = await BackendProcess.start(processOptions as any, loopEnv);
    cleanups.unshift(() => b.kill());
    log(`two replicas up in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const replicas = [a, b];

    const budgetOf = async (url: string) => {
      const res = await call(
        `${url}/api/promotion/v1/github/rate-budget`,
        'GET',
      );
      const resources = (res.body?.integrations ?? []).flatMap(
        (i: any) => i.resources,
      );
      return Object.fromEntries(
        resources.map((r: any) => [r.resource, r.remaining as number]),
      ) as Record<string, number>;
    };
    const db = knexFactory({ client: 'pg', connection });
    cleanups.unshift(() => db.destroy());
    const snapshotted = async () =>
      Number(
        ((await db('promotion_lineage_snapshots').count({ n: '*' })) as any)[0]
          .n,
      );

    // The cold board: nothing cached, nothing snapshotted. One page load reads at most
    // promotion.board.coldReadsPerRequest lineages; the warmer reads the rest in the background.
    github.resetRequests();
    started = Date.now();
    const board = await readBoard(a.url);
    const coldMs = Date.now() - started;
    if (board.status !== 200) {
      throw new Error(
        `board answered ${board.status}: ${JSON.stringify(board.body).slice(
          0,
          500,
        )}`,
      );
    }
    const failed = board.body.services.filter((s: any) => s.error);
    const served = board.body.services.filter(
      (s: any) => s.environments.length > 0,
    ).length;
    const cold = tally(github.requests);
    log(
      `cold board ${coldMs} ms: ${served} rows read, ${
        board.body.refreshing
      } left to the warmer, ${failed.length} failed; ${JSON.stringify(cold)}`,
    );

    // The rest of the cold board, spread by the warmer: how long, how many requests, and the
    // lowest budget GitHub reported meanwhile.
    github.resetRequests();
    started = Date.now();
    const perMinute: number[] = [];
    let lowest = { core: Infinity, graphql: Infinity };
    let minuteStarted = Date.now();
    let minuteCount = 0;
    while (
      (await snapshotted()) < services.length &&
      Date.now() - started < options.warmMinutes * 60_000
    ) {
      await new Promise(resolve => setTimeout(resolve, 2000));
      const budget = await budgetOf(a.url);
      lowest = {
        core: Math.min(lowest.core, budget.core ?? Infinity),
        graphql: Math.min(lowest.graphql, budget.graphql ?? Infinity),
      };
      if (Date.now() - minuteStarted >= 60_000) {
        const t = tally(github.requests);
        perMinute.push(t.rest + t.graphql - minuteCount);
        minuteCount = t.rest + t.graphql;
        minuteStarted = Date.now();
      }
    }
    const warmMs = Date.now() - started;
    const warm = tally(github.requests);
    const warmedCount = await snapshotted();
    log(
      `warmer: ${warmedCount} snapshots in ${(warmMs / 1000).toFixed(
        0,
      )} s, ${JSON.stringify(warm)}, lowest remaining ${JSON.stringify(
        lowest,
      )}`,
    );
    github.resetRequests();
    started = Date.now();
    const warmBoard = await readBoard(a.url);
    const warmBoardMs = Date.now() - started;
    const afterWarm = tally(github.requests);
    github.resetRequests();
    started = Date.now();
    const otherBoard = await readBoard(b.url);
    const otherMs = Date.now() - started;
    const other = tally(github.requests);
    log(
      `board after the warmer: ${warmBoardMs} ms on A (${warmBoard.body.refreshing} refreshing), ${otherMs} ms on B (${otherBoard.body.refreshing} refreshing)`,
    );

    // An hour of changes in `minutes`.
    const events = [
      ...Array.from({ length: HOURLY.merges }, () => 'merge' as const),
      ...Array.from({ length: HOURLY.rc }, () => 'rc' as const),
      ...Array.from({ length: HOURLY.v }, () => 'v' as const),
    ]
      .map(kind => ({ kind, at: Math.random() * hourMs }))
      .sort((x, y) => x.at - y.at);
    const freshness: Array<{
      ms: number;
      dropped: boolean;
      /** Per replica: when the read that served the merge started, and how long it took. */
      served: Array<{ startedMs: number; readMs: number; stale: number }>;
    }> = [];
    const probes: Array<Promise<void>> = [];
    const lineageHead = async (url: string, s: Service) => {
      // A refused connection (an overloaded replica) is a read that did not serve it yet.
      const res = await call(
        `${url}/api/promotion/v1/entities/component/default/${s.name}/lineage`,
        'GET',
      ).catch(() => undefined);
      return res?.status === 200 ? res.body.commits?.[0]?.sha : undefined;
    };
    let dropped = 0;
    let undelivered = 0;
    let sequence = 0;
    github.resetRequests();
    const hourStarted = Date.now();
    /** The replicas' event-loop delay reports (p50, p99, max ms per 10 s) within the hour. */
    const loopDelay = (r: BackendProcess) =>
      [...r.printed.matchAll(/MAINLINE_EVENT_LOOP (\d+) (\d+) (\d+) (\d+)/g)]
        .filter(m => Number(m[1]) >= hourStarted)
        .map(m => ({ p99: Number(m[3]), max: Number(m[4]) }));
    for (const event of events) {
      const wait = hourStarted + event.at - Date.now();
      if (wait > 0) await new Promise(resolve => setTimeout(resolve, wait));
      const s = services[Math.floor(Math.random() * services.length)];
      const dir = path.join(root, 'git', `${s.repo}.git`);
      sequence += 1;
      let ref: string;
      let expectHead: string | undefined;
      if (event.kind === 'merge') {
        const file = s.sourcePath ? `${s.sourcePath}/app.txt` : 'app.txt';
        const parent = execFileSync(
          'git',
          ['--git-dir', dir, 'rev-parse', 'main'],
          {
            encoding: 'utf8',
          },
        ).trim();
        const message = `Merge pull request #${
          100000 + sequence
        } from org/hour-${sequence}`;
        const content = `hour ${sequence}`;
        execFileSync('git', ['--git-dir', dir, 'fast-import', '--quiet'], {
          input: [
            'commit refs/heads/main',
            `committer Dev <dev@example.com> ${Math.floor(
              Date.now() / 1000,
            )} +0000`,
            `data ${message.length}`,
            message,
            `from ${parent}`,
            `M 100644 inline ${file}`,
            `data ${content.length}`,
            content,
            '',
            '',
          ].join('\n'),
        });
        expectHead = execFileSync(
          'git',
          ['--git-dir', dir, 'rev-parse', 'main'],
          {
            encoding: 'utf8',
          },
        ).trim();
        ref = 'refs/heads/main';
      } else {
        const tag = `${event.kind === 'rc' ? 'rc-' : 'v'}${sequence}`;
        execFileSync('git', ['--git-dir', dir, 'tag', tag, s.shas[0]]);
        ref = `refs/tags/${tag}`;
      }
      const lost = Math.random() < options.drop;
      if (lost) {
        dropped += 1;
      } else {
        const payload = JSON.stringify({
          ref,
          repository: { full_name: s.repo },
        });
        const target = replicas[Math.floor(Math.random() * 2)];
        const delivered = await fetch(`${target.url}/api/events/http/github`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-github-event': 'push',
            'x-github-delivery': crypto.randomUUID(),
            'x-hub-signature-256': `sha256=${crypto
              .createHmac('sha256', SECRET)
              .update(payload)
              .digest('hex')}`,
          },
          body: payload,
        }).then(
          res => res.status === 202,
          () => false,
        );
        // A delivery the replica did not take is a lost webhook, as on GitHub.
        if (!delivered) undelivered += 1;
      }
      if (expectHead) {
        // Someone watching this service on each replica: when do both serve the merge?
        const sent = Date.now();
        const head = expectHead;
        probes.push(
          (async () => {
            const pending = new Set(replicas);
            const served = replicas.map(() => ({
              startedMs: NaN,
              readMs: NaN,
              stale: 0,
            }));
            while (pending.size > 0 && Date.now() - sent < 180_000) {
              for (const r of [...pending]) {
                const readStarted = Date.now();
                const seen = await lineageHead(r.url, s);
                const at = served[replicas.indexOf(r)];
                if (seen === head) {
                  pending.delete(r);
                  at.startedMs = readStarted - sent;
                  at.readMs = Date.now() - readStarted;
                } else {
                  at.stale += 1;
                }
              }
              if (pending.size > 0) {
                await new Promise(resolve => setTimeout(resolve, 500));
              }
            }
            freshness.push({ ms: Date.now() - sent, dropped: lost, served });
          })(),
        );
      }
    }
    await Promise.all(probes);
    const hour = tally(github.requests);
    const hourRequests = [...github.requests];
    const withHook = freshness.filter(f => !f.dropped).map(f => f.ms);
    // Where the time of a delivered webhook's freshness went: waiting for a read that serves the
    // merge to start (invalidation not yet seen, the watcher's interval, the other replica's
    // turn), and that read itself (an upstream lineage read, or a shared-cache hit).
    const delivered = freshness.filter(f => !f.dropped);
    const servedOn = (r: number, field: 'startedMs' | 'readMs') =>
      delivered.map(f => f.served[r][field]).filter(Number.isFinite);
    const upstreamMs = (filter: (r: GitHubTestRequest) => boolean) =>
      hourRequests.filter(filter).map(r => r.finishedAt - r.startedAt);
    let inFlight = 0;
    let peakInFlight = 0;
    for (const [, delta] of hourRequests
      .flatMap(r => [
        [r.startedAt, 1],
        [r.finishedAt, -1],
      ])
      .sort((x, y) => x[0] - y[0] || x[1] - y[1])) {
      inFlight += delta;
      peakInFlight = Math.max(peakInFlight, inFlight);
    }
    const p = (values: number[]) =>
      `p50 ${(percentile(values, 50) / 1000).toFixed(2)} s, p95 ${(
        percentile(values, 95) / 1000
      ).toFixed(2)} s`;
    const withoutHook = freshness.filter(f => f.dropped).map(f => f.ms);
    const memory = replicas.map(r => rssMb(r.pid));
    const loops = replicas.map(loopDelay);

    // A replica restarted after the hour: its first board comes from the persisted snapshots.
    await b.kill();
    started = Date.now();
    const b2 = await BackendProcess.start(processOptions as any);
    cleanups.unshift(() => b2.kill());
    const restartMs = Date.now() - started;
    github.resetRequests();
    started = Date.now();
    const restarted = await readBoard(b2.url);
    const restartedMs = Date.now() - started;
    const restartedCost = tally(github.requests);
    const fromSnapshot = (restarted.body.services ?? []).filter(
      (s: any) => s.snapshotAt,
    );
    const ages = fromSnapshot.map(
      (s: any) =>
        Date.parse(restarted.body.generatedAt) - Date.parse(s.snapshotAt),
    );

    const perHour = (n: number) => Math.round(n);
    const rows: Array<[string, string]> = [
      [
        'services / repositories',
        `${services.length} / ${new Set(services.map(s => s.repo)).size}`,
      ],
      [
        'containers / Lambdas / monorepo components',
        `${services.filter(x => !x.lambda).length} / ${
          services.filter(x => x.lambda).length
        } / ${services.filter(x => x.sourcePath).length}`,
      ],
      [
        'time compression',
        `${compression}x: an hour of changes, of rate-limit window and of warmer refresh in ${options.minutes} min`,
      ],
      [
        'cold board, first page load (replica A)',
        `${(coldMs / 1000).toFixed(1)} s: ${served} rows read, ${
          board.body.refreshing
        } left to the warmer, ${failed.length} failed; REST ${
          cold.rest
        }, GraphQL ${cold.graphql}, free 304 ${cold.free304}, git ${
          cold.git
        }; server ${timingText(board.serverTiming)}`,
      ],
      [
        'rest of the cold board, by the warmer',
        `${warmedCount} of ${services.length} in ${(warmMs / 1000).toFixed(
          0,
        )} s (${((warmedCount / warmMs) * 60_000).toFixed(0)} a minute); REST ${
          warm.rest
        }, GraphQL ${warm.graphql}, free 304 ${warm.free304}, git ${
          warm.git
        }; busiest minute ${Math.max(
          0,
          ...perMinute,
        )} requests; lowest remaining REST ${lowest.core}, GraphQL ${
          lowest.graphql
        } of 5,000 (reserve 1,000)`,
      ],
      [
        'board once warm: A / B (shared cache)',
        `${(warmBoardMs / 1000).toFixed(1)} s (REST ${
          afterWarm.rest
        }, GraphQL ${afterWarm.graphql}) / ${(otherMs / 1000).toFixed(
          1,
        )} s (REST ${other.rest}, GraphQL ${other.graphql})`,
      ],
      [
        '  server time of those boards, by phase (ms)',
        `A ${timingText(warmBoard.serverTiming)} / B ${timingText(
          otherBoard.serverTiming,
        )}`,
      ],
      [
        `one hour of changes (${HOURLY.merges} merges, ${HOURLY.rc} rc, ${HOURLY.v} v) in ${options.minutes} min`,
        `${dropped} of ${events.length} webhooks dropped (${Math.round(
          options.drop * 100,
        )} %), ${undelivered} not accepted`,
      ],
      [
        'GitHub requests per hour',
        `REST ${perHour(hour.rest)}, GraphQL ${perHour(
          hour.graphql,
        )}, free 304 ${perHour(hour.free304)}, git ${perHour(
          hour.git,
        )} (target REST < 5,000 steady; ≤ 12,500 with 10 % lost)`,
      ],
      [
        'freshness, webhook delivered',
        `p50 ${(percentile(withHook, 50) / 1000).toFixed(1)} s, p95 ${(
          percentile(withHook, 95) / 1000
        ).toFixed(1)} s over ${withHook.length} merges (target ≤ 10 s)`,
      ],
      [
        '  of which: the serving read started after',
        `A ${p(servedOn(0, 'startedMs'))}; B ${p(servedOn(1, 'startedMs'))}`,
      ],
      [
        '  of which: the serving read took',
        `A ${p(servedOn(0, 'readMs'))}; B ${p(servedOn(1, 'readMs'))}`,
      ],
      [
        '  test server answer time during the hour',
        `REST ${p(
          upstreamMs(r => r.kind === 'api' && r.path !== '/graphql'),
        )}; GraphQL ${p(upstreamMs(r => r.path === '/graphql'))}; git ${p(
          upstreamMs(r => r.kind === 'git'),
        )}; peak ${peakInFlight} in flight`,
      ],
      [
        "  replicas' event loop held (per 10 s)",
        loops
          .map(
            (l, i) =>
              `${'AB'[i]} p99 median ${percentile(
                l.map(x => x.p99),
                50,
              )} ms, worst max ${Math.max(0, ...l.map(x => x.max))} ms`,
          )
          .join('; '),
      ],
      [
        'freshness, webhook lost',
        withoutHook.length
          ? `p50 ${(percentile(withoutHook, 50) / 1000).toFixed(1)} s, p95 ${(
              percentile(withoutHook, 95) / 1000
            ).toFixed(1)} s over ${withoutHook.length} merges (target ≤ 120 s)`
          : 'none lost',
      ],
      [
        'replica B restarted: first board',
        `start ${(restartMs / 1000).toFixed(0)} s, board ${(
          restartedMs / 1000
        ).toFixed(1)} s, ${fromSnapshot.length} rows from snapshots (age p50 ${(
          percentile(ages, 50) / 1000
        ).toFixed(0)} s, max ${(Math.max(0, ...ages) / 1000).toFixed(0)} s), ${
          restarted.body.refreshing
        } refreshing; REST ${restartedCost.rest}, GraphQL ${
          restartedCost.graphql
        }; server ${timingText(restarted.serverTiming)}`,
      ],
      [
        'memory per replica (RSS, after the hour)',
        memory.map(m => `${m.toFixed(0)} MB`).join(', '),
      ],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(
      `Mainline org bench\n${rows
        .map(([k, v]) => `${k.padEnd(width)} | ${v}`)
        .join('\n')}\n`,
    );
  } finally {
    for (const cleanup of cleanups) {
      await cleanup().catch(error => log(`cleanup: ${error}`));
    }
  }
}
