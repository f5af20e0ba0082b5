import { expect, Page } from '@playwright/test';

/**
 * Guest sign-in, finished: the session exists before any navigation reloads the page. With a
 * path, the sign-in page is that page's, and the page itself shows once signed in (no reload).
 */
export async function signIn(page: Page, path = '/') {
  await page.goto(path);
  await page.getByRole('button', { name: 'Enter' }).click();
  await expect(
    page.getByRole('link', { name: 'Catalog', exact: true }).first(),
  ).toBeVisible();
}
