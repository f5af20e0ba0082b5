import { VersioningScheme } from './annotations';

/**
 * Whether `name` is acceptable to git as a tag name (the rules of `git check-ref-format` for the
 * part after `refs/tags/`), and short enough to be shown and typed. Used before any tag is sent
 * anywhere, so a bad name is answered with a 400 and never reaches a git server.
 *
 * @public
 */
export function checkTagName(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) {
    return 'a tag name is required';
  }
  if (name.length > 128) {
    return 'a tag name is at most 128 characters';
  }
  // Git forbids control characters, space and ~ ^ : ? * [ \ anywhere in a ref; non-ASCII is
  // legal for git but invisible look-alikes make it a poor release tag.
  for (const char of name) {
    const code = char.codePointAt(0)!;
    if (code <= 0x20 || code === 0x7f) {
      return 'a tag name cannot contain spaces or control characters';
    }
    if (code > 0x7e) {
      return 'a tag name must be plain ASCII';
    }
  }
  if (/[~^:?*[\\]/.test(name)) {
    return 'a tag name cannot contain any of ~ ^ : ? * [ \\';
  }
  if (name.startsWith('-')) {
    return 'a tag name cannot start with "-"';
  }
  if (name.includes('..') || name.includes('@{') || name.includes('//')) {
    return 'a tag name cannot contain "..", "@{" or "//"';
  }
  if (
    name === '@' ||
    name.endsWith('.') ||
    name.endsWith('/') ||
    name.startsWith('/')
  ) {
    return 'a tag name cannot be "@", or start or end with "/", or end with "."';
  }
  if (
    name.split('/').some(part => part.startsWith('.') || part.endsWith('.lock'))
  ) {
    return 'no part of a tag name may start with "." or end with ".lock"';
  }
  return undefined;
}

/**
 * What container registries accept as a tag (the OCI distribution spec's rule, which ECR applies
 * too): a release tag also becomes the artifact's tag, so it must satisfy this besides git's rules.
 *
 * @public
 */
export const REGISTRY_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Why a registry following the distribution spec would refuse `tag`, or undefined. Git accepts
 * many tags this refuses (`rc-1;id`, `rc-a+b`, `rc-1/x`, `v1.2.3+build`).
 *
 * @public
 */
export function checkRegistryTag(tag: string): string | undefined {
  return REGISTRY_TAG.test(tag)
    ? undefined
    : 'not a valid registry tag (1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -)';
}

/**
 * Whether a tag matches an environment's trigger pattern, where `*` stands for a non-empty run
 * of characters (`rc-*`, `v*`).
 *
 * @public
 */
export function matchesTagPattern(tag: string, pattern: string): boolean {
  const source = pattern
    .split('*')
    .map(part => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.+');
  // `*` stands for something: `rc-` alone is not a release candidate, nor `v` a version.
  return new RegExp(`^${source}$`).test(tag);
}

/**
 * A release tag understood by Mainline: a release candidate (`rc-<n>`) or a version (`v…`) under
 * semantic (`v1.4.2`) or calendar (`v2026.11.0`: year, month, release in that month) versioning.
 *
 * @public
 */
export type ReleaseTag =
  | { kind: 'rc'; tag: string; number: number }
  | {
      kind: 'version';
      tag: string;
      scheme: VersioningScheme;
      parts: [number, number, number];
    };

const RC = /^rc-(0|[1-9]\d{0,8})$/;
const VERSION = /^v(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$/;

/**
 * Parses a release tag; undefined when the tag is not one Mainline numbers itself.
 *
 * @public
 */
export function parseReleaseTag(
  tag: string,
  scheme: VersioningScheme = 'semver',
): ReleaseTag | undefined {
  const rc = RC.exec(tag);
  if (rc) {
    return { kind: 'rc', tag, number: Number(rc[1]) };
  }
  const version = VERSION.exec(tag);
  if (!version) {
    return undefined;
  }
  const parts = [
    Number(version[1]),
    Number(version[2]),
    Number(version[3]),
  ] as [number, number, number];
  if (
    scheme === 'calver' &&
    (parts[0] < 1970 || parts[1] < 1 || parts[1] > 12)
  ) {
    return undefined;
  }
  return { kind: 'version', tag, scheme, parts };
}

/**
 * Orders two version tags of one scheme; negative when `a` is older.
 *
 * @public
 */
export function compareVersionParts(
  a: [number, number, number],
  b: [number, number, number],
): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/**
 * The highest release tag of a kind among existing tags, or undefined.
 *
 * @public
 */
export function highestReleaseTag(
  tags: Iterable<string>,
  kind: 'rc' | 'version',
  scheme: VersioningScheme = 'semver',
): ReleaseTag | undefined {
  let best: ReleaseTag | undefined;
  for (const tag of tags) {
    const parsed = parseReleaseTag(tag, scheme);
    if (!parsed || parsed.kind !== kind) {
      continue;
    }
    if (
      !best ||
      (parsed.kind === 'rc' &&
        best.kind === 'rc' &&
        parsed.number > best.number) ||
      (parsed.kind === 'version' &&
        best.kind === 'version' &&
        compareVersionParts(parsed.parts, best.parts) > 0)
    ) {
      best = parsed;
    }
  }
  return best;
}

/**
 * The tag a promotion uses when none is given: `rc-<n+1>` for release candidates; for versions the
 * next semver patch, or under calendar versioning the next release of the current month.
 *
 * @public
 */
export function nextReleaseTag(
  tags: Iterable<string>,
  kind: 'rc' | 'version',
  scheme: VersioningScheme = 'semver',
  now: Date = new Date(),
): string {
  const highest = highestReleaseTag(tags, kind, scheme);
  if (kind === 'rc') {
    return `rc-${highest && highest.kind === 'rc' ? highest.number + 1 : 1}`;
  }
  const parts =
    highest && highest.kind === 'version' ? highest.parts : undefined;
  if (scheme === 'calver') {
    const year = now.getUTCFullYear();
    const month = now.getUTCMonth() + 1;
    if (parts && parts[0] === year && parts[1] === month) {
      return `v${year}.${month}.${parts[2] + 1}`;
    }
    return `v${year}.${month}.0`;
  }
  return parts ? `v${parts[0]}.${parts[1]}.${parts[2] + 1}` : 'v1.0.0';
}

/**
 * Checks a proposed `v*` tag against the existing ones: it must parse under the scheme and be
 * greater than the highest existing version. Returns the problem, or undefined when acceptable.
 *
 * @public
 */
export function checkVersionTagIsNewer(
  tag: string,
  tags: Iterable<string>,
  scheme: VersioningScheme,
): string | undefined {
  const parsed = parseReleaseTag(tag, scheme);
  if (!parsed || parsed.kind !== 'version') {
    return scheme === 'calver'
      ? `"${tag}" is not a calendar version like v2026.11.0`
      : `"${tag}" is not a semantic version like v1.4.2`;
  }
  const highest = highestReleaseTag(tags, 'version', scheme);
  if (
    highest &&
    highest.kind === 'version' &&
    compareVersionParts(parsed.parts, highest.parts) <= 0
  ) {
    return `"${tag}" is not greater than the highest existing version ${highest.tag}`;
  }
  return undefined;
}
