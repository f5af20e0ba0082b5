import { Browser, expect, Page, test } from '@playwright/test';
import { signIn } from './signIn';

// Runs only in the harness's approvals pass (`node scripts/e2e.mjs --approvals`), whose app needs
// one approval from the payments team for demo (e2e-tests/app-config.e2e-approvals.yaml).

/**
 * A browser context signed in as one of the harness's identities (`auth.providers.e2e-*`,
 * packages/backend/src/e2eSignIn.ts): the sign-in page's guest "Enter" asks the guest provider for
 * a session, and this context's requests for it go to that provider instead.
 */
async function signInAs(
  browser: Browser,
  provider: string,
  path: string,
): Promise<Page> {
  const context = await browser.newContext();
  await context.route(/\/api\/auth\/guest\/refresh/, route =>
    route.continue({
      url: route.request().url().replace('/auth/guest/', `/auth/${provider}/`),
    }),
  );
  const page = await context.newPage();
  await signIn(page, path);
  return page;
}

const environmentsTab = '/catalog/default/component/checkout/environments';

// Three users sign in and load the tab one after another: on a loaded two-core machine that
// alone can take minutes.
test.setTimeout(480_000);

test('@approvals a promotion to demo waits for an approval: the requester and the commit author are refused, a payments member approves and it deploys', async ({
  page,
  browser,
}) => {
  // The requester (guest) picks a built commit Ada wrote that no environment runs yet.
  await signIn(page, environmentsTab);
  const demoLane = page.getByTestId('lane-demo');
  await expect(demoLane.getByText('rc-6')).toBeVisible();
  const adasCommit = page
    .getByRole('row')
    .filter({ hasText: 'Ada Lovelace' })
    .filter({ has: page.getByRole('button', { name: 'Promote', exact: true }) })
    .filter({ hasNotText: /rc-\d|v\d|stage|demo|prod/ })
    .first();
  const sha = (await adasCommit.locator('code').first().textContent())!.trim();

  await demoLane.getByRole('button', { name: 'Promote to demo' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('commit').fill(sha);
  await expect(dialog.getByLabel('release tag')).toHaveValue('rc-7');
  await expect(dialog.getByText(/approvals: awaits 1 approval/)).toBeVisible();
  await dialog.getByRole('button', { name: 'Promote to demo' }).click();
  await expect(
    dialog.getByText(/Awaiting approvals: nothing has changed yet/),
  ).toBeVisible();
  // Self-approval: the requester's own Approve is refused, and says why.
  await expect(
    dialog.getByText(
      'You cannot decide: user:default/guest may not approve: user:default/guest requested this promotion, and nobody approves their own',
    ),
  ).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Approve' })).toBeDisabled();
  await dialog.getByRole('button', { name: 'Close' }).click();
  const waiting = page
    .getByRole('table', { name: 'recent promotions' })
    .getByRole('row')
    .filter({ hasText: 'awaiting-approval' });
  await expect(waiting).toContainText(sha);
  await expect(waiting).toContainText('may approve: user:default/e2e-approver');
  const rowId = (await waiting.getAttribute('data-testid'))!;
  await expect(demoLane.getByText('rc-6')).toBeVisible();

  // The commit's author, a member of payments too, is refused with the reason.
  const author = await signInAs(browser, 'e2e-author', environmentsTab);
  const authorsView = author.getByTestId(rowId);
  await expect(authorsView).toContainText(
    'You cannot decide: user:default/ada may not approve: user:default/ada wrote the commit this promotion ships',
  );
  await expect(
    authorsView.getByRole('button', { name: 'Approve' }),
  ).toBeDisabled();
  await author.context().close();

  // A payments member who neither asked nor wrote it approves, and the promotion runs.
  const approver = await signInAs(browser, 'e2e-approver', environmentsTab);
  const approversView = approver.getByTestId(rowId);
  await expect(approversView).toContainText('0 of 1 approval');
  await approversView
    .getByLabel('approval comment')
    .fill('Checked the demo plan');
  await approversView.getByRole('button', { name: 'Approve' }).click();
  await expect(approversView).toContainText('succeeded');
  await expect(
    approver.getByTestId('lane-demo').getByText('rc-7'),
  ).toBeVisible();

  // The requester's tab, left open, follows it (signals, or the poll without them): the
  // promotion succeeded and demo runs rc-7.
  await expect(page.getByTestId(rowId)).toContainText('succeeded');
  await expect(page.getByTestId('lane-demo').getByText('rc-7')).toBeVisible();
});
