import { Config } from '@backstage/config';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import { CronExpressionParser } from 'cron-parser';
import { IANAZone } from 'luxon';
import { FreezeWindow, parseDurationParts } from './policies';

const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
const OFFSET_TIME =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function refs(
  entry: Config,
  key: 'systems' | 'domains',
  where: string,
): string[] | undefined {
  const values = entry.getOptionalStringArray(key);
  if (!values) return undefined;
  const kind = key === 'systems' ? 'system' : 'domain';
  return values.map(value => {
    try {
      const ref = parseEntityRef(value, {
        defaultKind: kind,
        defaultNamespace: 'default',
      });
      if (ref.kind.toLocaleLowerCase('en-US') !== kind) throw new Error(kind);
      return stringifyEntityRef(ref);
    } catch {
      throw new InputError(
        `${where}: ${key} "${value}" is not a ${kind} reference (e.g. ${kind}:default/storefront)`,
      );
    }
  });
}

/**
 * Reads `promotion.freezes`, failing the start with a message naming the bad window: each is
 * either one-off (`start` and `end`, ISO 8601 with an offset) or recurring (`cron`, `duration`
 * and an IANA `timeZone`), for `environments` (all when absent) of the `systems` and `domains` it
 * names (everything when it names none).
 */
export function readFreezes(
  config: Config,
  environments: string[],
): FreezeWindow[] {
  const entries = config.getOptionalConfigArray('promotion.freezes') ?? [];
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const name = entry.getString('name');
    if (!NAME.test(name)) {
      throw new InputError(
        `promotion.freezes: entry ${
          index + 1
        } is named "${name}": use letters, digits, spaces, dots, dashes and underscores`,
      );
    }
    if (seen.has(name)) {
      throw new InputError(
        `promotion.freezes: the window "${name}" is configured twice`,
      );
    }
    seen.add(name);
    const where = `promotion.freezes: window "${name}"`;
    const start = entry.getOptionalString('start');
    const end = entry.getOptionalString('end');
    const cron = entry.getOptionalString('cron');
    const duration = entry.getOptionalString('duration');
    const timeZone = entry.getOptionalString('timeZone');
    const window: FreezeWindow = {
      name,
      description: entry.getOptionalString('description'),
      environments: entry.getOptionalStringArray('environments'),
      systems: refs(entry, 'systems', where),
      domains: refs(entry, 'domains', where),
    };
    const unknown = (window.environments ?? []).filter(
      e => !environments.includes(e),
    );
    if (unknown.length) {
      throw new InputError(
        `${where}: environments ${unknown.join(
          ', ',
        )} are not among ${environments.join(', ')}`,
      );
    }
    if (timeZone !== undefined && !IANAZone.isValidZone(timeZone)) {
      throw new InputError(
        `${where}: timeZone "${timeZone}" is not an IANA time zone (e.g. Europe/Berlin)`,
      );
    }
    if (cron !== undefined) {
      if (start !== undefined || end !== undefined) {
        throw new InputError(
          `${where}: set either start and end (one-off) or cron and duration (recurring)`,
        );
      }
      try {
        CronExpressionParser.parse(cron, { tz: timeZone ?? 'UTC' });
      } catch (error) {
        throw new InputError(
          `${where}: cron "${cron}" does not read: ${(error as Error).message}`,
        );
      }
      const parts =
        duration === undefined ? undefined : parseDurationParts(duration);
      if (!parts) {
        throw new InputError(
          `${where}: a recurring window needs a duration such as 9h, 2d or PT9H`,
        );
      }
      return {
        ...window,
        cron,
        duration: parts,
        timeZone: timeZone ?? 'UTC',
      };
    }
    if (start === undefined || end === undefined) {
      throw new InputError(
        `${where}: set start and end (one-off) or cron and duration (recurring)`,
      );
    }
    for (const [key, value] of [
      ['start', start],
      ['end', end],
    ]) {
      if (!OFFSET_TIME.test(value) || Number.isNaN(Date.parse(value))) {
        throw new InputError(
          `${where}: ${key} "${value}" is not an ISO 8601 time with an offset (e.g. 2026-12-20T00:00:00+01:00)`,
        );
      }
    }
    if (Date.parse(end) <= Date.parse(start)) {
      throw new InputError(`${where}: end ${end} is not after start ${start}`);
    }
    return { ...window, start, end };
  });
}
