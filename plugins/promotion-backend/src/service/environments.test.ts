import { ConfigReader } from '@backstage/config';
import { JsonObject } from '@backstage/types';
import { readEnvironments } from './environments';

function read(environments: JsonObject[]) {
  return () =>
    readEnvironments(new ConfigReader({ promotion: { environments } }));
}

describe('readEnvironments', () => {
  it('reads the configured environments in order', () => {
    expect(
      read([
        { name: 'stage', branch: 'main' },
        { name: 'prod', tagPattern: 'v*', policy: { requireBeenIn: 'stage' } },
      ])().map(e => [e.name, e.trigger, e.policy]),
    ).toEqual([
      ['stage', { type: 'branch', branch: 'main' }, {}],
      ['prod', { type: 'tag', pattern: 'v*' }, { requireBeenIn: 'stage' }],
    ]);
  });

  // An administrator reads these at start-up: the environment they wrote must be named, by its
  // name, not by where it sits in the list.
  it.each([
    [
      [{ name: 'stage', branch: 'main', tagPattern: 'v*' }],
      'promotion.environments: environment "stage" must set exactly one of branch and tagPattern',
    ],
    [
      [
        { name: 'stage', branch: 'main' },
        { name: 'prod', tagPattern: 'v*', policy: { requireBeenIn: 'qa' } },
      ],
      'promotion.environments: environment "prod": policy.requireBeenIn "qa" must name an earlier environment (stage)',
    ],
    [
      [
        { name: 'stage', branch: 'main' },
        { name: 'demo', tagPattern: 'rc *' },
      ],
      'promotion.environments: environment "demo": tagPattern "rc *": a tag name cannot contain spaces or control characters',
    ],
    [
      [
        { name: 'stage', branch: 'main' },
        { name: 'stage', tagPattern: 'v*' },
      ],
      'promotion.environments: the environment "stage" is configured twice',
    ],
    [
      [
        { name: 'stage', branch: 'main' },
        { name: 'Prod', tagPattern: 'v*' },
      ],
      'promotion.environments: the environment named "Prod" (entry 2) must be named with lower-case letters, digits and dashes, starting with a letter',
    ],
    [
      [
        { name: 'stage', branch: 'main' },
        { name: 'prod', tagPattern: 5 },
      ],
      'promotion.environments: environment "prod": tagPattern must be a string, not a number',
    ],
    [
      [
        { name: 'stage', branch: ['main'] },
        { name: 'prod', tagPattern: 'v*' },
      ],
      'promotion.environments: environment "stage": branch must be a string, not an array',
    ],
    [
      [
        { name: 'stage', branch: 'main' },
        { name: 'prod', tagPattern: 'v*', production: 'always' },
      ],
      'promotion.environments: environment "prod": production must be a boolean, not a string',
    ],
    [
      [
        { name: 'stage', branch: 'main' },
        { name: 'prod', tagPattern: 'v*', policy: 'strict' },
      ],
      'promotion.environments: environment "prod": policy must be an object, not a string',
    ],
    [
      [
        { name: 'stage', branch: 'main' },
        { name: 'prod', tagPattern: 'v*', policy: { requireBeenIn: 3 } },
      ],
      'promotion.environments: environment "prod": policy.requireBeenIn must be a string, not a number',
    ],
  ])('names the environment in %j', (environments, message) => {
    expect(read(environments)).toThrow(message);
  });
});
