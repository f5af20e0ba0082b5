import {
  DoraCommit,
  DoraDeployment,
  DoraFacts,
  doraReport,
  entityEvents,
  median,
  p90,
  weekStart,
} from './metrics';

// Every rule as table rows of facts in, figures out; no database or upstream is read.

const REF = 'component:default/checkout';
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const WINDOW = 7 * DAY;
/** Monday 2026-10-05 00:00 UTC. */
const T0 = Date.UTC(2026, 9, 5);
const at = (hours: number) => new Date(T0 + hours * HOUR).toISOString();
const sha = (n: number) => n.toString(16).padStart(40, '0');

/** Main's commits, given oldest first as [merged hour, options]; returned newest first. */
function commits(...rows: Array<[number, Partial<DoraCommit>?]>): DoraCommit[] {
  return rows
    .map(([hour, options], i) => ({
      sha: sha(i + 1),
      subject: `change ${i + 1}`,
      mergedAt: at(hour),
      fix: false,
      built: true,
      ...options,
    }))
    .reverse();
}

function deploy(
  id: string,
  commit: number,
  hour: number,
  kind: 'promotion' | 'rollback' = 'promotion',
): DoraDeployment {
  return {
    promotionId: id,
    entityRef: REF,
    environment: 'prod',
    kind,
    sha: sha(commit),
    version: `v-${id}`,
    requestedBy: 'user:default/ada',
    deployedAt: at(hour),
  };
}

const facts = (overrides: Partial<DoraFacts>): DoraFacts => ({
  entityRef: REF,
  deployments: [],
  commits: [],
  yanks: [],
  ...overrides,
});

describe('percentiles', () => {
  it.each([
    [[], null, null],
    [[5], 5, 5],
    [[4, 1], 2.5, 4],
    [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5.5, 9],
    [[10, 1, 3], 3, 10],
  ])('%j: median %p, p90 %p', (values, m, p) => {
    expect(median(values)).toBe(m);
    expect(p90(values)).toBe(p);
  });

  it('starts weeks on Monday 00:00 UTC', () => {
    expect(weekStart(new Date('2026-10-11T23:59:00Z')).toISOString()).toBe(
      '2026-10-05T00:00:00.000Z',
    );
    expect(weekStart(new Date('2026-10-12T00:00:00Z')).toISOString()).toBe(
      '2026-10-12T00:00:00.000Z',
    );
  });
});

describe('lead time: merge to the first release that includes the commit', () => {
  const history = commits(
    [0], // 1: shipped by the baseline release
    [10], // 2
    [20, { built: false, subject: 'Document the refund flow' }], // 3: docs only
    [30], // 4
    [40], // 5: never released
  );

  it.each([
    {
      name: 'the first release in the ledger is the baseline: no lead times',
      deployments: [deploy('p1', 1, 5)],
      leadTimes: [],
      excluded: [],
      shipped: { p1: 0 },
    },
    {
      name: 'a release ships every commit since the last one; docs-only commits are left out',
      deployments: [deploy('p1', 1, 5), deploy('p2', 4, 50)],
      leadTimes: [
        [sha(2), 40],
        [sha(4), 20],
      ],
      excluded: [sha(3)],
      shipped: { p1: 0, p2: 3 },
    },
    {
      name: 'a rollback to an older commit and a release again count each commit once',
      deployments: [
        deploy('p1', 1, 5),
        deploy('p2', 2, 12),
        deploy('r1', 1, 14, 'rollback'),
        deploy('p3', 2, 20),
        deploy('p4', 4, 60),
      ],
      leadTimes: [
        [sha(2), 2],
        [sha(4), 30],
      ],
      excluded: [sha(3)],
      shipped: { p1: 0, p2: 1, p3: 0, p4: 2 },
    },
    {
      name: 'a release of a commit outside main (a release branch) ships nothing known',
      deployments: [
        deploy('p1', 1, 5),
        { ...deploy('p2', 99, 12), sha: 'f'.repeat(40) },
      ],
      leadTimes: [],
      excluded: [],
      shipped: { p1: 0, p2: null },
    },
  ])('$name', ({ deployments, leadTimes, excluded, shipped }) => {
    const events = entityEvents(
      facts({ deployments, commits: history }),
      WINDOW,
    );
    expect(events.leadTimes.map(l => [l.sha, l.hours])).toEqual(leadTimes);
    expect(events.excludedCommits.map(x => x.sha)).toEqual(excluded);
    expect(
      Object.fromEntries(
        events.releases.map(r => [r.promotionId, r.commitsShipped]),
      ),
    ).toEqual(shipped);
    // Rollbacks are not releases.
    expect(events.releases.every(r => !r.promotionId.startsWith('r'))).toBe(
      true,
    );
  });
});

describe('change failure and time to restore', () => {
  const history = commits(
    [0], // 1
    [10], // 2: the release that fails
    [30, { fix: true, subject: 'Merge pull request #7 from o/fix/timeout' }], // 3
    [40], // 4
  );
  const base = [deploy('p1', 1, 5), deploy('p2', 2, 20)];

  it.each([
    {
      name: 'a release nothing follows did not fail',
      deployments: base,
      yanks: [],
      failures: [],
    },
    {
      name: 'a yank of the released commit within the window, restored by the next release (which also ships a hotfix)',
      deployments: [...base, deploy('p3', 4, 50)],
      yanks: [{ sha: sha(2), yankedAt: at(25), yankedBy: 'u', reason: 'bad' }],
      failures: [['p2', ['yank', 'hotfix'], 'p3', 30]],
    },
    {
      name: 'a yank after the window is not a failure of the release',
      deployments: base,
      yanks: [
        {
          sha: sha(2),
          yankedAt: at(20 + 8 * 24),
          yankedBy: 'u',
          reason: 'late',
        },
      ],
      failures: [],
    },
    {
      name: 'a yanked release nothing replaced yet stays open',
      deployments: base,
      yanks: [{ sha: sha(2), yankedAt: at(21), yankedBy: 'u', reason: 'bad' }],
      failures: [['p2', ['yank'], null, null]],
    },
    {
      name: 'a rollback from the release is its failure and its restore',
      deployments: [...base, deploy('r1', 1, 23, 'rollback')],
      yanks: [],
      failures: [['p2', ['rollback'], 'r1', 3]],
    },
    {
      name: 'a rollback after the window is not',
      deployments: [...base, deploy('r1', 1, 20 + 8 * 24, 'rollback')],
      yanks: [],
      failures: [],
    },
    {
      name: 'a hotfix merged while the release ran, released within the window',
      deployments: [...base, deploy('p3', 3, 36)],
      yanks: [],
      failures: [['p2', ['hotfix'], 'p3', 16]],
    },
    {
      name: 'a hotfix released after the window is not',
      deployments: [...base, deploy('p3', 3, 20 + 8 * 24)],
      yanks: [],
      failures: [],
    },
    {
      name: 'a fix merged before a release of an older commit shipped is a failure of the release running then',
      deployments: [
        deploy('p1', 1, 5),
        deploy('p2', 2, 32),
        deploy('p3', 4, 45),
      ],
      yanks: [],
      // Merged at 30 while p1 ran; p2 did not ship it, p3 did.
      failures: [['p1', ['hotfix'], 'p3', 40]],
    },
    {
      name: 'the fix belongs to the release running when it merged, not to an earlier one',
      deployments: [
        deploy('p1', 1, 5),
        deploy('p2', 2, 20),
        deploy('p3', 4, 60),
      ],
      yanks: [],
      // Merged at 30 while p2 ran; p3 ships it 40 hours after p2.
      failures: [['p2', ['hotfix'], 'p3', 40]],
    },
    {
      name: 'several signals are one failure, restored by the earliest restoring deployment',
      deployments: [
        ...base,
        deploy('r1', 1, 24, 'rollback'),
        deploy('p3', 4, 50),
      ],
      yanks: [{ sha: sha(2), yankedAt: at(22), yankedBy: 'u', reason: 'bad' }],
      failures: [['p2', ['yank', 'rollback'], 'r1', 4]],
    },
  ])('$name', ({ deployments, yanks, failures }) => {
    const events = entityEvents(
      facts({ deployments, commits: history, yanks }),
      WINDOW,
    );
    expect(
      events.failures.map(f => [
        f.promotionId,
        f.causes.map(c => c.type),
        f.restoredBy?.promotionId ?? null,
        f.restoreHours,
      ]),
    ).toEqual(failures);
    expect(
      events.releases.filter(r => r.failed).map(r => r.promotionId),
    ).toEqual(failures.map(f => f[0]));
  });
});

describe('the report over a period', () => {
  const history = commits(
    [0],
    [10],
    [30, { fix: true, subject: 'fix: gateway timeout' }],
    [24 * 9],
  );
  const deployments = [
    deploy('p1', 1, 5),
    deploy('p2', 2, 20),
    deploy('p3', 3, 36),
    deploy('p4', 4, 24 * 10),
  ];
  const input = [facts({ deployments, commits: history })];

  it('sums the weeks and names the events behind every figure', () => {
    const report = doraReport(input, {
      from: new Date(T0),
      to: new Date(T0 + 14 * DAY),
      failureWindowMs: WINDOW,
    });
    expect(report.summary).toEqual({
      deployments: 4,
      deploymentsPerWeek: 2,
      leadTime: { commits: 3, medianHours: 10, p90Hours: 24 },
      changeFailureRate: { failed: 1, releases: 4, rate: 0.25 },
      timeToRestore: { restored: 1, open: 0, medianHours: 16, p90Hours: 16 },
    });
    expect(
      report.weeks.map(w => [
        w.weekStart,
        w.deployments,
        w.leadTime.medianHours,
      ]),
    ).toEqual([
      ['2026-10-05T00:00:00.000Z', 3, 8],
      ['2026-10-12T00:00:00.000Z', 1, 24],
    ]);
    expect(report.events.leadTimes.map(l => l.hours)).toEqual([10, 6, 24]);
    expect(report.events.failures.map(f => f.version)).toEqual(['v-p2']);
  });

  it('a period without deployments has zero counts, no rates and empty weeks', () => {
    const report = doraReport(input, {
      from: new Date(T0 + 21 * DAY),
      to: new Date(T0 + 35 * DAY),
      failureWindowMs: WINDOW,
    });
    expect(report.summary).toEqual({
      deployments: 0,
      deploymentsPerWeek: 0,
      leadTime: { commits: 0, medianHours: null, p90Hours: null },
      changeFailureRate: { failed: 0, releases: 0, rate: null },
      timeToRestore: {
        restored: 0,
        open: 0,
        medianHours: null,
        p90Hours: null,
      },
    });
    expect(report.weeks).toHaveLength(2);
    expect(report.events).toEqual({
      releases: [],
      leadTimes: [],
      excludedCommits: [],
      failures: [],
    });
  });

  it('adds entities up (a System or an owner)', () => {
    const other = facts({
      entityRef: 'component:default/invoices',
      deployments: deployments.map(d => ({
        ...d,
        entityRef: 'component:default/invoices',
        promotionId: `i-${d.promotionId}`,
      })),
      commits: history,
    });
    const report = doraReport([...input, other], {
      from: new Date(T0),
      to: new Date(T0 + 14 * DAY),
      failureWindowMs: WINDOW,
    });
    expect(report.summary.deployments).toBe(8);
    expect(report.summary.changeFailureRate).toEqual({
      failed: 2,
      releases: 8,
      rate: 0.25,
    });
  });
});
