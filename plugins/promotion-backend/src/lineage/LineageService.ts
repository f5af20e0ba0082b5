import crypto from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { CacheService } from '@backstage/backend-plugin-api';
import { InputError, NotFoundError } from '@backstage/errors';
import {
  EnvironmentDefinition,
  PROMOTION_ANNOTATIONS,
  PromotionTarget,
  checkTagName,
  matchesTagPattern,
} from '@mainline/plugin-promotion-common';
import { AdapterResolver, PromotionAdapters } from '../adapters';
import {
  Artifact,
  ArtifactQuery,
  isOutboundRefused,
  Deployment,
  SourceCommit,
  SourceControl,
  SourceRef,
} from '@mainline/plugin-promotion-node';
import { Yank, YankStore } from '../database/YankStore';
import {
  Comparison,
  Lineage,
  LineageArtifact,
  LineageCommit,
  LineageEnvironment,
} from './types';

const SHA = /^[0-9a-f]{7,40}$/;
const PULL_REQUEST = [/^Merge pull request #(\d+) /, /\(#(\d+)\)\s*$/];
const CHERRY_PICK = /\(cherry picked from commit ([0-9a-f]{40})\)/;

/** A fix by the workflow's conventions: a `fix/*` or `hotfix/*` branch, or a `fix:` subject. */
export function isFix(commit: Pick<SourceCommit, 'subject' | 'body'>): boolean {
  return (
    /^Merge pull request #\d+ from \S+\/(fix|hotfix)\//.test(commit.subject) ||
    // `fix: …`, `fix(scope): …`, `Fix …`
    /^(fix|hotfix)\b/i.test(commit.subject)
  );
}

/** The bulk reads one lineage is assembled from, in one parallel round. */
interface Snapshot {
  tags: SourceRef[];
  deployments: Record<string, Deployment | undefined>;
  yanks: Yank[];
}

/** A snapshot with the artifacts of the commits shown (read once the commits are known). */
interface Reads extends Snapshot {
  artifacts: Artifact[];
}

/** An environment's deployment and the commit it runs, with how far behind the one ahead. */
interface ResolvedEnvironment {
  definition: EnvironmentDefinition;
  deployment: Deployment | undefined;
  sha: string | undefined;
  behindBy: number | null;
}

/** The commit a deployed version names: a recorded sha, a tag, or a short sha in `commits`. */
function versionResolver(tags: SourceRef[]) {
  const tagSha = new Map(tags.map(tag => [tag.name, tag.sha]));
  return (
    deployment: Deployment,
    commits: SourceCommit[],
  ): string | undefined => {
    if (deployment.sha) return deployment.sha;
    const byTag = tagSha.get(deployment.version);
    if (byTag) return byTag;
    if (SHA.test(deployment.version)) {
      return commits.find(c => c.sha.startsWith(deployment.version))?.sha;
    }
    return undefined;
  };
}
type VersionResolver = ReturnType<typeof versionResolver>;

/** The commit a deployment runs: named by what was read, else resolved by the source. */
async function deployedCommit(
  adapters: PromotionAdapters,
  target: PromotionTarget,
  deployment: Deployment,
  named: string | undefined,
): Promise<string | undefined> {
  return (
    named ??
    adapters.source.resolveCommit(target.sourceRepo, deployment.version)
  );
}

/**
 * A lineage as the HTTP API serves it: the JSON body serialized and gzipped once, with an ETag
 * derived from that body, so a warm read costs neither serialization nor compression. Only the
 * gzipped body is kept (a few times smaller); a client that takes no gzip gets it serialized again.
 */
export interface ServedLineage {
  lineage: Lineage;
  gzipped: Buffer;
  etag: string;
}

/** What `coreServices.cache` holds per lineage key: the lineage and when it stops serving. */
interface CachedLineage {
  lineage: Lineage;
  expiresAt: number;
}

/** How many served lineages one replica keeps in memory beside the shared cache. */
const MAX_SERVED = 1000;
/** How many entities' generation digests one replica remembers (small: strings). */
const MAX_GENERATIONS = 10_000;
/** Scope tokens outlive any lineage cached under them. */
const GENERATION_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** The shared key every invalidation changes (after the scope tokens it writes). */
const EPOCH_KEY = 'generation-epoch';
/** When a person's read last went upstream on any replica (ms since the epoch). */
const PEOPLE_READING_KEY = 'lineage-people-reading-at';
/** A person's upstream read holds background reads back for this long after it started. */
const PEOPLE_QUIET_MS = 2000;
/**
 * How long a replica waits for another replica's assembly of the same lineage (announced in the
 * shared cache) before reading upstream itself, and how often it looks.
 */
const SHARED_ASSEMBLY_WAIT_MS = 8000;
const SHARED_ASSEMBLY_POLL_MS = 150;

/** Who a lineage read is for: a person (the default) or background work (the warmer). */
export type LineageReader = 'person' | 'background';

export interface LineageServiceOptions {
  adapters: AdapterResolver;
  yanks: YankStore;
  cache: CacheService;
  environments: EnvironmentDefinition[];
  mainBranch: string;
  cacheTtlMs: number;
  /**
   * Told of every lineage read afresh from upstream (the board's persisted snapshot keeps the
   * last one of each service).
   */
  onAssembled?: (
    entityRef: string,
    request: { branch: string; limit: number; generation: string },
    lineage: Lineage,
  ) => void;
  /** How many served lineages this replica keeps in memory (default 1,000). */
  maxServed?: number;
  /** Told whether each lineage read was a cache hit (this replica's or shared) or a miss. */
  onCacheRead?: (
    hit: boolean,
    layer: 'replica' | 'shared' | 'upstream',
  ) => void;
}

function toArtifact(artifact: Artifact): LineageArtifact {
  return {
    kind: artifact.kind,
    uri: artifact.uri,
    digest: artifact.digest,
    size: artifact.size,
    createdAt: artifact.createdAt,
    tags: artifact.tags,
  };
}

/**
 * Answers "which commit and artifact runs in each environment, and what is waiting" from a
 * handful of bulk reads (a page of commits, all tags, the artifact listing, the deployment
 * records, the tombstones) made in parallel, never one lookup per commit. Results are cached per
 * entity; a write invalidates the entity's entries.
 */
export class LineageService {
  /**
   * Lineages this replica served recently, by entity, branch and limit, each with the cache key
   * (which carries the generation) it was assembled under: a newer generation replaces it.
   */
  private readonly served = new Map<
    string,
    ServedLineage & { key: string; expiresAt: number }
  >();
  /** People's lineage reads from upstream in flight on this replica. */
  private peopleAssembling = 0;
  /** When this replica last told the others a person's read went upstream. */
  private peopleAnnouncedAt = 0;
  /** The shared "people reading" moment, read at most every quarter second. */
  private peopleSeen: { at: number; value: number } | undefined;
  /** Lineages being assembled, by cache key: concurrent cold reads share one assembly. */
  private readonly assembling = new Map<string, Promise<ServedLineage>>();
  /** Generation digests by scope list, with the shared epoch they were read under. */
  private readonly generations = new Map<
    string,
    { epoch: string; digest: string }
  >();
  /** The epoch read in flight, shared by concurrent callers. */
  private epochRead: Promise<string> | undefined;

  constructor(private readonly options: LineageServiceOptions) {}

  /**
   * Forgets cached lineage; called after every write. With the entity's target, the lineage of
   * every other entity sharing its repository, artifact location or a manifest file is forgotten
   * too: each of those is a cache scope whose token is part of every lineage key depending on it,
   * so a new token (in the shared cache store) makes every replica read afresh, and no index of
   * who shares what has to be kept up to date. The epoch is written last: a reader that sees the
   * new epoch finds the new scope tokens too.
   */
  async invalidate(entityRef: string, target?: PromotionTarget): Promise<void> {
    const token = crypto.randomUUID();
    await Promise.all(
      this.scopes(entityRef, target).map(scope =>
        this.options.cache.set(`generation:${scope}`, token, {
          ttl: GENERATION_TTL_MS,
        }),
      ),
    );
    await this.options.cache.set(EPOCH_KEY, token, { ttl: GENERATION_TTL_MS });
    this.epochRead = undefined;
  }

  /** The cache scopes a lineage depends on: its entity, and what other entities may share. */
  private scopes(entityRef: string, target?: PromotionTarget): string[] {
    if (!target) return [entityRef];
    const manifests =
      target.manifestRepo && target.manifestPath
        ? this.options.environments.map(
            e =>
              `manifest:${target.manifestRepo}:${target.manifestPath!.replace(
                /\{environment\}/g,
                e.name,
              )}`,
          )
        : [];
    return [
      entityRef,
      `repository:${target.sourceRepo}`,
      `artifacts:${target.artifactKind}:${target.artifactLocation}`,
      ...manifests,
    ];
  }

  /**
   * The epoch every invalidation on any replica changes, read once for all concurrent callers
   * (a board of 2,000 lineages asks once, not 2,000 times).
   */
  private readEpoch(): Promise<string> {
    if (!this.epochRead) {
      const read = this.options.cache
        .get(EPOCH_KEY)
        .then(value => `${value ?? 0}`);
      this.epochRead = read;
      const forget = () => {
        if (this.epochRead === read) this.epochRead = undefined;
      };
      read.then(forget, forget);
    }
    return this.epochRead;
  }

  /**
   * One digest of the current tokens of every scope the entity's lineage depends on. While the
   * shared epoch stays what it was when this replica last read the scope tokens, nothing was
   * invalidated anywhere and the digest still holds: a warm read costs one shared-cache read
   * (shared by concurrent reads) instead of one per scope.
   */
  private async generation(
    entityRef: string,
    target: PromotionTarget,
  ): Promise<string> {
    const epoch = await this.readEpoch();
    const scopes = this.scopes(entityRef, target);
    const memo = scopes.join('\n');
    const known = this.generations.get(memo);
    if (known && known.epoch === epoch) return known.digest;
    const tokens = await Promise.all(
      scopes.map(
        async scope =>
          `${(await this.options.cache.get(`generation:${scope}`)) ?? 0}`,
      ),
    );
    const digest = crypto
      .createHash('sha256')
      .update(tokens.join('\n'))
      .digest('hex')
      .slice(0, 16);
    this.generations.delete(memo);
    this.generations.set(memo, { epoch, digest });
    while (this.generations.size > MAX_GENERATIONS) {
      this.generations.delete(this.generations.keys().next().value!);
    }
    return digest;
  }

  /**
   * The lineage if it is cached and current (this replica's memory or the shared cache, under
   * the entity's current generation), else no lineage, and that generation: never an upstream
   * read.
   */
  async cached(
    entityRef: string,
    target: PromotionTarget,
    request: { limit: number; branch?: string },
  ): Promise<{ lineage?: Lineage; generation: string }> {
    const branch = request.branch ?? this.options.mainBranch;
    this.checkBranch(target, branch);
    const generation = await this.generation(entityRef, target);
    const key = `lineage:${entityRef}:${generation}:${branch}:${request.limit}`;
    const held = this.served.get(`${entityRef}:${branch}:${request.limit}`);
    if (held && held.key === key && held.expiresAt > Date.now()) {
      return { lineage: held.lineage, generation };
    }
    const cached = (await this.options.cache.get(key)) as
      | CachedLineage
      | undefined;
    return {
      lineage:
        cached?.lineage && cached.expiresAt > Date.now()
          ? cached.lineage
          : undefined,
      generation,
    };
  }

  /**
   * A digest of the entity's current cache generation: it changes whenever a write or a webhook
   * invalidates what the entity's lineage depends on (on any replica).
   */
  generationOf(entityRef: string, target: PromotionTarget): Promise<string> {
    return this.generation(entityRef, target);
  }

  async lineage(
    entityRef: string,
    target: PromotionTarget,
    request: { limit: number; branch?: string; reader?: LineageReader },
  ): Promise<Lineage> {
    return (await this.serve(entityRef, target, request)).lineage;
  }

  /**
   * Whether a person's lineage read is going to upstream now, on this replica or (within the
   * last two seconds) on another: background reads wait for it, so that what people asked for is
   * not queued behind the warmer at GitHub.
   */
  async peopleReading(): Promise<boolean> {
    if (this.peopleAssembling > 0) return true;
    const now = Date.now();
    if (!this.peopleSeen || now - this.peopleSeen.at >= 250) {
      const value = Number(
        (await this.options.cache.get(PEOPLE_READING_KEY).catch(() => 0)) ?? 0,
      );
      this.peopleSeen = { at: now, value: Number.isFinite(value) ? value : 0 };
    }
    return Date.now() - this.peopleSeen.value < PEOPLE_QUIET_MS;
  }

  /**
   * The lineage with its serialized body and ETag. Every call reads the entity's generation from
   * the shared cache (so a write on any replica is seen at once); the assembled lineage then
   * comes from this replica's memory, else from the shared cache, else from upstream, and
   * concurrent calls for one key wait for one assembly (single flight per replica).
   */
  async serve(
    entityRef: string,
    target: PromotionTarget,
    request: { limit: number; branch?: string; reader?: LineageReader },
  ): Promise<ServedLineage> {
    const branch = request.branch ?? this.options.mainBranch;
    this.checkBranch(target, branch);
    const generation = await this.generation(entityRef, target);
    const key = `lineage:${entityRef}:${generation}:${branch}:${request.limit}`;
    const held = this.served.get(`${entityRef}:${branch}:${request.limit}`);
    if (held && held.key === key && held.expiresAt > Date.now()) {
      this.options.onCacheRead?.(true, 'replica');
      return held;
    }
    const assembling = this.assembling.get(key);
    if (assembling) return assembling;
    const assembly = this.assemble(
      key,
      entityRef,
      target,
      branch,
      request.limit,
      generation,
      request.reader ?? 'person',
    );
    this.assembling.set(key, assembly);
    try {
      return await assembly;
    } finally {
      this.assembling.delete(key);
    }
  }

  private async assemble(
    key: string,
    entityRef: string,
    target: PromotionTarget,
    branch: string,
    limit: number,
    generation: string,
    reader: LineageReader,
  ): Promise<ServedLineage> {
    const current = (value: CachedLineage | undefined) =>
      value?.lineage && value.expiresAt > Date.now() ? value : undefined;
    let cached = current(
      (await this.options.cache.get(key)) as CachedLineage | undefined,
    );
    // Another replica reading the same lineage (both asked right after one invalidation): its
    // result comes through the shared cache, read once instead of twice.
    if (!cached && (await this.options.cache.get(`assembling:${key}`))) {
      const deadline = Date.now() + SHARED_ASSEMBLY_WAIT_MS;
      while (!cached && Date.now() < deadline) {
        await new Promise(resolve =>
          setTimeout(resolve, SHARED_ASSEMBLY_POLL_MS),
        );
        cached = current(
          (await this.options.cache.get(key)) as CachedLineage | undefined,
        );
        if (!cached && !(await this.options.cache.get(`assembling:${key}`))) {
          break;
        }
      }
    }
    const hit = Boolean(cached);
    this.options.onCacheRead?.(hit, hit ? 'shared' : 'upstream');
    if (!cached) {
      await this.options.cache
        .set(`assembling:${key}`, true, { ttl: SHARED_ASSEMBLY_WAIT_MS })
        .catch(() => undefined);
      if (reader === 'person') this.personReads();
      try {
        let lineage: Lineage;
        try {
          lineage = await this.readLineage(entityRef, target, branch, limit);
        } finally {
          if (reader === 'person') this.peopleAssembling -= 1;
        }
        this.options.onAssembled?.(
          entityRef,
          { branch, limit, generation },
          lineage,
        );
        cached = { lineage, expiresAt: Date.now() + this.options.cacheTtlMs };
        await this.options.cache.set(key, cached as any, {
          ttl: this.options.cacheTtlMs,
        });
      } finally {
        // After the result is in the cache (waiting replicas find it), or at once on a failure.
        await this.options.cache
          .delete(`assembling:${key}`)
          .catch(() => undefined);
      }
    }
    const body = JSON.stringify(cached.lineage);
    const served = {
      lineage: cached.lineage,
      gzipped: gzipSync(body),
      etag: `"${crypto.createHash('sha1').update(body).digest('base64url')}"`,
      key,
      expiresAt: cached.expiresAt,
    };
    const id = `${entityRef}:${branch}:${limit}`;
    this.served.delete(id);
    this.served.set(id, served);
    // Least recently assembled first (insertion order).
    while (this.served.size > (this.options.maxServed ?? MAX_SERVED)) {
      this.served.delete(this.served.keys().next().value!);
    }
    return served;
  }

  /** A person's read goes upstream: counted here, and told to the other replicas once a second. */
  private personReads() {
    this.peopleAssembling += 1;
    const now = Date.now();
    if (now - this.peopleAnnouncedAt >= 1000) {
      this.peopleAnnouncedAt = now;
      this.options.cache
        .set(PEOPLE_READING_KEY, now, { ttl: PEOPLE_QUIET_MS * 5 })
        .catch(() => undefined);
    }
  }

  private checkBranch(target: PromotionTarget, branch: string) {
    if (branch === this.options.mainBranch) {
      return;
    }
    const problem = checkTagName(branch);
    if (problem || !branch.startsWith('release/')) {
      throw new InputError(
        `branch must be ${this.options.mainBranch} or a release/* branch${
          problem ? `: ${problem}` : ''
        }`,
      );
    }
    if (!target.releaseBranches) {
      throw new InputError(
        `The release/* flow is not enabled for this entity (annotation ${PROMOTION_ANNOTATIONS.releaseBranches}: "true")`,
      );
    }
  }

  private async snapshot(
    entityRef: string,
    target: PromotionTarget,
    adapters: PromotionAdapters,
  ): Promise<Snapshot> {
    const [tags, deployments, yanks] = await Promise.all([
      adapters.source.listTags(target.sourceRepo),
      adapters.deployments.current(
        target,
        this.options.environments.map(e => e.name),
      ),
      this.options.yanks.listForEntity(entityRef),
    ]);
    return { tags, deployments, yanks };
  }

  /**
   * Which artifacts a view needs: those of the commits shown and of what each environment runs,
   * with the tags git and the environments name on them; read for those commits only, whatever
   * the registry holds.
   */
  private artifactQuery(
    snapshot: Snapshot,
    shown: SourceCommit[],
    resolveVersion: VersionResolver,
  ): ArtifactQuery {
    const deployed = Object.values(snapshot.deployments).flatMap(deployment => {
      if (!deployment) return [];
      const sha = resolveVersion(deployment, shown);
      if (sha) return [sha];
      return SHA.test(deployment.version) ? [deployment.version] : [];
    });
    const commits = [...new Set([...shown.map(c => c.sha), ...deployed])];
    const asked = new Set(commits);
    const tags = [
      ...snapshot.tags.filter(tag => asked.has(tag.sha)).map(tag => tag.name),
      ...Object.values(snapshot.deployments).flatMap(d =>
        d && !SHA.test(d.version) ? [d.version] : [],
      ),
    ];
    return { commits, tags };
  }

  private async readLineage(
    entityRef: string,
    target: PromotionTarget,
    branch: string,
    limit: number,
  ): Promise<Lineage> {
    const adapters = this.options.adapters.forTarget(target);
    const repo = target.sourceRepo;
    const exception = branch !== this.options.mainBranch;
    const first = Promise.all([
      adapters.source.listCommits(repo, {
        ref: branch,
        limit,
        path: target.sourcePath,
      }),
      this.snapshot(entityRef, target, adapters),
      target.releaseBranches
        ? adapters.source.listBranches(repo, { prefix: 'release/' })
        : Promise.resolve([]),
    ]).then(async ([commits, snapshot, releaseBranches]) => {
      if (commits.length === 0) {
        throw new NotFoundError(`Branch ${branch} has no commits in ${repo}`);
      }
      const trace = exception
        ? await this.traceCherryPicks(adapters.source, repo, branch)
        : { links: new Map<string, string>(), missing: [] };
      const resolveVersion = versionResolver(snapshot.tags);
      const query = this.artifactQuery(
        snapshot,
        [...commits, ...trace.missing],
        resolveVersion,
      );
      return {
        commits,
        snapshot,
        releaseBranches,
        trace,
        resolveVersion,
        query,
      };
    });
    // A registry request the backend refused (a host nobody configured) leaves the lineage
    // without artifacts and says why, rather than failing the whole read.
    let refused: string | undefined;
    const unlessRefused = (read: Promise<Artifact[]>) =>
      read.catch((error: unknown) => {
        if (!isOutboundRefused(error)) throw error;
        refused ??= error.message;
        return [] as Artifact[];
      });
    // The registry may start reading while the commits are (ECR: its first page of images).
    const queried = first.then(f => f.query);
    const reading = unlessRefused(
      adapters.artifacts.findArtifacts(adapters.artifactLocation, queried),
    );
    // Both are awaited below unless the first reads fail, which is then the error reported.
    queried.catch(() => undefined);
    reading.catch(() => undefined);
    const { commits, snapshot, releaseBranches, trace, resolveVersion, query } =
      await first;
    // The artifacts are read while the environments' commits are resolved.
    const [resolved, read] = await Promise.all([
      this.resolveEnvironments(
        adapters,
        target,
        commits,
        snapshot,
        resolveVersion,
      ),
      reading,
    ]);
    // An environment running a commit only the source could name (a ref outside the page).
    const unread = resolved.flatMap(({ sha }) =>
      sha && !query.commits.some(asked => sha.startsWith(asked)) ? [sha] : [],
    );
    const artifacts = unread.length
      ? [
          ...read,
          ...(await unlessRefused(
            adapters.artifacts.findArtifacts(adapters.artifactLocation, {
              commits: unread,
            }),
          )),
        ]
      : read;
    const decorate = this.decorator(
      { ...snapshot, artifacts },
      adapters.source,
      trace.links,
    );
    const environments = this.environments(resolved, decorate);
    const inEnvironment = new Map<string, string[]>();
    for (const environment of environments) {
      const sha = environment.current?.sha;
      if (sha)
        inEnvironment.set(sha, [
          ...(inEnvironment.get(sha) ?? []),
          environment.name,
        ]);
    }
    return {
      entityRef,
      branch,
      exception,
      environments,
      commits: commits.map(commit =>
        decorate.commit(commit, repo, inEnvironment.get(commit.sha) ?? []),
      ),
      releaseBranches,
      missingFixes: trace.missing.map(commit =>
        decorate.commit(commit, repo, inEnvironment.get(commit.sha) ?? []),
      ),
      ...(refused
        ? { artifactLookup: { status: 'refused' as const, reason: refused } }
        : {}),
    };
  }

  /**
   * Ties each commit of a release branch to the main commit it was cherry-picked from (by the
   * `-x` trailer, else by patch identity) and lists the fixes on main since the cut that the
   * branch lacks. Two compares and one patch read per commit involved (at most 200 of main's).
   */
  private async traceCherryPicks(
    source: SourceControl,
    repo: string,
    branch: string,
  ): Promise<{ links: Map<string, string>; missing: SourceCommit[] }> {
    const main = this.options.mainBranch;
    const [picked, sinceCut] = await Promise.all([
      source.compare(repo, main, branch),
      source.compare(repo, branch, main),
    ]);
    const mainCommits = [...sinceCut.commits]
      .sort((a, b) => b.committedAt.localeCompare(a.committedAt))
      .slice(0, 200);
    // Patch identity only for picks without a `-x` trailer (each id may be one upstream read).
    const unnamed = picked.commits.filter(c => !CHERRY_PICK.test(c.body));
    const ids = unnamed.length
      ? await source.patchIds(repo, [
          ...unnamed.map(c => c.sha),
          ...mainCommits.map(c => c.sha),
        ])
      : new Map<string, string>();
    const mainByPatch = new Map<string, string>();
    for (const commit of [...mainCommits].reverse()) {
      const id = ids.get(commit.sha);
      if (id) mainByPatch.set(id, commit.sha);
    }
    const links = new Map<string, string>();
    for (const commit of picked.commits) {
      const trailer = CHERRY_PICK.exec(commit.body)?.[1];
      const id = ids.get(commit.sha);
      const byPatch = id ? mainByPatch.get(id) : undefined;
      const origin = trailer ?? byPatch;
      if (origin) links.set(commit.sha, origin);
    }
    const pickedOrigins = new Set(links.values());
    const missing = mainCommits.filter(
      commit => isFix(commit) && !pickedOrigins.has(commit.sha),
    );
    return { links, missing };
  }

  /** Lookups over one snapshot, built once so that decorating N commits costs O(N). */
  private decorator(
    snapshot: Reads,
    source: SourceControl,
    cherryPicks: Map<string, string> = new Map(),
  ) {
    const tagsBySha = new Map<string, string[]>();
    for (const tag of snapshot.tags) {
      tagsBySha.set(tag.sha, [...(tagsBySha.get(tag.sha) ?? []), tag.name]);
    }
    const artifactsByCommit = new Map<string, Artifact[]>();
    for (const artifact of snapshot.artifacts) {
      const key = artifact.commit.slice(0, 7);
      artifactsByCommit.set(key, [
        ...(artifactsByCommit.get(key) ?? []),
        artifact,
      ]);
    }
    const yanks = new Map(snapshot.yanks.map(yank => [yank.sha, yank]));
    const artifactsOf = (sha: string) =>
      (artifactsByCommit.get(sha.slice(0, 7)) ?? []).filter(a =>
        sha.startsWith(a.commit),
      );

    return {
      artifactsOf,
      tagsOf: (sha: string) => tagsBySha.get(sha) ?? [],
      commit: (
        commit: SourceCommit,
        repo: string,
        environments: string[],
      ): LineageCommit => {
        const pr = PULL_REQUEST.map(re => re.exec(commit.subject)).find(
          Boolean,
        );
        const yank = yanks.get(commit.sha);
        const pick =
          cherryPicks.get(commit.sha) ?? CHERRY_PICK.exec(commit.body)?.[1];
        return {
          sha: commit.sha,
          shortSha: commit.sha.slice(0, 7),
          message: commit.subject,
          author: commit.author,
          committedAt: commit.committedAt,
          pullRequest: pr
            ? {
                number: Number(pr[1]),
                url: source.webUrl(repo, `pull/${pr[1]}`) ?? null,
              }
            : null,
          artifacts: artifactsOf(commit.sha).map(toArtifact),
          tags: (tagsBySha.get(commit.sha) ?? []).sort(),
          environments,
          yanked: yank
            ? { by: yank.yankedBy, reason: yank.reason, at: yank.yankedAt }
            : null,
          cherryPickOf: pick ?? null,
        };
      },
    };
  }

  /** Each environment's commit (resolved by the source when nothing read names it), and lag. */
  private async resolveEnvironments(
    adapters: PromotionAdapters,
    target: PromotionTarget,
    commits: SourceCommit[],
    snapshot: Snapshot,
    resolveVersion: VersionResolver,
  ): Promise<ResolvedEnvironment[]> {
    const position = new Map(commits.map((c, index) => [c.sha, index]));
    const resolved = await Promise.all(
      this.options.environments.map(async definition => {
        const deployment = snapshot.deployments[definition.name];
        const sha = deployment
          ? await deployedCommit(
              adapters,
              target,
              deployment,
              resolveVersion(deployment, commits),
            )
          : undefined;
        return { definition, deployment, sha };
      }),
    );
    return Promise.all(
      resolved.map(async (environment, index) => {
        const { sha } = environment;
        let behindBy: number | null = null;
        const ahead = index === 0 ? commits[0].sha : resolved[index - 1].sha;
        if (sha && ahead) {
          const from = position.get(sha);
          const to = position.get(ahead);
          if (from !== undefined && to !== undefined) {
            behindBy = Math.max(0, from - to);
          } else {
            // Outside the page of commits: one compare answers it.
            behindBy = (
              await adapters.source.compare(target.sourceRepo, sha, ahead)
            ).aheadBy;
          }
        }
        return { ...environment, behindBy };
      }),
    );
  }

  private environments(
    resolved: ResolvedEnvironment[],
    decorate: ReturnType<LineageService['decorator']>,
  ): LineageEnvironment[] {
    return resolved.map(({ definition, deployment, sha, behindBy }) => {
      const pattern =
        definition.trigger.type === 'tag'
          ? definition.trigger.pattern
          : undefined;
      const tag =
        deployment && pattern && matchesTagPattern(deployment.version, pattern)
          ? deployment.version
          : (sha &&
              pattern &&
              decorate.tagsOf(sha).find(t => matchesTagPattern(t, pattern))) ||
            null;
      const artifact = sha ? decorate.artifactsOf(sha)[0] : undefined;
      return {
        name: definition.name,
        trigger: definition.trigger,
        production: definition.production,
        policy: definition.policy,
        current: deployment
          ? {
              sha: sha ?? null,
              version: deployment.version,
              tag,
              artifact: artifact ? toArtifact(artifact) : null,
              deployedAt: deployment.deployedAt,
              deployedBy: deployment.deployedBy ?? null,
              revision: deployment.revision ?? null,
            }
          : null,
        behindBy,
      };
    });
  }

  /** Resolves `from`/`to` given as an environment name, a tag or a sha. */
  async compare(
    entityRef: string,
    target: PromotionTarget,
    fromRef: string,
    toRef: string,
  ): Promise<Comparison> {
    // A ref git would refuse (`a..b`, `x.lock`, `../y`) names nothing: say so before asking.
    for (const [parameter, ref] of [
      ['from', fromRef],
      ['to', toRef],
    ] as const) {
      const problem = /^[0-9a-f]{7,40}$/.test(ref)
        ? undefined
        : checkTagName(ref)?.replace('a tag name', 'a ref');
      if (problem) {
        throw new InputError(`${parameter}: "${ref}" is not a ref: ${problem}`);
      }
    }
    const adapters = this.options.adapters.forTarget(target);
    const snapshot = await this.snapshot(entityRef, target, adapters);
    const resolveVersion = versionResolver(snapshot.tags);
    const resolve = async (ref: string, parameter: string) => {
      const environment = this.options.environments.find(e => e.name === ref);
      if (environment) {
        const deployment = snapshot.deployments[ref];
        const sha = deployment
          ? await deployedCommit(
              adapters,
              target,
              deployment,
              resolveVersion(deployment, []),
            )
          : undefined;
        if (!sha) {
          throw new NotFoundError(
            `${parameter}: nothing is deployed to ${ref}`,
          );
        }
        return sha;
      }
      const sha = await adapters.source.resolveCommit(target.sourceRepo, ref);
      if (!sha) {
        throw new NotFoundError(
          `${parameter}: "${ref}" is not an environment, tag or commit of ${target.sourceRepo}`,
        );
      }
      return sha;
    };
    const [fromSha, toSha] = await Promise.all([
      resolve(fromRef, 'from'),
      resolve(toRef, 'to'),
    ]);
    const comparison = await adapters.source.compare(
      target.sourceRepo,
      fromSha,
      toSha,
    );
    const artifacts = await adapters.artifacts.findArtifacts(
      adapters.artifactLocation,
      this.artifactQuery(snapshot, comparison.commits, resolveVersion),
    );
    const decorate = this.decorator(
      { ...snapshot, artifacts },
      adapters.source,
    );
    return {
      entityRef,
      from: { ref: fromRef, sha: fromSha },
      to: { ref: toRef, sha: toSha },
      aheadBy: comparison.aheadBy,
      behindBy: comparison.behindBy,
      commits: comparison.commits.map(commit =>
        decorate.commit(commit, target.sourceRepo, []),
      ),
    };
  }
}
