/*
 * The bench's timer: how a row of `yarn bench` is timed and its upstream requests counted, for
 * scripts/bench.ts and the rows it takes from ./runtimeBench.ts.
 */

/** One upstream request as a test server (or a counting fetch) recorded it. */
export type Timed = { startedAt: number; finishedAt: number };

/** One printed row of the bench's table. */
export interface BenchRow {
  what: string;
  p50: string;
  p95: string;
  requests: string;
  rounds: string;
  target: string;
  verdict: string;
}

/** The critical path: a request is in round k+1 if it started after a request of round k ended. */
export function rounds(requests: Timed[]): number {
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

export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
};

export const ms = (v: number) => `${v.toFixed(1)} ms`;

/** What `measure` found over its reads: times, and the most requests and rounds of one read. */
export interface Measured {
  p50: number;
  p95: number;
  requests: number;
  rounds: number;
}

/**
 * The row timer over one set of upstream servers: `measure(reads, read, before)` runs `before`,
 * lets the previous read's requests settle (`settleMs`, the latency and a little), forgets the
 * recorded requests, and times `read`, `reads` times.
 */
export function timer(options: {
  upstream: () => Timed[];
  reset: () => void;
  settleMs: number;
}) {
  return async function measure(
    reads: number,
    read: () => Promise<unknown>,
    before?: () => Promise<void>,
  ): Promise<Measured> {
    const times: number[] = [];
    const counts: number[] = [];
    const depth: number[] = [];
    for (let i = 0; i < reads; i++) {
      await before?.();
      await new Promise(r => setTimeout(r, options.settleMs));
      options.reset();
      const t0 = performance.now();
      await read();
      times.push(performance.now() - t0);
      const requests = options.upstream();
      counts.push(requests.length);
      depth.push(rounds(requests));
    }
    return {
      p50: percentile(times, 50),
      p95: percentile(times, 95),
      requests: Math.max(...counts),
      rounds: Math.max(...depth),
    };
  };
}
