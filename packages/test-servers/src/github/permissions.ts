import { ApiError } from './http';
import { Identity } from './state';

const LEVEL = { none: 0, read: 1, write: 2, admin: 3 } as const;

/**
 * The repository permission a request needs, as GitHub's documentation lists it per endpoint for
 * fine-grained tokens and App installations: `contents` for git data, files and merges,
 * `pull_requests`, `checks`, `statuses`, `actions`, and `administration` for settings.
 */
export function requiredPermission(
  method: string,
  pathname: string,
): { name: string; level: 'read' | 'write' } | undefined {
  const match = /^\/repos\/[^/]+\/[^/]+(\/.*)?$/.exec(pathname);
  if (!match) return undefined;
  const rest = match[1] ?? '';
  const level = method === 'GET' || method === 'HEAD' ? 'read' : 'write';
  let name: string;
  if (/^\/pulls\/[^/]+\/merge$/.test(rest)) name = 'contents';
  else if (rest.startsWith('/pulls')) name = 'pull_requests';
  else if (rest.startsWith('/check-runs') || /\/check-runs$/.test(rest))
    name = 'checks';
  else if (rest.startsWith('/statuses') || /\/status(es)?$/.test(rest))
    name = 'statuses';
  else if (rest.startsWith('/actions')) name = 'actions';
  else if (rest.startsWith('/hooks')) name = 'repository_hooks';
  else if (
    rest.startsWith('/rulesets') ||
    rest.startsWith('/environments') ||
    rest.startsWith('/topics') ||
    /^\/branches\/.+\/protection/.test(rest) ||
    (rest === '' && level === 'write')
  )
    name = 'administration';
  else if (rest === '')
    return undefined; // metadata, which every installation has
  else name = 'contents';
  return { name, level };
}

/** 403 as GitHub answers a token whose installation (or fine-grained grant) lacks a permission. */
export function checkPermission(
  actor: Identity,
  method: string,
  pathname: string,
): void {
  if (!actor.permissions) return;
  const needed = requiredPermission(method, pathname);
  if (!needed) return;
  const granted = actor.permissions[needed.name] ?? 'none';
  if (LEVEL[granted] < LEVEL[needed.level]) throw notAccessible(actor, needed);
}

/**
 * GitHub's 403 for a fine-grained actor lacking a permission; with the permission known it names
 * it in `x-accepted-github-permissions` (`name=level`, sets of alternatives separated by `;`).
 */
export function notAccessible(
  actor: Identity,
  needed?: { name: string; level: string },
): ApiError {
  return new ApiError(
    403,
    actor.appId !== undefined
      ? 'Resource not accessible by integration'
      : 'Resource not accessible by personal access token',
    undefined,
    needed
      ? { 'x-accepted-github-permissions': `${needed.name}=${needed.level}` }
      : {},
  );
}

/** Whether an identity may push (git receive-pack needs `contents: write`). */
export function mayPush(actor: Identity): boolean {
  return !actor.permissions || LEVEL[actor.permissions.contents ?? 'none'] >= 2;
}
