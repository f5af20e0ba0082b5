import { CustomErrorBase, stringifyError } from '@backstage/errors';
import { parseEntityRef } from '@backstage/catalog-model';
import {
  RuntimeObserver,
  RuntimeState,
  RuntimeSubject,
} from '@mainline/plugin-promotion-node';
import { PromotionAdapters } from '../../adapters';
import { PromotionRecord, PromotionStep } from '../../database/PromotionStore';
import { RuntimeSettings } from '../../runtime/settings';
import { short } from '../rules';
import { EntityContext } from '../types';
import { PromotionStepRunner, StepContext, StepOutcome } from './types';

/*
 * The verify step: the last step of a promotion whose entity's runtime is observed. It does not
 * wait in the request: its outcome is `pending` with a reference (`verify:<started>:<next>:<delay>`)
 * the follower polls, so it survives a restart like a deploy waiting for its workflow run (the
 * reference is in the database; the reconciler leaves a waiting step with the follower). Each
 * poll observes the environment once; the delay doubles from `minPollMs` to `maxPollMs`.
 */

/** Where the runtime observers are, and what each environment asks of them. */
export interface RuntimeVerification {
  /** The observer serving an entity, or undefined (see `RuntimeObservers.forSubject`). */
  observerFor(
    subject: RuntimeSubject,
  ): { name: string; observer: RuntimeObserver } | undefined;
  settings: RuntimeSettings;
}

/** Why a promotion's environment was found not to run the promoted artifact. */
export type VerificationReason =
  /** The runtime's last sync of the manifest commit failed (`Failed` or `Error`). */
  | 'sync-failed'
  /** Synced to the manifest commit, the runtime reports the workloads `Degraded`. */
  | 'degraded'
  /** Synced and healthy, but what runs is not the artifact's digest. */
  | 'digest-mismatch'
  /** Until the timeout the runtime stayed synced to another revision. */
  | 'synced-to-other-revision'
  /** The timeout passed with the environment still on its way (e.g. Progressing). */
  | 'timeout'
  /** No runtime observer serves the entity any more. */
  | 'unobserved';

/**
 * A verification that failed: its `reason` says which, its message what was observed. The step
 * and the promotion fail with it; the owners are told (the promotion's failure notice).
 */
export class VerificationFailedError extends CustomErrorBase {
  constructor(
    readonly reason: VerificationReason,
    readonly environment: string,
    message: string,
  ) {
    super(`${reason}: ${message}`);
    this.name = 'VerificationFailedError';
  }
}

/** What the environment is expected to run. */
export interface ExpectedRuntime {
  environment: string;
  version: string;
  /**
   * The image's digest (`sha256:…`). Unset for a package (Lambda): its observer reports
   * `Synced` at the commit only when the functions' code hashes are that commit's package.
   */
  digest?: string;
  /**
   * The revision the runtime must be synced to: the manifest commit the deploy step wrote
   * (containers), the promoted commit (a Lambda observer's `mainline.dev/commit` tag); unset
   * when the deployment records none.
   */
  revision?: string;
  /** When the deploy landed, ISO 8601 (a failed operation older than it is not this one's). */
  deployedAt?: string;
}

/** One observation judged: still on its way, running the artifact, or failed for good. */
export type RuntimeVerdict =
  | {
      state: 'waiting';
      detail: string;
      /** The reason a timeout reports when the state held until then. */
      onTimeout: VerificationReason;
    }
  | { state: 'verified'; detail: string }
  | { state: 'failed'; reason: VerificationReason; detail: string };

const shortDigest = (digest: string) =>
  digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]+$/, '$1…');

/**
 * Judges one observation against what the promotion deployed (pure). `containsRevision` says
 * whether the observed sync revision is a later commit that includes the deploy's (Argo CD syncs
 * the branch head, which moves on with other services' commits).
 */
export function judgeRuntime(
  state: RuntimeState | undefined,
  expected: ExpectedRuntime,
  containsRevision = false,
): RuntimeVerdict {
  const env = expected.environment;
  if (!state) {
    return {
      state: 'waiting',
      detail: `nothing observed running in ${env} yet`,
      onTimeout: 'timeout',
    };
  }
  const ours = (revision: string | undefined) =>
    !expected.revision ||
    revision === expected.revision ||
    (revision !== undefined &&
      revision === state.sync.revision &&
      containsRevision);
  const op = state.lastOperation;
  if (
    op &&
    (op.phase === 'Failed' || op.phase === 'Error') &&
    (expected.revision
      ? ours(op.revision)
      : !expected.deployedAt ||
        (op.startedAt !== undefined && op.startedAt >= expected.deployedAt))
  ) {
    return {
      state: 'failed',
      reason: 'sync-failed',
      detail: `${state.source}: the sync of ${
        expected.revision ? short(expected.revision) : expected.version
      } ${op.phase === 'Error' ? 'ended in an error' : 'failed'}${
        op.message ? `: ${op.message}` : ''
      }`,
    };
  }
  if (!ours(state.sync.revision)) {
    const synced = state.sync.status === 'Synced';
    return {
      state: 'waiting',
      detail: `${state.source} is ${state.sync.status} at ${
        state.sync.revision ? short(state.sync.revision) : 'no revision'
      }, not yet at the manifest commit ${short(expected.revision!)}`,
      onTimeout: synced ? 'synced-to-other-revision' : 'timeout',
    };
  }
  if (state.health.status === 'Degraded') {
    return {
      state: 'failed',
      reason: 'degraded',
      detail: `${state.source} is Degraded${
        state.health.message ? `: ${state.health.message}` : ''
      } after syncing ${expected.version}`,
    };
  }
  const running = state.runningDigests;
  if (!expected.digest) {
    if (state.sync.status === 'Synced' && state.health.status === 'Healthy') {
      return {
        state: 'verified',
        detail: `${env} runs ${expected.version}, Synced${
          expected.revision ? ` at ${short(expected.revision)}` : ''
        } and Healthy (${state.source})`,
      };
    }
    return {
      state: 'waiting',
      detail: `${state.source} is ${state.sync.status} and ${state.health.status}`,
      onTimeout: 'timeout',
    };
  }
  const digest = expected.digest;
  const all = running.length ? running.map(shortDigest).join(', ') : 'nothing';
  if (state.sync.status !== 'Synced' || state.health.status !== 'Healthy') {
    return {
      state: 'waiting',
      detail: `${state.source} is ${state.sync.status} and ${state.health.status}, running ${all}`,
      onTimeout: 'timeout',
    };
  }
  if (running.length > 0 && running.every(d => d === digest)) {
    return {
      state: 'verified',
      detail: `${env} runs ${expected.version} (${shortDigest(
        digest,
      )}), Synced${
        expected.revision ? ` at ${short(expected.revision)}` : ''
      } and Healthy (${state.source})`,
    };
  }
  const mismatch = `${
    state.source
  } is Synced and Healthy but runs ${all}, not ${
    expected.version
  }'s ${shortDigest(digest)}`;
  // Healthy with the new digest among the old: the rollout is finishing. Without it at all, what
  // the manifest pins is not the promoted artifact.
  if (running.includes(digest) || running.length === 0) {
    return { state: 'waiting', detail: mismatch, onTimeout: 'digest-mismatch' };
  }
  return { state: 'failed', reason: 'digest-mismatch', detail: mismatch };
}

const PENDING = /^verify:(\d+):(\d+):(\d+)$/;

/** The reference a waiting verify step is followed by: when it started, its next poll, the delay. */
export function verifyPending(startedAt: number, next: number, delay: number) {
  return `verify:${startedAt}:${next}:${delay}`;
}

function parsePending(pending: string) {
  const match = pending.match(PENDING);
  if (!match) return undefined;
  return {
    startedAt: Number(match[1]),
    next: Number(match[2]),
    delay: Number(match[3]),
  };
}

/** The subject a runtime observer is asked about. */
export function runtimeSubject(entity: EntityContext): RuntimeSubject {
  return {
    entityRef: entity.entityRef,
    name: parseEntityRef(entity.entityRef).name,
    annotations: entity.annotations ?? {},
  };
}

/** Where a followed verify step has got to. */
export type VerifyProgress =
  | { state: 'not-due' }
  | { state: 'pending'; detail: string; url?: string; pending: string }
  | { state: 'succeeded'; detail: string; url?: string }
  | { state: 'failed'; error: VerificationFailedError; url?: string };

/**
 * Waits until the environment runs the promoted artifact (see the file comment). The step runs
 * only in promotions planned with it, for entities an observer serves.
 */
export class VerifyStep implements PromotionStepRunner {
  constructor(private readonly runtime: RuntimeVerification | undefined) {}

  /** Whether promotions of `entity` end with a verify step. */
  applies(entity: EntityContext): boolean {
    return !!this.runtime?.observerFor(runtimeSubject(entity));
  }

  async run({ record }: StepContext): Promise<StepOutcome> {
    const now = Date.now();
    const delay = this.runtime?.settings.minPollMs ?? 2000;
    return {
      detail: `waiting until ${record.environment} runs ${record.version}`,
      pending: verifyPending(now, now + delay, delay),
    };
  }

  /** A recovery finds nothing done: the step is run again, which starts the wait again. */
  async inspect() {
    return {
      state: 'todo' as const,
      detail: 'the environment is verified by waiting',
    };
  }

  /**
   * One poll of a waiting verify step, by the follower; `not-due` before its next poll unless
   * `woken` (a runtime's notification), which observes now and leaves the schedule as it was.
   */
  async follow(
    entity: EntityContext,
    record: PromotionRecord,
    step: PromotionStep,
    adapters: PromotionAdapters,
    now = Date.now(),
    woken = false,
  ): Promise<VerifyProgress> {
    const parsed = parsePending(step.pending ?? '');
    const env = record.environment;
    const fail = (reason: VerificationReason, detail: string, url?: string) =>
      ({
        state: 'failed',
        error: new VerificationFailedError(reason, env, detail),
        url,
      } as const);
    if (!parsed)
      return fail('unobserved', `unreadable reference ${step.pending}`);
    const early = now < parsed.next;
    if (early && !woken) return { state: 'not-due' };
    const served = this.runtime?.observerFor(runtimeSubject(entity));
    if (!served || !this.runtime) {
      return fail(
        'unobserved',
        `no runtime observer serves ${entity.entityRef} any more`,
      );
    }
    const timeoutMs = this.runtime.settings.environments[env]?.verify.timeoutMs;
    const deadline = parsed.startedAt + (timeoutMs ?? 10 * 60_000);
    let verdict: RuntimeVerdict;
    let url: string | undefined;
    try {
      const [artifact, deployments] = await Promise.all([
        adapters.artifacts.getArtifact(adapters.artifactLocation, record.sha),
        adapters.deployments.current(entity.target, [env]),
      ]);
      if (!artifact) {
        return fail(
          'digest-mismatch',
          `${short(record.sha)} has no artifact any more (yanked?)`,
        );
      }
      const deployment = deployments[env];
      // A package's code hashes are the observer's to check against the commit's package.
      const pkg = entity.target.artifactKind === 'archive';
      const expected: ExpectedRuntime = {
        environment: env,
        version: record.version,
        digest: pkg ? undefined : artifact.digest,
        revision: pkg
          ? record.sha
          : (deployment?.version === record.version && deployment.revision) ||
            undefined,
        deployedAt: deployment?.deployedAt,
      };
      const state = (
        await served.observer.observe(runtimeSubject(entity), [env])
      )[env];
      url = state?.url;
      let contains = false;
      const { manifestRepo } = entity.target;
      if (
        !pkg &&
        state?.sync.revision &&
        expected.revision &&
        manifestRepo &&
        state.sync.revision !== expected.revision
      ) {
        contains = await adapters.source
          .compare(manifestRepo, expected.revision, state.sync.revision)
          .then(
            c => c.behindBy === 0 && c.aheadBy > 0,
            () => false,
          );
      }
      verdict = judgeRuntime(state, expected, contains);
    } catch (error) {
      verdict = {
        state: 'waiting',
        detail: `could not observe ${env} (${served.name}): ${stringifyError(
          error,
        )}`,
        onTimeout: 'timeout',
      };
    }
    if (verdict.state === 'verified') {
      return { state: 'succeeded', detail: verdict.detail, url };
    }
    if (verdict.state === 'failed') {
      return fail(verdict.reason, verdict.detail, url);
    }
    if (now >= deadline) {
      return fail(
        verdict.onTimeout,
        `${env} did not run ${record.version} within ${Math.round(
          (deadline - parsed.startedAt) / 1000,
        )} s: ${verdict.detail}`,
        url,
      );
    }
    const detail = `waiting until ${env} runs ${record.version}: ${verdict.detail}`;
    // A notification before the transition it announces (sync started) must not push the polls,
    // the fallback for notifications that never come, further out.
    if (early) return { state: 'pending', detail, url, pending: step.pending! };
    const delay = Math.min(
      Math.max(parsed.delay * 2, this.runtime.settings.minPollMs),
      this.runtime.settings.maxPollMs,
    );
    return {
      state: 'pending',
      detail,
      url,
      pending: verifyPending(
        parsed.startedAt,
        Math.min(now + delay, deadline),
        delay,
      ),
    };
  }
}
