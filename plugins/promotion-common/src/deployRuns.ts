/*
 * Lambda deploys run as GitHub Actions workflow runs started by `workflow_dispatch`. The run's
 * title (the workflow's `run-name`) carries what was deployed, so the backend can find a run it
 * dispatched and tell what each environment runs from one list of runs, without reading logs.
 * The scaffolder renders the workflow with DEPLOY_WORKFLOW_RUN_NAME; the backend parses titles.
 */

/**
 * The `workflow_dispatch` inputs of a deploy workflow.
 *
 * @public
 */
export interface DeployRunInputs {
  /** The Serverless stage, i.e. the environment name. */
  stage: string;
  /** Full sha of the commit whose package is deployed. */
  sha: string;
  /** What the environment runs afterwards: the release tag, or the short sha. */
  version: string;
  /** The promotion id that dispatched the run, or e.g. `push-<run id>` for CI's own deploys. */
  request: string;
  /** Who asked: the user entity ref for Mainline's deploys, the GitHub login for CI's own. */
  actor: string;
}

/**
 * The deploy workflow's `run-name`, as a GitHub Actions expression over its inputs.
 *
 * @public
 */
export const DEPLOY_WORKFLOW_RUN_NAME =
  'mainline deploy ${{ inputs.stage }} ${{ inputs.sha }} ${{ inputs.version }} [${{ inputs.request }}] by ${{ inputs.actor }}';

/**
 * The title GitHub gives a run of the deploy workflow dispatched with these inputs.
 *
 * @public
 */
export function deployRunTitle(inputs: DeployRunInputs): string {
  return `mainline deploy ${inputs.stage} ${inputs.sha} ${inputs.version} [${inputs.request}] by ${inputs.actor}`;
}

const TITLE =
  /^mainline deploy ([a-z][a-z0-9-]*) ([0-9a-f]{40}) (\S+) \[([^\]\s]+)\] by (.+)$/;

/**
 * The inputs a deploy run was dispatched with, read back from its title; undefined for other runs.
 *
 * @public
 */
export function parseDeployRunTitle(
  title: string | null | undefined,
): DeployRunInputs | undefined {
  const match = title ? TITLE.exec(title.trim()) : null;
  if (!match) return undefined;
  const [, stage, sha, version, request, actor] = match;
  return { stage, sha, version, request, actor };
}
