import crypto from 'node:crypto';
import { ForwardedError, InputError } from '@backstage/errors';
import type { Octokit } from '@octokit/rest';
import {
  ENVIRONMENT_NAME,
  PromotionTarget,
  deployRunTitle,
  parseDeployRunTitle,
} from '@mainline/plugin-promotion-common';
import {
  Deployment,
  DeploymentProgress,
  DeploymentRequest,
  DeploymentResult,
  DeploymentTarget,
} from '@mainline/plugin-promotion-node';
import { githubFailure } from './GitHubClients';

/**
 * Gives the Octokit that may act on a repository (credentials per host or installation).
 *
 * @public
 */
export type OctokitForRepo = (repo: string) => Promise<Octokit>;

/**
 * Options of the GitHub workflow deployment target.
 *
 * @public
 */
export interface GitHubWorkflowDeploymentsOptions {
  /** The deploy workflow's file name in `.github/workflows`. Default `mainline-deploy.yaml`. */
  workflow: string;
  /**
   * The branch a deploy without a release tag is dispatched on, unless `branches` names the
   * environment's own. A deploy of a release tag is dispatched on the tag (`refs/tags/<tag>`):
   * the environment's deployment branch policy judges the run's ref, and the scaffolded demo
   * and prod environments allow only their `rc-*` / `v*` tags.
   */
  ref: string;
  /** The branch each branch-deployed environment follows (`promotion.environments[].branch`). */
  branches: Record<string, string>;
  /** How long a dispatched run may take to appear before the deploy counts as failed. */
  startTimeoutMs: number;
  /** Runs read per request when looking for a run or for what each environment runs. */
  pageSize: number;
  /**
   * Pages read at most when the newest runs do not show every environment (a stage deployed
   * hundreds of times since prod last was). Default 20: 2,000 runs.
   */
  maxPages: number;
}

type WorkflowRunItem = Awaited<
  ReturnType<Octokit['rest']['actions']['listWorkflowRuns']>
>['data']['workflow_runs'][number];

const PENDING = /^run:([0-9a-f-]{1,64}):(\d+)$/;

/**
 * Lambda on GitHub: a deploy is a `workflow_dispatch` of the service's deploy workflow
 * (`sls deploy -s <stage> -p <sha>` in CI), followed until its run completes. Runs are found by
 * their title (see DEPLOY_WORKFLOW_RUN_NAME), so one list request answers both "where is my run"
 * and "what does each environment run"; conditional requests make repeated reads free.
 *
 * @public
 */
export class GitHubWorkflowDeployments implements DeploymentTarget {
  private readonly options: GitHubWorkflowDeploymentsOptions;

  constructor(
    private readonly octokitFor: OctokitForRepo,
    options: Partial<GitHubWorkflowDeploymentsOptions> = {},
  ) {
    this.options = {
      workflow: 'mainline-deploy.yaml',
      ref: 'main',
      branches: {},
      startTimeoutMs: 10 * 60 * 1000,
      pageSize: 100,
      maxPages: 20,
      ...options,
    };
  }

  /**
   * Runs newest first, a page at a time until `enough` says the runs read so far answer the
   * question (or the list ends, or after `maxPages`): usually one page, however many runs exist.
   */
  private async runs(
    repo: string,
    filters: { status?: 'success' } = {},
    enough: (runs: WorkflowRunItem[]) => boolean = () => true,
  ): Promise<WorkflowRunItem[]> {
    const [owner, name] = repo.split('/');
    const octokit = await this.octokitFor(repo);
    const runs: WorkflowRunItem[] = [];
    try {
      for (let page = 1; page <= this.options.maxPages; page++) {
        const { data } = await octokit.rest.actions.listWorkflowRuns({
          owner,
          repo: name,
          workflow_id: this.options.workflow,
          event: 'workflow_dispatch',
          per_page: this.options.pageSize,
          ...(page > 1 ? { page } : {}),
          ...filters,
        });
        runs.push(...data.workflow_runs);
        if (
          data.workflow_runs.length < this.options.pageSize ||
          runs.length >= data.total_count ||
          enough(runs)
        ) {
          break;
        }
      }
      return runs;
    } catch (error) {
      if ((error as { status?: number }).status === 404) {
        throw this.missingWorkflow(repo);
      }
      throw new ForwardedError(
        `Could not list the ${this.options.workflow} runs of ${repo}`,
        githubFailure(error),
      );
    }
  }

  private missingWorkflow(repo: string, ref = this.options.ref): InputError {
    return new InputError(
      `${repo} has no workflow ${this.options.workflow} on ${ref} to deploy with (see promotion.github.deployWorkflow)`,
    );
  }

  /**
   * The ref a deploy runs on: its release tag, else the environment's branch. The run deploys
   * the `sha` input's package either way; the ref is what the environment's policy allows and
   * where the workflow's definition is read from.
   */
  private refFor(request: DeploymentRequest): string {
    return request.tag
      ? `refs/tags/${request.tag}`
      : this.options.branches[request.environment] ?? this.options.ref;
  }

  async current(
    target: PromotionTarget,
    environments: string[],
  ): Promise<Record<string, Deployment | undefined>> {
    const runs = await this.runs(
      target.sourceRepo,
      { status: 'success' },
      read =>
        Object.values(this.latestSuccessful(read, environments)).every(Boolean),
    );
    return this.latestSuccessful(runs, environments);
  }

  private latestSuccessful(
    runs: WorkflowRunItem[],
    environments: string[],
  ): Record<string, Deployment | undefined> {
    const result: Record<string, Deployment | undefined> = Object.fromEntries(
      environments.map(e => [e, undefined]),
    );
    // Newest first: the first successful run per stage is what runs there.
    for (const run of runs) {
      if (run.status !== 'completed' || run.conclusion !== 'success') continue;
      const inputs = parseDeployRunTitle(run.display_title);
      if (!inputs || !environments.includes(inputs.stage)) continue;
      if (result[inputs.stage]) continue;
      result[inputs.stage] = {
        environment: inputs.stage,
        version: inputs.version,
        sha: inputs.sha,
        deployedAt: run.updated_at,
        deployedBy: inputs.actor,
      };
    }
    return result;
  }

  async deploy(
    target: PromotionTarget,
    request: DeploymentRequest,
  ): Promise<DeploymentResult> {
    if (!ENVIRONMENT_NAME.test(request.environment)) {
      throw new InputError(
        `"${request.environment}" is not an environment name a Serverless stage can have`,
      );
    }
    const requestId = request.requestId ?? crypto.randomUUID();
    const repo = target.sourceRepo;
    const mine = (run: WorkflowRunItem) =>
      parseDeployRunTitle(run.display_title)?.request === requestId;
    // Pages until this request's run or the environment's latest deploy shows up.
    const runs = await this.runs(
      repo,
      {},
      read =>
        read.some(mine) ||
        this.latestSuccessful(read, [request.environment])[
          request.environment
        ] !== undefined,
    );
    // A retried promotion finds the run it already started instead of deploying twice.
    const existing = runs.find(mine);
    if (!existing) {
      const running = this.latestSuccessful(runs, [request.environment])[
        request.environment
      ];
      if (running?.version === request.version && running.sha === request.sha) {
        return {
          changed: false,
          detail: `${request.environment} already runs ${request.version}`,
        };
      }
    }
    const dispatchedAt = existing
      ? Date.parse(existing.created_at)
      : Date.now();
    if (!existing) {
      const [owner, name] = repo.split('/');
      const octokit = await this.octokitFor(repo);
      const ref = this.refFor(request);
      try {
        await octokit.rest.actions.createWorkflowDispatch({
          owner,
          repo: name,
          workflow_id: this.options.workflow,
          ref,
          inputs: {
            stage: request.environment,
            sha: request.sha,
            version: request.version,
            request: requestId,
            actor: request.actor.entityRef,
          },
        });
      } catch (error) {
        const status = (error as { status?: number }).status;
        if (status === 404) {
          throw this.missingWorkflow(repo, ref);
        }
        throw new ForwardedError(
          `Could not start ${this.options.workflow} in ${repo} on ${ref} to deploy ${request.version} to ${request.environment}`,
          githubFailure(error),
        );
      }
    }
    return {
      changed: true,
      detail: existing
        ? `deploy run #${existing.run_number} (${existing.status})`
        : `dispatched ${this.options.workflow}: ${deployRunTitle({
            stage: request.environment,
            sha: request.sha,
            version: request.version,
            request: requestId,
            actor: request.actor.entityRef,
          })}`,
      url: existing?.html_url,
      pending: `run:${requestId}:${dispatchedAt}`,
    };
  }

  async followUp(
    target: PromotionTarget,
    pending: string,
  ): Promise<DeploymentProgress> {
    const match = PENDING.exec(pending);
    if (!match) {
      throw new InputError(`"${pending}" is not a workflow deploy reference`);
    }
    const [, requestId, dispatchedAt] = match;
    const run = (await this.runs(target.sourceRepo)).find(
      r => parseDeployRunTitle(r.display_title)?.request === requestId,
    );
    if (!run) {
      if (Date.now() - Number(dispatchedAt) > this.options.startTimeoutMs) {
        return {
          state: 'failed',
          detail: `${this.options.workflow} never started a run for this deploy; check that the workflow exists on the deployed ref (the release tag, or ${this.options.ref}) and has the stage, sha, version, request and actor inputs`,
        };
      }
      return {
        state: 'pending',
        detail: `waiting for ${this.options.workflow} to start`,
      };
    }
    if (run.status !== 'completed') {
      return {
        state: 'pending',
        detail: `deploy run #${run.run_number} is ${run.status}`,
        url: run.html_url,
      };
    }
    return run.conclusion === 'success'
      ? {
          state: 'succeeded',
          detail: `deploy run #${run.run_number} succeeded`,
          url: run.html_url,
        }
      : {
          state: 'failed',
          detail: `deploy run #${run.run_number} concluded ${
            run.conclusion ?? 'without a conclusion'
          }`,
          url: run.html_url,
        };
  }
}
