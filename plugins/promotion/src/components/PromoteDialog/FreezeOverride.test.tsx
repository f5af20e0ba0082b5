import { configure, fireEvent, screen, waitFor } from '@testing-library/react';
import {
  MockPermissionApi,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  EnvironmentState,
  Promotion,
  PromotionPlan,
} from '@mainline/plugin-promotion-common';
import { PromotionApi, promotionApiRef } from '../../api';
import { PromoteDialog } from './PromoteDialog';

configure({ asyncUtilTimeout: 10_000 });
jest.setTimeout(30_000);

// usePermission caches its answers per permission and entity across renders: each case has its own.
const entityNamed = (name: string) => ({
  kind: 'Component',
  namespace: 'default',
  name,
});
const sha = 'a'.repeat(40);
const frozenUntil = '2026-12-31T23:00:00.000Z';
const prod: EnvironmentState = {
  name: 'prod',
  trigger: { type: 'tag', pattern: 'v*' },
  production: true,
  policy: {},
  behindBy: 0,
  current: null,
};
const plan = (extra: PromotionPlan['checks'] = []): PromotionPlan => ({
  dryRun: true,
  kind: 'promotion',
  environment: 'prod',
  sha,
  tag: 'v1.3.0',
  version: 'v1.3.0',
  checks: [
    { name: 'artifact', passed: true, reason: 'built' },
    {
      name: 'freeze',
      passed: false,
      reason: 'prod is frozen by year-end (Year-end freeze)',
      data: { freezeWindow: 'year-end', frozenUntil },
    },
    ...extra,
  ],
  steps: [],
});

/** The dialog for prod during a freeze, with the override permission decided by `allowed`. */
async function renderFrozen(
  name: string,
  allowed: boolean,
  checks: PromotionPlan['checks'] = [],
  repository?: string,
) {
  const promoted: unknown[] = [];
  const asked: string[] = [];
  const api: Partial<PromotionApi> = {
    planPromotion: async () => plan(checks),
    compare: async () => ({ commits: [] } as any),
    listPromotions: async () => [],
    promoteRepository: async () => ({
      repository: 'acme/shop',
      sha,
      tag: 'v1.3.0',
      components: [],
    }),
    promote: async (_e, request) => {
      promoted.push(request);
      return {
        status: 'succeeded',
        environment: 'prod',
        sha,
        steps: [],
      } as unknown as Promotion;
    },
  };
  await renderInTestApp(
    <TestApiProvider
      apis={[
        [promotionApiRef, api as PromotionApi],
        [
          permissionApiRef,
          new MockPermissionApi(request => {
            asked.push(
              `${request.permission.name} ${
                (request as { resourceRef?: string }).resourceRef
              }`,
            );
            return allowed ? AuthorizeResult.ALLOW : AuthorizeResult.DENY;
          }),
        ],
      ]}
    >
      <PromoteDialog
        entity={entityNamed(name)}
        environments={[prod]}
        initialEnvironment="prod"
        initialSha={sha}
        repository={repository}
        onClose={() => {}}
      />
    </TestApiProvider>,
  );
  // A repository-wide release shows no freeze window: the checks are then what is waited for.
  const window = await screen.findByLabelText(
    repository ? 'checks' : 'freeze window',
  );
  const promote = screen.getByRole('button', { name: 'Promote to prod' });
  return { promoted, asked, window, promote };
}

describe('PromoteDialog during a freeze window', () => {
  it('shows the window and its end, and promotes with the emergency override and its reason', async () => {
    const { promoted, asked, window, promote } = await renderFrozen(
      'checkout',
      true,
    );
    expect(window).toHaveTextContent('Frozen by year-end until');
    expect(window).toHaveTextContent(frozenUntil);
    expect(promote).toBeDisabled();

    fireEvent.click(
      await screen.findByLabelText(/Emergency override: promote through/),
    );
    // Ticked without a reason: still refused.
    const reason = screen.getByLabelText('override reason');
    expect(promote).toBeDisabled();
    fireEvent.change(reason, { target: { value: '   ' } });
    expect(promote).toBeDisabled();
    expect(
      screen.getByText('an emergency override needs a reason'),
    ).toBeInTheDocument();

    fireEvent.change(reason, { target: { value: ' card payments fail ' } });
    await waitFor(() => expect(promote).toBeEnabled());
    fireEvent.click(promote);
    await waitFor(() => expect(promoted).toHaveLength(1));
    expect(promoted[0]).toEqual({
      environment: 'prod',
      sha,
      tag: 'v1.3.0',
      freezeOverride: { reason: 'card payments fail' },
    });
    expect(asked).toContain(
      'promotion.freeze.override component:default/checkout',
    );
  });

  it('without the override permission, offers no override and keeps the promotion refused', async () => {
    const { promoted, asked, window, promote } = await renderFrozen(
      'payments',
      false,
    );
    await waitFor(() =>
      expect(window).toHaveTextContent(
        'Only a user with the promotion.freeze.override permission can override the freeze.',
      ),
    );
    expect(asked).toContain(
      'promotion.freeze.override component:default/payments',
    );
    expect(screen.queryByLabelText(/Emergency override/)).toBeNull();
    expect(screen.queryByLabelText('override reason')).toBeNull();
    expect(promote).toBeDisabled();
    fireEvent.click(promote);
    expect(promoted).toEqual([]);
  });

  it('lifts only the freeze: another failed check still refuses', async () => {
    const { promote } = await renderFrozen('cart', true, [
      { name: 'soak', passed: false, reason: 'ran in stage for 1h of 24h' },
    ]);
    fireEvent.click(
      await screen.findByLabelText(/Emergency override: promote through/),
    );
    fireEvent.change(screen.getByLabelText('override reason'), {
      target: { value: 'card payments fail' },
    });
    expect(promote).toBeDisabled();
  });

  it('offers no override for a repository-wide release, whose API takes none, until it is unticked', async () => {
    await renderFrozen('invoices', true, [], 'acme/shop');
    const whole = screen.getByLabelText(
      /Release every component of acme\/shop/,
    );
    expect(whole).toBeChecked();
    expect(screen.queryByLabelText(/Emergency override/)).toBeNull();
    fireEvent.click(whole);
    expect(
      await screen.findByLabelText(/Emergency override: promote through/),
    ).toBeInTheDocument();
  });
});
