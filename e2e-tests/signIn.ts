import { expect, Page } from '@playwright/test';

/** Guest sign-in, finished: the session exists before any navigation reloads the page. */
export async function signIn(page: Page) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Enter' }).click();
  await expect(
    page.getByRole('link', { name: 'Catalog', exact: true }).first(),
  ).toBeVisible();
}
