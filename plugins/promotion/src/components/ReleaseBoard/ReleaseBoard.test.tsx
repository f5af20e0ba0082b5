import {
  configure,
  fireEvent,
  screen,
  waitFor,
  within,
} from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { entityRouteRef } from '@backstage/plugin-catalog-react';
import {
  ReleaseBoard as Board,
  ReleaseBoardCell,
  ReleaseBoardRow,
  RuntimeView,
} from '@mainline/plugin-promotion-common';
import { BoardQuery, PromotionApi, promotionApiRef } from '../../api';
import { RUNTIME_BATCH, RUNTIME_REQUESTS, ReleaseBoard } from './ReleaseBoard';

configure({ asyncUtilTimeout: 10_000 });
jest.setTimeout(30_000);

const cell = (
  environment: string,
  version: string | null,
  extra: Partial<ReleaseBoardCell> = {},
): ReleaseBoardCell => ({
  environment,
  version,
  sha: version ? 'a'.repeat(40) : null,
  tag: null,
  deployedAt: version ? new Date().toISOString() : null,
  behindBy: 0,
  drift: [],
  lastPromotion: null,
  ...extra,
});

const row = (
  name: string,
  system: string,
  environments: ReleaseBoardCell[],
  extra: Partial<ReleaseBoardRow> = {},
): ReleaseBoardRow => ({
  entityRef: `component:default/${name}`,
  title: name,
  owner: 'group:default/payments',
  system: `system:default/${system}`,
  sourceRepo: `acme/${name}`,
  sourcePath: null,
  artifactKind: 'image',
  releaseBranches: false,
  environments,
  tag: null,
  error: null,
  ...extra,
});

const services = [
  row(
    'cart',
    'shop',
    [
      cell('stage', 'abc1234'),
      cell('demo', 'rc-4', {
        lastPromotion: {
          id: 'p1',
          kind: 'promotion',
          status: 'succeeded',
          version: 'rc-4',
          sha: 'a'.repeat(40),
          requestedBy: 'user:default/ada',
          createdAt: new Date().toISOString(),
          error: null,
        },
      }),
      cell('prod', 'v1.1.0', { behindBy: 3 }),
    ],
    { sourcePath: 'services/cart', sourceRepo: 'acme/shop' },
  ),
  row(
    'checkout',
    'storefront',
    [
      cell('stage', 'def5678'),
      cell('demo', 'rc-5'),
      cell('prod', 'v1.2.0', {
        drift: [
          'the artifact of 0123456 is gone from the registry (yanked or expired)',
        ],
      }),
    ],
    { releaseBranches: true },
  ),
];

/** What the DORA card under the board asked for. */
const doraScopes: unknown[] = [];

function fakeApi(
  calls: BoardQuery[],
  exports: unknown[],
): Partial<PromotionApi> {
  return {
    getDora: async scope => {
      doraScopes.push(scope);
      throw new Error('no DORA figures in this test');
    },
    getBoard: async (query = {}) => {
      calls.push(query);
      const board: Board = {
        environments: ['stage', 'demo', 'prod'],
        generatedAt: new Date().toISOString(),
        services: services
          .filter(s => !query.system || s.system === query.system)
          .map(s =>
            query.tag
              ? {
                  ...s,
                  tag: {
                    name: query.tag,
                    sha: 'b'.repeat(40),
                    outcome: s.title === 'cart' ? 'promotes' : 'unchanged',
                    artifact:
                      s.title === 'cart' ? 'local/shop-cart:bbbbbbb' : null,
                    message:
                      s.title === 'cart'
                        ? 'ships the build of bbbbbbb'
                        : 'unchanged: bbbbbbb built no artifact',
                  },
                }
              : s,
          ),
      };
      return board;
    },
    exportPromotions: async query => {
      exports.push(query);
      return new Blob(['createdAt,entityRef\n'], { type: 'text/csv' });
    },
  };
}

function render(api: Partial<PromotionApi>, element: JSX.Element) {
  return renderInTestApp(
    <TestApiProvider apis={[[promotionApiRef, api as PromotionApi]]}>
      {element}
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}

describe('ReleaseBoard', () => {
  it('shows each service per environment: version, behind-by, drift and the last promotion', async () => {
    await render(fakeApi([], []), <ReleaseBoard />);
    const cart = await screen.findByRole('row', { name: 'cart' });
    expect(
      within(cart).getByText('services/cart in acme/shop'),
    ).toBeInTheDocument();
    expect(within(cart).getByLabelText('cart prod')).toHaveTextContent(
      'v1.1.03 commits behind',
    );
    expect(within(cart).getByLabelText('cart demo')).toHaveTextContent(
      /promoted rc-4 by ada/,
    );
    const checkout = screen.getByRole('row', { name: 'checkout' });
    expect(
      within(checkout).getByText('release/* exception'),
    ).toBeInTheDocument();
    expect(within(checkout).getByLabelText('checkout prod')).toHaveTextContent(
      /drift: the artifact of 0123456 is gone/,
    );
    expect(
      screen.getByText(
        '2 services · 1 with changes waiting for prod · 1 drifted',
      ),
    ).toBeInTheDocument();
  });

  it('filters by system and lists what a tag ships', async () => {
    const calls: BoardQuery[] = [];
    await render(fakeApi(calls, []), <ReleaseBoard />);
    await screen.findByRole('row', { name: 'cart' });
    fireEvent.mouseDown(screen.getByRole('button', { name: /System/ }));
    fireEvent.click(await screen.findByRole('option', { name: 'shop' }));
    await waitFor(() =>
      expect(screen.queryByRole('row', { name: 'checkout' })).toBeNull(),
    );

    fireEvent.change(screen.getByLabelText('tag to inspect'), {
      target: { value: 'rc..4' },
    });
    expect(screen.getByRole('button', { name: 'Show' })).toBeDisabled();
    fireEvent.change(screen.getByLabelText('tag to inspect'), {
      target: { value: 'rc-6' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Show' }));
    expect(await screen.findByLabelText('cart rc-6')).toHaveTextContent(
      'ships the build of bbbbbbb',
    );
    expect(calls[calls.length - 1]).toEqual({ system: undefined, tag: 'rc-6' });
  });

  it('on a System page shows only that system, and exports its history', async () => {
    const calls: BoardQuery[] = [];
    const exports: unknown[] = [];
    URL.createObjectURL = jest.fn(() => 'blob:export');
    URL.revokeObjectURL = jest.fn();
    await render(
      fakeApi(calls, exports),
      <ReleaseBoard system="system:default/storefront" />,
    );
    await screen.findByRole('row', { name: 'checkout' });
    expect(screen.queryByRole('row', { name: 'cart' })).toBeNull();
    expect(screen.queryByText('All systems')).toBeNull();
    expect(screen.getByText('All owners')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Export CSV' }));
    await waitFor(() =>
      expect(exports).toEqual([
        {
          format: 'csv',
          owner: undefined,
          system: 'system:default/storefront',
        },
      ]),
    );
    // The DORA card under the board adds up the same services.
    expect(doraScopes).toContainEqual({
      owner: undefined,
      system: 'system:default/storefront',
    });
  });
});

const DIGEST = `sha256:${'a1'.repeat(32)}`;
const OTHER = `sha256:${'b2'.repeat(32)}`;

/** The runtime view of a service whose stage runs what is declared and whose demo drifted. */
function runtimeOf(ref: string): RuntimeView {
  const running = (environment: string, extra: object = {}) => ({
    environment,
    source: `argocd main: ${ref}-${environment}`,
    url: `https://argocd.example/applications/argocd/${environment}`,
    sync: { status: 'Synced' as const, revision: 'f'.repeat(40) },
    health: { status: 'Healthy' as const },
    runningDigests: [DIGEST],
    since: new Date(Date.now() - 60 * 60_000).toISOString(),
    observedAt: new Date().toISOString(),
    ...extra,
  });
  const declared = { sha: 'a'.repeat(40), version: 'x', digest: DIGEST };
  return {
    entityRef: ref,
    observer: 'argocd',
    environments: [
      {
        name: 'stage',
        declared: { ...declared, revision: null },
        running: running('stage'),
        drift: false,
        driftReason: null,
      },
      {
        name: 'demo',
        declared: { ...declared, revision: null },
        running: running('demo', {
          sync: { status: 'OutOfSync', revision: 'e'.repeat(40) },
          health: { status: 'Degraded', message: 'CrashLoopBackOff' },
          runningDigests: [OTHER],
        }),
        drift: true,
        driftReason:
          'runs sha256:b2b2b2b2b2b2, not the declared sha256:a1a1a1a1a1a1',
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
}

describe('ReleaseBoard with the runtime', () => {
  it('shows each row its running marker once its batch answers, never holding the board back', async () => {
    const asked: string[][] = [];
    let answer: (() => void) | undefined;
    const api: Partial<PromotionApi> = {
      ...fakeApi([], []),
      getRuntime: () => {
        throw new Error('the board reads no runtime per row');
      },
      queryRuntime: refs => {
        asked.push(refs);
        // The runtime answers only when the test lets it: the board is drawn before.
        return new Promise(resolve => {
          answer = () =>
            resolve({
              items: [runtimeOf('component:default/cart')],
              failures: [
                {
                  entityRef: 'component:default/checkout',
                  error: {
                    name: 'ServiceUnavailableError',
                    message: 'Argo CD instance main could not be reached',
                  },
                },
              ],
            });
        });
      },
    };
    await render(api, <ReleaseBoard />);
    const cart = await screen.findByRole('row', { name: 'cart' });
    expect(within(cart).getByLabelText('cart prod')).toHaveTextContent(
      'v1.1.03 commits behind',
    );
    expect(within(cart).queryByText(/running/)).toBeNull();
    await waitFor(() => expect(answer).toBeDefined());
    answer!();

    const stage = within(await within(cart).findByLabelText('cart stage'));
    expect(await stage.findByText('running Healthy')).toBeInTheDocument();
    expect(stage.queryByText('drift')).toBeNull();
    const demo = within(within(cart).getByLabelText('cart demo'));
    expect(demo.getByText('running Degraded')).toBeInTheDocument();
    expect(
      demo.getByLabelText(
        'running drift: runs sha256:b2b2b2b2b2b2, not the declared sha256:a1a1a1a1a1a1',
      ),
    ).toBeInTheDocument();
    expect(
      within(within(cart).getByLabelText('cart prod')).getByText(
        'running: nothing observed',
      ),
    ).toBeInTheDocument();
    // An unreachable runtime says so in its own row and nothing else.
    const checkout = screen.getByRole('row', { name: 'checkout' });
    expect(within(checkout).getAllByText('running: unknown')).toHaveLength(3);
    // One request for the whole board.
    expect(asked).toEqual([
      ['component:default/cart', 'component:default/checkout'],
    ]);
  });

  it('reads the runtime in batches, a few at a time; a failed batch marks its rows alone, a left-out entity nothing', async () => {
    const many = Array.from({ length: RUNTIME_BATCH * 2 + 1 }, (_, i) =>
      row(`svc-${i}`, 'shop', [cell('stage', 'abc1234')]),
    );
    let active = 0;
    let most = 0;
    const batches: string[][] = [];
    const pending: Array<() => void> = [];
    const api: Partial<PromotionApi> = {
      ...fakeApi([], []),
      getBoard: async () => ({
        environments: ['stage'],
        generatedAt: new Date().toISOString(),
        services: many,
      }),
      queryRuntime: refs =>
        new Promise((resolve, reject) => {
          active += 1;
          most = Math.max(most, active);
          batches.push(refs);
          pending.push(() => {
            active -= 1;
            // The second batch fails as a whole; svc-1 is one the caller may not see.
            if (refs.includes(`component:default/svc-${RUNTIME_BATCH}`)) {
              reject(new Error('The promotion backend is restarting'));
              return;
            }
            resolve({
              items: refs
                .filter(ref => ref !== 'component:default/svc-1')
                .map(runtimeOf),
              failures: [],
            });
          });
        }),
    };
    await render(api, <ReleaseBoard />);
    await screen.findByRole('row', { name: 'svc-0' });
    while (batches.length < 3 || pending.length > 0) {
      await waitFor(() => expect(pending.length).toBeGreaterThan(0));
      pending.shift()!();
    }
    await waitFor(() =>
      expect(screen.getAllByText('running Healthy')).toHaveLength(
        many.length - RUNTIME_BATCH - 1,
      ),
    );
    expect(batches.map(b => b.length)).toEqual([
      RUNTIME_BATCH,
      RUNTIME_BATCH,
      1,
    ]);
    expect(most).toBe(RUNTIME_REQUESTS);
    expect(
      within(
        screen.getByRole('row', { name: `svc-${RUNTIME_BATCH}` }),
      ).getByText('running: unknown'),
    ).toBeInTheDocument();
    expect(
      within(screen.getByRole('row', { name: 'svc-1' })).queryByText(/running/),
    ).toBeNull();
  });
});

describe('ReleaseBoard rows from snapshots', () => {
  it('says how old a row served from its lineage snapshot is, and which rows are being read', async () => {
    const fourMinutesAgo = new Date(Date.now() - 4 * 60_000).toISOString();
    const api: Partial<PromotionApi> = {
      ...fakeApi([], []),
      getBoard: async () => ({
        environments: ['stage', 'demo', 'prod'],
        generatedAt: new Date().toISOString(),
        refreshing: 2,
        services: [
          { ...services[0], snapshotAt: fourMinutesAgo, refreshing: false },
          { ...services[1], snapshotAt: fourMinutesAgo, refreshing: true },
          row('ledger', 'shop', [], { snapshotAt: null, refreshing: true }),
          row('search', 'shop', [cell('stage', 'abc1234')], {
            snapshotAt: null,
            refreshing: false,
          }),
        ],
      }),
    };
    await render(api, <ReleaseBoard />);
    const cart = await screen.findByRole('row', { name: 'cart' });
    expect(within(cart).getByText('as of 4 minutes ago')).toBeInTheDocument();
    expect(
      within(screen.getByRole('row', { name: 'checkout' })).getByText(
        'as of 4 minutes ago · refreshing',
      ),
    ).toBeInTheDocument();
    expect(
      within(screen.getByRole('row', { name: 'ledger' })).getByText(
        'being read…',
      ),
    ).toBeInTheDocument();
    // A current row says nothing of its age.
    expect(
      within(screen.getByRole('row', { name: 'search' })).queryByText(
        /as of|being read/,
      ),
    ).toBeNull();
    expect(screen.getByText(/2 being read afresh/)).toBeInTheDocument();
  });
});
