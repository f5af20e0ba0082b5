import path from 'node:path';

/**
 * Where the embedded default keeps each kind of state under `promotion.local.dataDir`.
 *
 * @public
 */
export function localLayout(dataDir: string) {
  return {
    /** Bare git repositories, `<owner>/<name>.git` (service repos and the manifest repo). */
    git: path.join(dataDir, 'git'),
    /** The filesystem artifact registry. */
    artifacts: path.join(dataDir, 'artifacts'),
    /** Recorded Serverless deploys, one `<service>.jsonl` each. */
    deployments: path.join(dataDir, 'deployments'),
    /** The local runtime's seeded states, `<entity name>.json`. */
    runtime: path.join(dataDir, 'runtime'),
  };
}
