import { configure, screen, within } from '@testing-library/react';
import { renderInTestApp } from '@backstage/test-utils';
import { LineageCommit, RuntimeView } from '@mainline/plugin-promotion-common';
import { LineageTable } from './LineageTable';

configure({ asyncUtilTimeout: 10_000 });
jest.setTimeout(30_000);

const digestOf = (sha: string) => `sha256:${sha.repeat(64)}`;
const commit = (
  sha: string,
  extra: Partial<LineageCommit> = {},
): LineageCommit => ({
  sha: sha.repeat(40),
  shortSha: sha.repeat(7),
  message: `change ${sha}`,
  author: { name: 'Ada', email: 'ada@example.com' },
  committedAt: new Date().toISOString(),
  pullRequest: null,
  artifacts: [
    {
      kind: 'image',
      uri: 'local/ledger',
      digest: digestOf(sha),
      size: 1,
      createdAt: new Date().toISOString(),
      tags: [],
    },
  ],
  tags: [],
  environments: [],
  yanked: null,
  cherryPickOf: null,
  ...extra,
});

// ledger as the demo has it: stage runs c; demo declares b (rc-2), whose sync failed, and still
// runs a (rc-1); prod has no Application.
const commits = [
  commit('c', { environments: ['stage'] }),
  commit('b', { tags: ['rc-2'], environments: ['demo'] }),
  commit('a', { tags: ['rc-1', 'v1.0.0'], environments: ['prod'] }),
];
const running = (environment: string, digest: string, extra: object = {}) => ({
  environment,
  source: `local runtime: ledger-${environment}`,
  sync: { status: 'Synced' as const, revision: 'f'.repeat(40) },
  health: { status: 'Healthy' as const },
  runningDigests: [digest],
  since: new Date(Date.now() - 3600_000).toISOString(),
  observedAt: new Date().toISOString(),
  ...extra,
});
const runtime: RuntimeView = {
  entityRef: 'component:default/ledger',
  observer: 'local',
  environments: [
    {
      name: 'stage',
      declared: null,
      running: running('stage', digestOf('c')),
      drift: false,
      driftReason: null,
    },
    {
      name: 'demo',
      declared: null,
      running: running('demo', digestOf('a'), {
        sync: { status: 'OutOfSync', revision: 'e'.repeat(40) },
        lastOperation: { phase: 'Failed', message: 'failed to apply' },
      }),
      drift: true,
      driftReason: 'runs a…, not the declared b…',
    },
    {
      name: 'prod',
      declared: null,
      running: null,
      drift: false,
      driftReason: null,
    },
  ],
};

const rowOf = (sha: string) =>
  screen.getByText(sha.repeat(7)).closest('tr') as HTMLElement;

describe('LineageTable', () => {
  it('marks each commit in the environments that run it, with their health, beside where it is declared', async () => {
    await renderInTestApp(
      <LineageTable title="main" commits={commits} runtime={runtime} />,
    );
    expect(
      await screen.findByRole('columnheader', { name: 'Declared in' }),
    ).toBeInTheDocument();
    expect(
      screen.getByRole('columnheader', { name: 'Running in' }),
    ).toBeInTheDocument();
    // Declared in demo, but its sync failed: not running anywhere.
    const declared = within(rowOf('b'));
    expect(declared.getByText('demo')).toBeInTheDocument();
    expect(declared.queryByLabelText(/^running in/)).toBeNull();
    // The old version still runs in demo, healthy; its declaration is prod's.
    const old = within(rowOf('a'));
    expect(old.getByLabelText('running in demo: Healthy')).toBeInTheDocument();
    expect(old.queryByLabelText(/running in prod/)).toBeNull();
    expect(
      within(rowOf('c')).getByLabelText('running in stage: Healthy'),
    ).toBeInTheDocument();
  });

  it('marks a commit running beside another mid-rollout, and a package by the commit the runtime verified', async () => {
    const rollout: RuntimeView = {
      ...runtime,
      environments: [
        {
          ...runtime.environments[1],
          running: running('demo', digestOf('a'), {
            runningDigests: [digestOf('a'), digestOf('b')],
            health: { status: 'Degraded', message: 'CrashLoopBackOff' },
          }),
        },
        {
          name: 'prod',
          declared: null,
          // A Lambda: no image digest, the commit as verified by its code hash.
          running: running('prod', 'unused', {
            runningDigests: [],
            runningCodeSha256s: ['q83vEjRWeJA='],
            sync: { status: 'Synced', revision: 'c'.repeat(40) },
          }),
          drift: false,
          driftReason: null,
        },
      ],
    };
    await renderInTestApp(
      <LineageTable title="main" commits={commits} runtime={rollout} />,
    );
    await screen.findByRole('columnheader', { name: 'Running in' });
    for (const sha of ['a', 'b']) {
      expect(
        within(rowOf(sha)).getByLabelText('running in demo: Degraded'),
      ).toBeInTheDocument();
    }
    expect(
      within(rowOf('c')).getByLabelText('running in prod: Healthy'),
    ).toBeInTheDocument();
  });

  it('has no running column without an observer', async () => {
    await renderInTestApp(
      <LineageTable
        title="main"
        commits={commits}
        runtime={{ ...runtime, observer: null }}
      />,
    );
    expect(
      await screen.findByRole('columnheader', { name: 'Runs in' }),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('columnheader', { name: 'Running in' }),
    ).toBeNull();
    expect(screen.queryByLabelText(/^running in/)).toBeNull();
  });
});
