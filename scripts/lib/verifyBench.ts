/*
 * Verify latency rows of `yarn bench --runtime`: the time from Argo CD reporting an Application
 * healthy to the promotion showing `succeeded`, with the default polls alone (2 s doubling to
 * 30 s, the verify task every 2 s as plugin.ts schedules it) and with Argo CD notifications
 * (the Argo CD test server's webhooks over loopback HTTP to the events backend's ingress, the
 * Argo CD module's check and subscriber, the plugin's wake of the verify step). The promotion
 * is the demo's checkout to demo over the embedded default's repositories (a fresh copy each).
 */
import knexFactory from 'knex';
import { startArgoCdTestServer } from '@mainline/test-servers';
import { adaWriteContext } from '../../plugins/promotion-backend/src/__testUtils__/handBuiltService';
import {
  argoCdCheckout as checkout,
  argoCdVerifiedCheckout,
  checkoutPod as pod,
} from '../../plugins/promotion-backend/src/__testUtils__/argoCdCheckout';
import { startArgoCdNotifications } from '../../plugins/promotion-backend/src/__testUtils__/argoCdNotifications';
import type { PromotionRecord } from '../../plugins/promotion-backend/src/database/PromotionStore';

const MIN_POLL_MS = 2_000;
const MAX_POLL_MS = 30_000;

/** One promotion: seconds from healthy to `succeeded` once Argo CD turns healthy `syncSeconds` after the commit. */
async function oneLatency(options: {
  syncSeconds: number;
  notifications: boolean;
  latency: number;
}): Promise<number> {
  const client = knexFactory({
    client: 'better-sqlite3',
    connection: ':memory:',
    useNullAsDefault: true,
  });
  const cleanups: Array<() => Promise<unknown>> = [() => client.destroy()];
  try {
    const argo = await startArgoCdTestServer();
    cleanups.unshift(() => argo.close());
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async (input: any, init?: any) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.startsWith(argo.baseUrl)) {
        await new Promise(resolve => setTimeout(resolve, options.latency));
      }
      return realFetch(input, init);
    }) as typeof fetch;
    cleanups.unshift(async () => {
      globalThis.fetch = realFetch;
    });
    const { local, service, stageSha, artifact } = await argoCdVerifiedCheckout(
      {
        prefix: 'mainline-verify-bench-',
        client,
        argo,
        polls: { minPollMs: MIN_POLL_MS, maxPollMs: MAX_POLL_MS },
      },
    );
    if (options.notifications) {
      const hooks = await startArgoCdNotifications({
        argo,
        secret: 'verify-bench-notification-secret',
        service,
        entity: checkout,
      });
      cleanups.unshift(() => hooks.stop());
    }
    const record = (await service.promote(
      checkout,
      { environment: 'demo', sha: stageSha },
      adaWriteContext,
    )) as PromotionRecord;
    const revision = (await local.gitops.current(checkout.target, ['demo']))
      .demo!.revision!;
    argo.startSync('checkout-demo', revision);
    // The verify task as plugin.ts schedules it: every minPoll, on both paths (the fallback).
    const task = setInterval(() => {
      service
        .followWaiting(async () => checkout, { verifyOnly: true })
        .catch(() => undefined);
    }, MIN_POLL_MS);
    cleanups.unshift(async () => clearInterval(task));
    await new Promise(resolve =>
      setTimeout(resolve, options.syncSeconds * 1000),
    );
    argo.finishSync('checkout-demo', {
      phase: 'Succeeded',
      pods: [pod('checkout-demo-new', artifact.digest)],
    });
    const healthyAt = performance.now();
    const store = (service as any).options.store;
    // What a tab polling the promotion sees.
    for (;;) {
      const now: PromotionRecord = await store.require(
        checkout.entityRef,
        record.id,
      );
      if (now.status !== 'running') {
        if (now.status !== 'succeeded') {
          throw new Error(`promotion ${now.status}: ${now.error}`);
        }
        return (performance.now() - healthyAt) / 1000;
      }
      if (performance.now() - healthyAt > 120_000) {
        throw new Error('promotion not ended 120 s after healthy');
      }
      await new Promise(resolve => setTimeout(resolve, 20));
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
  }
}

/** The two rows: polling alone, and with notifications (target ≤ 5 s). */
export async function verifyLatencyRows(options: {
  latency: number;
  quick: boolean;
}) {
  // Argo CD healthy this long after the manifest commit: each lands in another poll interval.
  const syncs = options.quick ? [3, 7] : [1, 3, 5, 7, 11];
  const rows = [];
  for (const notifications of [false, true]) {
    const seconds: number[] = [];
    for (const syncSeconds of syncs) {
      seconds.push(
        await oneLatency({
          syncSeconds,
          notifications,
          latency: options.latency,
        }),
      );
    }
    const sorted = [...seconds].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)];
    const max = sorted[sorted.length - 1];
    const s = (v: number) => `${v.toFixed(1)} s`;
    rows.push({
      what: `healthy → succeeded, ${
        notifications ? 'with Argo CD notifications' : 'polling alone'
      } (healthy ${syncs.join('/')} s after the commit: ${seconds
        .map(v => v.toFixed(1))
        .join('/')} s)`,
      p50: s(p50),
      p95: `${s(max)} (max)`,
      requests: '–',
      rounds: '–',
      target: notifications ? '≤ 5 s' : '≤ poll interval (2–30 s)',
      verdict: notifications ? (max <= 5 ? 'PASS' : 'MISS') : 'info',
    });
  }
  return rows;
}
