import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { TestApiProvider, renderInTestApp } from '@backstage/test-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { Entity } from '@backstage/catalog-model';
import type { DoraReport } from '@mainline/plugin-promotion-common';
import { DoraScope, PromotionApi, promotionApiRef } from '../../api';
import { DoraCard } from './DoraCard';
import { EntityDoraCard } from './EntityDoraCard';

jest.setTimeout(30_000);

const summary = (
  deployments: number,
  failed: number,
  lead: number | null,
  restore: number | null,
) => ({
  deployments,
  deploymentsPerWeek: deployments,
  leadTime: { commits: deployments * 2, medianHours: lead, p90Hours: lead },
  changeFailureRate: {
    failed,
    releases: deployments,
    rate: deployments ? failed / deployments : null,
  },
  timeToRestore: {
    restored: restore === null ? 0 : failed,
    open: restore === null ? failed : 0,
    medianHours: restore,
    p90Hours: restore,
  },
});

const report: DoraReport = {
  from: '2026-10-05T00:00:00.000Z',
  to: '2026-10-26T00:00:00.000Z',
  failureWindowHours: 168,
  entities: ['component:default/checkout'],
  summary: {
    ...summary(4, 1, 30, 16),
    deploymentsPerWeek: 1.33,
    leadTime: { commits: 7, medianHours: 30, p90Hours: 60 },
    changeFailureRate: { failed: 1, releases: 4, rate: 0.25 },
  },
  weeks: [
    { weekStart: '2026-10-05T00:00:00.000Z', ...summary(2, 1, 20, 16) },
    { weekStart: '2026-10-12T00:00:00.000Z', ...summary(0, 0, null, null) },
    { weekStart: '2026-10-19T00:00:00.000Z', ...summary(2, 0, 40, null) },
  ],
  events: {
    releases: [
      {
        entityRef: 'component:default/checkout',
        environment: 'prod',
        promotionId: 'p2',
        version: 'v1.0.1',
        sha: 'b'.repeat(40),
        requestedBy: 'user:default/ada',
        deployedAt: '2026-10-06T10:00:00.000Z',
        baseline: false,
        commitsShipped: 3,
        failed: true,
      },
    ],
    leadTimes: [
      {
        entityRef: 'component:default/checkout',
        sha: 'c'.repeat(40),
        subject: 'Support partial refunds',
        mergedAt: '2026-10-05T10:00:00.000Z',
        deployedAt: '2026-10-06T10:00:00.000Z',
        promotionId: 'p2',
        version: 'v1.0.1',
        hours: 24,
      },
    ],
    excludedCommits: [],
    failures: [
      {
        entityRef: 'component:default/checkout',
        environment: 'prod',
        promotionId: 'p2',
        version: 'v1.0.1',
        sha: 'b'.repeat(40),
        deployedAt: '2026-10-06T10:00:00.000Z',
        causes: [
          {
            type: 'hotfix',
            at: '2026-10-06T20:00:00.000Z',
            sha: 'd'.repeat(40),
            detail: 'Merge pull request #7 from acme/fix/gateway-timeout',
          },
        ],
        restoredBy: {
          promotionId: 'p3',
          kind: 'promotion',
          version: 'v1.1.0',
          at: '2026-10-07T02:00:00.000Z',
        },
        restoreHours: 16,
      },
    ],
  },
};

function fakeApi(calls: Array<{ scope: DoraScope; period?: object }>) {
  const api: Partial<PromotionApi> = {
    getDora: async (scope, period) => {
      calls.push({ scope, period });
      return report;
    },
    exportDora: async () => new Blob(['event\n'], { type: 'text/csv' }),
  };
  return api as PromotionApi;
}

describe('DoraCard', () => {
  it('shows the four figures, weekly charts and the failures behind them', async () => {
    const calls: Array<{ scope: DoraScope; period?: any }> = [];
    const { container } = await renderInTestApp(
      <TestApiProvider apis={[[promotionApiRef, fakeApi(calls)]]}>
        <DoraCard scope={{ system: 'system:default/storefront' }} />
      </TestApiProvider>,
    );
    expect(
      await screen.findByLabelText('Deployment frequency'),
    ).toHaveTextContent('1.33 / week4 prod releases');
    expect(screen.getByLabelText('Lead time for changes')).toHaveTextContent(
      '30.0 hmedian · p90 2.5 d · 7 commits',
    );
    expect(screen.getByLabelText('Change failure rate')).toHaveTextContent(
      '25 %1 of 4 releases',
    );
    expect(screen.getByLabelText('Time to restore')).toHaveTextContent(
      '16.0 h',
    );
    // Twelve weeks up to now were asked for the system.
    expect(calls[0].scope).toEqual({ system: 'system:default/storefront' });
    const asked =
      new Date(calls[0].period.to).getTime() -
      new Date(calls[0].period.from).getTime();
    expect(asked).toBe(12 * 7 * 24 * 60 * 60 * 1000);

    // Real SVG charts: one healthy and one failed bar in the first week, none in the second.
    const bars = within(
      screen.getByLabelText('deployments per week'),
    ).getByText('Prod deployments per week').parentElement!;
    expect(bars.querySelector('svg.recharts-surface')).not.toBeNull();
    const rectangles = container.querySelectorAll(
      '.recharts-bar-rectangle path',
    );
    expect(rectangles.length).toBe(3); // week 1: healthy + failed; week 3: healthy
    expect(
      container.querySelectorAll('.recharts-line-curve').length,
    ).toBeGreaterThanOrEqual(1);

    const failures = screen.getByRole('table', { name: 'failures' });
    expect(within(failures).getByText(/v1\.0\.1/)).toBeInTheDocument();
    expect(
      within(failures).getByText(/hotfix ddddddd: Merge pull request #7/),
    ).toBeInTheDocument();
    expect(within(failures).getByText('promotion v1.1.0')).toBeInTheDocument();

    fireEvent.click(screen.getByRole('tab', { name: 'Lead times (1)' }));
    const leadTimes = screen.getByRole('table', { name: 'lead times' });
    expect(
      within(leadTimes).getByText(/Support partial refunds/),
    ).toBeInTheDocument();
    expect(within(leadTimes).getByText('24.0 h')).toBeInTheDocument();
  });

  it('asks for a component by its ref and a System by system on entity pages', async () => {
    const calls: Array<{ scope: DoraScope; period?: any }> = [];
    const entity = (kind: string): Entity => ({
      apiVersion: 'backstage.io/v1alpha1',
      kind,
      metadata: { name: 'checkout', namespace: 'default' },
      spec: {},
    });
    for (const kind of ['Component', 'System']) {
      await renderInTestApp(
        <TestApiProvider apis={[[promotionApiRef, fakeApi(calls)]]}>
          <EntityProvider entity={entity(kind)}>
            <EntityDoraCard />
          </EntityProvider>
        </TestApiProvider>,
      );
      await screen.findAllByLabelText('Deployment frequency');
    }
    await waitFor(() => expect(calls).toHaveLength(2));
    expect(calls.map(c => c.scope)).toEqual([
      {
        entity: { kind: 'Component', namespace: 'default', name: 'checkout' },
      },
      { system: 'system:default/checkout' },
    ]);
  });
});
