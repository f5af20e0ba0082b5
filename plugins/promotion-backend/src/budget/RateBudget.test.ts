import { RateBudget, RateBudgetStore } from './RateBudget';

/** A store two budgets share, as two replicas share Backstage's cache store. */
function sharedStore(): RateBudgetStore {
  const values = new Map<string, unknown>();
  return {
    async get(key) {
      const value = values.get(key);
      return value === undefined
        ? undefined
        : JSON.parse(JSON.stringify(value));
    },
    async set(key, value) {
      values.set(key, JSON.parse(JSON.stringify(value)));
    },
  };
}

const headers = (remaining: number, reset: number, resource = 'core') => ({
  'x-ratelimit-limit': '5000',
  'x-ratelimit-remaining': String(remaining),
  'x-ratelimit-reset': String(reset),
  'x-ratelimit-resource': resource,
});

describe('RateBudget', () => {
  let now = Date.parse('2026-12-10T12:00:00Z');
  const clock = () => now;
  const reset = Math.floor(now / 1000) + 3600;

  it('slows background work from twice the reserve down to a stop at the reserve', () => {
    const budget = new RateBudget({ reserve: 1000, now: clock });
    expect(budget.backgroundPace()).toBe(1);
    budget.observe('github.com', headers(4000, reset));
    expect(budget.backgroundPace()).toBe(1);
    budget.observe('github.com', headers(1500, reset));
    expect(budget.backgroundPace()).toBe(0.5);
    budget.observe('github.com', headers(1000, reset));
    expect(budget.backgroundPace()).toBe(0);
    budget.observe('github.com', headers(999, reset));
    expect(budget.backgroundPace()).toBe(0);
    expect(budget.allowsBackground()).toBe(false);
    // GraphQL points count on their own: the lowest resource sets the pace.
    budget.observe('github.com', headers(4000, reset));
    budget.observe('github.com', headers(1250, reset, 'graphql'));
    expect(budget.backgroundPace()).toBe(0.25);
  });

  it('shows one replica what another learned from GitHub, the lower of two answers at one moment', async () => {
    const store = sharedStore();
    const a = new RateBudget({ reserve: 1000, now: clock, shared: store });
    const b = new RateBudget({ reserve: 1000, now: clock, shared: store });
    b.observe('github.com', headers(4800, reset));
    a.observe('github.com', headers(900, reset));
    await a.publish();
    now += 2000;
    await b.sync();
    // Both answers came within seconds: the budget both spend is the lower one.
    expect(b.snapshot()[0].resources[0].remaining).toBe(900);
    expect(b.allowsBackground()).toBe(false);

    // Later, GitHub answers B with more (a window of another token reset): B's newest holds.
    now += 60_000;
    b.observe('github.com', headers(4700, reset + 3600));
    await b.publish();
    now += 2000;
    await a.sync();
    expect(a.snapshot()[0].resources[0].remaining).toBe(4700);
    expect(a.allowsBackground()).toBe(true);
  });
});
