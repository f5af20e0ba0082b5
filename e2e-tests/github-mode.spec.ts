import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { signIn } from './signIn';

// The app in GitHub mode (scripts/e2e.mjs starts it against the GitHub test server): the same
// Environments tab, with links into GitHub, and writes that land in the served repositories.
const gitRoot = path.resolve(
  __dirname,
  '../e2e-test-results/github-mode/promotion/git',
);
const git = (repo: string, ...args: string[]) =>
  execFileSync(
    'git',
    ['--git-dir', path.join(gitRoot, `${repo}.git`), ...args],
    {
      encoding: 'utf8',
    },
  ).trim();

test('@github promotes to demo through GitHub, and prod waits for the manifest pull request to be merged', async ({
  page,
  request,
}) => {
  await signIn(page);
  await page.goto('/catalog/default/component/checkout/environments');
  const demoLane = page.getByTestId('lane-demo');
  await expect(demoLane.getByText('rc-6')).toBeVisible();
  // Pull requests link to the repository's pages on the GitHub host.
  await expect(
    page.locator('a[href*="/mainline-demo/checkout/pull/"]').first(),
  ).toBeVisible();

  await demoLane.getByRole('button', { name: 'Promote to demo' }).click();
  let dialog = page.getByRole('dialog');
  await expect(dialog.getByLabel('release tag')).toHaveValue('rc-7');
  await dialog.getByRole('button', { name: 'Promote to demo' }).click();
  await expect(dialog.getByText('deploy: succeeded')).toBeVisible();
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(demoLane.getByText('rc-7')).toBeVisible();
  // The tag and the manifest commit are in the repositories GitHub serves.
  expect(git('mainline-demo/checkout', 'tag', '--list', 'rc-7')).toBe('rc-7');
  expect(
    git('mainline-demo/deployments', 'log', '-1', '--format=%s', 'main'),
  ).toBe('demo: local/checkout rc-7');

  const prodLane = page.getByTestId('lane-prod');
  await prodLane.getByRole('button', { name: 'Promote to prod' }).click();
  dialog = page.getByRole('dialog');
  await expect(dialog.getByLabel('release tag')).toHaveValue(
    /^v\d+\.\d+\.\d+$/,
  );
  const prodTag = await dialog.getByLabel('release tag').inputValue();
  await dialog.getByRole('button', { name: 'Promote to prod' }).click();
  await expect(dialog.getByText('deploy: waiting')).toBeVisible();
  const review = dialog.getByRole('link', { name: 'open' }).last();
  const pullUrl = (await review.getAttribute('href'))!;
  expect(pullUrl).toMatch(/\/mainline-demo\/deployments\/pull\/\d+$/);
  await dialog.getByRole('button', { name: 'Close' }).click();

  // A reviewer merges the pull request on GitHub.
  const number = pullUrl.split('/').pop();
  const merged = await request.put(
    `http://127.0.0.1:7170/repos/mainline-demo/deployments/pulls/${number}/merge`,
    { headers: { authorization: 'token mainline-e2e-token' } },
  );
  expect(merged.status()).toBe(200);

  // The follower notices (no webhook here) and the prod lane shows the new release. The backend
  // finishes within seconds (follower every 2 s), but on the busy 2-core machine one reload of the
  // development bundle took ~50 s, so each attempt gives the reloaded tab time to render: a 2 s
  // wait after a reload never saw the lanes and failed the test although prod had been updated.
  await expect(async () => {
    await page.reload();
    await expect(prodLane.getByText(prodTag, { exact: true })).toBeVisible({
      timeout: 30_000,
    });
  }).toPass({ timeout: 150_000 });
});
