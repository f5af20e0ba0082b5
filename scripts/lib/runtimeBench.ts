/*
 * Runtime observation rows of `yarn bench` (also alone: `yarn bench --runtime`): the Argo CD
 * observer against the Argo CD test server, with the bench's latency added to every request it
 * makes. Requests and rounds are counted on the observer's own fetch calls.
 */
import { ConfigReader } from '@backstage/config';
import {
  ArgoCdRuntimeObserver,
  readArgoCdOptions,
} from '@mainline/plugin-promotion-backend-module-argocd';
import {
  ArgoCdApplicationSeed,
  startArgoCdTestServer,
} from '@mainline/test-servers';
import { verifyLatencyRows } from './verifyBench';

export interface RuntimeBenchRow {
  what: string;
  p50: string;
  p95: string;
  requests: string;
  rounds: string;
  target: string;
  verdict: string;
}

type Timed = { startedAt: number; finishedAt: number };

/** The critical path: a request is in round k+1 if it started after a request of round k ended. */
function rounds(requests: Timed[]): number {
  const sorted = [...requests].sort((a, b) => a.startedAt - b.startedAt);
  const round: number[] = [];
  sorted.forEach((r, i) => {
    let depth = 1;
    for (let j = 0; j < i; j++) {
      if (sorted[j].finishedAt <= r.startedAt) {
        depth = Math.max(depth, round[j] + 1);
      }
    }
    round.push(depth);
  });
  return Math.max(0, ...round);
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
};

const ms = (v: number) => `${v.toFixed(1)} ms`;
const ENVIRONMENTS = ['stage', 'demo', 'prod'];
const PODS = 2;

function seed(service: string, environment: string): ArgoCdApplicationSeed {
  const digest = (pod: number) =>
    `sha256:${Buffer.from(`${service}-${environment}-${pod}`)
      .toString('hex')
      .padEnd(64, '0')
      .slice(0, 64)}`;
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
          digest: digest(pod),
        },
      ],
    })),
  };
}

export async function runtimeBench(options: {
  latency: number;
  quick: boolean;
}): Promise<RuntimeBenchRow[]> {
  const { latency, quick } = options;
  const services = quick ? 100 : 500;
  const reads = quick ? 10 : 50;
  // A browser opens about six connections per host over HTTP/1.1: the board's rows read their
  // runtime that many at a time (RUNTIME_CONCURRENCY in the ReleaseBoard component).
  const concurrency = 6;
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

  const rows: RuntimeBenchRow[] = [];
  try {
    // One service's environments, observed as the runtime route does on every call.
    const times: number[] = [];
    const requests: number[] = [];
    const depths: number[] = [];
    for (let i = 0; i < reads; i++) {
      timed.length = 0;
      const started = performance.now();
      const states = await observer.observe(
        subject(i % services),
        ENVIRONMENTS,
      );
      times.push(performance.now() - started);
      if (ENVIRONMENTS.some(e => states[e]?.runningDigests.length !== PODS)) {
        throw new Error(
          `observation ${i} misses a pod: ${JSON.stringify(states)}`,
        );
      }
      requests.push(timed.length);
      depths.push(rounds(timed));
    }
    const p95 = percentile(times, 95);
    rows.push({
      what: `runtime, 1 service, ${ENVIRONMENTS.length} environments × ${PODS} pods (Argo CD)`,
      p50: ms(percentile(times, 50)),
      p95: ms(p95),
      requests: String(Math.max(...requests)),
      rounds: String(Math.max(...depths)),
      target: '3 rounds',
      verdict: Math.max(...depths) <= 3 ? 'PASS' : 'MISS',
    });

    // The board's runtime: every row's observation, `concurrency` at a time. Observers cache
    // nothing, so there is no warm read: each board load pays this.
    timed.length = 0;
    const perRow: number[] = [];
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < services) {
          const s = next++;
          const rowStarted = performance.now();
          await observer.observe(subject(s), ENVIRONMENTS);
          perRow.push(performance.now() - rowStarted);
        }
      }),
    );
    const all = (performance.now() - started) / 1000;
    rows.push({
      what: `runtime of the board, ${services} services, ${concurrency} rows at a time (per row; all rows in ${all.toFixed(
        1,
      )} s)`,
      p50: ms(percentile(perRow, 50)),
      p95: ms(percentile(perRow, 95)),
      requests: String(timed.length),
      rounds: String(rounds(timed)),
      target: 'board not held',
      verdict: 'info',
    });
  } finally {
    globalThis.fetch = realFetch;
    await argo.close();
  }
  // Healthy → succeeded, polling alone and with notifications (./verifyBench.ts).
  rows.push(...(await verifyLatencyRows({ latency, quick })));
  return rows;
}
