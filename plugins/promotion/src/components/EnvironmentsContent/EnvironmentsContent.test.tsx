import {
  act,
  configure,
  fireEvent,
  screen,
  waitFor,
  within,
} from '@testing-library/react';
import {
  MockPermissionApi,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { SignalApi, signalApiRef } from '@backstage/plugin-signals-react';
import { Entity } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import {
  Lineage,
  LineageCommit,
  Promotion,
  PromotionCheck,
  PromotionPlan,
} from '@mainline/plugin-promotion-common';
import { PromotionApi, promotionApiRef } from '../../api';
import { EnvironmentsContent } from './EnvironmentsContent';

const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'checkout', namespace: 'default' },
  spec: {},
};

const hours = (n: number) => new Date(Date.now() - n * 3600_000).toISOString();
const artifact = (sha: string, tags: string[] = []) => ({
  kind: 'image' as const,
  uri: `local/checkout:${sha.slice(0, 7)}@sha256:${'a'.repeat(64)}`,
  digest: `sha256:${'a'.repeat(64)}`,
  size: 33_000_000,
  createdAt: hours(5),
  tags: [sha.slice(0, 7), ...tags],
});
function commit(
  sha: string,
  message: string,
  extra: Partial<LineageCommit> = {},
): LineageCommit {
  return {
    sha,
    shortSha: sha.slice(0, 7),
    message,
    author: { name: 'Ada Lovelace', email: 'ada@example.com' },
    committedAt: hours(6),
    pullRequest: null,
    artifacts: [artifact(sha)],
    tags: [],
    environments: [],
    yanked: null,
    cherryPickOf: null,
    ...extra,
  };
}

const head = 'a'.repeat(40);
const docs = 'b'.repeat(40);
const yanked = 'c'.repeat(40);
const released = 'd'.repeat(40);

const lineage: Lineage = {
  entityRef: 'component:default/checkout',
  branch: 'main',
  exception: false,
  releaseBranches: [],
  missingFixes: [],
  environments: [
    {
      name: 'stage',
      trigger: { type: 'branch', branch: 'main' },
      production: false,
      policy: {},
      behindBy: 0,
      current: {
        sha: head,
        version: head.slice(0, 7),
        tag: null,
        artifact: artifact(head),
        deployedAt: hours(2),
        deployedBy: 'mainline-ci[bot]',
        revision: null,
      },
    },
    {
      name: 'demo',
      trigger: { type: 'tag', pattern: 'rc-*' },
      production: false,
      policy: {},
      behindBy: 3,
      current: {
        sha: released,
        version: 'rc-6',
        tag: 'rc-6',
        artifact: null,
        deployedAt: hours(30),
        deployedBy: 'Grace Hopper',
        revision: null,
      },
    },
    {
      name: 'prod',
      trigger: { type: 'tag', pattern: 'v*' },
      production: true,
      policy: { requireBeenIn: 'demo' },
      behindBy: 0,
      current: null,
    },
  ],
  commits: [
    commit(head, 'Emit a metric per abandoned cart', {
      environments: ['stage'],
      pullRequest: { number: 135, url: null },
    }),
    commit(docs, 'Describe on-call escalation', { artifacts: [] }),
    commit(yanked, 'Batch PDF rendering', {
      artifacts: [],
      yanked: {
        by: 'user:default/ada',
        reason: 'fails in stage',
        at: hours(3),
      },
    }),
    commit(released, 'Reject empty carts', {
      tags: ['rc-6'],
      environments: ['demo'],
    }),
  ],
};

const plan = (tag: string, passed = true): PromotionPlan => ({
  dryRun: true,
  kind: 'promotion',
  environment: 'demo',
  sha: head,
  tag,
  version: tag,
  checks: [
    { name: 'on-main', passed: true, reason: `${head.slice(0, 7)} is on main` },
    passed
      ? { name: 'artifact', passed: true, reason: 'artifact local/checkout' }
      : {
          name: 'artifact',
          passed: false,
          reason: `${docs.slice(
            0,
            7,
          )} has no artifact; the nearest ancestor with an artifact is ${released.slice(
            0,
            7,
          )}, 2 commits back`,
          data: { nearestBuiltSha: released },
        },
  ],
  steps: [
    { name: 'tag', status: 'planned', detail: `create tag ${tag}` },
    { name: 'retag', status: 'planned', detail: 'add tag' },
    { name: 'deploy', status: 'planned', detail: 'point demo' },
  ],
});

function fakeApi(overrides: Partial<PromotionApi> = {}): PromotionApi {
  const unused = async () => {
    throw new Error('not used in this test');
  };
  return {
    listEnvironments: unused,
    getPromotionTarget: unused,
    getLineage: async () => lineage,
    compare: async () => ({
      entityRef: lineage.entityRef,
      from: { ref: 'demo', sha: released },
      to: { ref: head, sha: head },
      aheadBy: 1,
      behindBy: 0,
      commits: [lineage.commits[0]],
    }),
    planPromotion: async (_e, request) =>
      plan(request.tag ?? 'rc-7', request.sha !== docs),
    promote: unused,
    listPromotions: async () => [],
    getPromotion: unused,
    retryPromotion: unused,
    getApprovals: unused,
    approvePromotion: unused,
    rejectPromotion: unused,
    withdrawApproval: unused,
    rollback: unused,
    yank: unused,
    listYanks: async () => [],
    promoteRepository: unused,
    getBoard: unused,
    exportPromotions: unused,
    getDora: unused,
    exportDora: unused,
    ...overrides,
  };
}

/** A `ResponseError` as the client throws it for Backstage's error envelope, with `checks`. */
async function errorResponse(
  status: number,
  name: string,
  message: string,
  checks?: PromotionCheck[],
) {
  return ResponseError.fromResponse(
    new Response(
      JSON.stringify({
        error: { name, message },
        response: { statusCode: status },
        ...(checks && { checks }),
      }),
      { status, headers: { 'content-type': 'application/json' } },
    ),
  );
}

jest.setTimeout(60_000);
// Dialogs plan after a debounce and several requests: under a loaded CI machine that takes longer
// than Testing Library's default second.
configure({ asyncUtilTimeout: 10_000 });

let rendered = 0;
const signals: SignalApi = { subscribe: () => ({ unsubscribe: () => {} }) };

function render(
  api: PromotionApi,
  decide: (name: string) => AuthorizeResult.ALLOW | AuthorizeResult.DENY = () =>
    AuthorizeResult.ALLOW,
) {
  return renderWith(api, signals, decide);
}

function renderWith(
  api: PromotionApi,
  signalApi: SignalApi,
  decide: (name: string) => AuthorizeResult.ALLOW | AuthorizeResult.DENY = () =>
    AuthorizeResult.ALLOW,
) {
  const permissions = new MockPermissionApi(request =>
    decide(request.permission.name),
  );
  // Permission decisions are cached per entity across renders: each test gets its own entity.
  const subject = {
    ...entity,
    metadata: { ...entity.metadata, name: `checkout-${++rendered}` },
  };
  return renderInTestApp(
    <TestApiProvider
      apis={[
        [promotionApiRef, api],
        [signalApiRef, signalApi],
        [permissionApiRef, permissions],
      ]}
    >
      <EntityProvider entity={subject}>
        <EnvironmentsContent />
      </EntityProvider>
    </TestApiProvider>,
  );
}

describe('EnvironmentsContent', () => {
  it('shows each environment lane and the lineage of main', async () => {
    await render(fakeApi());
    const stage = await screen.findByTestId('lane-stage');
    expect(
      within(stage).getByText(head.slice(0, 7), { selector: 'p' }),
    ).toBeInTheDocument();
    expect(
      within(stage).getByText(/by mainline-ci\[bot\]/),
    ).toBeInTheDocument();
    const demo = screen.getByTestId('lane-demo');
    expect(within(demo).getByText('rc-6')).toBeInTheDocument();
    expect(within(demo).getByText(/artifact missing/)).toBeInTheDocument();
    expect(
      within(demo).getByText(/3 commits behind stage/),
    ).toBeInTheDocument();
    expect(
      within(screen.getByTestId('lane-prod')).getByText(
        'Nothing deployed yet.',
      ),
    ).toBeInTheDocument();

    expect(screen.getByText('none')).toBeInTheDocument();
    expect(screen.getByText('yanked')).toBeInTheDocument();
    expect(screen.getByText('PR #135')).toBeInTheDocument();
  });

  const recorded = (
    id: string,
    extra: Partial<Promotion> & Pick<Promotion, 'status' | 'environment'>,
  ): Promotion => ({
    id,
    kind: 'promotion',
    sha: head,
    tag: null,
    version: head.slice(0, 7),
    requestedBy: 'user:default/guest',
    error: null,
    createdAt: hours(1),
    updatedAt: hours(1),
    steps: [],
    ...extra,
  });

  it('lists recent promotions, with the reason a pushed tag was refused and who pushed it', async () => {
    const refusal =
      'v3.0.0 is not in demo yet: prod requires the commit to have been in demo';
    const asked: unknown[] = [];
    await render(
      fakeApi({
        listPromotions: async (_e, options) => {
          asked.push(options);
          return [
            recorded('p-old', {
              status: 'succeeded',
              environment: 'demo',
              sha: released,
              tag: 'rc-5',
              version: 'rc-5',
              requestedBy: 'user:default/grace',
              createdAt: hours(40),
            }),
            recorded('p-refused', {
              status: 'failed',
              environment: 'prod',
              tag: 'v3.0.0',
              version: 'v3.0.0',
              requestedBy: 'github:octocat',
              error: refusal,
              createdAt: hours(1),
            }),
          ];
        },
      }),
    );
    const card = await screen.findByRole('table', {
      name: 'recent promotions',
    });
    const rows = within(card).getAllByRole('row');
    // Header, then newest first.
    expect(rows).toHaveLength(3);
    const refused = within(card).getByTestId('promotion-p-refused');
    expect(rows[1]).toBe(refused);
    expect(within(refused).getByText('prod')).toBeInTheDocument();
    expect(within(refused).getByText('v3.0.0')).toBeInTheDocument();
    expect(within(refused).getByText('failed')).toBeInTheDocument();
    expect(within(refused).getByText(refusal)).toBeInTheDocument();
    expect(within(refused).getByText('github:octocat')).toBeInTheDocument();
    expect(within(refused).getByText('1 hour ago')).toBeInTheDocument();
    const done = within(card).getByTestId('promotion-p-old');
    expect(within(done).getByText('rc-5')).toBeInTheDocument();
    expect(within(done).getByText('succeeded')).toBeInTheDocument();
    expect(within(done).getByText(released.slice(0, 7))).toBeInTheDocument();
    expect(within(done).getByText('user:default/grace')).toBeInTheDocument();
    // The card asks only for what it lists.
    expect(asked).toEqual([{ limit: 10 }]);
  });

  it('shows a promotion whose verification failed as rolled back to the version, and its rollback', async () => {
    await render(
      fakeApi({
        listPromotions: async () => [
          recorded('p-failed', {
            status: 'failed',
            environment: 'demo',
            tag: 'rc-6',
            version: 'rc-6',
            error:
              'verify: VerificationFailedError: degraded: checkout-demo is Degraded; rolling back to rc-5 (abc1234), the last version verified running in demo',
            rolledBackBy: {
              id: 'p-back',
              version: 'rc-5',
              status: 'succeeded',
            },
            createdAt: hours(2),
          }),
          recorded('p-back', {
            kind: 'rollback',
            status: 'succeeded',
            environment: 'demo',
            sha: released,
            tag: 'rc-5',
            version: 'rc-5',
            requestedBy: 'plugin:promotion',
            rollbackOf: 'p-failed',
            onBehalfOf: 'user:default/grace',
            createdAt: hours(1),
          }),
        ],
      }),
    );
    const card = await screen.findByRole('table', {
      name: 'recent promotions',
    });
    const failed = within(card).getByTestId('promotion-p-failed');
    expect(within(failed).getByTestId('rolled-back')).toHaveTextContent(
      'rolled back to rc-5 (automatically, verification failed)',
    );
    const back = within(card).getByTestId('promotion-p-back');
    expect(within(back).getByText('demo (rollback)')).toBeInTheDocument();
    expect(within(back).getByTestId('automatic-rollback')).toHaveTextContent(
      'automatic rollback after a failed verification (promoted by user:default/grace)',
    );
    expect(within(back).getByText('plugin:promotion')).toBeInTheDocument();
  });

  it('reloads recent promotions and the lineage once per promotion signal', async () => {
    let listener: ((message: any) => void) | undefined;
    const live: SignalApi = {
      subscribe: (_channel, onMessage) => {
        listener = onMessage;
        return { unsubscribe: () => {} };
      },
    };
    let items: Promotion[] = [];
    let lineageReads = 0;
    await renderWith(
      fakeApi({
        listPromotions: async () => items,
        getLineage: async () => {
          lineageReads++;
          return lineage;
        },
      }),
      live,
    );
    expect(
      await screen.findByText(/No promotion or rollback of this entity/),
    ).toBeInTheDocument();
    items = [
      recorded('p-new', {
        status: 'failed',
        environment: 'demo',
        tag: 'rc-9',
        error: 'rc-9 is not a commit on main',
        requestedBy: 'github:octocat',
      }),
    ];
    await waitFor(() => expect(listener).toBeDefined());
    const before = lineageReads;
    act(() => listener!({ kind: 'promotion' }));
    expect(
      await screen.findByText('rc-9 is not a commit on main'),
    ).toBeInTheDocument();
    // Settled: one more read, not one after every read.
    await new Promise(resolve => setTimeout(resolve, 1_500));
    expect(lineageReads).toBe(before + 1);
  });

  it('promotes with the suggested tag after a dry run, showing the steps', async () => {
    const promoted: Array<{ tag?: string; key: string }> = [];
    const done: Promotion = {
      id: '00000000-0000-0000-0000-000000000001',
      kind: 'promotion',
      status: 'succeeded',
      environment: 'demo',
      sha: head,
      tag: 'rc-7',
      version: 'rc-7',
      requestedBy: 'user:default/guest',
      error: null,
      createdAt: hours(0),
      updatedAt: hours(0),
      steps: ['checks', 'tag', 'retag', 'deploy'].map(name => ({
        name: name as 'tag',
        status: 'succeeded' as const,
        detail: `${name} done`,
        startedAt: hours(0),
        finishedAt: hours(0),
        url: null,
        waiting: false,
      })),
    };
    await render(
      fakeApi({
        promote: async (_e, request, key) => {
          promoted.push({ tag: request.tag, key });
          return done;
        },
      }),
    );
    fireEvent.click(
      await screen.findByRole('button', { name: 'Promote to demo' }),
    );
    await waitFor(() =>
      expect(screen.getByLabelText('release tag')).toHaveValue('rc-7'),
    );
    expect(
      await screen.findByText(/on-main: .* is on main/),
    ).toBeInTheDocument();

    fireEvent.change(screen.getByLabelText('release tag'), {
      target: { value: 'v9' },
    });
    expect(await screen.findByText('must match rc-*')).toBeInTheDocument();
    fireEvent.change(screen.getByLabelText('release tag'), {
      target: { value: 'rc-8' },
    });
    await waitFor(() =>
      expect(
        screen.getByRole('button', { name: 'Promote to demo' }),
      ).toBeEnabled(),
    );
    const dialog = screen.getByRole('dialog');
    fireEvent.click(
      within(dialog).getByRole('button', { name: 'Promote to demo' }),
    );
    expect(await screen.findByText('deploy: succeeded')).toBeInTheDocument();
    expect(promoted).toHaveLength(1);
    expect(promoted[0].tag).toBe('rc-8');
    expect(promoted[0].key).toMatch(/^ui-/);
  });

  it('offers the nearest commit with an artifact when the chosen one has none', async () => {
    await render(fakeApi());
    const rows = await screen.findAllByRole('button', { name: 'Promote' });
    await waitFor(() => expect(rows[0]).toBeEnabled());
    fireEvent.click(rows[0]);
    fireEvent.change(await screen.findByLabelText('commit'), {
      target: { value: docs },
    });
    const instead = await screen.findByRole(
      'button',
      { name: `Promote ${released.slice(0, 7)} instead` },
      { timeout: 10_000 },
    );
    fireEvent.click(instead);
    expect(screen.getByLabelText('commit')).toHaveValue(released);
  });

  it('offers the commit a refused dry run names in its checks', async () => {
    const refusal = await errorResponse(
      409,
      'ConflictError',
      'prod requires the commit to have been in demo',
      [
        {
          name: 'policy',
          passed: false,
          reason: 'prod requires the commit to have been in demo',
          data: { requiredEnvironment: 'demo', suggestedSha: released },
        },
      ],
    );
    await render(
      fakeApi({
        planPromotion: async () => {
          throw refusal;
        },
      }),
    );
    fireEvent.click(
      await screen.findByRole('button', { name: 'Promote to demo' }),
    );
    expect(screen.getByLabelText('commit')).toHaveValue(head);
    expect(
      (await screen.findAllByText(/requires the commit to have been in demo/))
        .length,
    ).toBeGreaterThan(0);
    fireEvent.click(
      await screen.findByRole('button', {
        name: `Promote ${released.slice(0, 7)} instead`,
      }),
    );
    expect(screen.getByLabelText('commit')).toHaveValue(released);
  });

  it('shows the steps of a running promotion when its signal arrives, without polling', async () => {
    // The tab and the dialog each subscribe to the entity's channel.
    const listeners = new Set<(message: any) => void>();
    const live: SignalApi = {
      subscribe: (_channel, onMessage) => {
        listeners.add(onMessage);
        return { unsubscribe: () => listeners.delete(onMessage) };
      },
    };
    const signal = () =>
      act(() =>
        listeners.forEach(l =>
          l({ entityRef: 'component:default/checkout', environment: 'demo' }),
        ),
      );
    const step = (
      name: string,
      status: 'running' | 'succeeded' | 'pending',
    ) => ({
      name: name as 'tag',
      status,
      detail: null,
      startedAt: null,
      finishedAt: null,
      url: null,
      waiting: false,
    });
    const base: Promotion = {
      id: '00000000-0000-0000-0000-000000000002',
      kind: 'promotion',
      status: 'running',
      environment: 'demo',
      sha: head,
      tag: 'rc-7',
      version: 'rc-7',
      requestedBy: 'user:default/guest',
      error: null,
      createdAt: hours(0),
      updatedAt: hours(0),
      steps: [step('checks', 'succeeded'), step('tag', 'running')],
    };
    let finish: (p: Promotion) => void = () => {};
    let reads = 0;
    let running: Promotion[] = [];
    await renderWith(
      fakeApi({
        listPromotions: async () => {
          reads++;
          return running;
        },
        promote: () =>
          new Promise<Promotion>(resolve => {
            finish = resolve;
          }),
      }),
      live,
    );
    fireEvent.click(
      await screen.findByRole('button', { name: 'Promote to demo' }),
    );
    const dialog = screen.getByRole('dialog');
    const promote = within(dialog).getByRole('button', {
      name: 'Promote to demo',
    });
    await waitFor(() => expect(promote).toBeEnabled());
    fireEvent.click(promote);
    running = [base];
    const before = reads;
    // Longer than the polling fallback's period: with signals nothing is read meanwhile.
    await new Promise(resolve => setTimeout(resolve, 2_500));
    expect(reads).toBe(before);
    expect(within(dialog).queryByText('tag: running')).toBeNull();
    signal();
    expect(await within(dialog).findByText('tag: running')).toBeInTheDocument();
    // The backend signals after each step it records: every signal reads the steps again.
    running = [
      {
        ...base,
        steps: [
          step('checks', 'succeeded'),
          step('tag', 'succeeded'),
          step('retag', 'running'),
        ],
      },
    ];
    signal();
    expect(
      await within(dialog).findByText('retag: running'),
    ).toBeInTheDocument();
    expect(within(dialog).getByText('tag: succeeded')).toBeInTheDocument();
    act(() =>
      finish({
        ...base,
        status: 'succeeded',
        steps: ['checks', 'tag', 'retag', 'deploy'].map(n =>
          step(n, 'succeeded'),
        ),
      }),
    );
    expect(
      await within(dialog).findByText('deploy: succeeded'),
    ).toBeInTheDocument();
  });

  it('disables what the user may not do, saying why', async () => {
    await render(fakeApi(), name =>
      name === 'promotion.promote.production' || name === 'promotion.yank'
        ? AuthorizeResult.DENY
        : AuthorizeResult.ALLOW,
    );
    const prod = await screen.findByTestId('lane-prod');
    await waitFor(() =>
      expect(
        within(prod).getByRole('button', { name: 'Promote to prod' }),
      ).toBeDisabled(),
    );
    expect(
      within(screen.getByTestId('lane-demo')).getByRole('button', {
        name: 'Promote to demo',
      }),
    ).toBeEnabled();
    expect(screen.getAllByRole('button', { name: 'Yank' })[0]).toBeDisabled();
    fireEvent.mouseOver(
      within(prod).getByRole('button', { name: 'Promote to prod' })
        .parentElement!,
    );
    expect(
      await screen.findByText(
        'You do not have the promotion.promote.production permission for this entity',
      ),
    ).toBeInTheDocument();
  });

  /** A backend whose lineage endpoint answers with Backstage's error envelope. */
  async function failingLineage(
    status: number,
    name: string,
    message: string,
    checks?: PromotionCheck[],
  ) {
    const error = await errorResponse(status, name, message, checks);
    return fakeApi({
      getLineage: async () => {
        throw error;
      },
    });
  }

  it('says why no artifacts are shown when the backend refused the registry request', async () => {
    const reason =
      'The artifact location oci://10.0.0.8/acme/checkout names the registry 10.0.0.8, which is not configured; an administrator adds it to promotion.artifacts.oci.registries or promotion.artifacts.allowedHosts';
    await render(
      fakeApi({
        getLineage: async () => ({
          ...lineage,
          artifactLookup: { status: 'refused', reason },
        }),
      }),
    );
    expect(
      await screen.findByText(/Artifacts were not read/),
    ).toBeInTheDocument();
    expect(screen.getByText(reason)).toBeInTheDocument();
    // The lineage itself is still shown.
    expect(screen.getByTestId('lane-stage')).toBeInTheDocument();
  });

  it('explains how to annotate an entity that is not set up for promotion, from its setup check', async () => {
    // The sentence names no annotation the way a pattern would look for: the check's data does.
    const reason =
      'component:default/checkout is not set up for promotion: the image repository or package bucket is not named';
    await render(
      await failingLineage(404, 'NotFoundError', reason, [
        {
          name: 'setup',
          passed: false,
          reason,
          data: { missingAnnotation: 'mainline.dev/artifact-location' },
        },
      ]),
    );
    expect(await screen.findByText(/Missing Annotation/i)).toBeInTheDocument();
    expect(
      screen.getAllByText(/mainline.dev\/artifact-location/).length,
    ).toBeGreaterThan(0);
    expect(screen.getByText(/package bucket is not named/)).toBeInTheDocument();
    expect(screen.queryByTestId('lane-stage')).not.toBeInTheDocument();
  });

  it('asks to fix, not to add, an annotation that is present but malformed', async () => {
    const reason =
      'component:default/checkout is not set up for promotion: annotation github.com/project-slug "acme" is not a repository slug of the form owner/name';
    await render(
      await failingLineage(404, 'NotFoundError', reason, [
        {
          name: 'setup',
          passed: false,
          reason,
          data: { invalidAnnotation: 'github.com/project-slug' },
        },
      ]),
    );
    expect(
      await screen.findByText('Fix the github.com/project-slug annotation'),
    ).toBeInTheDocument();
    expect(screen.getByText(/is not a repository slug/)).toBeInTheDocument();
    expect(screen.queryByText(/Missing Annotation/i)).not.toBeInTheDocument();
    expect(screen.queryByTestId('lane-stage')).not.toBeInTheDocument();
  });

  it('shows a server error with its message', async () => {
    await render(
      await failingLineage(
        503,
        'ServiceUnavailableError',
        'No source control is configured for mainline-demo/checkout: set promotion.local.dataDir',
      ),
    );
    expect(
      (await screen.findAllByText(/set promotion.local.dataDir/))[0],
    ).toBeInTheDocument();
    expect(screen.queryByText(/Missing Annotation/i)).not.toBeInTheDocument();
  });
});
