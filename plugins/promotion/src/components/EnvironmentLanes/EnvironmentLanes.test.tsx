import { configure, screen, within } from '@testing-library/react';
import {
  MockPermissionApi,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { signalApiRef } from '@backstage/plugin-signals-react';
import {
  EnvironmentState,
  Lineage,
  RuntimeView,
} from '@mainline/plugin-promotion-common';
import { PromotionClient, promotionApiRef } from '../../api';
import { EnvironmentsContent } from '../EnvironmentsContent';
import { EnvironmentLanes } from './EnvironmentLanes';

jest.setTimeout(60_000);
configure({ asyncUtilTimeout: 10_000 });

const DECLARED = `sha256:${'a1'.repeat(32)}`;
const OTHER = `sha256:${'b2'.repeat(32)}`;
const SIDECAR = `sha256:${'5c'.repeat(32)}`;
const sha = (c: string) => c.repeat(40);
const ago = (minutes: number) =>
  new Date(Date.now() - minutes * 60_000).toISOString();

function environment(name: string, digest: string | null): EnvironmentState {
  return {
    name,
    trigger: { type: 'tag', pattern: 'v*' },
    production: name === 'prod',
    policy: {},
    behindBy: 0,
    current: digest
      ? {
          sha: sha(name[0]),
          version: `${name}-1`,
          tag: `${name}-1`,
          artifact: {
            kind: 'image',
            uri: `local/checkout@${digest}`,
            digest,
            size: 1000,
            createdAt: ago(600),
            tags: [],
          },
          deployedAt: ago(120),
          deployedBy: 'ada',
          revision: sha('f'),
        }
      : null,
  };
}

const environments = [
  environment('stage', DECLARED),
  environment('demo', DECLARED),
  environment('prod', DECLARED),
];

const runtime: RuntimeView = {
  entityRef: 'component:default/checkout',
  observer: 'argocd',
  environments: [
    {
      name: 'stage',
      declared: {
        sha: sha('s'),
        version: 'stage-1',
        digest: DECLARED,
        revision: sha('f'),
      },
      running: {
        environment: 'stage',
        source: 'argocd main: checkout-stage',
        url: 'https://argocd.example/applications/argocd/checkout-stage',
        sync: { status: 'Synced', revision: sha('f') },
        health: { status: 'Healthy' },
        runningDigests: [DECLARED, SIDECAR].sort(),
        since: ago(90),
        observedAt: ago(0),
      },
      drift: false,
      driftReason: null,
    },
    {
      name: 'demo',
      declared: {
        sha: sha('d'),
        version: 'demo-1',
        digest: DECLARED,
        revision: sha('f'),
      },
      running: {
        environment: 'demo',
        source: 'argocd main: checkout-demo',
        url: 'https://argocd.example/applications/argocd/checkout-demo',
        sync: { status: 'OutOfSync', revision: sha('e') },
        health: { status: 'Healthy' },
        lastOperation: {
          phase: 'Failed',
          message: 'admission webhook denied the request',
        },
        runningDigests: [OTHER],
        since: ago(3 * 24 * 60),
        observedAt: ago(0),
      },
      drift: true,
      driftReason: `runs b2b2b2b2b2b2, not the declared sha256:a1a1a1a1a1a1`,
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

const props = {
  environments,
  onPromote: () => undefined,
  onRollback: () => undefined,
  onCompare: () => undefined,
  permissions: {
    promote: () => ({ allowed: true }),
    rollback: { allowed: true },
  },
};

describe('EnvironmentLanes with the runtime', () => {
  it('shows what runs beside what is declared: digest, health, since when, drift and the link to the Application', async () => {
    await renderInTestApp(<EnvironmentLanes {...props} runtime={runtime} />);

    const stage = within(screen.getByTestId('runtime-stage'));
    expect(stage.getByText(/running/).textContent).toBe(
      `running ${[DECLARED, SIDECAR]
        .sort()
        .map(d => d.slice(7, 19))
        .join(', ')}`,
    );
    expect(stage.getByText(/Healthy/).textContent).toBe(
      'Healthy since 2 hours ago',
    );
    expect(stage.queryByText('drift')).toBeNull();
    expect(
      stage
        .getByRole('link', { name: /^open in Argo CD/ })
        .getAttribute('href'),
    ).toBe('https://argocd.example/applications/argocd/checkout-stage');

    const demo = within(screen.getByTestId('runtime-demo'));
    expect(demo.getByText(/running/).textContent).toBe(
      `running ${OTHER.slice(7, 19)}`,
    );
    expect(
      demo.getByLabelText(
        'drift: runs b2b2b2b2b2b2, not the declared sha256:a1a1a1a1a1a1',
      ),
    ).toBeInTheDocument();
    // Healthy, and yet the last sync failed: both are shown.
    expect(demo.getByText(/Healthy/).textContent).toBe(
      'Healthy since 3 days ago',
    );
    expect(
      demo.getByText('last sync failed: admission webhook denied the request'),
    ).toBeInTheDocument();
    expect(demo.getByText(/OutOfSync at eeeeeee/)).toBeInTheDocument();

    expect(
      within(screen.getByTestId('lane-prod')).getByText(
        'running: nothing observed',
      ),
    ).toBeInTheDocument();
  });

  it('shows Lambda code hashes and why the runtime could not be read', async () => {
    const hash = 'q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=';
    const { unmount } = await renderInTestApp(
      <EnvironmentLanes
        {...props}
        runtime={{
          ...runtime,
          observer: 'lambda',
          environments: [
            {
              name: 'stage',
              declared: null,
              running: {
                environment: 'stage',
                source: 'lambda eu-west-1: invoices-stage-api',
                url: 'https://eu-west-1.console.aws.amazon.com/lambda/home?region=eu-west-1#/functions/invoices-stage-api',
                sync: { status: 'Synced', revision: sha('a') },
                health: {
                  status: 'Progressing',
                  message: 'The function is being updated.',
                },
                runningDigests: [],
                runningCodeSha256s: [hash],
                observedAt: ago(0),
              },
              drift: false,
              driftReason: null,
            },
          ],
        }}
      />,
    );
    const stage = within(screen.getByTestId('runtime-stage'));
    expect(stage.getByText(/running/).textContent).toBe(
      `running ${hash.slice(0, 12)}`,
    );
    expect(
      stage.getByText('Progressing: The function is being updated.'),
    ).toBeInTheDocument();
    expect(
      stage.getByRole('link', { name: /^open in the AWS console/ }),
    ).toBeInTheDocument();
    unmount();

    await renderInTestApp(
      <EnvironmentLanes
        {...props}
        runtimeError={
          new Error(
            'Argo CD instance main (https://argocd.example) is unreachable',
          )
        }
      />,
    );
    expect(
      within(screen.getByTestId('lane-stage')).getByText(
        'running: unknown (Argo CD instance main (https://argocd.example) is unreachable)',
      ),
    ).toBeInTheDocument();
  });
});

describe('the Environments tab with the runtime, through the API client', () => {
  const lineage: Lineage = {
    entityRef: 'component:default/checkout',
    branch: 'main',
    exception: false,
    releaseBranches: [],
    missingFixes: [],
    environments,
    commits: [
      {
        sha: sha('s'),
        shortSha: sha('s').slice(0, 7),
        message: 'Emit a metric per abandoned cart',
        author: { name: 'Ada Lovelace', email: 'ada@example.com' },
        committedAt: ago(600),
        pullRequest: null,
        artifacts: [],
        tags: [],
        environments: ['stage'],
        yanked: null,
        cherryPickOf: null,
      },
    ],
  };

  /** The client as the plugin builds it, its transport answering as the backend would. */
  function client(runtimeAnswer: () => Response) {
    const asked: string[] = [];
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json' },
      });
    const api = new PromotionClient({
      discoveryApi: { getBaseUrl: async () => 'http://backend/api/promotion' },
      fetchApi: {
        fetch: async (input: RequestInfo | URL) => {
          const url = new URL(String(input));
          asked.push(url.pathname);
          const path = url.pathname.replace('/api/promotion', '');
          if (path === '/v1/entities/component/default/checkout/lineage')
            return json(lineage);
          if (path === '/v1/entities/component/default/checkout/promotions')
            return json({ items: [] });
          if (path === '/v1/entities/component/default/checkout/runtime')
            return runtimeAnswer();
          return json({ error: { name: 'NotFoundError', message: path } }, 404);
        },
      },
    });
    return { api, asked };
  }

  function renderTab(api: PromotionClient) {
    return renderInTestApp(
      <TestApiProvider
        apis={[
          [promotionApiRef, api],
          [signalApiRef, { subscribe: () => ({ unsubscribe: () => {} }) }],
          [
            permissionApiRef,
            new MockPermissionApi(() => AuthorizeResult.ALLOW),
          ],
        ]}
      >
        <EntityProvider
          entity={{
            apiVersion: 'backstage.io/v1alpha1',
            kind: 'Component',
            metadata: { name: 'checkout', namespace: 'default' },
            spec: {},
          }}
        >
          <EnvironmentsContent />
        </EntityProvider>
      </TestApiProvider>,
    );
  }

  it('reads GET …/runtime and shows drift in the lane', async () => {
    const { api, asked } = client(
      () =>
        new Response(JSON.stringify(runtime), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        }),
    );
    await renderTab(api);
    const demo = within(await screen.findByTestId('runtime-demo'));
    expect(
      demo.getByLabelText(
        'drift: runs b2b2b2b2b2b2, not the declared sha256:a1a1a1a1a1a1',
      ),
    ).toBeInTheDocument();
    expect(asked).toContain(
      '/api/promotion/v1/entities/component/default/checkout/runtime',
    );
  });

  it('keeps the lanes when the runtime answers 503, naming the instance', async () => {
    const { api } = client(
      () =>
        new Response(
          JSON.stringify({
            error: {
              name: 'ServiceUnavailableError',
              message:
                'Argo CD instance main could not be reached for the Application list: TypeError',
            },
            response: { statusCode: 503 },
          }),
          { status: 503, headers: { 'content-type': 'application/json' } },
        ),
    );
    await renderTab(api);
    const stage = within(await screen.findByTestId('lane-stage'));
    expect(stage.getByText('stage-1')).toBeInTheDocument();
    expect(
      await stage.findByText(
        'running: unknown (Argo CD instance main could not be reached for the Application list: TypeError)',
      ),
    ).toBeInTheDocument();
  });
});
