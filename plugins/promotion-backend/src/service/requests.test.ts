import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import {
  parseExport,
  parsePromote,
  parseRollback,
  parseYank,
} from './requests';

// The workflow's own environments: stage by merges to main, demo by rc-*, prod by v*.
const environments = [...DEFAULT_ENVIRONMENTS];

const sha = 'a'.repeat(40);
const req = (body: object, key?: string) => ({
  body: body as any,
  header: (name: string) =>
    name === 'idempotency-key' ? key : (undefined as any),
});

describe('request parsers', () => {
  it('parses a promotion with its Idempotency-Key', () => {
    expect(
      parsePromote(environments, req({ environment: 'demo', sha }, 'k-1')),
    ).toEqual({ environment: 'demo', sha, idempotencyKey: 'k-1' });
  });

  it.each([
    [
      { environment: 'qa', sha },
      'environment "qa" is not one of stage, demo, prod',
    ],
    [{ environment: 'stage', sha }, 'stage is deployed by every merge to main'],
    [{ environment: 'demo', sha, tag: 'rc-1..2' }, 'tag "rc-1..2"'],
    [
      { environment: 'prod', sha, tag: 'rc-3' },
      "does not match prod's pattern v*",
    ],
  ])('refuses the promotion %j, naming the field', (body, message) => {
    expect(() => parsePromote(environments, req(body))).toThrow(
      expect.objectContaining({
        name: 'InputError',
        message: expect.stringContaining(message),
      }),
    );
  });

  it.each([
    [{ environment: 'qa', sha }, 'environment "qa"'],
    [{ environment: 'prod' }, 'exactly one of sha and tag'],
    [{ environment: 'prod', sha, tag: 'v1.0.0' }, 'exactly one of sha and tag'],
    [{ environment: 'prod', tag: 'v1 0' }, 'tag "v1 0"'],
  ])('refuses the rollback %j, naming the field', (body, message) => {
    expect(() => parseRollback(environments, req(body))).toThrow(
      expect.objectContaining({
        name: 'InputError',
        message: expect.stringContaining(message),
      }),
    );
  });

  it('parses a rollback to a tag, and a yank with its reason trimmed', () => {
    expect(
      parseRollback(environments, req({ environment: 'stage', tag: 'v1.0.0' })),
    ).toEqual({
      environment: 'stage',
      tag: 'v1.0.0',
      idempotencyKey: undefined,
    });
    expect(parseYank(req({ sha, reason: '  broken build ' }))).toEqual({
      sha,
      reason: 'broken build',
    });
    expect(() => parseYank(req({ sha, reason: ' x ' }))).toThrow(
      /reason must say why/,
    );
  });

  it('parses an export, CSV unless JSON is asked for', () => {
    expect(
      parseExport({ query: { limit: 5, since: '2026-01-01T00:00:00Z' } }),
    ).toEqual({
      filter: { owner: undefined, system: undefined, tag: undefined },
      since: new Date('2026-01-01T00:00:00Z'),
      limit: 5,
      format: 'csv',
    });
    expect(parseExport({ query: { format: 'json' } }).format).toBe('json');
    expect(() => parseExport({ query: { tag: 'rc 1' } })).toThrow(/tag "rc 1"/);
  });
});
