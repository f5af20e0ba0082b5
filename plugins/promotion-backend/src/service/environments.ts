import { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';
import {
  DEFAULT_ENVIRONMENTS,
  ENVIRONMENT_NAME,
  EnvironmentDefinition,
  checkTagName,
} from '@mainline/plugin-promotion-common';
import { parseDuration } from '../promotion/policies';

/**
 * Reads `promotion.environments`, failing start-up with a message naming the bad environment
 * rather than letting a misconfigured environment surface later as a failed promotion. Messages
 * name the environment by its `name` (what the administrator wrote), not by its position in the
 * list; only an entry whose name itself is unusable is named by position as well.
 */
export function readEnvironments(config: Config): EnvironmentDefinition[] {
  const entries = config.getOptionalConfigArray('promotion.environments');
  if (!entries || entries.length === 0) {
    return DEFAULT_ENVIRONMENTS.map(e => ({ ...e }));
  }
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const name = entry.getString('name');
    if (!ENVIRONMENT_NAME.test(name)) {
      throw new InputError(
        `promotion.environments: the environment named "${name}" (entry ${
          index + 1
        }) must be named with lower-case letters, digits and dashes, starting with a letter`,
      );
    }
    if (seen.has(name)) {
      throw new InputError(
        `promotion.environments: the environment "${name}" is configured twice`,
      );
    }
    const where = `promotion.environments: environment "${name}"`;
    checkEntryTypes(entry, where);
    seen.add(name);
    const branch = entry.getOptionalString('branch');
    const tagPattern = entry.getOptionalString('tagPattern');
    if ((branch === undefined) === (tagPattern === undefined)) {
      throw new InputError(
        `${where} must set exactly one of branch and tagPattern`,
      );
    }
    const refProblem = checkTagName(
      (branch ?? tagPattern!).replace(/\*/g, 'x'),
    );
    if (refProblem) {
      throw new InputError(
        `${where}: ${branch !== undefined ? 'branch' : 'tagPattern'} "${
          branch ?? tagPattern
        }": ${refProblem}`,
      );
    }
    return {
      name,
      trigger:
        branch !== undefined
          ? { type: 'branch' as const, branch }
          : { type: 'tag' as const, pattern: tagPattern! },
      production: entry.getOptionalBoolean('production') ?? false,
      policy: readPolicy(entry, where, [...seen].slice(0, -1)),
    };
  });
}

function readPolicy(entry: Config, where: string, earlier: string[]) {
  const requireBeenIn = entry.getOptionalString('policy.requireBeenIn');
  if (requireBeenIn !== undefined && !earlier.includes(requireBeenIn)) {
    throw new InputError(
      `${where}: policy.requireBeenIn "${requireBeenIn}" must name an earlier environment (${
        earlier.join(', ') || 'none'
      })`,
    );
  }
  const count = entry.getOptionalNumber('policy.approvals.count');
  if (count !== undefined && !(Number.isInteger(count) && count >= 0)) {
    throw new InputError(
      `${where}: policy.approvals.count must be a whole number of at least 0, not ${count}`,
    );
  }
  const policy: EnvironmentDefinition['policy'] = requireBeenIn
    ? { requireBeenIn }
    : {};
  if (count) policy.approvals = { count };
  const soak = entry.getOptionalConfig('policy.soak');
  if (soak) {
    const after = soak.getString('after');
    const duration = soak.getString('for');
    if (!earlier.includes(after)) {
      throw new InputError(
        `${where}: policy.soak.after "${after}" must name an earlier environment (${
          earlier.join(', ') || 'none'
        })`,
      );
    }
    if (parseDuration(duration) === undefined) {
      throw new InputError(
        `${where}: policy.soak.for "${duration}" is not a duration such as 24h, 2d or PT36H`,
      );
    }
    policy.soak = { after, for: duration };
  }
  const requiredChecks = entry.getOptionalStringArray('policy.requiredChecks');
  if (requiredChecks) {
    const blank = requiredChecks.find(c => !c.trim());
    if (blank !== undefined) {
      throw new InputError(`${where}: policy.requiredChecks has a blank name`);
    }
    policy.requiredChecks = requiredChecks;
  }
  return policy;
}

const ENTRY_TYPES: Array<[string, 'string' | 'boolean' | 'object']> = [
  ['branch', 'string'],
  ['tagPattern', 'string'],
  ['production', 'boolean'],
  ['policy', 'object'],
  ['policy.requireBeenIn', 'string'],
];

/**
 * A value of the wrong type, named by the environment's name and the key, before the config
 * reader's own error (which names the entry by its index) can be thrown.
 */
function checkEntryTypes(entry: Config, where: string) {
  for (const [key, type] of ENTRY_TYPES) {
    const value = entry.getOptional(key);
    if (value === undefined) continue;
    let actual: string = typeof value;
    if (Array.isArray(value)) actual = 'array';
    else if (value === null) actual = 'null';
    // The config reader also takes numbers and strings such as "yes", "off" or "1" as booleans.
    const accepted =
      actual === type ||
      (type === 'boolean' &&
        /^(?:y|yes|true|1|on|n|no|false|0|off)$/i.test(String(value).trim()));
    if (!accepted) {
      throw new InputError(
        `${where}: ${key} must be ${
          type === 'object' ? 'an object' : `a ${type}`
        }, not ${
          actual === 'array' || actual === 'object' ? 'an' : 'a'
        } ${actual}`,
      );
    }
  }
}
