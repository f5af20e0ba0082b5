import {
  ConflictError,
  ForwardedError,
  InputError,
  NotFoundError,
} from '@backstage/errors';
import {
  ENVIRONMENT_NAME,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';
import {
  SourceControl,
  SourceFile,
  ChangeRequests,
  DeployCheck,
  Deployment,
  DeploymentProgress,
  DeploymentRequest,
  DeploymentResult,
  DeploymentTarget,
} from '@mainline/plugin-promotion-node';
import { readImageTag, writeImageTag } from './manifestImage';

/**
 * Options of the GitOps deployment target.
 *
 * @public
 */
export interface GitOpsOptions {
  /** The branch Argo CD watches. */
  branch: string;
  /**
   * Environments whose manifest changes go through review: the change is proposed (a pull
   * request) and the deploy completes when it is merged.
   */
  reviewEnvironments?: string[];
  changeRequests?: ChangeRequests;
}

const PENDING_CHANGE = /^change:([^#\s]+)#(\w+)$/;
const RECENT_MS = 30_000;
const RECENT_ENTRIES = 1000;

/** The environment's file with its image tag set to `version`; undefined when it pins it already. */
function withVersion(
  content: string,
  target: PromotionTarget,
  version: string,
): string | undefined {
  if (
    readImageTag(content, target.artifactLocation, target.manifestImagePath) ===
    version
  ) {
    return undefined;
  }
  return writeImageTag(
    content,
    target.artifactLocation,
    version,
    target.manifestImagePath,
  );
}

const missingFile = (repo: string, file: string, branch: string, env: string) =>
  `${repo} has no ${file} on ${branch}: register ${env} in the manifest repository first`;

/**
 * Containers: what Argo CD deploys is what each environment's file in the manifest repository
 * pins. Works over any SourceControl (local git, GitHub).
 *
 * @public
 */
export class GitOpsDeploymentTarget implements DeploymentTarget {
  /**
   * Environment files `current` read in the last seconds: a promotion reads them in its checks,
   * and its deploy writes against that read instead of asking again (one round trip less). The
   * write is compare-and-swap on the blob, so a file changed meanwhile is a conflict, read afresh.
   */
  private readonly recent = new Map<string, { file: SourceFile; at: number }>();

  private remember(repo: string, path: string, file: SourceFile) {
    this.recent.delete(`${repo}:${path}`);
    this.recent.set(`${repo}:${path}`, { file, at: Date.now() });
    // A bounded memo: the oldest entries go first.
    while (this.recent.size > RECENT_ENTRIES) {
      this.recent.delete(this.recent.keys().next().value!);
    }
  }

  private recall(repo: string, path: string): SourceFile | undefined {
    const entry = this.peek(repo, path);
    this.recent.delete(`${repo}:${path}`);
    return entry;
  }

  /** The remembered file, left for the deploy to recall. */
  private peek(repo: string, path: string): SourceFile | undefined {
    const entry = this.recent.get(`${repo}:${path}`);
    return entry && Date.now() - entry.at < RECENT_MS ? entry.file : undefined;
  }

  constructor(
    private readonly manifests: SourceControl,
    private readonly options: GitOpsOptions = { branch: 'main' },
  ) {
    if (options.reviewEnvironments?.length && !options.changeRequests) {
      throw new Error(
        'Reviewed manifest changes need a change-request adapter (pull requests)',
      );
    }
  }

  async current(
    target: PromotionTarget,
    environments: string[],
  ): Promise<Record<string, Deployment | undefined>> {
    const { manifestRepo, manifestPath } = target;
    if (!manifestRepo || !manifestPath) {
      return Object.fromEntries(environments.map(e => [e, undefined]));
    }
    // Every environment's file and its last change in one read (one GraphQL request on GitHub).
    const files = environments.map(environment =>
      manifestPath.replace(/\{environment\}/g, environment),
    );
    const reads = await this.manifests.readFilesWithLastChange(
      manifestRepo,
      this.options.branch,
      files,
    );
    const entries = environments.map((environment, index) => {
      const file = files[index];
      const { file: content, lastChange } = reads[index];
      if (content) this.remember(manifestRepo, file, content);
      if (!content || !lastChange) {
        return [environment, undefined] as const;
      }
      let version: string | undefined;
      try {
        version = readImageTag(
          content.content,
          target.artifactLocation,
          target.manifestImagePath,
        );
      } catch (error) {
        throw new ForwardedError(
          `Cannot read the ${environment} image tag from ${manifestRepo}:${file}`,
          error,
        );
      }
      if (!version) {
        return [environment, undefined] as const;
      }
      const deployment: Deployment = {
        environment,
        version,
        deployedAt: lastChange.committedAt,
        deployedBy: lastChange.author.name,
        revision: lastChange.sha,
      };
      return [environment, deployment] as const;
    });
    return Object.fromEntries(entries);
  }

  /**
   * The deploy's own preconditions, from the file `current` just read (else one read): the
   * environment's file exists and has the entry (the `manifest-image-path`, kustomize
   * `images[].newTag` or Helm `image.tag`) that can be set to the version and nothing else.
   */
  async checkDeploy(
    target: PromotionTarget,
    request: { environment: string; version: string },
  ): Promise<DeployCheck> {
    const { manifestRepo, manifestPath } = target;
    if (!manifestRepo || !manifestPath) {
      return {
        passed: false,
        reason: 'this entity has no manifest repository to deploy through',
      };
    }
    if (!ENVIRONMENT_NAME.test(request.environment)) {
      return {
        passed: false,
        reason: `"${request.environment}" is not an environment name that can name a manifest file`,
      };
    }
    const file = manifestPath.replace(/\{environment\}/g, request.environment);
    const current =
      this.peek(manifestRepo, file) ??
      (await this.manifests.readFile(manifestRepo, this.options.branch, file));
    if (!current) {
      return {
        passed: false,
        reason: missingFile(
          manifestRepo,
          file,
          this.options.branch,
          request.environment,
        ),
      };
    }
    const where = target.manifestImagePath ?? 'the image entry';
    try {
      withVersion(current.content, target, request.version);
    } catch (error) {
      return {
        passed: false,
        reason: `cannot set ${where} in ${manifestRepo}:${file} to ${
          request.version
        }: ${(error as Error).message}`,
      };
    }
    return {
      passed: true,
      reason: `${manifestRepo}:${file} has ${where} to set to ${request.version}`,
    };
  }

  async deploy(
    target: PromotionTarget,
    request: DeploymentRequest,
  ): Promise<DeploymentResult> {
    const { manifestRepo, manifestPath } = target;
    if (!manifestRepo || !manifestPath) {
      throw new NotFoundError(
        'This entity has no manifest repository to deploy through',
      );
    }
    if (!ENVIRONMENT_NAME.test(request.environment)) {
      throw new InputError(
        `"${request.environment}" is not an environment name that can name a manifest file`,
      );
    }
    const file = manifestPath.replace(/\{environment\}/g, request.environment);
    // The reason is one line of the message: a line break in it cannot forge a trailer.
    const reason = request.reason.replace(/\s+/g, ' ').trim();
    // Optimistic concurrency: compute the change from what was read, write only if that is still
    // the file; when someone changed it meanwhile, read again once, then give up with a 409.
    // The file the checks just read (remembered) is tried first; that it went stale meanwhile
    // does not use up the one read again: only a conflict after a fresh read does.
    const reviewed =
      !!this.options.changeRequests &&
      !!this.options.reviewEnvironments?.includes(request.environment);
    let mayRecall = !reviewed;
    let freshConflicts = 0;
    for (;;) {
      // A proposed change is not compare-and-swap: it is always computed from a fresh read.
      const remembered = mayRecall
        ? this.recall(manifestRepo, file)
        : undefined;
      mayRecall = false;
      const current =
        remembered ??
        (await this.manifests.readFile(
          manifestRepo,
          this.options.branch,
          file,
        ));
      if (!current) {
        throw new NotFoundError(
          missingFile(
            manifestRepo,
            file,
            this.options.branch,
            request.environment,
          ),
        );
      }
      let updated: string | undefined;
      try {
        updated = withVersion(current.content, target, request.version);
      } catch (error) {
        throw new ForwardedError(
          `Cannot set the image tag in ${manifestRepo}:${file}`,
          error,
        );
      }
      if (updated === undefined) {
        // "Nothing to do" is said from a fresh read only.
        if (remembered) continue;
        return {
          changed: false,
          detail: `${file} already pins ${request.version}`,
        };
      }
      const message = `${request.environment}: ${target.artifactLocation} ${request.version}\n\n${reason}\nRequested-by: ${request.actor.entityRef}\n`;
      const author = { name: request.actor.name, email: request.actor.email };
      if (reviewed) {
        const proposed = await this.options.changeRequests!.propose(
          manifestRepo,
          {
            base: this.options.branch,
            branch: `mainline/${request.environment}/${request.version}`,
            title: `${request.environment}: ${target.artifactLocation} ${request.version}`,
            body: `${reason}\n\nRequested by ${request.actor.entityRef} through Mainline. The promotion completes when this is merged.`,
            change: { path: file, content: updated, message, author },
          },
        );
        return {
          changed: true,
          detail: `pull request #${proposed.id} sets ${file} to ${request.version}; waiting for review`,
          url: proposed.url,
          pending: `change:${manifestRepo}#${proposed.id}`,
        };
      }
      try {
        const { commitSha } = await this.manifests.commitFile(manifestRepo, {
          branch: this.options.branch,
          path: file,
          content: updated,
          expectedBlobSha: current.blobSha,
          message,
          author,
        });
        return {
          changed: true,
          revision: commitSha,
          url: this.manifests.webUrl(manifestRepo, `commit/${commitSha}`),
          detail: `manifest commit ${commitSha.slice(0, 7)} sets ${file} to ${
            request.version
          }`,
        };
      } catch (error) {
        if (error instanceof Error && error.name === 'ConflictError') {
          if (remembered) continue;
          if (++freshConflicts < 2) continue;
          throw new ConflictError(
            `${manifestRepo}:${file} kept changing while ${request.environment} was being deployed; try again`,
          );
        }
        throw error;
      }
    }
  }

  async followUp(
    _target: PromotionTarget,
    pending: string,
  ): Promise<DeploymentProgress> {
    const match = PENDING_CHANGE.exec(pending);
    if (!match || !this.options.changeRequests) {
      throw new InputError(`"${pending}" is not a manifest change reference`);
    }
    const [, repo, id] = match;
    const change = await this.options.changeRequests.get(repo, id);
    if (change.state === 'merged') {
      return {
        state: 'succeeded',
        detail: `pull request #${id} was merged`,
        url: change.url,
        revision: change.mergeCommitSha,
      };
    }
    if (change.state === 'closed') {
      return {
        state: 'failed',
        detail: `pull request #${id} was closed without merging; nothing was deployed`,
        url: change.url,
      };
    }
    return {
      state: 'pending',
      detail: `pull request #${id} is waiting for review`,
      url: change.url,
    };
  }
}
