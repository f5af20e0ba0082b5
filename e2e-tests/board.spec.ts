import { expect, test } from '@playwright/test';
import { signIn } from './signIn';

test('the release board lists every demo service with its versions, and exports the history', async ({
  page,
}) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Release board' }).first().click();
  await expect(page).toHaveURL(/\/release-board$/);
  const board = page.getByRole('table', { name: 'release board' });
  for (const name of ['cart', 'checkout', 'invoices', 'pricing', 'search']) {
    await expect(board.getByRole('row', { name })).toBeVisible();
  }
  // The monorepo's services: each tag shipped only what its commit built.
  await expect(board.getByLabel('cart demo')).toContainText('rc-2');
  await expect(board.getByLabel('pricing demo')).toContainText('rc-3');
  await expect(board.getByLabel('search prod')).toContainText('v1.0.0');
  await expect(board.getByLabel('cart prod')).toContainText('v1.1.0');
  await expect(board.getByLabel('checkout prod')).toContainText('v1.1.1');
  await expect(
    board
      .getByRole('row', { name: 'checkout' })
      .getByText('release/* exception'),
  ).toBeVisible();

  // What rc-3 ships: pricing and search were built at its commit, cart was not.
  await page.getByLabel('tag to inspect').fill('rc-3');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(board.getByLabel('pricing rc-3')).toContainText('ships');
  await expect(board.getByLabel('cart rc-3')).toContainText('unchanged');

  await page.getByRole('button', { name: /System/ }).click();
  await page.getByRole('option', { name: 'shop' }).click();
  await expect(board.getByRole('row', { name: 'checkout' })).toHaveCount(0);
  await expect(board.getByRole('row', { name: 'cart' })).toBeVisible();

  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export CSV' }).click();
  expect((await download).suggestedFilename()).toMatch(
    /^promotions-\d{4}-\d\d-\d\d\.csv$/,
  );
  await page.screenshot({
    path: 'e2e-test-results/screenshots/release-board.png',
    fullPage: true,
  });
});

test('a System page has a Release board tab with its services only', async ({
  page,
}) => {
  await signIn(page);
  await page.goto('/catalog/default/system/shop');
  // The entity page's tab (the sidebar has a link of the same name to the full board).
  await page
    .locator('a[href$="/catalog/default/system/shop/release-board"]')
    .click();
  await expect(page).toHaveURL(
    /\/catalog\/default\/system\/shop\/release-board$/,
  );
  const board = page.getByRole('table', { name: 'release board' });
  await expect(board.getByRole('row', { name: 'pricing' })).toBeVisible();
  await expect(board.getByRole('row', { name: 'checkout' })).toHaveCount(0);
});

test('a monorepo service shows only its own commits, and a tag on a commit that touched it promotes it and reports the others unchanged', async ({
  page,
}) => {
  await signIn(page);
  await page.goto('/catalog/default/component/cart/environments');
  await expect(page.getByTestId('lane-demo').getByText('rc-2')).toBeVisible();
  const rows = page.getByRole('row');
  await expect(rows.filter({ hasText: 'cart: ' }).first()).toBeVisible();
  await expect(rows.filter({ hasText: /^.*pricing: / })).toHaveCount(0);

  await page
    .getByTestId('lane-demo')
    .getByRole('button', { name: 'Promote to demo' })
    .click();
  const dialog = page.getByRole('dialog');
  await expect(
    dialog.getByLabel(/Release every component of mainline-demo\/shop/),
  ).toBeChecked();
  await expect(dialog.getByText(/on-main: .* is on main/)).toBeVisible();
  await dialog.getByRole('button', { name: 'Promote to demo' }).click();
  const components = dialog.getByLabel('components');
  await expect(
    components.getByText(/component:default\/cart: demo runs rc-4/),
  ).toBeVisible();
  await expect(
    components.getByText(
      /component:default\/pricing: unchanged: .* changed nothing under services\/pricing/,
    ),
  ).toBeVisible();
  await expect(
    components.getByText(/component:default\/search: unchanged/),
  ).toBeVisible();
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(page.getByTestId('lane-demo').getByText('rc-4')).toBeVisible();
});

test('the release-branch service shows its cherry-picks linked to main, and the fix it is missing', async ({
  page,
}) => {
  await signIn(page);
  await page.goto('/catalog/default/component/checkout/environments');
  await page.getByRole('button', { name: /Branch/ }).click();
  await page.getByRole('option', { name: 'release/v1.1 (exception)' }).click();
  await expect(
    page.getByText('release/v1.1 is the discouraged release-branch flow'),
  ).toBeVisible();
  await expect(
    page.getByText(/cherry-picked from main [0-9a-f]{7}/),
  ).toHaveCount(2);
  await expect(
    page
      .getByLabel('missing fixes')
      .getByText(/fix\/checkout-currency-rounding/),
  ).toBeVisible();
});
