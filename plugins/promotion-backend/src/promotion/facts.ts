import { NotFoundError } from '@backstage/errors';
import { AdapterResolver, PromotionAdapters } from '../adapters';
import {
  Artifact,
  artifactMatchesCommit,
  DeployCheck,
  Deployment,
  SourceRef,
} from '@mainline/plugin-promotion-node';
import { Yank, YankStore } from '../database/YankStore';
import { runsIn, short } from './rules';
import { EntityContext } from './types';

/** The newest earlier commit (touching the component's folder) with an artifact. */
export interface BuiltAncestor {
  sha: string;
  /** How many commits back; unknown with a folder filter, whose history skips commits. */
  back: number | undefined;
}

/**
 * Everything the release rules look at, as the three ports (source control, artifact registry,
 * deployment target) and the yank store answered: a plain object, so that the rules are pure.
 */
export interface Facts {
  sha: string;
  tags: SourceRef[];
  artifacts: Artifact[];
  deployments: Record<string, Deployment | undefined>;
  yank: Yank | undefined;
  onMain: boolean;
  releaseBranch: string | undefined;
  /** The branches holding the commit: read only when it is on neither main nor a release branch. */
  containingBranches?: string[];
  /** Read only when the commit has no artifact and is not yanked; `null`: none in 100 commits. */
  builtAncestor?: BuiltAncestor | null;
}

/**
 * What a monorepo commit built for one component: its own artifact, or (when it changed nothing
 * of the component) the nearest ancestor's that stands for it, and whether the environment runs it.
 */
export type ArtifactAt =
  | { built: true }
  | {
      built: false;
      ancestor: string | null;
      running: boolean;
      message: string;
    };

/** The full sha a requested (full or short) sha resolved to, or a NotFoundError naming it. */
export function knownCommit(
  repo: string,
  requestedSha: string,
  resolved: string | undefined,
): string {
  if (!resolved || !resolved.startsWith(requestedSha)) {
    throw new NotFoundError(`sha ${requestedSha} is not a commit of ${repo}`);
  }
  return resolved;
}

/** Reads the facts of a commit of an entity from its adapters, each read once and in parallel. */
export class FactReader {
  constructor(
    private readonly options: {
      adapters: AdapterResolver;
      yanks: YankStore;
      environments: string[];
      mainBranch: string;
    },
  ) {}

  /** `explain: false` leaves out what only a refusal's reason needs (a yank refuses nothing). */
  async read(
    entity: EntityContext,
    requestedSha: string,
    { explain = true }: { explain?: boolean } = {},
  ): Promise<Facts> {
    const adapters = this.options.adapters.forTarget(entity.target);
    const repo = entity.target.sourceRepo;
    // A full sha is read in the same round as everything else (and confirmed by it); a short one
    // is resolved first.
    const resolving = adapters.source.resolveCommit(repo, requestedSha);
    const known = (resolved: string | undefined) =>
      knownCommit(repo, requestedSha, resolved);
    const sha = /^[0-9a-f]{40}$/.test(requestedSha)
      ? requestedSha
      : known(await resolving);
    const [resolved, reads] = await Promise.all([
      resolving,
      Promise.all([
        adapters.source.listTags(repo),
        adapters.artifacts.findArtifacts(adapters.artifactLocation, {
          commits: [sha],
        }),
        adapters.deployments.current(entity.target, this.options.environments),
        this.options.yanks.listForEntity(entity.entityRef),
        adapters.source.isOnBranch(repo, sha, this.options.mainBranch),
        entity.target.releaseBranches
          ? adapters.source.listBranches(repo, { prefix: 'release/' })
          : Promise.resolve([]),
      ]).then(
        values => ({ values }),
        (error: unknown) => ({ error }),
      ),
    ]);
    // An unknown commit is the answer, whatever else its reads ran into.
    known(resolved);
    if ('error' in reads) throw reads.error;
    const [tags, artifacts, deployments, yanks, onMain, releaseBranches] =
      reads.values;
    let releaseBranch: string | undefined;
    if (!onMain) {
      for (const branch of releaseBranches) {
        if (await adapters.source.isOnBranch(repo, sha, branch.name)) {
          releaseBranch = branch.name;
          break;
        }
      }
    }
    const facts: Facts = {
      sha,
      tags,
      artifacts,
      deployments,
      yank: yanks.find(y => y.sha === sha),
      onMain,
      releaseBranch,
    };
    if (!explain) return facts;
    // What only a refusal's reason needs is read only for a refusal.
    if (!onMain && !releaseBranch) {
      facts.containingBranches = await this.containingBranches(
        entity,
        adapters,
        sha,
      );
    }
    if (!facts.yank && !artifacts.some(a => artifactMatchesCommit(a, sha))) {
      facts.builtAncestor =
        (await this.builtAncestor(entity, adapters, sha)) ?? null;
    }
    return facts;
  }

  /** The full sha of a commit of the entity's repository, or a NotFoundError naming it. */
  async commitOf(entity: EntityContext, requestedSha: string): Promise<string> {
    const repo = entity.target.sourceRepo;
    return knownCommit(
      repo,
      requestedSha,
      await this.options.adapters
        .forTarget(entity.target)
        .source.resolveCommit(repo, requestedSha),
    );
  }

  /**
   * For a component of a monorepo: whether the commit `sha` (full) built an artifact for it, and
   * when not, which artifact (the nearest ancestor's) stands for it and whether `environment`
   * already runs that. Reads only (the artifact listing; the rest only when nothing was built);
   * nothing is audited or refused.
   */
  async artifactAt(
    entity: EntityContext,
    sha: string,
    environment: string,
  ): Promise<ArtifactAt> {
    const adapters = this.options.adapters.forTarget(entity.target);
    const artifacts = await adapters.artifacts.findArtifacts(
      adapters.artifactLocation,
      { commits: [sha] },
    );
    if (artifacts.length > 0) return { built: true };
    const [ancestor, deployments, tags] = await Promise.all([
      this.builtAncestor(entity, adapters, sha),
      adapters.deployments.current(entity.target, [environment]),
      adapters.source.listTags(entity.target.sourceRepo),
    ]);
    const running = ancestor
      ? runsIn({ deployments, tags }, environment, ancestor.sha)
      : false;
    const where = entity.target.sourcePath
      ? ` (it changed nothing under ${entity.target.sourcePath})`
      : '';
    let stands = 'and no ancestor in the last 100 commits has one';
    if (ancestor) {
      stands = `the nearest ancestor's, ${short(ancestor.sha)}, ${
        running
          ? `is already in ${environment}`
          : `stands for it (${environment} runs ${
              deployments[environment]?.version ?? 'nothing'
            })`
      }`;
    }
    return {
      built: false,
      ancestor: ancestor?.sha ?? null,
      running,
      message: `unchanged: ${short(sha)} built no artifact${where}; ${stands}`,
    };
  }

  /** Whether the deploy can set `environment` to `version`, asked of its adapter (reads only). */
  async deployVerdict(
    entity: EntityContext,
    environment: string,
    version: string,
  ): Promise<DeployCheck | undefined> {
    const { deployments } = this.options.adapters.forTarget(entity.target);
    return deployments.checkDeploy?.(entity.target, { environment, version });
  }

  private async containingBranches(
    entity: EntityContext,
    adapters: PromotionAdapters,
    sha: string,
  ): Promise<string[]> {
    const repo = entity.target.sourceRepo;
    const branches = await adapters.source.listBranches(repo);
    const containing: string[] = [];
    for (const branch of branches) {
      if (await adapters.source.isOnBranch(repo, sha, branch.name)) {
        containing.push(branch.name);
      }
    }
    return containing;
  }

  /** The newest commit before `sha` (touching the component's folder) that has an artifact. */
  async builtAncestor(
    entity: EntityContext,
    adapters: PromotionAdapters,
    sha: string,
  ): Promise<BuiltAncestor | undefined> {
    const history = await adapters.source.listCommits(
      entity.target.sourceRepo,
      { ref: sha, limit: 100, path: entity.target.sourcePath },
    );
    const artifacts = await adapters.artifacts.findArtifacts(
      adapters.artifactLocation,
      { commits: history.map(c => c.sha).filter(c => c !== sha) },
    );
    const index = history.findIndex(
      c =>
        c.sha !== sha && artifacts.some(a => artifactMatchesCommit(a, c.sha)),
    );
    if (index < 0) return undefined;
    // With a folder filter the history skips commits, so the distance is not a count of commits.
    return {
      sha: history[index].sha,
      back: entity.target.sourcePath ? undefined : index,
    };
  }
}
