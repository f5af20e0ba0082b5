import fs from 'node:fs/promises';
import path from 'node:path';
import {
  PromotionTarget,
  readPromotionTarget,
} from '@mainline/plugin-promotion-common';
import {
  ArtifactRegistry,
  RuntimeHealthStatus,
  RuntimeObserver,
  RuntimeOperationPhase,
  RuntimeState,
  RuntimeSubject,
  RuntimeSyncStatus,
  SourceCommit,
  SourceControl,
} from '@mainline/plugin-promotion-node';
import { readImageTag } from '@mainline/plugin-promotion-backend-module-gitops';

/**
 * The annotation that places an entity in the embedded local runtime: `healthy` (every
 * manifest commit applies), `sync-fails` (only an environment's first manifest commit applies;
 * later syncs fail and the first version keeps running), `never-healthy` (later versions sync
 * but their pods never become ready: Progressing, then Degraded once the progress deadline
 * passes); in both, a later commit that pins the first commit's image again (a rollback to
 * it) applies and runs healthy; or per environment, `demo=sync-fails,prod=healthy` (unnamed environments: healthy).
 *
 * @public
 */
export const LOCAL_RUNTIME_ANNOTATION = 'mainline.dev/local-runtime';

/**
 * How an environment of the local runtime behaves.
 *
 * @public
 */
export type LocalRuntimeMode = 'healthy' | 'sync-fails' | 'never-healthy';

const MODES: LocalRuntimeMode[] = ['healthy', 'sync-fails', 'never-healthy'];

/** How long a never-healthy rollout stays Progressing before it is Degraded, by default. */
const PROGRESS_DEADLINE_MS = 60_000;
const HISTORY = 50;

/**
 * What a seeded environment runs, as a test or a fixture writes it into
 * `<dataDir>/runtime/<entity name>.json` (one object by environment): for entities without
 * manifest annotations, whose state is not derived from git.
 *
 * @public
 */
export interface LocalRuntimeSeed {
  sync: { status: RuntimeSyncStatus; revision?: string };
  health: { status: RuntimeHealthStatus; message?: string; since: string };
  operation?: {
    phase: RuntimeOperationPhase;
    message?: string;
    revision?: string;
    startedAt?: string;
    finishedAt?: string;
  };
  pods: Array<{
    name: string;
    containers: Array<{ name: string; image: string; digest: string }>;
  }>;
}

/**
 * Options of the local runtime.
 *
 * @public
 */
export interface LocalRuntimeOptions {
  /** The backend's source control, where the manifest repositories are. */
  source: SourceControl;
  /** The artifact store, for the digest of the image a manifest pins. */
  artifacts: ArtifactRegistry;
  /** The branch the runtime follows (`promotion.manifestBranch`). */
  branch: string;
  /** How long after a manifest commit the runtime has applied it. */
  applyDelayMs: number;
  /** `<dataDir>/runtime`: seeded states. */
  seedDir: string;
  /** How long a never-healthy rollout is Progressing before it is Degraded (default 60 s). */
  progressDeadlineMs?: number;
  now?: () => number;
}

/**
 * The mode of `environment` from the annotation's value.
 *
 * @public
 */
export function localRuntimeMode(
  value: string | undefined,
  environment: string,
): LocalRuntimeMode {
  const spec = (value ?? '').trim();
  if ((MODES as string[]).includes(spec)) return spec as LocalRuntimeMode;
  for (const part of spec.split(',')) {
    const [env, mode] = part.split('=').map(s => s.trim());
    if (env === environment && (MODES as string[]).includes(mode)) {
      return mode as LocalRuntimeMode;
    }
  }
  return 'healthy';
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The embedded default's runtime: it "applies" the local manifest repository as Argo CD's
 * automated sync would, `applyDelayMs` after each manifest commit, and reports sync revision,
 * health and the running digest (that of the image the environment's file pins, from the
 * artifact store). Nothing runs in the background: each observation derives the state from the
 * manifest history and the clock, so it survives restarts and needs no controller. Entities
 * without manifest annotations read a seeded state instead.
 *
 * @public
 */
export class LocalRuntimeObserver implements RuntimeObserver {
  private readonly now: () => number;

  constructor(private readonly options: LocalRuntimeOptions) {
    this.now = options.now ?? Date.now;
  }

  serves(subject: RuntimeSubject): boolean {
    return LOCAL_RUNTIME_ANNOTATION in subject.annotations;
  }

  async observe(
    subject: RuntimeSubject,
    environments: string[],
  ): Promise<Record<string, RuntimeState | undefined>> {
    const read = readPromotionTarget({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: { name: subject.name, annotations: subject.annotations },
    });
    const target =
      read.ok && read.target.manifestRepo && read.target.manifestPath
        ? read.target
        : undefined;
    const entries = await Promise.all(
      environments.map(
        async environment =>
          [
            environment,
            target
              ? await this.derived(subject, target, environment)
              : await this.seeded(subject, environment),
          ] as const,
      ),
    );
    return Object.fromEntries(entries);
  }

  private source(subject: RuntimeSubject, environment: string) {
    return `local runtime: ${subject.name}-${environment}`;
  }

  private async seeded(
    subject: RuntimeSubject,
    environment: string,
  ): Promise<RuntimeState | undefined> {
    if (!/^[a-z0-9][a-z0-9._-]*$/i.test(subject.name)) return undefined;
    let seeds: Record<string, LocalRuntimeSeed>;
    try {
      seeds = JSON.parse(
        await fs.readFile(
          path.join(this.options.seedDir, `${subject.name}.json`),
          'utf8',
        ),
      );
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const seed = seeds[environment];
    if (!seed) return undefined;
    return {
      environment,
      source: this.source(subject, environment),
      sync: seed.sync,
      health: {
        status: seed.health.status,
        ...(seed.health.message ? { message: seed.health.message } : {}),
      },
      ...(seed.operation ? { lastOperation: seed.operation } : {}),
      runningDigests: digestsOf(seed.pods),
      since: seed.health.since,
      observedAt: iso(this.now()),
    };
  }

  /** The state of one environment as the manifest history and the clock make it. */
  private async derived(
    subject: RuntimeSubject,
    target: PromotionTarget,
    environment: string,
  ): Promise<RuntimeState | undefined> {
    const { source, branch, applyDelayMs } = this.options;
    const repo = target.manifestRepo!;
    const file = target.manifestPath!.replace(/\{environment\}/g, environment);
    const commits = await source.listCommits(repo, {
      ref: branch,
      limit: HISTORY,
      path: file,
    });
    if (commits.length === 0) return undefined;
    const now = this.now();
    const appliedAt = (c: SourceCommit) =>
      Date.parse(c.committedAt) + applyDelayMs;
    const newest = commits[0];
    const first = commits[commits.length - 1];
    const mode = localRuntimeMode(
      subject.annotations[LOCAL_RUNTIME_ANNOTATION],
      environment,
    );
    const arrived = commits.filter(c => appliedAt(c) <= now);
    // What the runtime took up last, and what it runs: a failing sync keeps the first version.
    const ranLast = arrived[0];
    const running = mode === 'sync-fails' ? first : ranLast;
    const base = {
      environment,
      source: this.source(subject, environment),
      observedAt: iso(now),
    };
    if (!ranLast) {
      // The first manifest commit is still being applied: nothing runs yet.
      return {
        ...base,
        sync: { status: 'OutOfSync', revision: newest.sha },
        health: { status: 'Progressing' },
        lastOperation: {
          phase: 'Running',
          revision: newest.sha,
          startedAt: newest.committedAt,
        },
        runningDigests: [],
        since: newest.committedAt,
      };
    }
    const runningDigest = await this.digestAt(target, repo, running.sha, file);
    const syncing = newest !== ranLast;
    // A manifest that pins the environment's first image again (a rollback to it) applies.
    const faulted =
      ranLast !== first &&
      mode !== 'healthy' &&
      (await this.digestAt(target, repo, ranLast.sha, file)) !==
        (await this.digestAt(target, repo, first.sha, file));
    if (faulted && mode === 'sync-fails') {
      return {
        ...base,
        sync: { status: 'OutOfSync', revision: newest.sha },
        health: { status: 'Healthy' },
        lastOperation: syncing
          ? {
              phase: 'Running',
              revision: newest.sha,
              startedAt: newest.committedAt,
            }
          : {
              phase: 'Failed',
              message: `one or more objects failed to apply: the local runtime refuses ${environment}'s manifests (${LOCAL_RUNTIME_ANNOTATION}: sync-fails)`,
              revision: ranLast.sha,
              startedAt: ranLast.committedAt,
              finishedAt: iso(appliedAt(ranLast)),
            },
        runningDigests: runningDigest ? [runningDigest] : [],
        since: iso(appliedAt(first)),
      };
    }
    if (faulted && mode === 'never-healthy') {
      const firstDigest = await this.digestAt(target, repo, first.sha, file);
      const deadline = this.options.progressDeadlineMs ?? PROGRESS_DEADLINE_MS;
      const deadlinePassed = now >= appliedAt(ranLast) + deadline && !syncing;
      return {
        ...base,
        sync: {
          status: syncing ? 'OutOfSync' : 'Synced',
          revision: syncing ? newest.sha : ranLast.sha,
        },
        health: deadlinePassed
          ? {
              status: 'Degraded',
              message: `Deployment ${subject.name} exceeded its progress deadline: the new pods never became ready (${LOCAL_RUNTIME_ANNOTATION}: never-healthy)`,
            }
          : {
              status: 'Progressing',
              message:
                'Waiting for rollout to finish: 0 of 1 updated replicas are available',
            },
        lastOperation: {
          phase: 'Succeeded',
          message: 'successfully synced (all tasks run)',
          revision: ranLast.sha,
          startedAt: ranLast.committedAt,
          finishedAt: iso(appliedAt(ranLast)),
        },
        runningDigests: [
          ...new Set(
            [firstDigest, runningDigest].filter((d): d is string => !!d),
          ),
        ].sort(),
        since: iso(
          deadlinePassed ? appliedAt(ranLast) + deadline : appliedAt(ranLast),
        ),
      };
    }
    return {
      ...base,
      sync: {
        status: syncing ? 'OutOfSync' : 'Synced',
        revision: syncing ? newest.sha : ranLast.sha,
      },
      health: { status: syncing ? 'Progressing' : 'Healthy' },
      lastOperation: syncing
        ? {
            phase: 'Running',
            revision: newest.sha,
            startedAt: newest.committedAt,
          }
        : {
            phase: 'Succeeded',
            message: 'successfully synced (all tasks run)',
            revision: ranLast.sha,
            startedAt: ranLast.committedAt,
            finishedAt: iso(appliedAt(ranLast)),
          },
      runningDigests: runningDigest ? [runningDigest] : [],
      since: iso(syncing ? Date.parse(newest.committedAt) : appliedAt(ranLast)),
    };
  }

  /** The digest of the image the environment's file pins at `sha`, from the artifact store. */
  private async digestAt(
    target: PromotionTarget,
    repo: string,
    sha: string,
    file: string,
  ): Promise<string | undefined> {
    const content = await this.options.source.readFile(repo, sha, file);
    if (!content) return undefined;
    let tag: string | undefined;
    try {
      tag = readImageTag(
        content.content,
        target.artifactLocation,
        target.manifestImagePath,
      );
    } catch {
      return undefined;
    }
    if (!tag) return undefined;
    const artifacts = await this.options.artifacts.listArtifacts({
      kind: target.artifactKind,
      location: target.artifactLocation,
    });
    return artifacts.find(
      a =>
        a.tags.includes(tag!) ||
        (tag!.length >= 7 && a.commit.startsWith(tag!)),
    )?.digest;
  }
}

function digestsOf(pods: LocalRuntimeSeed['pods']): string[] {
  return [
    ...new Set(pods.flatMap(p => p.containers.map(c => c.digest))),
  ].sort();
}
