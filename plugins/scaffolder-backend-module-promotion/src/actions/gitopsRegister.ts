import {
  DefaultGithubCredentialsProvider,
  ScmIntegrations,
} from '@backstage/integration';
import { Config } from '@backstage/config';
import { TemplateAction } from '@backstage/plugin-scaffolder-node';
import { getOctokitOptions } from '@backstage/plugin-scaffolder-backend-module-github';
import {
  DEFAULT_PIPELINE,
  environmentNames,
  readPipelineEnvironments,
} from './environments';
import { Octokit } from '@octokit/rest';
import yaml from 'yaml';
import { createMainlineAction } from './defaults';
import { examples } from './gitopsRegister.examples';

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SLUG = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const BRANCH = /^(?!.*\.\.)(?!\/)(?!.*\/$)[A-Za-z0-9._/-]{1,200}$/;

/** YAML without anchors or aliases: not every tool (or GitHub Enterprise version) reads them. */
const toYaml = (doc: object) =>
  yaml.stringify(doc, { aliasDuplicateObjects: false });

/**
 * The files a service needs in the GitOps manifest repository: a base, one kustomize overlay per
 * environment pinning the image tag (what Mainline's promotions rewrite), and an Argo CD
 * Application per environment watching that overlay.
 */
export function manifestFiles(options: {
  service: string;
  image: string;
  initialTag: string;
  manifestRepoUrl: string;
  namespace: string;
  branch: string;
  /** The configured environments, an overlay and Application each (default stage, demo, prod). */
  environments?: string[];
}): Record<string, string> {
  const files: Record<string, string> = {
    [`apps/${options.service}/base/kustomization.yaml`]: toYaml({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['deployment.yaml'],
    }),
    [`apps/${options.service}/base/deployment.yaml`]: toYaml({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: options.service },
      spec: {
        selector: { matchLabels: { app: options.service } },
        template: {
          metadata: { labels: { app: options.service } },
          spec: {
            containers: [{ name: options.service, image: options.image }],
          },
        },
      },
    }),
  };
  for (const environment of options.environments ??
    environmentNames(DEFAULT_PIPELINE)) {
    files[
      `apps/${options.service}/overlays/${environment}/kustomization.yaml`
    ] = toYaml({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: ['../../base'],
      namespace: `${options.namespace}-${environment}`,
      images: [{ name: options.image, newTag: options.initialTag }],
    });
    files[`argocd/${options.service}-${environment}.yaml`] = toYaml({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: {
        name: `${options.service}-${environment}`,
        namespace: 'argocd',
      },
      spec: {
        project: 'default',
        source: {
          repoURL: options.manifestRepoUrl,
          targetRevision: options.branch,
          path: `apps/${options.service}/overlays/${environment}`,
        },
        destination: {
          server: 'https://kubernetes.default.svc',
          namespace: `${options.namespace}-${environment}`,
        },
        // The environment's namespace does not exist before its first sync.
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          syncOptions: ['CreateNamespace=true'],
        },
      },
    });
  }
  return files;
}

/**
 * How the GitOps registration writes to the manifest repository.
 *
 * @public
 */
export type GitopsPublishMode = 'commit' | 'pull-request';

/**
 * The input of `promotion:gitops:register`.
 *
 * @public
 */
export type GitopsRegisterInput = {
  manifestRepo: string;
  host: string;
  service: string;
  image: string;
  initialTag: string;
  branch: string;
  publishMode: GitopsPublishMode;
  namespace?: string | undefined;
};

/**
 * The output of `promotion:gitops:register`.
 *
 * @public
 */
export type GitopsRegisterOutput = {
  files: string[];
  commitSha?: string | undefined;
  pullRequestUrl?: string | undefined;
};

// The return type is spelled out so that the API report names it the same way in every build (an
// inferred union's member order depends on the order the compiler met its literals).
/**
 * `promotion:gitops:register`: one commit (or pull request) adding the service's manifests.
 *
 * @public
 */
export function createGitopsRegisterAction(options: {
  config: Config;
}): TemplateAction<GitopsRegisterInput, GitopsRegisterOutput, 'v2'> {
  const integrations = ScmIntegrations.fromConfig(options.config);
  const environments = environmentNames(
    readPipelineEnvironments(options.config),
  );
  const listed = `${environments.slice(0, -1).join(', ')} and ${
    environments[environments.length - 1]
  }`;
  const credentialsProvider =
    DefaultGithubCredentialsProvider.fromIntegrations(integrations);
  return createMainlineAction({
    id: 'promotion:gitops:register',
    description:
      'Adds a container service to the GitOps manifest repository: a kustomize overlay per environment pinning its image tag, and an Argo CD Application for each (idempotent).',
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        manifestRepo: z =>
          z
            .string()
            .regex(SLUG)
            .describe('The manifest repository, owner/name'),
        host: z =>
          z
            .string()
            .default('github.com')
            .describe('GitHub host of the manifest repository'),
        service: z =>
          z.string().regex(NAME).describe('Service name, e.g. checkout'),
        image: z =>
          z
            .string()
            .min(3)
            .max(255)
            .describe('Image repository the build pushes to'),
        initialTag: z =>
          z
            .string()
            .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/)
            .default('latest')
            .describe('What the overlays pin until the first build deploys'),
        namespace: z =>
          z
            .string()
            .regex(NAME)
            .optional()
            .describe('Kubernetes namespace prefix (default: service)'),
        branch: z =>
          z
            .string()
            .regex(BRANCH)
            .default('main')
            .describe('The branch Argo CD watches (and Mainline writes)'),
        publishMode: z =>
          z
            .enum(['commit', 'pull-request'])
            .default('commit')
            .describe(
              'Commit to the branch, or open a pull request for review',
            ),
      },
      output: {
        files: z =>
          z
            .array(z.string())
            .describe('Files the service has in the manifest repo'),
        commitSha: z =>
          z.string().optional().describe('The commit, when one was needed'),
        pullRequestUrl: z =>
          z
            .string()
            .optional()
            .describe('The pull request, in pull-request mode'),
      },
    },
    async handler(ctx) {
      const { input } = ctx;
      const [owner, repo] = input.manifestRepo.split('/');
      const files = manifestFiles({
        environments,
        service: input.service,
        image: input.image,
        initialTag: input.initialTag,
        namespace: input.namespace ?? input.service,
        branch: input.branch,
        manifestRepoUrl: `https://${input.host}/${input.manifestRepo}.git`,
      });
      ctx.output('files', Object.keys(files));
      if (ctx.isDryRun) {
        ctx.logger.info(
          `Would add ${Object.keys(files).length} files to ${
            input.manifestRepo
          }`,
        );
        return;
      }
      const octokit = new Octokit(
        await getOctokitOptions({
          integrations,
          credentialsProvider,
          host: input.host,
          owner,
          repo,
        }),
      );
      const { data: ref } = await octokit.rest.git.getRef({
        owner,
        repo,
        ref: `heads/${input.branch}`,
      });
      const head = ref.object.sha;
      // Only files that differ: a second run with the same inputs writes nothing.
      const changed: Array<[string, string]> = [];
      for (const [file, content] of Object.entries(files)) {
        const existing = await octokit.rest.repos
          .getContent({ owner, repo, path: file, ref: head })
          .then(
            r =>
              Buffer.from(
                (r.data as { content?: string }).content ?? '',
                'base64',
              ).toString('utf8'),
            (error: { status?: number }) => {
              if (error.status === 404) return undefined;
              throw error;
            },
          );
        if (existing !== content) changed.push([file, content]);
      }
      if (changed.length === 0) {
        ctx.logger.info(`${input.manifestRepo} already has ${input.service}`);
        return;
      }
      const branch =
        input.publishMode === 'pull-request'
          ? `mainline/register-${input.service}`
          : input.branch;
      const commitSha = await ctx.checkpoint({
        key: `gitops:${input.manifestRepo}:${input.service}:${head}`,
        fn: async () => {
          const { data: base } = await octokit.rest.git.getCommit({
            owner,
            repo,
            commit_sha: head,
          });
          const { data: tree } = await octokit.rest.git.createTree({
            owner,
            repo,
            base_tree: base.tree.sha,
            tree: changed.map(([file, content]) => ({
              path: file,
              mode: '100644' as const,
              type: 'blob' as const,
              content,
            })),
          });
          const { data: commit } = await octokit.rest.git.createCommit({
            owner,
            repo,
            message: `Register ${input.service} for ${listed}`,
            tree: tree.sha,
            parents: [head],
          });
          if (branch === input.branch) {
            // Fast-forward only: a concurrent change to the branch fails this run, never lost.
            await octokit.rest.git.updateRef({
              owner,
              repo,
              ref: `heads/${branch}`,
              sha: commit.sha,
              force: false,
            });
          } else {
            await octokit.rest.git
              .createRef({
                owner,
                repo,
                ref: `refs/heads/${branch}`,
                sha: commit.sha,
              })
              .catch(async (error: { status?: number }) => {
                if (error.status !== 422) throw error;
                await octokit.rest.git.updateRef({
                  owner,
                  repo,
                  ref: `heads/${branch}`,
                  sha: commit.sha,
                  force: true,
                });
              });
          }
          return commit.sha;
        },
      });
      ctx.output('commitSha', commitSha);
      if (input.publishMode === 'pull-request') {
        const url = await ctx.checkpoint({
          key: `gitops-pr:${input.manifestRepo}:${input.service}`,
          fn: async () => {
            const open = await octokit.rest.pulls.list({
              owner,
              repo,
              state: 'open',
              head: `${owner}:${branch}`,
            });
            if (open.data[0]) return open.data[0].html_url;
            const { data } = await octokit.rest.pulls.create({
              owner,
              repo,
              base: input.branch,
              head: branch,
              title: `Register ${input.service}`,
              body: `Adds ${input.service} to ${listed} (rendered by promotion:gitops:register).`,
            });
            return data.html_url;
          },
        });
        ctx.output('pullRequestUrl', url);
      }
    },
  });
}
