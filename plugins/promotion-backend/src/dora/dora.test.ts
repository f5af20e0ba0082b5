import crypto from 'node:crypto';
import fs from 'node:fs';
import { startTestBackend, TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import request from 'supertest';
import { Lineage, LineageCommit } from '../lineage/types';
import { demoBackendFeatures } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';

jest.setTimeout(90_000);

const api = '/api/promotion/v1';
const HOUR = 60 * 60 * 1000;
const CHECKOUT = 'component:default/checkout';

/**
 * The real router on SQLite and the demo's checkout repository; the ledger holds prod releases of
 * real main commits, at times chosen relative to those commits. The expected figures are worked
 * out here from the lineage the API serves, without the metrics module.
 */
describe('DORA metrics API', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  let dataDir: string;
  let knex: Knex;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  /** checkout's main commits, oldest first. */
  let main: LineageCommit[];
  const time = (iso: string) => new Date(iso).getTime();

  async function release(
    id: string,
    commit: LineageCommit,
    deployedAt: number,
    kind: 'promotion' | 'rollback' = 'promotion',
    status = 'succeeded',
    environment = 'prod',
  ) {
    await knex('promotion_promotions').insert({
      id,
      entity_ref: CHECKOUT,
      kind,
      environment,
      sha: commit.sha,
      tag: kind === 'promotion' ? `v-${id}` : null,
      version: kind === 'promotion' ? `v-${id}` : commit.shortSha,
      status,
      idempotency_key: null,
      request_hash: crypto.randomUUID(),
      requested_by: 'user:default/ada',
      error: null,
      created_at: new Date(deployedAt - 10 * 60 * 1000),
      updated_at: new Date(deployedAt),
    });
    return deployedAt;
  }

  const plan: Record<string, number> = {};

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-dora-'));
    knex = await databases.init('SQLITE_3');
    ({ server } = await startTestBackend({
      features: demoBackendFeatures({ knex, dataDir }),
    }));
    const lineage: Lineage = (
      await request(server).get(
        `${api}/entities/component/default/checkout/lineage?limit=100`,
      )
    ).body;
    main = [...lineage.commits].reverse();
    if (main.length !== 36) {
      throw new Error(`the demo's checkout has ${main.length} commits, not 36`);
    }
    const at = (i: number, hours: number) =>
      time(main[i].committedAt) + hours * HOUR;
    // rc commits of the demo's checkout, released six hours after their merge.
    plan.p1 = await release('p1', main[5], at(5, 6)); // the baseline
    plan.p2 = await release('p2', main[11], at(11, 6));
    plan.p3 = await release('p3', main[17], at(17, 6));
    // main[18] is the fix/* merge: merged while p3 ran, released by p4.
    plan.p4 = await release('p4', main[20], at(20, 6));
    plan.r1 = await release('r1', main[17], at(20, 9), 'rollback');
    plan.p5 = await release('p5', main[26], at(26, 6));
    // main[28] is the second fix/* merge: merged while p5 ran, released by p6.
    plan.p6 = await release('p6', main[29], at(29, 6));
    // Not releases: a failed prod promotion, and a demo promotion.
    await release('f1', main[30], at(30, 6), 'promotion', 'failed');
    await release('d1', main[30], at(30, 7), 'promotion', 'succeeded', 'demo');
    // p6's commit is yanked five hours after it shipped; nothing replaced it.
    await knex('promotion_yanks').insert({
      entity_ref: CHECKOUT,
      sha: main[29].sha,
      yanked_by: 'user:default/grace',
      reason: 'checkout returns 500 in prod',
      yanked_at: new Date(plan.p6 + 5 * HOUR),
    });
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const period = () => ({
    from: encodeURIComponent(new Date(plan.p1 - 24 * HOUR).toISOString()),
    to: encodeURIComponent(new Date(plan.p6 + 24 * HOUR).toISOString()),
  });

  it('answers the figures worked out from the ledger and the lineage', async () => {
    // The demo's shape the plan relies on.
    expect(main[18].message).toMatch(/from mainline-demo\/fix\//);
    expect(main[28].message).toMatch(/from mainline-demo\/fix\//);
    expect(time(main[18].committedAt)).toBeGreaterThan(plan.p3);
    expect(time(main[28].committedAt)).toBeGreaterThan(plan.p5);
    const docsOnly = (c: LineageCommit) =>
      c.artifacts.length === 0 && c.yanked === null;

    const { from, to } = period();
    const res = await request(server).get(
      `${api}/entities/component/default/checkout/dora?from=${from}&to=${to}`,
    );
    expect([res.status, res.body.error?.message]).toEqual([200, undefined]);
    const report = res.body;

    // Lead times: every built commit after the baseline, to the release that shipped it.
    const shippedBy: Array<[number, number, string]> = [
      [6, 11, 'p2'],
      [12, 17, 'p3'],
      [18, 20, 'p4'],
      [21, 26, 'p5'],
      [27, 29, 'p6'],
    ];
    const expected = shippedBy.flatMap(([first, last, id]) =>
      main
        .slice(first, last + 1)
        .filter(c => !docsOnly(c))
        .map(c => ({
          sha: c.sha,
          promotionId: id,
          hours:
            Math.round(((plan[id] - time(c.committedAt)) / HOUR) * 100) / 100,
        })),
    );
    const excluded = main.slice(6, 30).filter(docsOnly);
    expect(excluded.length).toBeGreaterThanOrEqual(3);
    expect(
      report.events.leadTimes.map((l: any) => ({
        sha: l.sha,
        promotionId: l.promotionId,
        hours: l.hours,
      })),
    ).toEqual(expected);
    expect(report.events.excludedCommits.map((x: any) => x.sha)).toEqual(
      excluded.map(c => c.sha),
    );
    const hours = expected.map(e => e.hours).sort((a, b) => a - b);
    const mid = hours.length / 2;
    expect(report.summary.leadTime).toEqual({
      commits: hours.length,
      medianHours:
        hours.length % 2
          ? hours[Math.floor(mid)]
          : Math.round(((hours[mid - 1] + hours[mid]) / 2) * 100) / 100,
      p90Hours: hours[Math.ceil(0.9 * hours.length) - 1],
    });

    // p3 hotfixed (restored by p4), p4 rolled back (by r1), p5 hotfixed (by p6), p6 yanked (open).
    expect(report.summary.deployments).toBe(6);
    expect(report.summary.changeFailureRate).toEqual({
      failed: 4,
      releases: 6,
      rate: 0.667,
    });
    const restore = (failed: string, by: string) =>
      Math.round(((plan[by] - plan[failed]) / HOUR) * 100) / 100;
    expect(
      report.events.failures.map((f: any) => [
        f.promotionId,
        f.causes.map((c: any) => c.type),
        f.restoredBy?.promotionId ?? null,
        f.restoreHours,
      ]),
    ).toEqual([
      ['p3', ['hotfix'], 'p4', restore('p3', 'p4')],
      ['p4', ['rollback'], 'r1', 3],
      ['p5', ['hotfix'], 'p6', restore('p5', 'p6')],
      ['p6', ['yank'], null, null],
    ]);
    expect(report.summary.timeToRestore).toMatchObject({
      restored: 3,
      open: 1,
    });
    // Weekly buckets add up to the period.
    expect(
      report.weeks.reduce((n: number, w: any) => n + w.deployments, 0),
    ).toBe(6);
    expect(
      report.weeks.reduce(
        (n: number, w: any) => n + w.changeFailureRate.failed,
        0,
      ),
    ).toBe(4);
    expect(report.entities).toEqual([CHECKOUT]);
  });

  it('adds up a System, and the events come as CSV', async () => {
    const { from, to } = period();
    const system = await request(server).get(
      `${api}/dora?system=storefront&from=${from}&to=${to}`,
    );
    expect(system.status).toBe(200);
    expect(system.body.entities).toContain(CHECKOUT);
    expect(system.body.entities).not.toContain('component:default/cart');
    expect(system.body.summary.deployments).toBe(6);

    const csv = await request(server).get(
      `${api}/entities/component/default/checkout/dora?from=${from}&to=${to}&format=csv`,
    );
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    const lines = csv.text.trim().split('\n');
    expect(lines[0]).toBe(
      'event,entityRef,environment,at,version,sha,promotionId,hours,detail',
    );
    const count = (event: string) =>
      lines.filter(l => l.startsWith(`${event},`)).length;
    expect(count('release')).toBe(6);
    expect(count('failure')).toBe(4);
    expect(count('lead-time')).toBe(system.body.summary.leadTime.commits);
  });

  it('a period without releases has no rates', async () => {
    const res = await request(server).get(
      `${api}/entities/component/default/checkout/dora?from=2020-01-01&to=2020-03-01`,
    );
    expect(res.status).toBe(200);
    expect(res.body.summary).toMatchObject({
      deployments: 0,
      changeFailureRate: { rate: null },
      leadTime: { medianHours: null },
    });
    expect(res.body.weeks.length).toBe(9);
  });

  it.each([
    ['from=yesterday', /^from: /],
    ['to=2026-13-45', /^to: /],
    ['from=2026-02-01&to=2026-01-01', /^from: .* is not before to/],
    ['from=2020-01-01&to=2026-01-01', /^from: .* longer than/],
    ['format=xml', /format/],
  ])('refuses %s with a 400 naming the parameter', async (query, message) => {
    for (const path of [
      `${api}/entities/component/default/checkout/dora`,
      `${api}/dora`,
    ]) {
      const res = await request(server).get(`${path}?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
  });

  it('needs a signed-in caller and a known entity', async () => {
    const anonymous = await request(server)
      .get(`${api}/entities/component/default/checkout/dora`)
      .set('authorization', 'Bearer not-a-token');
    expect(anonymous.status).toBe(401);
    const unknown = await request(server).get(
      `${api}/entities/component/default/nope/dora`,
    );
    expect(unknown.status).toBe(404);
  });
});
