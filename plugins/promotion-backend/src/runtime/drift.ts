import {
  ArtifactKind,
  EnvironmentState,
  RuntimeEnvironment,
} from '@mainline/plugin-promotion-common';
import { RuntimeState } from '@mainline/plugin-promotion-node';

export type Declared = RuntimeEnvironment['declared'];

const short = (value: string) =>
  value.replace(/^(sha256:)?([0-9a-f]{12})[0-9a-f]{28,}$/, '$1$2');

/** What the lineage says an environment runs. */
export function declaredOf(environment: EnvironmentState): Declared {
  const current = environment.current;
  if (!current) return null;
  return {
    sha: current.sha,
    version: current.version,
    digest: current.artifact?.digest ?? null,
    revision: current.revision,
  };
}

/**
 * Why what runs is not what is declared, or undefined when they agree (or nothing was observed,
 * which is not a disagreement the runtime can vouch for). Images compare digests: the declared
 * artifact's digest must be among the running ones (sidecars run beside it); packages compare
 * the deployed commit, which the Lambda observer checks against the package's code hash.
 */
export function driftOf(
  kind: ArtifactKind,
  declared: Declared,
  running: RuntimeState | undefined,
): string | undefined {
  if (!running) return undefined;
  if (!declared) {
    return `${running.source} runs something, though nothing was deployed here through Mainline`;
  }
  if (running.sync.status === 'OutOfSync') {
    return `${running.source} is OutOfSync${
      running.sync.revision ? ` at ${short(running.sync.revision)}` : ''
    }`;
  }
  if (kind === 'image' && declared.digest) {
    if (!running.runningDigests.includes(declared.digest)) {
      const runs = running.runningDigests.map(short).join(', ') || 'nothing';
      return `runs ${runs}, not the declared ${short(declared.digest)}`;
    }
    return undefined;
  }
  if (kind === 'archive' && declared.sha) {
    if (running.sync.revision !== declared.sha) {
      return `runs ${
        running.sync.revision
          ? short(running.sync.revision)
          : 'an unknown commit'
      }, not the declared ${short(declared.sha)}`;
    }
  }
  return undefined;
}

/**
 * Why what runs must not: the environment runs the declared artifact (no drift), but its commit
 * was yanked since it was deployed, so a version that should run nowhere still runs here. For an
 * image the declared artifact is among the running digests (or no longer named, its tag removed by
 * the yank); for a package the runtime's deployed commit is the yanked one. Undefined when nothing yanked runs (or nothing was observed).
 */
export function yankedRunning(
  kind: ArtifactKind,
  declared: Declared,
  running: RuntimeState | undefined,
  yanked: (sha: string) => { yankedBy: string; reason: string } | undefined,
): string | undefined {
  if (!running) return undefined;
  let sha: string | null | undefined;
  if (kind === 'archive') {
    sha = running.sync.revision;
  } else if (
    declared?.sha &&
    (!declared.digest || running.runningDigests.includes(declared.digest))
  ) {
    // A yank removes the image's tag, so the lineage may no longer name the declared digest: the
    // manifest still pins the yanked commit's tag, which is what the Application was synced to.
    sha = declared.sha;
  }
  const yank = sha ? yanked(sha) : undefined;
  if (!sha || !yank) return undefined;
  return `runs ${short(sha)}, which ${yank.yankedBy} yanked: ${yank.reason}`;
}
