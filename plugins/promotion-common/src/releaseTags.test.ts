import {
  checkRegistryTag,
  checkTagName,
  checkVersionTagIsNewer,
  matchesTagPattern,
  nextReleaseTag,
  parseReleaseTag,
} from './releaseTags';

describe('checkTagName', () => {
  it.each(['rc-1', 'v1.2.3', 'v2026.11.0', 'release/2026-11'])(
    'accepts %s',
    name => {
      expect(checkTagName(name)).toBeUndefined();
    },
  );

  it.each([
    ['', /required/],
    ['rc 1', /spaces/],
    ['v1..2', /\.\./],
    ['-v1', /start with "-"/],
    ['v1.lock', /\.lock/],
    ['v1/', /end with/],
    ['.hidden', /start with "\."/],
    ['v1@{u}', /@\{/],
    ['tag;rm -rf', /spaces/],
    ['rc-1\n', /control/],
    ['v1:2', /any of/],
    ['vé', /ASCII/],
    ['x'.repeat(129), /128/],
  ])('rejects %j', (name, message) => {
    expect(checkTagName(name)).toMatch(message);
  });

  it('accepts shell metacharacters git allows: tags never pass through a shell', () => {
    expect(checkTagName('tag$(id)')).toBeUndefined();
  });
});

describe('matchesTagPattern', () => {
  it('matches the workflow patterns', () => {
    expect(matchesTagPattern('rc-12', 'rc-*')).toBe(true);
    expect(matchesTagPattern('v1.0.0', 'v*')).toBe(true);
    expect(matchesTagPattern('rc-12', 'v*')).toBe(false);
    expect(matchesTagPattern('xrc-1', 'rc-*')).toBe(false);
    expect(matchesTagPattern('rc-', 'rc-*')).toBe(false);
    expect(matchesTagPattern('v', 'v*')).toBe(false);
    expect(matchesTagPattern('v1.0.0', 'v1.0.0')).toBe(true);
    expect(matchesTagPattern('v1x0x0', 'v1.0.0')).toBe(false);
  });
});

describe('release tag numbering', () => {
  const tags = [
    'rc-1',
    'rc-2',
    'rc-10',
    'v1.0.0',
    'v1.2.0',
    'v1.10.3',
    'v2.0',
    'other',
  ];

  it('parses rc and versions, ignores others', () => {
    expect(parseReleaseTag('rc-10')).toEqual({
      kind: 'rc',
      tag: 'rc-10',
      number: 10,
    });
    expect(parseReleaseTag('v1.10.3')).toMatchObject({
      kind: 'version',
      parts: [1, 10, 3],
    });
    expect(parseReleaseTag('v01.0.0')).toBeUndefined();
    expect(parseReleaseTag('v2026.13.0', 'calver')).toBeUndefined();
  });

  it('suggests the next tag numerically, not lexically', () => {
    expect(nextReleaseTag(tags, 'rc')).toBe('rc-11');
    expect(nextReleaseTag(tags, 'version')).toBe('v1.10.4');
    expect(nextReleaseTag([], 'rc')).toBe('rc-1');
    expect(nextReleaseTag([], 'version')).toBe('v1.0.0');
  });

  it('numbers calendar versions within the month', () => {
    const now = new Date('2026-11-23T12:00:00Z');
    expect(
      nextReleaseTag(['v2026.11.0', 'v2026.11.1'], 'version', 'calver', now),
    ).toBe('v2026.11.2');
    expect(nextReleaseTag(['v2026.10.4'], 'version', 'calver', now)).toBe(
      'v2026.11.0',
    );
  });

  it('requires a new version to be greater than the highest existing one', () => {
    expect(checkVersionTagIsNewer('v1.10.4', tags, 'semver')).toBeUndefined();
    expect(checkVersionTagIsNewer('v1.9.9', tags, 'semver')).toMatch(
      /highest existing version v1.10.3/,
    );
    expect(checkVersionTagIsNewer('v1.10.3', tags, 'semver')).toMatch(
      /not greater/,
    );
    expect(checkVersionTagIsNewer('1.11.0', tags, 'semver')).toMatch(
      /not a semantic version/,
    );
    expect(
      checkVersionTagIsNewer('v2026.11.0', ['v2026.10.2'], 'calver'),
    ).toBeUndefined();
  });
});

describe('checkRegistryTag', () => {
  it.each(['rc-1', 'v1.2.3', 'v2026.11.0', '0123abc', '_x', 'a'.repeat(128)])(
    'accepts %s',
    tag => {
      expect(checkRegistryTag(tag)).toBeUndefined();
    },
  );

  it.each([
    'rc-1;id',
    'rc-a+b',
    'rc-1@x',
    'rc-1/x',
    'rc-#1',
    'v1.2.3+build.7',
    '.rc-1',
    '-rc-1',
    '',
    'a'.repeat(129),
  ])('refuses %j, whatever git says of it', tag => {
    expect(checkRegistryTag(tag)).toMatch(/not a valid registry tag/);
  });

  it('refuses tags git accepts', () => {
    for (const tag of ['rc-1;id', 'rc-a+b', 'rc-1@x', 'rc-1/x', 'rc-#1']) {
      expect(checkTagName(tag)).toBeUndefined();
      expect(checkRegistryTag(tag)).toBeDefined();
    }
  });
});
