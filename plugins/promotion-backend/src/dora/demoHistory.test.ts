import fs from 'node:fs';
import { startTestBackend, TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { Lineage, LineageCommit } from '../lineage/types';
import { demoBackendFeatures } from '../__testUtils__/demoBackend';
import { demoDataDir } from '../__testUtils__/demoData';

jest.setTimeout(120_000);

const api = '/api/promotion/v1';
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/**
 * The DORA figures of the demo's own history, as the demo preparation records it in the ledger
 * (twelve weeks of checkout's promotions: four prod releases, one rolled back four hours after it
 * shipped), against figures worked out by hand from the demo's plan:
 *
 * - releases v1.0.0, v1.0.1, v1.1.0, v1.1.1 of the rc commits main[5], main[11], main[20] and
 *   main[26]; v1.0.0 is the baseline;
 * - v1.1.0 is rolled back to v1.0.1 four hours later: the one failure, restored in 4 h; the fix/*
 *   merges (main[18], main[28]) shipped more than a week after the release they followed (or
 *   never), so they are no failures;
 * - the lead times are those of the built commits each release shipped: main[6..11] less the
 *   docs-only main[9], main[12..20] less main[15], main[21..26] less main[23]: 5 + 8 + 5 = 18;
 *   each is (r − i) commit steps of 83 days / 36 plus the two days from merge to release (rc half
 *   a day after the merge, v 1.5 days after the rc), give or take the generator's 0–2 hours. The
 *   18 step counts r − i sorted are 0 0 0 1 1 1 2 2 3 3 4 4 4 5 5 6 7 8: the median is 3 steps,
 *   3 × 55.33 h + 48 h = 214 h.
 */
describe('DORA figures of the demo history', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
  let dataDir: string;
  let server: Awaited<ReturnType<typeof startTestBackend>>['server'];
  let main: LineageCommit[];

  beforeAll(async () => {
    ({ dataDir } = await demoDataDir('mainline-dora-history-'));
    const knex = await databases.init('SQLITE_3');
    ({ server } = await startTestBackend({
      features: demoBackendFeatures({ knex, dataDir, demoHistory: true }),
    }));
    const lineage: Lineage = (
      await request(server).get(
        `${api}/entities/component/default/checkout/lineage?limit=100`,
      )
    ).body;
    main = [...lineage.commits].reverse();
  });

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('matches the figures worked out by hand', async () => {
    const res = await request(server).get(
      `${api}/entities/component/default/checkout/dora`,
    );
    expect([res.status, res.body.error?.message]).toEqual([200, undefined]);
    const report = res.body;
    // Twelve weeks up to now, all of the demo's history.
    expect(Date.parse(report.to) - Date.parse(report.from)).toBe(84 * DAY);

    expect(report.events.releases.map((r: any) => [r.version, r.sha])).toEqual([
      ['v1.0.0', main[5].sha],
      ['v1.0.1', main[11].sha],
      ['v1.1.0', main[20].sha],
      ['v1.1.1', main[26].sha],
    ]);
    expect(report.summary.deployments).toBe(4);
    expect(report.summary.deploymentsPerWeek).toBe(0.33);

    expect(report.events.failures).toEqual([
      expect.objectContaining({
        version: 'v1.1.0',
        sha: main[20].sha,
        causes: [expect.objectContaining({ type: 'rollback' })],
        restoredBy: expect.objectContaining({
          kind: 'rollback',
          version: 'v1.0.1',
        }),
        restoreHours: 4,
      }),
    ]);
    expect(report.summary.changeFailureRate).toEqual({
      failed: 1,
      releases: 4,
      rate: 0.25,
    });
    expect(report.summary.timeToRestore).toMatchObject({
      restored: 1,
      open: 0,
      medianHours: 4,
    });

    const shipped = [
      ...[6, 7, 8, 10, 11],
      ...[12, 13, 14, 16, 17, 18, 19, 20],
      ...[21, 22, 24, 25, 26],
    ].map(i => main[i].sha);
    expect(report.events.leadTimes.map((l: any) => l.sha).sort()).toEqual(
      shipped.sort(),
    );
    expect(report.summary.leadTime.commits).toBe(18);
    expect(report.summary.leadTime.medianHours).toBeGreaterThanOrEqual(212);
    expect(report.summary.leadTime.medianHours).toBeLessThanOrEqual(216.5);

    // The weekly trend: a release in four different weeks, the failure in v1.1.0's.
    const weeks = report.weeks.filter((w: any) => w.deployments > 0);
    expect(weeks.map((w: any) => w.deployments)).toEqual([1, 1, 1, 1]);
    expect(
      report.weeks.filter((w: any) => w.changeFailureRate.failed > 0),
    ).toHaveLength(1);
  });
});
