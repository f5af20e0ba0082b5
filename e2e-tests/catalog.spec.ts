import { expect, test } from '@playwright/test';
import { signIn } from './signIn';

test('a guest signs in, finds the demo services and promotes stage to demo from the Environments tab', async ({
  page,
}) => {
  await signIn(page);
  await page
    .getByRole('link', { name: 'Catalog', exact: true })
    .first()
    .click();
  await expect(
    page.getByRole('link', { name: 'checkout', exact: true }),
  ).toBeVisible();
  await expect(
    page.getByRole('link', { name: 'invoices', exact: true }),
  ).toBeVisible();

  await page.getByRole('link', { name: 'checkout', exact: true }).click();
  await expect(
    page.getByRole('heading', { name: 'checkout' }).first(),
  ).toBeVisible();

  await page.getByRole('link', { name: 'Environments', exact: true }).click();
  await expect(page).toHaveURL(
    /\/catalog\/default\/component\/checkout\/environments/,
  );
  const demoLane = page.getByTestId('lane-demo');
  await expect(demoLane.getByText('rc-6')).toBeVisible();
  await expect(page.getByTestId('lane-prod').getByText('v1.1.1')).toBeVisible();
  await expect(page.getByText('yanked').first()).toBeVisible();

  await demoLane.getByRole('button', { name: 'Promote to demo' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByLabel('release tag')).toHaveValue('rc-7');
  await expect(dialog.getByText(/on-main: .* is on main/)).toBeVisible();
  await dialog.getByRole('button', { name: 'Promote to demo' }).click();
  await expect(dialog.getByText('deploy: succeeded')).toBeVisible();
  await dialog.getByRole('button', { name: 'Close' }).click();

  await expect(demoLane.getByText('rc-7')).toBeVisible();
});

test('a docs-only commit cannot be promoted: the dialog names the nearest commit with an artifact', async ({
  page,
}) => {
  await signIn(page);
  await page.goto('/catalog/default/component/checkout/environments');
  const docsRow = page
    .getByRole('row')
    .filter({ hasText: 'Describe on-call escalation' });
  const docsSha = (await docsRow.locator('code').first().textContent())!.trim();
  await page
    .getByTestId('lane-prod')
    .getByRole('button', { name: 'Promote to prod' })
    .click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('commit').fill(docsSha);
  await expect(
    dialog.getByText(
      /has no artifact.*nearest ancestor with an artifact is [0-9a-f]{7}/,
    ),
  ).toBeVisible();
  await expect(
    dialog.getByRole('button', { name: /^Promote [0-9a-f]{7} instead$/ }),
  ).toBeVisible();
});

for (const theme of ['light', 'dark']) {
  test(`screenshot of the Environments tab in the ${theme} theme`, async ({
    page,
  }) => {
    await page.addInitScript(
      t => window.localStorage.setItem('theme', t),
      theme,
    );
    await signIn(page);
    await page.goto('/catalog/default/component/invoices/environments');
    await expect(page.getByTestId('lane-prod')).toBeVisible();
    await page.screenshot({
      path: `e2e-test-results/screenshots/environments-${theme}.png`,
      fullPage: true,
    });
  });
}

test('a component outside the workflow has no Environments tab', async ({
  page,
}) => {
  await signIn(page);
  await page.goto('/catalog/default/component/storefront-docs');
  await expect(
    page.getByRole('heading', { name: 'storefront-docs' }).first(),
  ).toBeVisible();
  await expect(
    page.getByRole('link', { name: 'Overview', exact: true }),
  ).toBeVisible();
  await expect(
    page.getByRole('link', { name: 'Environments', exact: true }),
  ).toHaveCount(0);
});
