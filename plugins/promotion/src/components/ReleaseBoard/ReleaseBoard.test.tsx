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
import { RUNTIME_CONCURRENCY, ReleaseBoard } from './ReleaseBoard';

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
  it('shows each row its running marker as its runtime arrives, never holding the board back', async () => {
    const asked: string[] = [];
    const release = new Map<string, () => void>();
    const api: Partial<PromotionApi> = {
      ...fakeApi([], []),
      getRuntime: entity => {
        const ref = `component:${entity.namespace}/${entity.name}`;
        asked.push(ref);
        if (entity.name === 'checkout') {
          return Promise.reject(
            new Error('Argo CD instance main could not be reached'),
          );
        }
        // cart's runtime answers only when the test lets it: the board is drawn before.
        return new Promise(resolve =>
          release.set(ref, () => resolve(runtimeOf(ref))),
        );
      },
    };
    await render(api, <ReleaseBoard />);
    const cart = await screen.findByRole('row', { name: 'cart' });
    expect(within(cart).getByLabelText('cart prod')).toHaveTextContent(
      'v1.1.03 commits behind',
    );
    expect(within(cart).queryByText(/running/)).toBeNull();

    // An unreachable runtime says so in its own row and nothing else.
    const checkout = screen.getByRole('row', { name: 'checkout' });
    expect(
      await within(checkout).findAllByText('running: unknown'),
    ).toHaveLength(3);

    await waitFor(() =>
      expect(release.has('component:default/cart')).toBe(true),
    );
    release.get('component:default/cart')!();
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
    expect(asked.sort()).toEqual([
      'component:default/cart',
      'component:default/checkout',
    ]);
  });

  it('reads a few rows at a time', async () => {
    const many = Array.from({ length: RUNTIME_CONCURRENCY * 2 + 1 }, (_, i) =>
      row(`svc-${i}`, 'shop', [cell('stage', 'abc1234')]),
    );
    let active = 0;
    let most = 0;
    const pending: Array<() => void> = [];
    const api: Partial<PromotionApi> = {
      ...fakeApi([], []),
      getBoard: async () => ({
        environments: ['stage'],
        generatedAt: new Date().toISOString(),
        services: many,
      }),
      getRuntime: entity =>
        new Promise(resolve => {
          active += 1;
          most = Math.max(most, active);
          pending.push(() => {
            active -= 1;
            resolve(runtimeOf(`component:default/${entity.name}`));
          });
        }),
    };
    await render(api, <ReleaseBoard />);
    await screen.findByRole('row', { name: 'svc-0' });
    let answered = 0;
    while (answered < many.length) {
      await waitFor(() => expect(pending.length).toBeGreaterThan(0));
      pending.shift()!();
      answered += 1;
    }
    await waitFor(() =>
      expect(screen.getAllByText('running Healthy')).toHaveLength(many.length),
    );
    expect(most).toBe(RUNTIME_CONCURRENCY);
  });
});
