import {
  ConflictError,
  ForwardedError,
  NotFoundError,
} from '@backstage/errors';
import {
  SourceControl,
  ChangeRequest,
  ChangeRequests,
} from '@mainline/plugin-promotion-node';
import { githubFailure } from './GitHubClients';
import { OctokitForRepo } from './GitHubWorkflowDeployments';

type PullLike = {
  number: number;
  html_url: string;
  state: string;
  merged?: boolean;
  merged_at?: string | null;
  merge_commit_sha?: string | null;
};

function toChangeRequest(pull: PullLike): ChangeRequest {
  const merged = pull.merged ?? Boolean(pull.merged_at);
  let state: ChangeRequest['state'] = pull.state === 'open' ? 'open' : 'closed';
  if (merged) state = 'merged';
  return {
    id: String(pull.number),
    url: pull.html_url,
    state,
    mergeCommitSha: merged ? pull.merge_commit_sha ?? undefined : undefined,
  };
}

/**
 * Manifest changes as GitHub pull requests: a branch from the base, one commit on it (through the
 * source adapter, with the same optimistic concurrency as a direct write), and a pull request.
 *
 * @public
 */
export class GitHubPullRequests implements ChangeRequests {
  constructor(
    private readonly octokitFor: OctokitForRepo,
    private readonly source: SourceControl,
  ) {}

  async propose(
    repo: string,
    request: Parameters<ChangeRequests['propose']>[1],
  ): Promise<ChangeRequest> {
    const [owner, name] = repo.split('/');
    const octokit = await this.octokitFor(repo);
    const attempt = async <T>(what: string, fn: () => Promise<T>) => {
      try {
        return await fn();
      } catch (error) {
        if (error instanceof Error && error.name === 'ConflictError')
          throw error;
        throw new ForwardedError(
          `Could not ${what} in ${repo}`,
          githubFailure(error),
        );
      }
    };

    const open = await attempt('list open pull requests', () =>
      octokit.rest.pulls.list({
        owner,
        repo: name,
        state: 'open',
        head: `${owner}:${request.branch}`,
        base: request.base,
        per_page: 1,
      }),
    );
    if (open.data.length > 0) return toChangeRequest(open.data[0]);

    const baseSha = await this.source.resolveCommit(repo, request.base);
    if (!baseSha) {
      throw new NotFoundError(`${repo} has no branch ${request.base}`);
    }
    await attempt(`create branch ${request.branch}`, async () => {
      try {
        await octokit.rest.git.createRef({
          owner,
          repo: name,
          ref: `refs/heads/${request.branch}`,
          sha: baseSha,
        });
      } catch (error) {
        // Left by an earlier attempt that failed before opening the pull request: reuse it.
        if ((error as { status?: number }).status !== 422) throw error;
      }
    });

    const current = await this.source.readFile(
      repo,
      request.branch,
      request.change.path,
    );
    if (current?.content !== request.change.content) {
      await this.source.commitFile(repo, {
        ...request.change,
        branch: request.branch,
        expectedBlobSha: current?.blobSha,
      });
    }
    const created = await attempt('open a pull request', async () => {
      try {
        return await octokit.rest.pulls.create({
          owner,
          repo: name,
          base: request.base,
          head: request.branch,
          title: request.title,
          body: request.body,
        });
      } catch (error) {
        if ((error as { status?: number }).status === 422) {
          throw new ConflictError(
            `GitHub refused a pull request from ${request.branch} to ${
              request.base
            }: ${githubFailure(error).message}`,
          );
        }
        throw error;
      }
    });
    return toChangeRequest(created.data);
  }

  async get(repo: string, id: string): Promise<ChangeRequest> {
    const [owner, name] = repo.split('/');
    const octokit = await this.octokitFor(repo);
    try {
      const { data } = await octokit.rest.pulls.get({
        owner,
        repo: name,
        pull_number: Number(id),
      });
      return toChangeRequest(data);
    } catch (error) {
      if ((error as { status?: number }).status === 404) {
        throw new NotFoundError(`${repo} has no pull request #${id}`);
      }
      throw new ForwardedError(
        `Could not read pull request #${id} of ${repo}`,
        githubFailure(error),
      );
    }
  }
}
