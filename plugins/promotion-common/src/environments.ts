/**
 * What moves an artifact into an environment: a merge to a branch (stage ← main) or a tag matching
 * a pattern (demo ← `rc-*`, prod ← `v*`).
 *
 * @public
 */
export type EnvironmentTrigger =
  | { type: 'branch'; branch: string }
  | { type: 'tag'; pattern: string };

/**
 * One deployment environment, in promotion order.
 *
 * @public
 */
export interface EnvironmentDefinition {
  name: string;
  trigger: EnvironmentTrigger;
  /** Production environments need the separate production permission. */
  production: boolean;
  /** Checks a promotion to this environment must pass before anything is changed. */
  policy: EnvironmentPolicy;
}

/**
 * Promotion checks of one environment.
 *
 * @public
 */
export interface EnvironmentPolicy {
  /** The commit must have been deployed to this earlier environment (prod: `demo`). */
  requireBeenIn?: string;
  /**
   * Approvals from members of the entity's owner group (nested groups count) before the
   * promotion proceeds; never from the requester or the commit's or pull request's author.
   */
  approvals?: { count: number };
}

/**
 * The workflow's environments when configuration names none.
 *
 * @public
 */
export const DEFAULT_ENVIRONMENTS: readonly EnvironmentDefinition[] = [
  {
    name: 'stage',
    trigger: { type: 'branch', branch: 'main' },
    production: false,
    policy: {},
  },
  {
    name: 'demo',
    trigger: { type: 'tag', pattern: 'rc-*' },
    production: false,
    policy: {},
  },
  {
    name: 'prod',
    trigger: { type: 'tag', pattern: 'v*' },
    production: true,
    policy: { requireBeenIn: 'demo' },
  },
];

/**
 * Environment names are used in paths and manifest file names: keep them simple.
 *
 * @public
 */
export const ENVIRONMENT_NAME = /^[a-z][a-z0-9-]{0,31}$/;
