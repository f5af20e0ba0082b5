import { screen, waitFor } from '@testing-library/react';
import {
  renderInTestApp,
  TestApiProvider,
  mockApis,
} from '@backstage/test-utils';
import { discoveryApiRef, fetchApiRef } from '@backstage/core-plugin-api';
import { RateBudgetCard, RateBudgetIntegration } from './RateBudgetCard';

jest.setTimeout(30_000);

const later = new Date(Date.now() + 130 * 60_000).toISOString();
const now = new Date().toISOString();

async function renderWith(integrations: RateBudgetIntegration[] | Error) {
  const asked: string[] = [];
  const fetchApi = {
    fetch: async (url: RequestInfo | URL) => {
      asked.push(String(url));
      if (integrations instanceof Error) {
        return new Response(
          JSON.stringify({
            error: { name: 'Error', message: integrations.message },
          }),
          { status: 500, headers: { 'content-type': 'application/json' } },
        );
      }
      return new Response(JSON.stringify({ integrations }), {
        headers: { 'content-type': 'application/json' },
      });
    },
  };
  await renderInTestApp(
    <TestApiProvider
      apis={[
        [discoveryApiRef, mockApis.discovery({ baseUrl: 'http://backend' })],
        [fetchApiRef, fetchApi],
      ]}
    >
      <RateBudgetCard />
    </TestApiProvider>,
  );
  return asked;
}

describe('RateBudgetCard', () => {
  it('shows what is left of REST and GraphQL per integration, and that background work waits under the reserve', async () => {
    const asked = await renderWith([
      {
        integration: 'github.com',
        reserve: 1000,
        backgroundDeferred: true,
        resources: [
          {
            resource: 'core',
            limit: 5000,
            remaining: 812,
            resetAt: later,
            observedAt: now,
          },
          {
            resource: 'graphql',
            limit: 5000,
            remaining: 4990,
            resetAt: later,
            observedAt: now,
          },
        ],
      },
    ]);
    expect(
      await screen.findByText('GitHub rate budget · github.com'),
    ).toBeInTheDocument();
    expect(
      screen.getByText(/REST requests: 812 of 5,000 left, resets in 2 hours/),
    ).toBeInTheDocument();
    expect(
      screen.getByText(/GraphQL points: 4,990 of 5,000 left/),
    ).toBeInTheDocument();
    expect(
      screen.getByText(/Background refreshes wait for the reset/),
    ).toBeInTheDocument();
    expect(asked).toEqual([
      'http://backend/api/promotion/v1/github/rate-budget',
    ]);
  });

  it('shows nothing without a GitHub integration', async () => {
    const asked = await renderWith([]);
    await waitFor(() => expect(asked).toHaveLength(1));
    // The answer has arrived and rendered (a tick after the fetch resolved).
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(screen.queryByText(/GitHub rate budget/)).not.toBeInTheDocument();
  });

  it('says when the budget cannot be read', async () => {
    await renderWith(new Error('backend down'));
    expect(
      await screen.findByText(/GitHub rate budget unavailable/),
    ).toBeInTheDocument();
  });
});
