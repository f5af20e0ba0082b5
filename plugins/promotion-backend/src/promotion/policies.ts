import { CronExpressionParser } from 'cron-parser';
import { DateTime, Duration } from 'luxon';
import { short } from './rules';
import { PolicyCheck } from './types';

/*
 * The release policies besides `requireBeenIn` (rules.ts): deploy-time soak, freeze windows and
 * required checks. Pure functions of what was read (the facts, the effective policy, the clock),
 * each returning one typed check whose `data` says what a client acts on. Nothing here reads or
 * writes; `policyContext.ts` reads what they need, `PromotionService` refuses.
 */

const passed = (
  name: string,
  reason: string,
  data?: PolicyCheck['data'],
): PolicyCheck => ({ name, passed: true, reason, ...(data ? { data } : {}) });
const failed = (
  name: string,
  reason: string,
  data?: PolicyCheck['data'],
): PolicyCheck => ({ name, passed: false, reason, ...(data ? { data } : {}) });

/** A duration in milliseconds as people read it: `2d 3h`, `45m`, `30s`. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  let rest = Math.max(0, Math.round(ms / 1000) * 1000);
  const parts: string[] = [];
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.slice(0, 2).join(' ') || '0s';
}

/** A duration as luxon adds it: weeks and days on the calendar, hours and less elapsed. */
export type DurationParts = {
  weeks?: number;
  days?: number;
  hours?: number;
  minutes?: number;
  seconds?: number;
};

/**
 * A duration as configuration or an annotation writes it: ISO 8601 (`PT24H`, `P2DT15H`) or a
 * number with a unit (`24h`, `90m`, `2d`, `1w`, `30s`). Undefined when it does not read or is
 * not positive.
 */
export function parseDurationParts(text: string): DurationParts | undefined {
  const value = text.trim();
  const unit = /^(\d+(?:\.\d+)?)\s*(w|d|h|m|s)$/.exec(value);
  const names = {
    w: 'weeks',
    d: 'days',
    h: 'hours',
    m: 'minutes',
    s: 'seconds',
  } as const;
  let parts: DurationParts | undefined;
  if (unit) {
    parts = { [names[unit[2] as keyof typeof names]]: Number(unit[1]) };
  } else if (value.startsWith('P')) {
    const iso = Duration.fromISO(value);
    if (!iso.isValid || iso.months || iso.years || iso.quarters)
      return undefined;
    parts = iso.toObject() as DurationParts;
  }
  if (!parts || !(Duration.fromObject(parts).toMillis() > 0)) return undefined;
  return parts;
}

/** `parseDurationParts` in milliseconds (a day as 24 hours). */
export function parseDuration(text: string): number | undefined {
  const parts = parseDurationParts(text);
  return parts ? Duration.fromObject(parts).toMillis() : undefined;
}

// ---------------------------------------------------------------------------------------------
// Soak

/** The deploy-time soak of an environment: the commit ran `after` for at least `forMs`. */
export interface SoakPolicy {
  after: string;
  /** As written (`24h`, `P1D`), for the reason. */
  for: string;
  forMs: number;
}

/**
 * When the commit's deploy to an environment succeeded, as the ledger or the deployment said:
 * `undefined` when it was never deployed there.
 */
export interface DeployTime {
  /** ISO 8601. */
  deployedAt: string;
  /** Where the time came from, for the reason. */
  source: 'deployment' | 'ledger' | 'build';
}

/**
 * The deploy-time soak (`policy.soak`): the commit was deployed to the previous environment at
 * least `for` ago, measured from its successful deploy there. The runtime-observed running time
 * (`requireRunningIn`) is a separate rule; this one needs nothing but the deploy time.
 */
export function deploySoakRule(
  sha: string,
  soak: SoakPolicy,
  deployed: DeployTime | undefined,
  now: Date,
): PolicyCheck {
  if (!deployed) {
    return failed(
      'soak',
      `soak: ${short(sha)} was never deployed to ${
        soak.after
      }, and must have been there for ${soak.for}`,
      {
        requiredEnvironment: soak.after,
        soakRemainingSeconds: Math.ceil(soak.forMs / 1000),
      },
    );
  }
  const since = new Date(deployed.deployedAt);
  const elapsed = now.getTime() - since.getTime();
  const remaining = soak.forMs - elapsed;
  const data = {
    requiredEnvironment: soak.after,
    soakSince: since.toISOString(),
    soakRemainingSeconds: Math.max(0, Math.ceil(remaining / 1000)),
  };
  if (remaining > 0) {
    return failed(
      'soak',
      `soak: ${short(sha)} was deployed to ${
        soak.after
      } at ${since.toISOString()}, ${formatDuration(elapsed)} ago; ${
        soak.for
      } are required, ${formatDuration(remaining)} to go`,
      data,
    );
  }
  return passed(
    'soak',
    `${short(sha)} has been in ${
      soak.after
    } since ${since.toISOString()} (${formatDuration(elapsed)}, at least ${
      soak.for
    })`,
    data,
  );
}

// ---------------------------------------------------------------------------------------------
// Freeze windows

/** A freeze window as configured (`promotion.freezes`), already checked. */
export interface FreezeWindow {
  name: string;
  /** Why, for the reason (e.g. `Year-end freeze`). */
  description?: string;
  /** A one-off window: from `start` (inclusive) to `end` (exclusive), ISO 8601 with an offset. */
  start?: string;
  end?: string;
  /** A recurring window: it opens at every occurrence of this cron expression in `timeZone`. */
  cron?: string;
  /** How long a recurring window stays open: days on the calendar of `timeZone`, hours elapsed. */
  duration?: DurationParts;
  /** The IANA time zone of `cron` (default UTC). */
  timeZone?: string;
  /** The environments it freezes; all when absent. */
  environments?: string[];
  /** Systems (`system:default/x`) it freezes; with `domains` absent too, it freezes everything. */
  systems?: string[];
  /** Domains (`domain:default/x`) whose systems it freezes. */
  domains?: string[];
}

/** Where a promotion goes, as freeze windows select it. */
export interface FreezeScope {
  environment: string;
  systems: string[];
  domains: string[];
}

/** An emergency override of a freeze, as the request gave it (the permission was checked). */
export interface FreezeOverride {
  reason: string;
  by: string;
}

/** Whether the window applies to a promotion to `scope`. */
export function freezeApplies(window: FreezeWindow, scope: FreezeScope) {
  if (window.environments && !window.environments.includes(scope.environment))
    return false;
  const bySystem = window.systems ?? [];
  const byDomain = window.domains ?? [];
  if (bySystem.length === 0 && byDomain.length === 0) return true;
  return (
    scope.systems.some(s => bySystem.includes(s)) ||
    scope.domains.some(d => byDomain.includes(d))
  );
}

/**
 * The occurrence of a window open at `now`: its start and end, or undefined when it is closed.
 * A recurring window's occurrence is the newest cron time at or before `now` (in its zone, so
 * that `0 18 * * 5` is 18:00 local on either side of a daylight-saving change); it is open until
 * that time plus the duration, whose days are calendar days there (Friday 18:00 plus `P2DT15H`
 * is Monday 09:00 local, whichever the offset) and whose hours are elapsed time.
 */
export function openOccurrence(
  window: FreezeWindow,
  now: Date,
): { start: Date; end: Date } | undefined {
  if (window.cron) {
    const zone = window.timeZone ?? 'UTC';
    // `prev()` is strictly before the current date: ask from one millisecond after now.
    const expression = CronExpressionParser.parse(window.cron, {
      currentDate: new Date(now.getTime() + 1),
      tz: zone,
    });
    const start = expression.prev().toDate();
    const end = DateTime.fromJSDate(start, { zone })
      .plus(window.duration ?? {})
      .toJSDate();
    return now.getTime() < end.getTime() ? { start, end } : undefined;
  }
  const start = new Date(window.start!);
  const end = new Date(window.end!);
  return now >= start && now < end ? { start, end } : undefined;
}

/**
 * The freeze windows (`promotion.freezes`): a promotion to an environment, System or Domain a
 * window freezes is refused while the window is open, unless an emergency override (with its
 * reason, by someone holding `promotion.freeze.override`) goes with the request. The check names
 * the window and when it ends; the one ending last when several are open.
 */
export function freezeRule(
  windows: FreezeWindow[],
  scope: FreezeScope,
  now: Date,
  override?: FreezeOverride,
): PolicyCheck | undefined {
  const applying = windows.filter(w => freezeApplies(w, scope));
  if (applying.length === 0) return undefined;
  const open = applying
    .map(window => ({ window, occurrence: openOccurrence(window, now) }))
    .filter(o => o.occurrence)
    .sort((a, b) => b.occurrence!.end.getTime() - a.occurrence!.end.getTime());
  if (open.length === 0) {
    return passed(
      'freeze',
      `${scope.environment} is not frozen (${applying
        .map(w => w.name)
        .join(', ')} closed)`,
    );
  }
  const { window, occurrence } = open[0];
  const endsAt = occurrence!.end.toISOString();
  const data = { freezeWindow: window.name, frozenUntil: endsAt };
  const what = `${scope.environment} is frozen by ${window.name}${
    window.description ? ` (${window.description})` : ''
  } until ${endsAt}`;
  if (override) {
    return passed(
      'freeze',
      `${what}; emergency override by ${override.by}: ${override.reason}`,
      { ...data, freezeOverridden: true },
    );
  }
  return failed(
    'freeze',
    `freeze: ${what}; an emergency override needs a reason and the promotion.freeze.override permission`,
    data,
  );
}

// ---------------------------------------------------------------------------------------------
// Required checks

/** A check on a commit as the source control reported it (a check run or a commit status). */
export interface ReportedCheck {
  name: string;
  state: 'success' | 'failure' | 'pending';
}

/**
 * The required checks (`policy.requiredChecks`): every named check run or commit status is green
 * on the commit. A missing check, a failing one and one still running each refuse; the data lists
 * their names.
 */
export function requiredChecksRule(
  sha: string,
  required: string[],
  reported: ReportedCheck[] | undefined,
): PolicyCheck | undefined {
  if (required.length === 0) return undefined;
  if (!reported) {
    return failed(
      'required-checks',
      `required checks: the source control cannot report the checks of ${short(
        sha,
      )}, and ${required.join(', ')} must be green`,
      { missingChecks: required },
    );
  }
  const byName = new Map<string, ReportedCheck['state']>();
  for (const check of reported) {
    // One failing or pending run of a name is what GitHub shows for it; success only when all are.
    const before = byName.get(check.name);
    if (before === 'failure') continue;
    if (before === 'pending' && check.state === 'success') continue;
    byName.set(check.name, check.state);
  }
  const missing = required.filter(name => !byName.has(name));
  const failing = required.filter(name => byName.get(name) === 'failure');
  const pending = required.filter(name => byName.get(name) === 'pending');
  if (missing.length + failing.length + pending.length === 0) {
    return passed(
      'required-checks',
      `${required.join(', ')} ${
        required.length === 1 ? 'is' : 'are'
      } green on ${short(sha)}`,
    );
  }
  const parts = [
    failing.length ? `failing: ${failing.join(', ')}` : '',
    pending.length ? `not finished: ${pending.join(', ')}` : '',
    missing.length ? `missing: ${missing.join(', ')}` : '',
  ].filter(Boolean);
  return failed(
    'required-checks',
    `required checks not green on ${short(sha)} (${parts.join('; ')})`,
    {
      ...(missing.length ? { missingChecks: missing } : {}),
      ...(failing.length ? { failingChecks: failing } : {}),
      ...(pending.length ? { pendingChecks: pending } : {}),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Effective policy: configuration, then the System's annotations, then the component's

/** The annotations that override an environment's policies, `<environment>` replaced. */
export const POLICY_ANNOTATIONS = {
  /** `<after>/<duration>` (e.g. `demo/48h`), or `none`. */
  soak: (environment: string) => `mainline.dev/soak.${environment}`,
  /** Comma-separated check names (e.g. `build,stage-validation`), or `none`. */
  requiredChecks: (environment: string) =>
    `mainline.dev/required-checks.${environment}`,
} as const;

/** The soak and required checks that apply to one environment of one entity. */
export interface EffectivePolicies {
  soak?: SoakPolicy;
  requiredChecks: string[];
  /** Where each came from, for the reason (`config`, a System's ref, the component's ref). */
  from: { soak?: string; requiredChecks?: string };
}

/** An annotation's value that does not read: a refusal names it (a 409 with the annotation). */
export class PolicyAnnotationError extends Error {
  constructor(
    readonly annotation: string,
    readonly entityRef: string,
    message: string,
  ) {
    super(message);
    this.name = 'PolicyAnnotationError';
  }
}

function readSoakAnnotation(
  value: string,
  annotation: string,
  entityRef: string,
  environments: string[],
): SoakPolicy | null {
  if (value.trim() === 'none') return null;
  const [after, duration] = value.split('/').map(s => s.trim());
  const forMs = duration ? parseDuration(duration) : undefined;
  if (!after || !environments.includes(after) || forMs === undefined) {
    throw new PolicyAnnotationError(
      annotation,
      entityRef,
      `annotation ${annotation} of ${entityRef} is "${value}": expected <environment>/<duration> with an environment of ${environments.join(
        ', ',
      )} and a duration such as 24h or P1D, or none`,
    );
  }
  return { after, for: duration, forMs };
}

/**
 * The policies of `environment` for an entity: the configured ones, replaced by the annotations
 * of the Systems it is part of, replaced by the component's own (a later layer wins).
 */
export function effectivePolicies(input: {
  environment: string;
  environments: string[];
  configured: { soak?: SoakPolicy; requiredChecks?: string[] };
  /** The Systems' annotations, then the component's (last wins). */
  layers: Array<{ entityRef: string; annotations: Record<string, string> }>;
}): EffectivePolicies {
  const { environment } = input;
  let soak = input.configured.soak;
  let requiredChecks = input.configured.requiredChecks ?? [];
  const from: EffectivePolicies['from'] = {
    soak: soak ? 'config' : undefined,
    requiredChecks: requiredChecks.length ? 'config' : undefined,
  };
  const soakKey = POLICY_ANNOTATIONS.soak(environment);
  const checksKey = POLICY_ANNOTATIONS.requiredChecks(environment);
  for (const layer of input.layers) {
    const soakValue = layer.annotations[soakKey];
    if (soakValue !== undefined) {
      soak =
        readSoakAnnotation(
          soakValue,
          soakKey,
          layer.entityRef,
          input.environments.filter(e => e !== environment),
        ) ?? undefined;
      from.soak = layer.entityRef;
    }
    const checksValue = layer.annotations[checksKey];
    if (checksValue !== undefined) {
      requiredChecks =
        checksValue.trim() === 'none'
          ? []
          : checksValue
              .split(',')
              .map(s => s.trim())
              .filter(Boolean);
      from.requiredChecks = layer.entityRef;
    }
  }
  return { soak, requiredChecks, from };
}
