import {
  act,
  configure,
  fireEvent,
  screen,
  waitFor,
} from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import {
  EnvironmentState,
  LineageCommit,
  Promotion,
  PromotionPlan,
  YankResult,
} from '@mainline/plugin-promotion-common';
import { PromotionApi, promotionApiRef } from '../../api';
import { PromoteDialog } from '../PromoteDialog';
import { RollbackDialog } from '../RollbackDialog';
import { YankDialog } from './YankDialog';

configure({ asyncUtilTimeout: 10_000 });
jest.setTimeout(30_000);

const entity = { kind: 'Component', namespace: 'default', name: 'checkout' };
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
      uri: 'local/checkout',
      digest: `sha256:${'a'.repeat(64)}`,
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

function render(api: Partial<PromotionApi>, element: JSX.Element) {
  return renderInTestApp(
    <TestApiProvider apis={[[promotionApiRef, api as PromotionApi]]}>
      {element}
    </TestApiProvider>,
  );
}

describe('YankDialog', () => {
  it('needs a reason, the typed short sha and, for a running commit, force', async () => {
    const calls: unknown[] = [];
    const running = commit('b', { environments: ['stage'] });
    const result: YankResult = {
      yank: {
        sha: running.sha,
        yankedBy: 'user:default/guest',
        reason: 'breaks stage',
        yankedAt: new Date().toISOString(),
      },
      deleted: null,
      affectedEnvironments: ['stage'],
    };
    await render(
      {
        yank: async (_e, request) => {
          calls.push(request);
          return result;
        },
      },
      <YankDialog entity={entity} commit={running} onClose={() => {}} />,
    );
    const yank = screen.getByRole('button', { name: 'Yank' });
    fireEvent.change(screen.getByLabelText('reason'), {
      target: { value: 'breaks stage' },
    });
    fireEvent.change(screen.getByLabelText('confirm sha'), {
      target: { value: 'bbbbbbb' },
    });
    expect(yank).toBeDisabled();
    fireEvent.click(screen.getByLabelText(/Yank although it runs in stage/));
    expect(yank).toBeEnabled();
    fireEvent.click(yank);
    expect(
      await screen.findByText(/Yanked by user:default\/guest/),
    ).toBeInTheDocument();
    expect(calls).toEqual([
      { sha: running.sha, reason: 'breaks stage', force: true },
    ]);
  });
});

describe('RollbackDialog', () => {
  it('offers only earlier artifacts released to the environment, and rolls back by tag', async () => {
    const prod: EnvironmentState = {
      name: 'prod',
      trigger: { type: 'tag', pattern: 'v*' },
      production: true,
      policy: {},
      behindBy: 0,
      current: {
        sha: 'c'.repeat(40),
        version: 'v1.2.0',
        tag: 'v1.2.0',
        artifact: null,
        deployedAt: new Date().toISOString(),
        deployedBy: null,
        revision: null,
      },
    };
    const commits = [
      commit('c', { tags: ['v1.2.0'] }),
      commit('d', { tags: ['rc-3'] }),
      commit('e', { tags: ['v1.1.0'] }),
      commit('f', {
        tags: ['v1.0.0'],
        yanked: { by: 'x', reason: 'y', at: 'z' },
      }),
    ];
    const calls: unknown[] = [];
    await render(
      {
        rollback: async (_e, request, key) => {
          calls.push({ request, key: key.startsWith('ui-') });
          return {
            status: 'succeeded',
            steps: [
              {
                name: 'deploy',
                status: 'succeeded',
                detail: 'prod at v1.1.0',
                startedAt: null,
                finishedAt: null,
              },
            ],
          } as Promotion;
        },
      },
      <RollbackDialog
        entity={entity}
        environment={prod}
        commits={commits}
        onClose={() => {}}
      />,
    );
    const options = screen.getAllByRole('radio');
    expect(options).toHaveLength(1);
    expect(screen.getByLabelText(/v1\.1\.0/)).toBeChecked();
    fireEvent.click(screen.getByRole('button', { name: 'Roll back' }));
    await waitFor(() =>
      expect(screen.getByText('prod at v1.1.0')).toBeInTheDocument(),
    );
    expect(calls).toEqual([
      { request: { environment: 'prod', tag: 'v1.1.0' }, key: true },
    ]);
  });
});

describe('PromoteDialog', () => {
  const demo: EnvironmentState = {
    name: 'demo',
    trigger: { type: 'tag', pattern: 'rc-*' },
    production: false,
    policy: {},
    behindBy: 0,
    current: null,
  };
  const shopDialog = (
    <PromoteDialog
      entity={entity}
      environments={[demo]}
      initialEnvironment="demo"
      initialSha={'a'.repeat(40)}
      repository="acme/shop"
      onClose={() => {}}
    />
  );
  const demoPlan = (checks: PromotionPlan['checks'] = []): PromotionPlan => ({
    dryRun: true,
    kind: 'promotion',
    environment: 'demo',
    sha: 'a'.repeat(40),
    tag: 'rc-5',
    version: 'rc-5',
    checks,
    steps: [],
  });

  it('without signals, polls every few seconds for the running promotion and shows its steps', async () => {
    const step = (name: string, status: 'running' | 'succeeded') => ({
      name: name as 'tag',
      status,
      detail: null,
      startedAt: null,
      finishedAt: null,
      url: null,
      waiting: false,
    });
    const running = {
      id: '00000000-0000-0000-0000-000000000003',
      kind: 'promotion',
      status: 'running',
      environment: 'demo',
      sha: 'a'.repeat(40),
      tag: 'rc-5',
      version: 'rc-5',
      requestedBy: 'user:default/guest',
      error: null,
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      steps: [step('checks', 'succeeded'), step('tag', 'running')],
    } as Promotion;
    const reads: unknown[] = [];
    let finish: (p: Promotion) => void = () => {};
    await render(
      {
        planPromotion: async () => demoPlan(),
        compare: async () => ({ commits: [] } as any),
        listPromotions: async (_e, options) => {
          reads.push(options);
          return [running];
        },
        promote: () =>
          new Promise<Promotion>(resolve => {
            finish = resolve;
          }),
      },
      <PromoteDialog
        entity={entity}
        environments={[demo]}
        initialEnvironment="demo"
        initialSha={'a'.repeat(40)}
        onClose={() => {}}
      />,
    );
    const promote = await screen.findByRole('button', {
      name: 'Promote to demo',
    });
    await waitFor(() => expect(promote).toBeEnabled());
    fireEvent.click(promote);
    const started = Date.now();
    expect(await screen.findByText('tag: running')).toBeInTheDocument();
    // The fallback's period, not the old half second: one read in the first two seconds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(reads[0]).toEqual({ limit: 10 });
    act(() =>
      finish({
        ...running,
        status: 'succeeded',
        steps: [step('checks', 'succeeded'), step('tag', 'succeeded')],
      }),
    );
    expect(await screen.findByText('tag: succeeded')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Close' })).toBeInTheDocument();
  });

  it('after a repository-wide promotion that refused this component, reports it and locks the form', async () => {
    const plan = demoPlan();
    const promoted = {
      status: 'succeeded',
      steps: [
        {
          name: 'deploy',
          status: 'succeeded',
          detail: 'the API of checkout at rc-5',
          startedAt: null,
          finishedAt: null,
        },
      ],
    } as unknown as Promotion;
    await render(
      {
        planPromotion: async () => plan,
        compare: async () => ({ commits: [] } as any),
        listPromotions: async () => [],
        promoteRepository: async (_e, request) => ({
          repository: 'acme/shop',
          sha: 'a'.repeat(40),
          tag: 'rc-5',
          components: request.dryRun
            ? [
                {
                  entityRef: 'component:default/checkout',
                  outcome: 'planned' as const,
                  message: 'would release rc-5',
                  plan,
                },
              ]
            : [
                // Same namespace and name, another kind: not this component.
                {
                  entityRef: 'api:default/checkout',
                  outcome: 'promoted' as const,
                  message: 'released rc-5',
                  promotion: promoted,
                },
                {
                  entityRef: 'component:default/checkout',
                  outcome: 'refused' as const,
                  message:
                    'no artifact; the nearest ancestor with an artifact is bbbbbbb',
                },
              ],
        }),
      },
      shopDialog,
    );
    const promote = await screen.findByRole('button', {
      name: 'Promote to demo',
    });
    await waitFor(() => expect(promote).toBeEnabled());
    fireEvent.click(promote);
    await screen.findByLabelText('components');
    expect(screen.queryByText('the API of checkout at rc-5')).toBeNull();
    expect(
      screen.getAllByText(/nearest ancestor with an artifact is bbbbbbb/)
        .length,
    ).toBeGreaterThan(0);
    expect(screen.getByLabelText('commit')).toBeDisabled();
    expect(screen.getByLabelText('release tag')).toBeDisabled();
    expect(
      screen.queryByRole('button', { name: /Promote bbbbbbb instead/ }),
    ).toBeNull();
    expect(
      screen.queryByRole('button', { name: 'Promote to demo' }),
    ).toBeNull();
  });
  it('with the whole repository ticked, previews every component and refuses a refused sibling', async () => {
    const plan = demoPlan([
      { name: 'artifact', passed: true, reason: 'built' },
    ]);
    const dryRuns: unknown[] = [];
    const released: unknown[] = [];
    await render(
      {
        planPromotion: async () => plan,
        compare: async () => ({ commits: [] } as any),
        listPromotions: async () => [],
        promoteRepository: async (_e, request, key) => {
          if (!request.dryRun) {
            released.push(request);
            throw new Error('must not release');
          }
          dryRuns.push({ request, key });
          return {
            repository: 'acme/shop',
            sha: 'a'.repeat(40),
            tag: 'rc-5',
            components: [
              {
                entityRef: 'component:default/checkout',
                outcome: 'planned',
                message: 'would release rc-5',
                plan,
              },
              {
                entityRef: 'component:default/cart',
                outcome: 'unchanged',
                message:
                  'unchanged: aaaaaaa built no artifact; ccccccc stands for it',
                ancestor: 'c'.repeat(40),
                running: true,
              },
              {
                entityRef: 'component:default/payments',
                outcome: 'refused',
                message: 'promote to demo is not permitted',
                checks: [
                  {
                    name: 'permission',
                    passed: false,
                    reason: 'guest may not promote to demo',
                  },
                ],
              },
            ],
          };
        },
      },
      shopDialog,
    );
    expect(
      screen.getByLabelText(/Release every component of acme\/shop/),
    ).toBeChecked();
    const preview = await screen.findByLabelText('components (dry run)');
    expect(dryRuns[0]).toEqual({
      request: {
        environment: 'demo',
        sha: 'a'.repeat(40),
        tag: undefined,
        dryRun: true,
      },
      key: undefined,
    });
    // The refusal names its failed checks, not only the sentence.
    expect(preview).toHaveTextContent(
      'component:default/payments: permission: guest may not promote to demo',
    );
    expect(preview).toHaveTextContent(/component:default\/cart: unchanged/);
    // This component's own plan is the checks; the list shows the others.
    expect(preview).not.toHaveTextContent('component:default/checkout');
    expect(
      screen.getByText(/component:default\/payments is refused/),
    ).toBeInTheDocument();
    const promote = screen.getByRole('button', { name: 'Promote to demo' });
    expect(await screen.findByLabelText('checks')).toBeInTheDocument();
    expect(promote).toBeDisabled();
    fireEvent.click(promote);
    expect(released).toEqual([]);

    // Releasing this component alone: the single plan decides, as before.
    fireEvent.click(
      screen.getByLabelText(/Release every component of acme\/shop/),
    );
    await waitFor(() => expect(promote).toBeEnabled());
    expect(screen.queryByLabelText('components (dry run)')).toBeNull();
  });
});
