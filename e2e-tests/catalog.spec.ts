import { expect, test } from '@playwright/test';

test('a guest signs in, finds the demo services and opens their Environments tab', async ({
  page,
}) => {
  await page.goto('/');
  await page.getByRole('button', { name: 'Enter' }).click();

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
  for (const environment of ['stage', 'demo', 'prod']) {
    await expect(
      page.getByText(environment, { exact: true }).first(),
    ).toBeVisible();
  }
  await expect(page.getByText('mainline-demo/checkout')).toBeVisible();
});

test('a component outside the workflow has no Environments tab', async ({
  page,
}) => {
  await page.goto('/');
  await page.getByRole('button', { name: 'Enter' }).click();
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
