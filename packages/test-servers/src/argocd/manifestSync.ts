import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  ArgoCdHealthStatus,
  ArgoCdPodSeed,
  ArgoCdTestServer,
} from './ArgoCdTestServer';

const run = promisify(execFile);

/**
 * What a sync of an Application's manifest change comes to: `healthy` (Succeeded, Healthy),
 * `sync-fails` (the operation Failed, the old pods keep running), or Succeeded with the pods left
 * `Degraded` or `Progressing` (they never become ready).
 */
export type ArgoCdSyncOutcome =
  | 'healthy'
  | 'sync-fails'
  | 'degraded'
  | 'progressing';

/** One Application following one file of the manifest repository. */
export interface ArgoCdManifestApp {
  /** The Application (it must exist on the server). */
  name: string;
  /** The environment's file in the manifest repository. */
  path: string;
  /** Default `healthy`; may change between syncs. */
  outcome?: ArgoCdSyncOutcome;
  /** The pods a successful sync leaves, from the file's content at the synced revision. */
  pods(
    content: string,
    revision: string,
  ): ArgoCdPodSeed[] | Promise<ArgoCdPodSeed[]>;
}

/** A running follower; `stop` ends it. */
export interface ArgoCdManifestSync {
  apps: ArgoCdManifestApp[];
  /** When each Application last turned healthy (a finished Succeeded/Healthy sync). */
  healthyAt: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * Drives the test server's Applications from a bare manifest repository (the one the local or
 * the GitHub test server serves), as Argo CD's automated sync does: every `pollMs` the branch is
 * read; when a commit changed an Application's file, a sync to the branch head starts
 * (OutOfSync, Progressing, operation Running) and `syncMs` later it ends as the app's outcome says.
 */
export function syncFromManifestRepository(
  server: ArgoCdTestServer,
  options: {
    /** The bare repository, e.g. `<dataDir>/git/<owner>/deployments.git`. */
    gitDir: string;
    branch?: string;
    apps: ArgoCdManifestApp[];
    pollMs?: number;
    syncMs?: number;
  },
): ArgoCdManifestSync {
  const branch = options.branch ?? 'main';
  const pollMs = options.pollMs ?? 200;
  const syncMs = options.syncMs ?? 1000;
  const git = async (...args: string[]) =>
    (await run('git', ['--git-dir', options.gitDir, ...args])).stdout.trim();
  const seen = new Map<string, string>();
  const healthyAt = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  let round: Promise<void> = Promise.resolve();

  const finish = async (app: ArgoCdManifestApp, revision: string) => {
    const outcome = app.outcome ?? 'healthy';
    if (outcome === 'sync-fails') {
      server.finishSync(app.name, {
        phase: 'Failed',
        message: `one or more objects failed to apply (reason: admission webhook denied ${app.path})`,
      });
      return;
    }
    const content = await git('show', `${revision}:${app.path}`);
    const health: Record<string, ArgoCdHealthStatus> = {
      healthy: 'Healthy',
      degraded: 'Degraded',
      progressing: 'Progressing',
    };
    server.finishSync(app.name, {
      phase: 'Succeeded',
      pods: await app.pods(content, revision),
      health: health[outcome],
    });
    if (outcome === 'healthy') healthyAt.set(app.name, Date.now());
  };

  /** Ends the sync of `app` to `revision` once it has taken `syncMs`. */
  const later = (app: ArgoCdManifestApp, revision: string) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      round = round.then(() => finish(app, revision)).catch(() => {});
    }, syncMs);
    timers.add(timer);
  };

  const poll = async () => {
    const head = await git('rev-parse', `refs/heads/${branch}`);
    for (const app of options.apps) {
      const changed = await git(
        'log',
        '-1',
        '--format=%H',
        head,
        '--',
        app.path,
      );
      if (!changed) continue;
      if (!seen.has(app.name)) {
        // What the repository had when following started is what runs.
        seen.set(app.name, changed);
        continue;
      }
      if (seen.get(app.name) === changed) continue;
      seen.set(app.name, changed);
      server.startSync(app.name, head);
      later(app, head);
    }
  };

  const loop = async () => {
    while (!stopped) {
      round = round.then(poll).catch(() => {});
      await round;
      await new Promise(resolve => setTimeout(resolve, pollMs));
    }
  };
  const looping = loop();

  return {
    apps: options.apps,
    healthyAt,
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await looping;
      await round;
    },
  };
}
