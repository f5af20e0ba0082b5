import { InputError } from '@backstage/errors';
import {
  DefaultGithubCredentialsProvider,
  ScmIntegrations,
} from '@backstage/integration';
import { Config } from '@backstage/config';
import { parseRepoUrl } from '@backstage/plugin-scaffolder-node';
import {
  DEFAULT_PIPELINE,
  PipelineEnvironments,
  readPipelineEnvironments,
} from './environments';
import { getOctokitOptions } from '@backstage/plugin-scaffolder-backend-module-github';
import { Octokit } from '@octokit/rest';
import { createMainlineAction } from './defaults';
import { examples } from './githubRulesetsCreate.examples';

/** Who a ruleset's bypass list can name, as the GitHub API spells it. */
const ACTOR_TYPES = [
  'Integration',
  'Team',
  'RepositoryRole',
  'OrganizationAdmin',
] as const;

/** A ruleset as the GitHub API takes it. */
export interface RulesetDefinition {
  name: string;
  target: 'branch' | 'tag';
  enforcement: 'active';
  conditions: { ref_name: { include: string[]; exclude: string[] } };
  rules: Array<{ type: string; parameters?: Record<string, unknown> }>;
  bypass_actors: Array<{
    actor_id: number;
    actor_type: (typeof ACTOR_TYPES)[number];
    bypass_mode: 'always';
  }>;
}

/**
 * The rulesets of the main/rc/v discipline: main only through reviewed, green pull requests and
 * never rewritten; release tags created only by the bypass actors (Mainline's GitHub App, a
 * release team); and, in a ruleset nobody bypasses, release tags never moved or deleted.
 */
export function mainlineRulesets(options: {
  requiredStatusChecks: string[];
  requiredApprovals: number;
  bypassActors: RulesetDefinition['bypass_actors'];
  /** The configured environments: their branch and release tag patterns are protected. */
  environments?: PipelineEnvironments;
}): RulesetDefinition[] {
  const pipeline = options.environments ?? DEFAULT_PIPELINE;
  const releaseTags = {
    ref_name: {
      include: pipeline.tagged.map(t => `refs/tags/${t.pattern}`),
      exclude: [],
    },
  };
  return [
    {
      name: 'mainline: main',
      target: 'branch',
      enforcement: 'active',
      conditions: {
        ref_name: { include: [`refs/heads/${pipeline.branch}`], exclude: [] },
      },
      rules: [
        { type: 'deletion' },
        { type: 'non_fast_forward' },
        {
          type: 'pull_request',
          parameters: {
            required_approving_review_count: options.requiredApprovals,
            dismiss_stale_reviews_on_push: true,
            require_code_owner_review: false,
            require_last_push_approval: false,
            required_review_thread_resolution: false,
          },
        },
        ...(options.requiredStatusChecks.length
          ? [
              {
                type: 'required_status_checks',
                parameters: {
                  strict_required_status_checks_policy: true,
                  required_status_checks: options.requiredStatusChecks.map(
                    context => ({ context }),
                  ),
                },
              },
            ]
          : []),
      ],
      bypass_actors: [],
    },
    {
      name: 'mainline: release tags are created by the release actors',
      target: 'tag',
      enforcement: 'active',
      conditions: releaseTags,
      rules: [{ type: 'creation' }],
      bypass_actors: options.bypassActors,
    },
    {
      name: 'mainline: release tags are never moved or deleted',
      target: 'tag',
      enforcement: 'active',
      conditions: releaseTags,
      rules: [{ type: 'update' }, { type: 'deletion' }],
      bypass_actors: [],
    },
  ];
}

type BypassActor = RulesetDefinition['bypass_actors'][number];

/** The `RepositoryRole` id GitHub gives the built-in admin role in bypass lists. */
const ADMIN_ROLE_ID = 5;

/**
 * Who Mainline acts as on `host`: the `integrations.github` entry the promotion backend's
 * credentials come from. Its GitHub Apps are named by app id (`Integration`); a token's user
 * cannot be named in a ruleset, so `undefined` says the token user has to be found another way.
 */
export function configuredReleaseActors(
  integrations: ScmIntegrations,
  host: string,
): BypassActor[] | undefined {
  const apps = integrations.github.byHost(host)?.config.apps ?? [];
  if (apps.length === 0) return undefined;
  return apps.map(app => ({
    actor_id: Number(app.appId),
    actor_type: 'Integration' as const,
    bypass_mode: 'always' as const,
  }));
}

/**
 * `promotion:github:rulesets:create`. Idempotent: rulesets are found by name and updated.
 *
 * @public
 */
export function createGithubRulesetsAction(options: { config: Config }) {
  const integrations = ScmIntegrations.fromConfig(options.config);
  const environments = readPipelineEnvironments(options.config);
  const credentialsProvider =
    DefaultGithubCredentialsProvider.fromIntegrations(integrations);
  return createMainlineAction({
    id: 'promotion:github:rulesets:create',
    description:
      'Protects main and the rc-*/v* release tags of a GitHub repository with rulesets (idempotent).',
    examples,
    supportsDryRun: true,
    schema: {
      input: {
        repoUrl: z =>
          z
            .string()
            .describe(
              'Repository location, e.g. github.com?owner=acme&repo=checkout',
            ),
        requiredStatusChecks: z =>
          z
            .array(z.string().min(1).max(255))
            .default([])
            .describe('Status check contexts main requires, e.g. build'),
        requiredApprovals: z =>
          z
            .number()
            .int()
            .min(0)
            .max(10)
            .default(1)
            .describe('Approving reviews a pull request to main needs'),
        releaseActor: z =>
          z
            .object({
              actorId: z.number().int().positive(),
              actorType: z.enum(ACTOR_TYPES),
            })
            .optional()
            .describe(
              "Mainline's own identity, which creates release tags. Default: the GitHub Apps of the host's integrations.github entry (Integration, their app ids), or, with a token there, the repository admin role (RepositoryRole 5) when the token's user is an admin of the repository. A token user in a release team: Team with its id",
            ),
        bypassActors: z =>
          z
            .array(
              z.object({
                actorId: z.number().int().positive(),
                actorType: z.enum(ACTOR_TYPES),
              }),
            )
            .default([])
            .describe(
              'Who else may create rc-*/v* tags besides Mainline: another GitHub App (Integration, its app id) or a release team (Team, its id)',
            ),
        token: z =>
          z
            .string()
            .optional()
            .describe('A GitHub token to act with instead of the integration'),
      },
      output: {
        rulesets: z =>
          z
            .array(z.object({ name: z.string(), id: z.number().optional() }))
            .describe('The rulesets on the repository, by name'),
      },
    },
    async handler(ctx) {
      const { input } = ctx;
      const { host, owner, repo } = parseRepoUrl(input.repoUrl, integrations);
      if (!owner || !repo) {
        throw new InputError(
          `"${input.repoUrl}" names no owner and repository`,
        );
      }
      const octokit = async (token?: string) =>
        new Octokit(
          await getOctokitOptions({
            integrations,
            credentialsProvider,
            token,
            host,
            owner,
            repo,
          }),
        );
      let releaseActors: BypassActor[] | undefined = input.releaseActor
        ? [
            {
              actor_id: input.releaseActor.actorId,
              actor_type: input.releaseActor.actorType,
              bypass_mode: 'always',
            },
          ]
        : configuredReleaseActors(integrations, host);
      if (!releaseActors) {
        // A token's user is named through its role: it must be an admin of the repository (as
        // the user who created it is), and then every admin may create release tags.
        const mainline = ctx.isDryRun ? undefined : await octokit();
        const admin = mainline
          ? (await mainline.rest.repos.get({ owner, repo })).data.permissions
              ?.admin === true
          : true;
        if (!admin) {
          throw new InputError(
            `The token of integrations.github for ${host} is not an admin of ${owner}/${repo}, so no ruleset can let it create release tags; give releaseActor a team it is in (Team and the team's id)`,
          );
        }
        releaseActors = [
          {
            actor_id: ADMIN_ROLE_ID,
            actor_type: 'RepositoryRole',
            bypass_mode: 'always',
          },
        ];
        ctx.logger.info(
          `Mainline acts with a token on ${host}: the release tag ruleset lets repository admins create rc-*/v* tags; to narrow it to a release team, set releaseActor`,
        );
      }
      const extra = input.bypassActors.map(a => ({
        actor_id: a.actorId,
        actor_type: a.actorType,
        bypass_mode: 'always' as const,
      }));
      const definitions = mainlineRulesets({
        environments,
        requiredStatusChecks: input.requiredStatusChecks,
        requiredApprovals: input.requiredApprovals,
        bypassActors: [
          ...releaseActors,
          ...extra.filter(
            a =>
              !releaseActors!.some(
                r => r.actor_id === a.actor_id && r.actor_type === a.actor_type,
              ),
          ),
        ],
      });
      if (ctx.isDryRun) {
        ctx.logger.info(
          `Would set ${
            definitions.length
          } rulesets on ${owner}/${repo}: ${definitions
            .map(d => d.name)
            .join('; ')}`,
        );
        ctx.output(
          'rulesets',
          definitions.map(d => ({ name: d.name })),
        );
        return;
      }
      const client = await octokit(input.token);
      const existing = await client.paginate(
        client.rest.repos.getRepoRulesets,
        {
          owner,
          repo,
          per_page: 100,
          includes_parents: false,
        },
      );
      const result: Array<{ name: string; id: number }> = [];
      for (const definition of definitions) {
        const id = await ctx.checkpoint({
          key: `ruleset:${owner}/${repo}:${definition.name}`,
          fn: async () => {
            const found = existing.find(r => r.name === definition.name);
            if (found) {
              await client.rest.repos.updateRepoRuleset({
                owner,
                repo,
                ruleset_id: found.id,
                ...(definition as any),
              });
              return found.id;
            }
            const { data } = await client.rest.repos.createRepoRuleset({
              owner,
              repo,
              ...(definition as any),
            });
            return data.id;
          },
        });
        result.push({ name: definition.name, id });
      }
      ctx.logger.info(
        `Rulesets on ${owner}/${repo}: ${result.map(r => r.name).join('; ')}`,
      );
      ctx.output('rulesets', result);
    },
  });
}
