import { Config, readDurationFromConfig } from '@backstage/config';
import { InputError } from '@backstage/errors';
import { durationToMilliseconds } from '@backstage/types';
import {
  DEFAULT_ENVIRONMENTS,
  EnvironmentDefinition,
} from '@mainline/plugin-promotion-common';

/**
 * `policy.requireRunningIn` of one environment: the artifact must have been verified running
 * and healthy in an earlier environment for at least `forMs`. Applies only to entities whose
 * runtime an observer serves; an entity without one keeps `requireBeenIn` alone.
 */
export interface RunningRequirement {
  environment: string;
  forMs: number;
}

/** What one environment asks of the runtime: the verify step and the soak policy. */
export interface EnvironmentRuntimeSettings {
  verify: {
    /** How long the verify step waits for the environment to run the artifact. */
    timeoutMs: number;
    /**
     * Whether a promotion whose verification fails is rolled back at once to the last version
     * verified running in the environment (`verify.rollback`, default false).
     */
    rollback: boolean;
  };
  requireRunningIn?: RunningRequirement;
}

/** The runtime settings of every environment, and how the verify step polls. */
export interface RuntimeSettings {
  environments: Record<string, EnvironmentRuntimeSettings>;
  /** The verify step's first poll interval; each poll doubles it up to `maxPollMs`. */
  minPollMs: number;
  maxPollMs: number;
}

export const DEFAULT_VERIFY_TIMEOUT_MS = 10 * 60 * 1000;
export const DEFAULT_MIN_POLL_MS = 2_000;
export const DEFAULT_MAX_POLL_MS = 30_000;

/**
 * The soak the default environments ask of an observed entity (no `promotion.environments`
 * configured): demo takes what stage ran healthy for 30 minutes, prod what demo ran for an hour.
 */
export const DEFAULT_RUNNING_REQUIREMENTS: Record<string, RunningRequirement> =
  {
    demo: { environment: 'stage', forMs: 30 * 60 * 1000 },
    prod: { environment: 'demo', forMs: 60 * 60 * 1000 },
  };

function duration(config: Config, key: string, where: string): number {
  try {
    const ms = durationToMilliseconds(readDurationFromConfig(config, { key }));
    if (!(ms > 0)) throw new Error('must be longer than nothing');
    return ms;
  } catch (error) {
    throw new InputError(
      `${where}.${key}: ${(error as Error).message} (e.g. 10m, 30s, PT1H)`,
    );
  }
}

function flag(config: Config | undefined, key: string, where: string) {
  try {
    return config?.getOptionalBoolean(key) ?? false;
  } catch {
    throw new InputError(
      `${where}: ${key} must be true or false, not ${JSON.stringify(
        config!.getOptional(key),
      )}`,
    );
  }
}

/**
 * Reads `promotion.environments[].verify` and `.policy.requireRunningIn` (and
 * `promotion.verify.{minPoll,maxPoll}`), failing start-up with a message naming the key. The
 * environments are those `readEnvironments` read; without configured environments the defaults
 * ask demo and prod for a soak (see `DEFAULT_RUNNING_REQUIREMENTS`).
 */
export function readRuntimeSettings(
  config: Config,
  environments: EnvironmentDefinition[],
): RuntimeSettings {
  const entries = config.getOptionalConfigArray('promotion.environments') ?? [];
  const configured = entries.length > 0;
  const settings: Record<string, EnvironmentRuntimeSettings> = {};
  environments.forEach((environment, index) => {
    const entry = entries.find(e => e.getString('name') === environment.name);
    const where = `promotion.environments: environment "${environment.name}"`;
    const timeoutMs =
      entry?.has('verify.timeout') === true
        ? duration(entry.getConfig('verify'), 'timeout', `${where} verify`)
        : DEFAULT_VERIFY_TIMEOUT_MS;
    const rollback = flag(entry, 'verify.rollback', where);
    let requireRunningIn: RunningRequirement | undefined;
    if (entry?.has('policy.requireRunningIn')) {
      const policy = entry.getConfig('policy.requireRunningIn');
      const earlier = environments.slice(0, index).map(e => e.name);
      const name = policy.getString('environment');
      if (!earlier.includes(name)) {
        throw new InputError(
          `${where}: policy.requireRunningIn.environment "${name}" must name an earlier environment (${
            earlier.join(', ') || 'none'
          })`,
        );
      }
      requireRunningIn = {
        environment: name,
        forMs: duration(policy, 'for', `${where} policy.requireRunningIn`),
      };
    } else if (
      !configured &&
      DEFAULT_ENVIRONMENTS.some(e => e.name === environment.name)
    ) {
      requireRunningIn = DEFAULT_RUNNING_REQUIREMENTS[environment.name];
    }
    settings[environment.name] = {
      verify: { timeoutMs, rollback },
      ...(requireRunningIn ? { requireRunningIn } : {}),
    };
  });
  const verify = config.getOptionalConfig('promotion.verify');
  const minPollMs = verify?.has('minPoll')
    ? duration(verify, 'minPoll', 'promotion.verify')
    : DEFAULT_MIN_POLL_MS;
  const maxPollMs = verify?.has('maxPoll')
    ? duration(verify, 'maxPoll', 'promotion.verify')
    : Math.max(DEFAULT_MAX_POLL_MS, minPollMs);
  if (maxPollMs < minPollMs) {
    throw new InputError(
      'promotion.verify.maxPoll must not be shorter than promotion.verify.minPoll',
    );
  }
  return { environments: settings, minPollMs, maxPollMs };
}

/** The settings the tests and a hand-built service use: the defaults for `environments`. */
export function defaultRuntimeSettings(
  environments: EnvironmentDefinition[],
  overrides: Partial<Omit<RuntimeSettings, 'environments'>> & {
    timeoutMs?: number;
    /** The environments that roll back automatically when verification fails. */
    rollback?: string[];
  } = {},
): RuntimeSettings {
  const { timeoutMs, rollback, ...poll } = overrides;
  return {
    minPollMs: DEFAULT_MIN_POLL_MS,
    maxPollMs: DEFAULT_MAX_POLL_MS,
    ...poll,
    environments: Object.fromEntries(
      environments.map(e => [
        e.name,
        {
          verify: {
            timeoutMs: timeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS,
            rollback: rollback?.includes(e.name) ?? false,
          },
          ...(DEFAULT_RUNNING_REQUIREMENTS[e.name]
            ? { requireRunningIn: DEFAULT_RUNNING_REQUIREMENTS[e.name] }
            : {}),
        },
      ]),
    ),
  };
}
