/*
 * `yarn bench --org [--services <n>] [--minutes <m>] [--drop <share>]`: the organisation bench of
 * ./lib/orgBench.ts instead (two replicas, a shared cache, an hour of changes).
 *
 * `yarn bench [--quick] [--latency <ms>]`: lineage and promotion costs against the repository's
 * GitHub and ECR test servers with injected latency, side by side with a naive per-commit
 * implementation kept here as the baseline. Prints one table; targets are reported, not asserted.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DescribeImagesCommand, ECRClient } from '@aws-sdk/client-ecr';
import knexFactory from 'knex';
import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  DEFAULT_ENVIRONMENTS,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';
import {
  EcrTestServer,
  GitHubTestServer,
  startEcrTestServer,
  startGitHubTestServer,
} from '@mainline/test-servers';
import { ComposedAdapterResolver } from '../plugins/promotion-backend/src/adapters';
import { ReleaseBoard } from '../plugins/promotion-backend/src/board/ReleaseBoard';
import { EntityTargets } from '../plugins/promotion-backend/src/service/EntityTargets';
import { ArtifactRegistries } from '@mainline/plugin-promotion-node';
import { ecrEntry } from '@mainline/plugin-promotion-backend-module-aws';
import { openDatabase } from '../plugins/promotion-backend/src/database/migrations';
import { PromotionStore } from '../plugins/promotion-backend/src/database/PromotionStore';
import { YankStore } from '../plugins/promotion-backend/src/database/YankStore';
import { GitOpsDeploymentTarget } from '@mainline/plugin-promotion-backend-module-gitops';
import { LineageService } from '../plugins/promotion-backend/src/lineage/LineageService';
import { PromotionService } from '../plugins/promotion-backend/src/promotion/PromotionService';
import {
  createGitHubClient,
  GitHubSourceControl,
} from '@mainline/plugin-promotion-backend-module-github';
import { memoryCache } from '../plugins/promotion-backend/src/testUtils';
import {
  WriteScope,
  readWriteScopeOptions,
} from '../plugins/promotion-backend/src/service/WriteScope';
import { httpBench, printHttpRows } from './lib/httpBench';
import { orgBench } from './lib/orgBench';
import { runtimeBench } from './lib/runtimeBench';
import { BenchRow, Measured, ms, timer } from './lib/timing';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    latency: { type: 'string', default: '50' },
    org: { type: 'boolean', default: false },
    services: { type: 'string', default: '2000' },
    minutes: { type: 'string', default: '3' },
    drop: { type: 'string', default: '0.1' },
    'warm-minutes': { type: 'string', default: '4' },
    runtime: { type: 'boolean', default: false },
  },
});
const LATENCY = Number(values.latency);
const QUICK = values.quick;
const SIZES = QUICK ? [200, 1000] : [1000, 10000];
const TAGS = QUICK ? 100 : 500;
const IMAGES = QUICK ? 1000 : 5000;
const COLD_READS = QUICK ? 5 : 20;
const WARM_READS = QUICK ? 50 : 200;
const NAIVE_READS = QUICK ? 1 : 3;
const SERVICES_CACHED = QUICK ? 50 : 200;
const BOARD_SERVICES = QUICK ? 100 : 500;
const BOARD_READS = QUICK ? 5 : 20;
const LIMIT = 50;
const ACCOUNT = '123456789012';

/** A bare repository of `commits` commits on main (a merge every tenth), built by fast-import. */
function buildRepo(dir: string, commits: number): string[] {
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
  let main = 0;
  for (let i = 0; i < commits; i++) {
    const time = 1_700_000_000 + i * 60;
    if (i > 0 && i % 10 === 0) {
      mark += 1;
      const side = mark;
      lines.push(
        `commit refs/heads/side`,
        `mark :${side}`,
        `committer Dev <dev@example.com> ${time} +0000`,
        `data 9`,
        `side ${String(i).padStart(4, '0')}`,
        `from :${main}`,
        `M 100644 inline side.txt`,
        `data ${String(i).length}`,
        String(i),
        '',
      );
      mark += 1;
      lines.push(
        `commit refs/heads/main`,
        `mark :${mark}`,
        `committer Dev <dev@example.com> ${time + 1} +0000`,
        `data 6`,
        `merge.`,
        `from :${main}`,
        `merge :${side}`,
        `M 100644 inline side.txt`,
        `data ${String(i).length}`,
        String(i),
        '',
      );
    } else {
      mark += 1;
      const message = `Change ${i}`;
      lines.push(
        `commit refs/heads/main`,
        `mark :${mark}`,
        `committer Dev <dev@example.com> ${time} +0000`,
        `data ${message.length}`,
        message,
        ...(main ? [`from :${main}`] : []),
        `M 100644 inline app.txt`,
        `data ${String(i).length}`,
        String(i),
        '',
      );
    }
    main = mark;
  }
  execFileSync('git', ['--git-dir', dir, 'fast-import', '--quiet'], {
    input: `${lines.join('\n')}\n`,
  });
  return execFileSync(
    'git',
    ['--git-dir', dir, 'rev-list', '--first-parent', 'main'],
    {
      encoding: 'utf8',
    },
  )
    .trim()
    .split('\n');
}

function kustomization(image: string, tag: string) {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../../base]\nimages:\n  - name: ${image}\n    newTag: ${tag}\n`;
}

async function main() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mainline-bench-'));
  const git = path.join(root, 'git');
  const started = Date.now();
  const github: GitHubTestServer = await startGitHubTestServer({ root: git });
  const ecr: EcrTestServer = await startEcrTestServer({ accountId: ACCOUNT });
  const services: Array<{ name: string; commits: number; shas: string[] }> = [];

  // Service repositories, tags, images, and the manifest repository pinning each environment.
  const manifests: Record<string, string> = {};
  for (const commits of SIZES) {
    const name = `svc-${commits}`;
    const shas = buildRepo(path.join(git, 'bench', `${name}.git`), commits);
    for (let i = 0; i < TAGS; i++) {
      const sha = shas[Math.min(shas.length - 1, 5 + i * 2)];
      const tag = i % 2 ? `rc-${TAGS - i}` : `v0.${TAGS - i}.0`;
      execFileSync('git', [
        '--git-dir',
        path.join(git, 'bench', `${name}.git`),
        'tag',
        tag,
        sha,
      ]);
    }
    // Images as the scaffolded workflow builds them (annotated with build time and commit); the
    // largest service's also as a plain `docker push` makes them, in a second repository.
    const plain = commits === SIZES[SIZES.length - 1];
    const images = Math.min(IMAGES, shas.length);
    for (let i = images - 1; i >= 0; i--) {
      const pushedAt = new Date(1_700_000_000_000 + (shas.length - i) * 60_000);
      ecr.pushImage(name, [shas[i].slice(0, 7)], {
        seed: shas[i],
        pushedAt,
        annotations: {
          'org.opencontainers.image.created': pushedAt.toISOString(),
          'org.opencontainers.image.revision': shas[i],
        },
      });
      if (plain) {
        ecr.pushImage(`${name}-plain`, [shas[i].slice(0, 7)], {
          seed: shas[i],
          pushedAt,
        });
      }
    }
    for (const app of plain ? [name, `${name}-plain`] : [name]) {
      const uri = ecr.repositoryUri(app);
      manifests[`apps/${app}/overlays/stage/kustomization.yaml`] =
        kustomization(uri, shas[1].slice(0, 7));
      manifests[`apps/${app}/overlays/demo/kustomization.yaml`] = kustomization(
        uri,
        `rc-${TAGS - 1}`,
      );
      manifests[`apps/${app}/overlays/prod/kustomization.yaml`] = kustomization(
        uri,
        `v0.${TAGS}.0`,
      );
    }
    services.push({ name, commits, shas });
  }
  const manifestDir = path.join(root, 'manifests-work');
  fs.mkdirSync(manifestDir);
  execFileSync('git', [
    'init',
    '--quiet',
    '--initial-branch=main',
    manifestDir,
  ]);
  for (const [file, content] of Object.entries(manifests)) {
    fs.mkdirSync(path.dirname(path.join(manifestDir, file)), {
      recursive: true,
    });
    fs.writeFileSync(path.join(manifestDir, file), content);
  }
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'ci',
    GIT_AUTHOR_EMAIL: 'ci@example.com',
    GIT_COMMITTER_NAME: 'ci',
    GIT_COMMITTER_EMAIL: 'ci@example.com',
  };
  execFileSync('git', ['-C', manifestDir, 'add', '.'], { env });
  execFileSync(
    'git',
    ['-C', manifestDir, 'commit', '--quiet', '-m', 'environments'],
    { env },
  );
  execFileSync('git', [
    'clone',
    '--quiet',
    '--bare',
    manifestDir,
    path.join(git, 'bench', 'deployments.git'),
  ]);
  const setupSeconds = (Date.now() - started) / 1000;

  github.setLatency(LATENCY);
  ecr.setLatency(LATENCY);
  const upstream = () => [...github.requests, ...ecr.requests];
  const reset = () => {
    github.resetRequests();
    ecr.resetRequests();
  };

  const clientCache = memoryCache();
  const client = createGitHubClient({
    baseUrl: github.baseUrl,
    cache: clientCache,
    writeSpacingMs: 0,
  });
  const source = new GitHubSourceControl(async () => client, {
    webBaseUrl: github.htmlUrl,
  });
  const ecrClient = new ECRClient({
    endpoint: ecr.endpoint,
    region: ecr.region,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const registries = new ArtifactRegistries([
    ecrEntry(async () => ecrClient, { accountIds: [ecr.accountId] }),
  ]);
  const gitops = new GitOpsDeploymentTarget(source, { branch: 'main' });
  const adapters = new ComposedAdapterResolver({
    source,
    artifacts: location => registries.lookup(location),
    images: gitops,
    archives: gitops,
  });
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: ':memory:',
    useNullAsDefault: true,
  });
  const db = await openDatabase({ getClient: async () => knex } as any);
  const yanks = new YankStore(db);
  const environments = DEFAULT_ENVIRONMENTS.map(e => ({ ...e }));
  const lineageCache = memoryCache();
  const lineage = new LineageService({
    adapters,
    yanks,
    cache: lineageCache,
    environments,
    mainBranch: 'main',
    cacheTtlMs: 3600_000,
  });
  const target = (name: string): PromotionTarget => ({
    sourceRepo: `bench/${name}`,
    artifactKind: 'image',
    artifactLocation: ecr.repositoryUri(name),
    manifestRepo: 'bench/deployments',
    manifestPath: `apps/${name}/overlays/{environment}/kustomization.yaml`,
    versioning: 'semver',
    releaseBranches: false,
  });

  type Row = BenchRow;
  const table: Row[] = [];
  const measure = timer({ upstream, reset, settleMs: LATENCY + 10 });
  /** A cold lineage row: against ≤ 6 requests in ≤ 2 rounds. */
  const coldRow = (what: string, m: Measured): Row => ({
    what,
    p50: ms(m.p50),
    p95: ms(m.p95),
    requests: String(m.requests),
    rounds: String(m.rounds),
    target: '≤ 6 requests, ≤ 2 rounds',
    verdict: m.requests <= 6 && m.rounds <= 2 ? 'PASS' : 'MISS',
  });

  for (const service of services) {
    const entityRef = `component:bench/${service.name}`;
    const t = target(service.name);
    const read = () => lineage.lineage(entityRef, t, { limit: LIMIT });
    // First read ever: nothing cached anywhere.
    const first = await measure(1, read, () => lineage.invalidate(entityRef));
    table.push(
      coldRow(
        `lineage ${service.commits} commits, first read (nothing cached)`,
        first,
      ),
    );
    const cold = await measure(COLD_READS, read, () =>
      lineage.invalidate(entityRef),
    );
    table.push(
      coldRow(
        `lineage ${service.commits} commits, cold (invalidated; ETags kept)`,
        cold,
      ),
    );
    const warm = await measure(WARM_READS, read);
    table.push({
      what: `lineage ${service.commits} commits, warm`,
      p50: ms(warm.p50),
      p95: ms(warm.p95),
      requests: String(warm.requests),
      rounds: String(warm.rounds),
      target: '0 requests, p50 ≤ 20 ms',
      verdict: warm.requests === 0 && warm.p50 <= 20 ? 'PASS' : 'MISS',
    });
    // The baseline: what a straightforward implementation does, one commit at a time.
    const naive = await measure(NAIVE_READS, async () => {
      const { data } = await client.rest.repos.listCommits({
        owner: 'bench',
        repo: service.name,
        sha: 'main',
        per_page: LIMIT,
        headers: { 'if-none-match': '' },
      });
      for (const commit of data) {
        await Promise.all([
          client.rest.repos.getCommit({
            owner: 'bench',
            repo: service.name,
            ref: commit.sha,
            headers: { 'if-none-match': '' },
          }),
          ecrClient
            .send(
              new DescribeImagesCommand({
                repositoryName: service.name,
                imageIds: [{ imageTag: commit.sha.slice(0, 7) }],
              }),
            )
            .catch(() => undefined),
          client.rest.repos.listTags({
            owner: 'bench',
            repo: service.name,
            per_page: 100,
            headers: { 'if-none-match': '' },
          }),
        ]);
      }
    });
    table.push({
      what: `naive per-commit baseline, ${service.commits} commits`,
      p50: ms(naive.p50),
      p95: ms(naive.p95),
      requests: String(naive.requests),
      rounds: String(naive.rounds),
      target: '(baseline)',
      verdict: '',
    });
  }

  // The same lineage over images pushed without the build annotations: their build times need
  // DescribeImages by digest after BatchGetImage, one more round.
  {
    const largest = services[services.length - 1];
    const entityRef = `component:bench/${largest.name}-plain`;
    const t: PromotionTarget = {
      ...target(largest.name),
      artifactLocation: ecr.repositoryUri(`${largest.name}-plain`),
      manifestPath: `apps/${largest.name}-plain/overlays/{environment}/kustomization.yaml`,
    };
    const cold = await measure(
      COLD_READS,
      () => lineage.lineage(entityRef, t, { limit: LIMIT }),
      () => lineage.invalidate(entityRef),
    );
    table.push(
      coldRow(
        `lineage ${largest.commits} commits, cold, images without build annotations`,
        cold,
      ),
    );
  }

  // Promotion stage → demo over GitHub and ECR: checks, tag, retag, manifest commit.
  const promoted = services[0];
  // The write-scope guard as an administrator would configure it for the bench's team: its
  // catalog answers from memory, so the row counts the guard's own work, not a catalog's.
  const promotedTarget = target(promoted.name);
  const owner = 'group:bench/bench';
  const writeScope = new WriteScope({
    catalog: catalogServiceMock({
      entities: [
        {
          apiVersion: 'backstage.io/v1alpha1',
          kind: 'Component',
          metadata: {
            name: promoted.name,
            namespace: 'bench',
            annotations: {
              'github.com/project-slug': promotedTarget.sourceRepo,
              'mainline.dev/artifact-kind': 'image',
              'mainline.dev/artifact-location': promotedTarget.artifactLocation,
              'mainline.dev/manifest-repo': promotedTarget.manifestRepo!,
              'mainline.dev/manifest-path': promotedTarget.manifestPath!,
            },
          },
          spec: { type: 'service', owner },
        },
      ],
    }),
    auth: mockServices.auth(),
    auditor: {
      createEvent: async () => ({
        success: async () => {},
        fail: async () => {},
      }),
    } as any,
    environments: environments.map(e => e.name),
    options: readWriteScopeOptions(
      new ConfigReader({
        promotion: {
          writeScope: {
            grants: [
              {
                owners: [owner],
                repositories: [promotedTarget.sourceRepo],
                manifests: [
                  {
                    repository: promotedTarget.manifestRepo!,
                    paths: ['apps/**'],
                  },
                ],
                artifactLocations: [promotedTarget.artifactLocation],
              },
            ],
          },
        },
      }),
    ),
  });
  const promotions = new PromotionService({
    adapters,
    writeScope,
    store: new PromotionStore(db),
    yanks,
    lineage,
    environments,
    mainBranch: 'main',
    annotatedTags: true,
    permissions: {
      authorize: async (r: unknown[]) => r.map(() => ({ result: 'ALLOW' })),
      authorizeConditional: async () => [],
    } as any,
    auditor: {
      createEvent: async () => ({
        success: async () => {},
        fail: async () => {},
      }),
    } as any,
    logger: {
      info() {},
      warn() {},
      error() {},
      debug() {},
      child() {
        return this;
      },
    } as any,
  });
  const entity = {
    entityRef: `component:bench/${promoted.name}`,
    owners: [owner],
    target: promotedTarget,
  };
  const ctx = {
    credentials: {} as any,
    actor: {
      entityRef: 'user:default/bench',
      name: 'Bench',
      email: 'bench@example.com',
    },
  };
  const promotion = await measure(1, async () => {
    const result = (await promotions.promote(
      entity,
      { environment: 'demo', sha: promoted.shas[1] },
      ctx,
    )) as { status: string; error: string | null };
    if (result.status !== 'succeeded')
      throw new Error(`promotion ${result.status}: ${result.error}`);
  });
  if (process.env.BENCH_TRACE) {
    for (const r of [
      ...github.requests.map(r => ({ ...r, what: `${r.method} ${r.path}` })),
      ...ecr.requests.map(r => ({ ...r, what: r.operation })),
    ].sort((a, b) => a.startedAt - b.startedAt)) {
      process.stdout.write(
        `${r.startedAt.toFixed(0)}-${r.finishedAt.toFixed(0)} ${r.what}\n`,
      );
    }
  }
  table.push({
    what: `promotion stage → demo (${promoted.commits} commits)`,
    p50: ms(promotion.p50),
    p95: ms(promotion.p95),
    requests: String(promotion.requests),
    rounds: String(promotion.rounds),
    target: '≤ 6 sequential round trips',
    verdict: promotion.rounds <= 6 ? 'PASS' : 'MISS',
  });

  // Memory: the lineage of many services held in the cache.
  github.setLatency(0);
  ecr.setLatency(0);
  const gc = (globalThis as { gc?: () => void }).gc;
  const t = target(services[0].name);
  // Warm up first (code compiled, clients and ETag cache filled), then count only what holding
  // more services' lineage costs.
  for (let i = 0; i < 10; i++) {
    await lineage.lineage(`component:bench/warmup-${i}`, t, { limit: LIMIT });
  }
  gc?.();
  const before = process.memoryUsage();
  for (let i = 0; i < SERVICES_CACHED; i++) {
    await lineage.lineage(`component:bench/copy-${i}`, t, { limit: LIMIT });
  }
  gc?.();
  const after = process.memoryUsage();
  const growth = (after.rss - before.rss) / 1024 / 1024;
  const heap = (after.heapUsed - before.heapUsed) / 1024 / 1024;
  table.push({
    what: `RSS growth, ${SERVICES_CACHED} services' lineage cached${
      gc ? '' : ' (no --expose-gc)'
    }`,
    p50: `${growth.toFixed(1)} MB`,
    p95: `heap ${heap.toFixed(1)} MB`,
    requests: '',
    rounds: '',
    target: '≤ 50 MB',
    verdict: growth <= 50 ? 'PASS' : 'MISS',
  });

  // The release board: every service's lineage from the cache, the last promotions in one query.
  const boardEntities = Array.from({ length: BOARD_SERVICES }, (_, i) => ({
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name: `board-${i}`,
      namespace: 'bench',
      annotations: {
        'github.com/project-slug': t.sourceRepo,
        'mainline.dev/artifact-kind': 'image',
        'mainline.dev/artifact-location': t.artifactLocation,
        'mainline.dev/manifest-repo': t.manifestRepo!,
        'mainline.dev/manifest-path': t.manifestPath!,
      },
    },
    spec: { type: 'service', owner: `group:bench/team-${i % 10}` },
  }));
  const board = new ReleaseBoard({
    // The catalog's own query is not ours to measure: it answers from memory here.
    targets: new EntityTargets({
      getEntities: async () => ({ items: boardEntities }),
    } as any),
    lineage,
    store: new PromotionStore(db),
    adapters,
    environments,
    limit: LIMIT,
  });
  await board.board({}, {} as any); // fills the cache: the board is read warm
  github.setLatency(LATENCY);
  ecr.setLatency(LATENCY);
  const boardWarm = await measure(BOARD_READS, async () => {
    const read = await board.board({}, {} as any);
    if (read.services.some(row => row.error)) {
      throw new Error(read.services.find(row => row.error)!.error!);
    }
  });
  table.push({
    what: `release board, ${BOARD_SERVICES} services, warm`,
    p50: ms(boardWarm.p50),
    p95: ms(boardWarm.p95),
    requests: String(boardWarm.requests),
    rounds: String(boardWarm.rounds),
    target: '≤ 2 s',
    verdict: boardWarm.p95 <= 2000 ? 'PASS' : 'MISS',
  });

  // Runtime observation: one service's environments, and the board's rows (./lib/runtimeBench.ts).
  table.push(...(await runtimeBench({ latency: LATENCY, quick: QUICK })));

  const header: Row = {
    what: 'measure',
    p50: 'p50',
    p95: 'p95',
    requests: 'requests',
    rounds: 'rounds',
    target: 'target',
    verdict: '',
  };
  const widths = Object.keys(header).map(k =>
    Math.max(...[header, ...table].map(r => String(r[k as keyof Row]).length)),
  );
  const line = (r: Row) =>
    Object.keys(header)
      .map((k, i) => String(r[k as keyof Row]).padEnd(widths[i]))
      .join(' | ');
  process.stdout.write(
    `Mainline bench: latency ${LATENCY} ms per upstream request, ${TAGS} tags, up to ${IMAGES} images per repository, limit ${LIMIT} (setup ${setupSeconds.toFixed(
      1,
    )} s)\n\n`,
  );
  process.stdout.write(
    `${line(header)}\n${widths.map(w => '-'.repeat(w)).join('-|-')}\n`,
  );
  for (const row of table) process.stdout.write(`${line(row)}\n`);

  // The same kind of read through the real router over HTTP, on the embedded default.
  const httpStarted = Date.now();
  const http = await httpBench({
    root,
    service: services.find(s => s.commits === 1000)!,
    db,
    quick: QUICK,
  });
  process.stdout.write(
    `\nLineage reads over HTTP: real user tokens, catalog and permission backend; load from a worker thread (backend start ${http.startSeconds.toFixed(
      1,
    )} s, all ${((Date.now() - httpStarted) / 1000).toFixed(1)} s)\n\n`,
  );
  printHttpRows(http.rows, s => process.stdout.write(s));

  await knex.destroy();
  await github.close();
  await ecr.close();
  fs.rmSync(root, { recursive: true, force: true });
}

/** `yarn bench --runtime [--quick] [--latency <ms>]`: the runtime rows alone. */
async function runtimeOnly() {
  const rows = await runtimeBench({ latency: LATENCY, quick: QUICK });
  const keys = Object.keys(rows[0]) as Array<keyof BenchRow>;
  process.stdout.write(
    `Mainline runtime bench: latency ${LATENCY} ms per Argo CD request\n\n`,
  );
  for (const row of rows) {
    process.stdout.write(`${keys.map(k => row[k]).join(' | ')}\n`);
  }
}

(values.runtime
  ? runtimeOnly()
  : values.org
  ? orgBench({
      services: Number(values.services),
      minutes: Number(values.minutes),
      drop: Number(values.drop),
      warmMinutes: Number(values['warm-minutes']),
    })
  : main()
).then(
  // The backend's scheduler and pools would keep the process alive after it stopped.
  () => process.exit(0),
  error => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
