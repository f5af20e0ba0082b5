import { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';
import {
  DEFAULT_ENVIRONMENTS,
  ENVIRONMENT_NAME,
} from '@mainline/plugin-promotion-common';

/**
 * What the scaffolded pipeline is rendered for: the environment each merge deploys to and its
 * branch, then the environments release tags promote to, in promotion order.
 */
export interface PipelineEnvironments {
  /** The environment every merge to `branch` deploys to (default `stage`). */
  first: string;
  /** The branch that is the source of truth (default `main`). */
  branch: string;
  /** The environments reached by tags, with their patterns (default demo `rc-*`, prod `v*`). */
  tagged: Array<{ name: string; pattern: string }>;
}

/** A branch name or tag pattern that is safe in a workflow expression, a ref and a shell word. */
const REF = /^[A-Za-z0-9][A-Za-z0-9._/*-]{0,99}$/;

/** Every environment's name, in promotion order. */
export function environmentNames(environments: PipelineEnvironments) {
  return [environments.first, ...environments.tagged.map(e => e.name)];
}

/**
 * The pipeline of `promotion.environments` as the promotion backend reads it (the same keys;
 * the defaults when absent): exactly one environment follows a branch, and it comes first,
 * since that is the environment the build deploys to.
 */
export function pipelineEnvironments(
  entries: Array<{ name: string; branch?: string; tagPattern?: string }>,
): PipelineEnvironments {
  const where = (i: number) => `promotion.environments[${i}]`;
  entries.forEach((entry, i) => {
    if (!ENVIRONMENT_NAME.test(entry.name)) {
      throw new InputError(
        `${where(i)}.name "${
          entry.name
        }" must be lower-case letters, digits and dashes, starting with a letter`,
      );
    }
    if ((entry.branch === undefined) === (entry.tagPattern === undefined)) {
      throw new InputError(
        `${where(i)} must set exactly one of branch and tagPattern`,
      );
    }
    const ref = (entry.branch ?? entry.tagPattern)!;
    if (!REF.test(ref) || ref.includes('..')) {
      throw new InputError(
        `${where(i)}: "${ref}" must be letters, digits and . _ / * - only`,
      );
    }
    if (entry.branch !== undefined && (i !== 0 || entry.branch.includes('*'))) {
      throw new InputError(
        `${where(
          i,
        )}: only the first environment may follow a branch (the scaffolded build deploys there), and it names one branch`,
      );
    }
  });
  const [first, ...rest] = entries;
  if (!first || first.branch === undefined) {
    throw new InputError(
      `${where(0)} must follow a branch: the scaffolded build deploys there`,
    );
  }
  return {
    first: first.name,
    branch: first.branch,
    tagged: rest.map(e => ({ name: e.name, pattern: e.tagPattern! })),
  };
}

/** The defaults: stage from main, demo from `rc-*`, prod from `v*`. */
export const DEFAULT_PIPELINE: PipelineEnvironments = pipelineEnvironments(
  DEFAULT_ENVIRONMENTS.map(e =>
    e.trigger.type === 'branch'
      ? { name: e.name, branch: e.trigger.branch }
      : { name: e.name, tagPattern: e.trigger.pattern },
  ),
);

/**
 * The pipeline the configured `promotion.environments` describe (the defaults without any), on
 * the configured `promotion.mainBranch` (default `main`): the branch the first environment
 * follows must be that branch, since the scaffolded build deploys every merge to it there.
 */
export function readPipelineEnvironments(
  config?: Config,
): PipelineEnvironments {
  const entries = config?.getOptionalConfigArray('promotion.environments');
  const pipeline =
    !entries || entries.length === 0
      ? DEFAULT_PIPELINE
      : pipelineEnvironments(
          entries.map(entry => ({
            name: entry.getString('name'),
            branch: entry.getOptionalString('branch'),
            tagPattern: entry.getOptionalString('tagPattern'),
          })),
        );
  const mainBranch = config?.getOptionalString('promotion.mainBranch');
  if (mainBranch !== undefined && mainBranch !== pipeline.branch) {
    throw new InputError(
      `promotion.mainBranch is "${mainBranch}" but the first environment, ${
        pipeline.first
      }, follows branch "${pipeline.branch}"${
        entries?.length ? '' : ' (the default)'
      }: set promotion.environments[0].branch to "${mainBranch}"`,
    );
  }
  return pipeline;
}
