import { expect, Locator, Page, test } from '@playwright/test';
import { signIn } from './signIn';

// Declared, synced and running, as the Environments tab shows them for the demo's runtime
// scenario (catalog/runtime.yaml, on the embedded local runtime): ledger's demo syncs fail while
// rc-1 keeps running, notifier's new versions never become healthy in demo; both run healthy in
// stage. Reads only: nothing here changes the demo the other specs use.

/** The lineage table's row of the commit a release tag points at. */
const commitRow = (page: Page, tag: string): Locator =>
  page
    .getByRole('row')
    .filter({ has: page.getByText(tag, { exact: true }) })
    .last();

test('the Environments tab shows what runs: a healthy digest, a failed sync with the old version running, and a version that never becomes healthy', async ({
  page,
}) => {
  await signIn(page);
  await page.goto('/catalog/default/component/ledger/environments');

  // stage: runs the declared artifact, healthy, no drift.
  const stage = page.getByTestId('lane-stage');
  const stageRuntime = page.getByTestId('runtime-stage');
  await expect(stageRuntime.getByText(/^running /)).toBeVisible();
  const running = (await stageRuntime.locator('code').first().textContent())!;
  expect(running).toMatch(/^[0-9a-f]{12}$/);
  await expect(
    stage.getByText(` · ${running} · `, { exact: false }),
  ).toBeVisible();
  await expect(stageRuntime.getByText(/^Healthy/).first()).toBeVisible();
  await expect(stageRuntime.getByText('drift')).toHaveCount(0);

  // demo: declares rc-2, whose sync failed; rc-1 still runs healthy, which is drift.
  const demo = page.getByTestId('lane-demo');
  const demoRuntime = page.getByTestId('runtime-demo');
  await expect(demo.getByText('rc-2', { exact: true })).toBeVisible();
  await expect(
    demoRuntime.getByText(/^last sync failed/).first(),
  ).toBeVisible();
  await expect(demoRuntime.getByText(/^Healthy/).first()).toBeVisible();
  await expect(demoRuntime.getByText(/^OutOfSync/).first()).toBeVisible();
  await expect(demoRuntime.getByLabel(/^drift: /)).toBeVisible();
  // The lineage table says the same per commit: rc-2 declared in demo, rc-1 running there.
  await expect(
    commitRow(page, 'rc-1').getByLabel('running in demo: Healthy'),
  ).toBeVisible();
  await expect(
    commitRow(page, 'rc-2').getByLabel(/running in demo/),
  ).toHaveCount(0);

  // notifier: demo's rc-2 synced but never became healthy.
  await page.goto('/catalog/default/component/notifier/environments');
  const notifierDemo = page.getByTestId('runtime-demo');
  await expect(
    notifierDemo.getByText(/^(Degraded|Progressing)/).first(),
  ).toBeVisible();
  await expect(notifierDemo.getByText(/^Healthy/)).toHaveCount(0);
  await expect(
    commitRow(page, 'rc-2').getByLabel(
      /^running in demo: (Degraded|Progressing)$/,
    ),
  ).toBeVisible();
  await expect(
    page.getByTestId('runtime-stage').getByText(/^Healthy/),
  ).toBeVisible();

  // The release board marks the same, read for all its rows in one request.
  const queries: string[] = [];
  page.on('request', r => {
    if (r.url().includes('/api/promotion/v1/runtime/query'))
      queries.push(r.url());
  });
  await page.goto('/release-board');
  const board = page.getByRole('table', { name: 'release board' });
  await expect(
    board.getByLabel('ledger demo').getByText('running Healthy'),
  ).toBeVisible();
  await expect(
    board.getByLabel('ledger demo').getByLabel(/^running drift: /),
  ).toBeVisible();
  await expect(
    board
      .getByLabel('notifier demo')
      .getByText(/^running (Degraded|Progressing)$/),
  ).toBeVisible();
  expect(queries).toHaveLength(1);
});
