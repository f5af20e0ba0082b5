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
