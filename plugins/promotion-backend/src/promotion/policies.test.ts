import { ConfigReader } from '@backstage/config';
import { JsonValue } from '@backstage/types';
import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import { readFreezes } from './freezes';
import {
  FreezeWindow,
  deploySoakRule,
  effectivePolicies,
  formatDuration,
  freezeRule,
  parseDuration,
  parseDurationParts,
  requiredChecksRule,
} from './policies';
import { deployTimeOf } from './policyContext';

// The policies are pure: every case is a table row of what was read and the clock in, check out.

const SHA = 'a'.repeat(40);
const HOUR = 3_600_000;
const ENVIRONMENTS = ['stage', 'demo', 'prod'];
const at = (iso: string) => new Date(iso);

describe('parseDuration', () => {
  it.each([
    ['24h', 24 * HOUR],
    ['90m', 90 * 60_000],
    ['2d', 48 * HOUR],
    ['1w', 168 * HOUR],
    ['30s', 30_000],
    ['1.5h', 1.5 * HOUR],
    ['PT36H', 36 * HOUR],
    ['P1D', 24 * HOUR],
    ['P2DT15H', 63 * HOUR],
    ['0h', undefined],
    ['P1M', undefined],
    ['24', undefined],
    ['a day', undefined],
    ['', undefined],
  ])('%s is %s ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('keeps days as calendar days and hours as elapsed time', () => {
    expect(parseDurationParts('P2DT15H')).toEqual({ days: 2, hours: 15 });
    expect(parseDurationParts('2d')).toEqual({ days: 2 });
  });

  it.each([
    [0, '0s'],
    [90_000, '1m 30s'],
    [26 * HOUR + 60_000, '1d 2h'],
  ])('formats %s ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('deploySoakRule', () => {
  const soak = { after: 'demo', for: '24h', forMs: 24 * HOUR };
  const now = at('2026-12-02T12:00:00Z');
  it.each([
    {
      row: 'never deployed there',
      deployed: undefined,
      passed: false,
      data: { requiredEnvironment: 'demo', soakRemainingSeconds: 86_400 },
      reason: /never deployed to demo/,
    },
    {
      row: 'deployed 23 h ago: 1 h to go',
      deployed: '2026-12-01T13:00:00Z',
      passed: false,
      data: {
        requiredEnvironment: 'demo',
        soakSince: '2026-12-01T13:00:00.000Z',
        soakRemainingSeconds: 3600,
      },
      reason: /23h ago; 24h are required, 1h to go/,
    },
    {
      row: 'deployed one second short',
      deployed: '2026-12-01T12:00:01Z',
      passed: false,
      data: {
        requiredEnvironment: 'demo',
        soakSince: '2026-12-01T12:00:01.000Z',
        soakRemainingSeconds: 1,
      },
      reason: /1s to go/,
    },
    {
      row: 'deployed exactly 24 h ago',
      deployed: '2026-12-01T12:00:00Z',
      passed: true,
      data: {
        requiredEnvironment: 'demo',
        soakSince: '2026-12-01T12:00:00.000Z',
        soakRemainingSeconds: 0,
      },
      reason: /has been in demo since/,
    },
    {
      row: 'deployed three days ago',
      deployed: '2026-11-29T12:00:00Z',
      passed: true,
      data: {
        requiredEnvironment: 'demo',
        soakSince: '2026-11-29T12:00:00.000Z',
        soakRemainingSeconds: 0,
      },
      reason: /\(3d, at least 24h\)/,
    },
  ])('$row', ({ deployed, passed, data, reason }) => {
    const check = deploySoakRule(
      SHA,
      soak,
      deployed ? { deployedAt: deployed, source: 'deployment' } : undefined,
      now,
    );
    expect(check).toMatchObject({ name: 'soak', passed, data });
    expect(check.reason).toMatch(reason);
  });
});

describe('deployTimeOf', () => {
  const [stage, demo] = DEFAULT_ENVIRONMENTS;
  const artifact = {
    kind: 'image' as const,
    commit: SHA.slice(0, 7),
    uri: 'local/checkout:aaaaaaa@sha256:1',
    digest: 'sha256:1',
    size: 1,
    createdAt: '2026-11-30T10:00:00Z',
    tags: [SHA.slice(0, 7)],
  };
  const running = {
    environment: 'demo',
    version: 'rc-3',
    sha: SHA,
    deployedAt: '2026-12-01T09:00:00Z',
  };
  const moved = { ...running, version: 'rc-4', sha: 'b'.repeat(40) };
  const ledger = [
    {
      environment: 'demo',
      sha: SHA,
      status: 'succeeded',
      updatedAt: '2026-11-30T12:00:00Z',
    },
    {
      environment: 'demo',
      sha: SHA,
      status: 'failed',
      updatedAt: '2026-12-01T12:00:00Z',
    },
  ];
  it.each([
    {
      row: 'the environment runs it: its deployment',
      environment: demo,
      deployment: running,
      ledger,
      expected: { deployedAt: '2026-12-01T09:00:00Z', source: 'deployment' },
    },
    {
      row: 'it moved on: the newest succeeded promotion there',
      environment: demo,
      deployment: moved,
      ledger,
      expected: { deployedAt: '2026-11-30T12:00:00Z', source: 'ledger' },
    },
    {
      row: 'never promoted there',
      environment: demo,
      deployment: moved,
      ledger: [],
      expected: undefined,
    },
    {
      row: 'a branch environment that moved on: the build it deployed',
      environment: stage,
      deployment: { ...moved, environment: 'stage' },
      ledger: [],
      expected: { deployedAt: '2026-11-30T10:00:00Z', source: 'build' },
    },
  ])('$row', ({ environment, deployment, ledger: rows, expected }) => {
    expect(
      deployTimeOf({
        facts: {
          sha: SHA,
          tags: [],
          artifacts: [artifact],
          deployments: { [environment.name]: deployment },
        },
        environment,
        ledger: rows,
      }),
    ).toEqual(expected);
  });
});

describe('freezeRule', () => {
  const scope = { environment: 'prod', systems: [], domains: [] };
  // Fridays 18:00 to Mondays 09:00 in Berlin, whatever the offset.
  const weekend: FreezeWindow = {
    name: 'weekend',
    cron: '0 18 * * 5',
    duration: { days: 2, hours: 15 },
    timeZone: 'Europe/Berlin',
  };
  // Every night 01:00 Berlin, three elapsed hours.
  const nightly: FreezeWindow = {
    name: 'nightly',
    cron: '0 1 * * *',
    duration: { hours: 3 },
    timeZone: 'Europe/Berlin',
  };
  // A one-off window given in the two offsets of its two ends.
  const autumn: FreezeWindow = {
    name: 'autumn-release',
    start: '2026-10-24T00:00:00+02:00',
    end: '2026-10-26T00:00:00+01:00',
  };

  it.each([
    // Spring: Berlin goes from +01:00 to +02:00 on Sunday 29 March 2026 at 02:00.
    ['weekend', '2026-03-27T16:59:59Z', undefined, weekend],
    ['weekend', '2026-03-27T17:00:00Z', '2026-03-30T07:00:00.000Z', weekend],
    ['weekend', '2026-03-29T01:30:00Z', '2026-03-30T07:00:00.000Z', weekend],
    ['weekend', '2026-03-30T06:59:59Z', '2026-03-30T07:00:00.000Z', weekend],
    // 09:00 local is 07:00Z in summer time: open again, although 63 elapsed hours are not over.
    ['weekend', '2026-03-30T07:00:00Z', undefined, weekend],
    ['weekend', '2026-03-30T07:30:00Z', undefined, weekend],
    // Autumn: from +02:00 back to +01:00 on Sunday 25 October 2026 at 03:00.
    ['weekend', '2026-10-23T15:59:59Z', undefined, weekend],
    ['weekend', '2026-10-23T16:00:00Z', '2026-10-26T08:00:00.000Z', weekend],
    ['weekend', '2026-10-25T00:59:59Z', '2026-10-26T08:00:00.000Z', weekend],
    ['weekend', '2026-10-25T01:00:00Z', '2026-10-26T08:00:00.000Z', weekend],
    // 08:30 local on Monday is 07:30Z in winter time: still frozen, 63 h elapsed notwithstanding.
    ['weekend', '2026-10-26T07:30:00Z', '2026-10-26T08:00:00.000Z', weekend],
    ['weekend', '2026-10-26T08:00:00Z', undefined, weekend],
    // The night of the spring change: 01:00 CET (00:00Z) plus three elapsed hours is 03:00Z.
    ['nightly', '2026-03-28T23:59:59Z', undefined, nightly],
    ['nightly', '2026-03-29T00:00:00Z', '2026-03-29T03:00:00.000Z', nightly],
    ['nightly', '2026-03-29T02:59:59Z', '2026-03-29T03:00:00.000Z', nightly],
    ['nightly', '2026-03-29T03:00:00Z', undefined, nightly],
    // The next night starts at 01:00 CEST, 23:00Z.
    ['nightly', '2026-03-29T22:59:59Z', undefined, nightly],
    ['nightly', '2026-03-29T23:00:00Z', '2026-03-30T02:00:00.000Z', nightly],
    // The night of the autumn change: 01:00 CEST is 23:00Z the day before.
    ['nightly', '2026-10-24T23:00:00Z', '2026-10-25T02:00:00.000Z', nightly],
    ['nightly', '2026-10-25T01:59:59Z', '2026-10-25T02:00:00.000Z', nightly],
    ['nightly', '2026-10-25T02:00:00Z', undefined, nightly],
    ['nightly', '2026-10-26T00:00:00Z', '2026-10-26T03:00:00.000Z', nightly],
    // One-off: from midnight CEST to midnight CET, start inclusive, end exclusive.
    ['autumn', '2026-10-23T21:59:59Z', undefined, autumn],
    ['autumn', '2026-10-23T22:00:00Z', '2026-10-25T23:00:00.000Z', autumn],
    ['autumn', '2026-10-25T22:59:59.999Z', '2026-10-25T23:00:00.000Z', autumn],
    ['autumn', '2026-10-25T23:00:00Z', undefined, autumn],
  ])('%s at %s: frozen until %s', (_name, now, frozenUntil, window) => {
    const check = freezeRule([window], scope, at(now))!;
    // Open: refused, naming the window and its end; closed: passed, with nothing to act on.
    expect({
      passed: check.passed,
      data: check.data,
      namesEnd: check.reason.includes(`until ${frozenUntil}`),
    }).toEqual(
      frozenUntil
        ? {
            passed: false,
            data: { freezeWindow: window.name, frozenUntil },
            namesEnd: true,
          }
        : { passed: true, data: undefined, namesEnd: false },
    );
  });

  const storefront = 'system:default/storefront';
  const commerce = 'domain:default/commerce';
  const always: FreezeWindow = {
    name: 'x',
    start: '2026-01-01T00:00:00Z',
    end: '2027-01-01T00:00:00Z',
  };
  it.each([
    ['everything', always, { systems: [], domains: [] }, true],
    [
      'its System',
      { ...always, systems: [storefront] },
      { systems: [storefront], domains: [] },
      true,
    ],
    [
      'another System',
      { ...always, systems: ['system:default/ops'] },
      { systems: [storefront], domains: [commerce] },
      false,
    ],
    [
      'its System’s Domain',
      { ...always, domains: [commerce] },
      { systems: [storefront], domains: [commerce] },
      true,
    ],
    [
      'another Domain',
      { ...always, domains: ['domain:default/ops'] },
      { systems: [storefront], domains: [commerce] },
      false,
    ],
    [
      'another environment',
      { ...always, environments: ['demo'] },
      { systems: [], domains: [] },
      false,
    ],
  ])('a window for %s', (_row, window, where, applies) => {
    const check = freezeRule(
      [window],
      { environment: 'prod', ...where },
      at('2026-12-02T12:00:00Z'),
    );
    expect(check?.passed).toBe(applies ? false : undefined);
  });

  it('names the open window that ends last, and passes with an override', () => {
    const now = at('2026-12-02T12:00:00Z');
    const windows: FreezeWindow[] = [
      { ...always, name: 'short', end: '2026-12-03T00:00:00Z' },
      { ...always, name: 'long', description: 'Year-end' },
      { ...always, name: 'closed', end: '2026-06-01T00:00:00Z' },
    ];
    expect(freezeRule(windows, scope, now)).toMatchObject({
      passed: false,
      data: { freezeWindow: 'long', frozenUntil: '2027-01-01T00:00:00.000Z' },
    });
    const overridden = freezeRule(windows, scope, now, {
      reason: 'payment outage fix',
      by: 'user:default/ada',
    })!;
    expect(overridden).toMatchObject({
      passed: true,
      data: {
        freezeWindow: 'long',
        frozenUntil: '2027-01-01T00:00:00.000Z',
        freezeOverridden: true,
      },
    });
    expect(overridden.reason).toContain(
      'emergency override by user:default/ada: payment outage fix',
    );
  });

  it('is no check without windows for the promotion', () => {
    expect(freezeRule([], scope, at('2026-12-02T12:00:00Z'))).toBeUndefined();
  });
});

describe('requiredChecksRule', () => {
  const required = ['build', 'stage-validation'];
  it.each([
    {
      row: 'all green',
      reported: [
        { name: 'build', state: 'success' as const },
        { name: 'stage-validation', state: 'success' as const },
        { name: 'lint', state: 'failure' as const },
      ],
      passed: true,
      data: undefined,
    },
    {
      row: 'one missing',
      reported: [{ name: 'build', state: 'success' as const }],
      passed: false,
      data: { missingChecks: ['stage-validation'] },
    },
    {
      row: 'one failing, one pending',
      reported: [
        { name: 'build', state: 'failure' as const },
        { name: 'stage-validation', state: 'pending' as const },
      ],
      passed: false,
      data: { failingChecks: ['build'], pendingChecks: ['stage-validation'] },
    },
    {
      row: 'a failing run among green ones of the same name',
      reported: [
        { name: 'build', state: 'success' as const },
        { name: 'build', state: 'failure' as const },
        { name: 'stage-validation', state: 'success' as const },
      ],
      passed: false,
      data: { failingChecks: ['build'] },
    },
    {
      row: 'a source without checks',
      reported: undefined,
      passed: false,
      data: { missingChecks: required },
    },
  ])('$row', ({ reported, passed, data }) => {
    const check = requiredChecksRule(SHA, required, reported)!;
    expect(check).toMatchObject({ name: 'required-checks', passed });
    expect(check.data).toEqual(data);
  });

  it('is no check when nothing is required', () => {
    expect(requiredChecksRule(SHA, [], [])).toBeUndefined();
  });
});

describe('effectivePolicies', () => {
  const configured = {
    soak: { after: 'demo', for: '24h', forMs: 24 * HOUR },
    requiredChecks: ['build'],
  };
  const system = 'system:default/storefront';
  const component = 'component:default/checkout';
  it.each([
    {
      row: 'configuration alone',
      layers: [],
      soak: configured.soak,
      checks: ['build'],
      from: { soak: 'config', requiredChecks: 'config' },
    },
    {
      row: 'the System overrides',
      layers: [
        {
          entityRef: system,
          annotations: {
            'mainline.dev/soak.prod': 'demo/48h',
            'mainline.dev/required-checks.prod': 'build, e2e',
          },
        },
      ],
      soak: { after: 'demo', for: '48h', forMs: 48 * HOUR },
      checks: ['build', 'e2e'],
      from: { soak: system, requiredChecks: system },
    },
    {
      row: 'the component overrides the System',
      layers: [
        {
          entityRef: system,
          annotations: { 'mainline.dev/soak.prod': 'demo/48h' },
        },
        {
          entityRef: component,
          annotations: {
            'mainline.dev/soak.prod': 'none',
            'mainline.dev/required-checks.prod': 'none',
          },
        },
      ],
      soak: undefined,
      checks: [],
      from: { soak: component, requiredChecks: component },
    },
    {
      row: "another environment's annotations",
      layers: [
        {
          entityRef: component,
          annotations: { 'mainline.dev/soak.demo': 'stage/1h' },
        },
      ],
      soak: configured.soak,
      checks: ['build'],
      from: { soak: 'config', requiredChecks: 'config' },
    },
  ])('$row', ({ layers, soak, checks, from }) => {
    expect(
      effectivePolicies({
        environment: 'prod',
        environments: ENVIRONMENTS,
        configured,
        layers: layers as Array<{
          entityRef: string;
          annotations: Record<string, string>;
        }>,
      }),
    ).toEqual({ soak, requiredChecks: checks, from });
  });

  it.each(['demo', 'demo/soon', 'qa/24h', 'prod/24h'])(
    'refuses the soak annotation %s, naming it',
    value => {
      expect(() =>
        effectivePolicies({
          environment: 'prod',
          environments: ENVIRONMENTS,
          configured,
          layers: [
            {
              entityRef: component,
              annotations: { 'mainline.dev/soak.prod': value },
            },
          ],
        }),
      ).toThrow(
        /annotation mainline.dev\/soak.prod of component:default\/checkout/,
      );
    },
  );
});

describe('readFreezes', () => {
  const read = (freezes: JsonValue[]) =>
    readFreezes(new ConfigReader({ promotion: { freezes } }), ENVIRONMENTS);

  it('reads one-off and recurring windows', () => {
    expect(
      read([
        {
          name: 'year-end',
          start: '2026-12-20T00:00:00+01:00',
          end: '2027-01-04T00:00:00+01:00',
          environments: ['prod'],
          systems: ['storefront'],
        },
        {
          name: 'weekend',
          cron: '0 18 * * 5',
          duration: 'P2DT15H',
          timeZone: 'Europe/Berlin',
          domains: ['commerce'],
        },
      ]),
    ).toEqual([
      expect.objectContaining({
        name: 'year-end',
        start: '2026-12-20T00:00:00+01:00',
        systems: ['system:default/storefront'],
        environments: ['prod'],
      }),
      expect.objectContaining({
        name: 'weekend',
        cron: '0 18 * * 5',
        duration: { days: 2, hours: 15 },
        timeZone: 'Europe/Berlin',
        domains: ['domain:default/commerce'],
      }),
    ]);
  });

  it.each([
    [
      { name: 'a', start: '2026-12-20', end: '2026-12-21T00:00:00Z' },
      /start "2026-12-20" is not an ISO 8601 time with an offset/,
    ],
    [
      { name: 'a', start: '2026-12-21T00:00:00Z', end: '2026-12-20T00:00:00Z' },
      /end .* is not after start/,
    ],
    [{ name: 'a', cron: '0 18 * * 5' }, /needs a duration/],
    [
      { name: 'a', cron: 'every friday', duration: '1h' },
      /cron "every friday" does not read/,
    ],
    [
      {
        name: 'a',
        cron: '0 18 * * 5',
        duration: '1h',
        timeZone: 'Berlin/Mitte',
      },
      /timeZone "Berlin\/Mitte" is not an IANA time zone/,
    ],
    [{ name: 'a' }, /set start and end \(one-off\) or cron and duration/],
    [
      {
        name: 'a',
        cron: '0 18 * * 5',
        duration: '1h',
        start: '2026-12-20T00:00:00Z',
      },
      /either start and end/,
    ],
    [
      {
        name: 'a',
        start: '2026-12-20T00:00:00Z',
        end: '2026-12-21T00:00:00Z',
        environments: ['qa'],
      },
      /environments qa are not among/,
    ],
    [
      {
        name: 'a',
        start: '2026-12-20T00:00:00Z',
        end: '2026-12-21T00:00:00Z',
        systems: ['group:default/x'],
      },
      /systems "group:default\/x" is not a system reference/,
    ],
  ])('refuses %j', (window, message) => {
    expect(() => read([window])).toThrow(message);
  });

  it('refuses a name used twice', () => {
    const window = { name: 'a', cron: '0 18 * * 5', duration: '1h' };
    expect(() => read([window, window])).toThrow(/"a" is configured twice/);
  });
});
