/*
 * Runtime observation rows of `yarn bench` (also alone: `yarn bench --runtime`): the Argo CD
 * observer against the Argo CD test server, with the bench's latency added to every request it
 * makes, and the release board's runtime as the board reads it (`POST /v1/runtime/query` in
 * batches, answered by `RuntimeViews`). Requests and rounds are counted on the observer's own
 * fetch calls; rows are timed by the bench's own timer (./timing.ts).
 */
import { ConfigReader } from '@backstage/config';
import { PromotionTarget } from '@mainline/plugin-promotion-common';
import {
  ArgoCdRuntimeObserver,
  readArgoCdOptions,
} from '@mainline/plugin-promotion-backend-module-argocd';
import {
  ArgoCdApplicationSeed,
  startArgoCdTestServer,
} from '@mainline/test-servers';
import { Lineage } from '../../plugins/promotion-backend/src/lineage/types';
import { RuntimeObservers } from '../../plugins/promotion-backend/src/runtime/RuntimeObservers';
import {
  DEFAULT_RUNTIME_CONCURRENCY,
  RuntimeViews,
} from '../../plugins/promotion-backend/src/runtime/RuntimeViews';
import { memoryCache } from '../../plugins/promotion-backend/src/testUtils';
import { BenchRow, Timed, ms, timer } from './timing';
import { verifyLatencyRows } from './verifyBench';

const ENVIRONMENTS = ['stage', 'demo', 'prod'];
const PODS = 2;
// As the ReleaseBoard component reads the board's runtime (RUNTIME_BATCH, RUNTIME_REQUESTS).
const BATCH = 50;
const REQUESTS = 2;
/** The bench's observation reuse: long enough that warm loads measure the cache, not its end. */
const CACHE_TTL_MS = 60_000;

const digest = (service: string, environment: string, pod: number) =>
  `sha256:${Buffer.from(`${service}-${environment}-${pod}`)
    .toString('hex')
    .padEnd(64, '0')
    .slice(0, 64)}`;

function seed(service: string, environment: string): ArgoCdApplicationSeed {
  return {
    name: `${service}-${environment}`,
    sync: { status: 'Synced', revision: 'a'.repeat(40) },
    health: {
      status: 'Healthy',
      lastTransitionTime: new Date('2026-01-01T00:00:00Z'),
    },
    pods: Array.from({ length: PODS }, (_, pod) => ({
      name: `${service}-${environment}-${pod}`,
      containers: [
        {
          name: 'app',
          image: `ecr.example/${service}:1`,
          digest: digest(service, environment, pod),
        },
      ],
    })),
  };
}

/**
 * A service's cached lineage as the runtime views read it: what each environment declares (the
 * digest its first Pod runs). The lineage's own warm cost is the board row of scripts/bench.ts.
 */
function lineageOf(service: string): Lineage {
  return {
    environments: ENVIRONMENTS.map(name => ({
      name,
      current: {
        sha: 'b'.repeat(40),
        version: `${name}-1`,
        artifact: { digest: digest(service, name, 0) },
        revision: 'a'.repeat(40),
      },
    })),
  } as unknown as Lineage;
}

export async function runtimeBench(options: {
  latency: number;
  quick: boolean;
}): Promise<BenchRow[]> {
  const { latency, quick } = options;
  const services = quick ? 100 : 500;
  const reads = quick ? 10 : 50;
  const boardReads = quick ? 5 : 20;
  const coldBoards = quick ? 1 : 3;
  const argo = await startArgoCdTestServer();
  for (let s = 0; s < services; s++) {
    for (const environment of ENVIRONMENTS) {
      argo.setApplication(seed(`svc-${s}`, environment));
    }
  }
  const observer = new ArgoCdRuntimeObserver(
    readArgoCdOptions(
      new ConfigReader({
        promotion: {
          artifacts: { insecureHosts: [new URL(argo.baseUrl).host] },
          argocd: {
            instances: [{ name: 'main', url: argo.baseUrl, token: argo.token }],
          },
        },
      }),
    )!,
  );
  const subject = (s: number) => ({
    entityRef: `component:bench/svc-${s}`,
    name: `svc-${s}`,
    annotations: { 'argocd/app-name': `svc-${s}` },
  });

  // The board's services, and the runtime views the batch route answers from.
  const target = { artifactKind: 'image' } as PromotionTarget;
  const entities = Array.from({ length: services }, (_, s) => ({
    ...subject(s),
    target,
    owners: [],
  }));
  const lineages = new Map(entities.map(e => [e.entityRef, lineageOf(e.name)]));
  const runtime = new RuntimeObservers();
  runtime.addRuntimeObserverProvider({
    name: 'argocd',
    create: () => observer,
  });
  runtime.create({} as any);
  const newViews = () =>
    new RuntimeViews({
      lineage: {
        cached: async ref => ({ lineage: lineages.get(ref)!, generation: '1' }),
        lineage: async ref => lineages.get(ref)!,
      },
      runtime,
      // No tombstones (the real store answers a batch in one indexed query).
      yanks: {
        listForEntity: async () => [],
        listForEntities: async refs => new Map(refs.map(r => [r, []])),
      },
      cache: memoryCache(),
      cacheTtlMs: CACHE_TTL_MS,
      concurrency: DEFAULT_RUNTIME_CONCURRENCY,
      defaultLimit: 50,
    });
  let views = newViews();

  // Every request to the test server waits `latency` first and is timed, for rounds.
  const timed: Timed[] = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (async (input: any, init?: any) => {
    const url = String(input instanceof Request ? input.url : input);
    if (!url.startsWith(argo.baseUrl)) return realFetch(input, init);
    const startedAt = performance.now();
    await new Promise(resolve => setTimeout(resolve, latency));
    try {
      return await realFetch(input, init);
    } finally {
      timed.push({ startedAt, finishedAt: performance.now() });
    }
  }) as typeof fetch;
  const measure = timer({
    upstream: () => timed,
    reset: () => {
      timed.length = 0;
    },
    settleMs: latency + 10,
  });

  /** One board load's runtime, as the board reads it: batches of refs, a few at a time. */
  const loadBoard = async () => {
    let next = 0;
    let shown = 0;
    await Promise.all(
      Array.from({ length: REQUESTS }, async () => {
        while (next < entities.length) {
          const batch = entities.slice(next, next + BATCH);
          next += BATCH;
          const answer = await views.query(batch);
          if (answer.failures.length) {
            throw new Error(answer.failures[0].error.message);
          }
          shown += answer.items.filter(view =>
            view.environments.every(
              e => e.running?.runningDigests.length === PODS && !e.drift,
            ),
          ).length;
        }
      }),
    );
    if (shown !== entities.length) {
      throw new Error(`${entities.length - shown} rows without their runtime`);
    }
  };

  const rows: BenchRow[] = [];
  try {
    // One service's environments, observed as the runtime route does on every call.
    let read = 0;
    const one = await measure(reads, async () => {
      const states = await observer.observe(
        subject(read++ % services),
        ENVIRONMENTS,
      );
      if (ENVIRONMENTS.some(e => states[e]?.runningDigests.length !== PODS)) {
        throw new Error(
          `an observation misses a pod: ${JSON.stringify(states)}`,
        );
      }
    });
    rows.push({
      what: `runtime, 1 service, ${ENVIRONMENTS.length} environments × ${PODS} pods (Argo CD)`,
      p50: ms(one.p50),
      p95: ms(one.p95),
      requests: String(one.requests),
      rounds: String(one.rounds),
      target: '3 rounds',
      verdict: one.rounds <= 3 ? 'PASS' : 'MISS',
    });

    // The board's runtime with nothing kept: a backend of its own (an empty cache) each load.
    const how = `${services} services, batches of ${BATCH}, ${REQUESTS} at a time, ${DEFAULT_RUNTIME_CONCURRENCY} observations at once`;
    const cold = await measure(coldBoards, loadBoard, async () => {
      views = newViews();
    });
    rows.push({
      what: `runtime of the board, ${how}, cold`,
      p50: ms(cold.p50),
      p95: ms(cold.p95),
      requests: String(cold.requests),
      rounds: String(cold.rounds),
      target: '(info)',
      verdict: 'info',
    });
    // Loaded again within the TTL: every observation reused.
    const warm = await measure(boardReads, loadBoard);
    rows.push({
      what: `runtime of the board, ${how}, warm`,
      p50: ms(warm.p50),
      p95: ms(warm.p95),
      requests: String(warm.requests),
      rounds: String(warm.rounds),
      target: '≤ 2 s',
      verdict: warm.p95 <= 2000 ? 'PASS' : 'MISS',
    });
  } finally {
    globalThis.fetch = realFetch;
    await argo.close();
  }
  // Healthy → succeeded, polling alone and with notifications (./verifyBench.ts).
  rows.push(...(await verifyLatencyRows({ latency, quick })));
  return rows;
}
