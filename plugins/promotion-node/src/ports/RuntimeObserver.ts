/**
 * The entity a runtime observer is asked about: its catalog reference, name and annotations
 * (where the runtime is found, e.g. `argocd/app-name`).
 *
 * @public
 */
export interface RuntimeSubject {
  /** E.g. `component:default/payments`. */
  entityRef: string;
  /** The entity's `metadata.name`, for name patterns such as `{name}-{environment}`. */
  name: string;
  annotations: Record<string, string>;
}

/**
 * Whether what runs matches what the deployment mechanism declared: `Synced` when the runtime
 * applied the declared revision, `OutOfSync` when it has not (yet), `Unknown` when it cannot tell.
 *
 * @public
 */
export type RuntimeSyncStatus = 'Synced' | 'OutOfSync' | 'Unknown';

/**
 * The runtime's own health verdict. The names are Argo CD's; other adapters map onto them.
 *
 * @public
 */
export type RuntimeHealthStatus =
  | 'Healthy'
  | 'Progressing'
  | 'Degraded'
  | 'Suspended'
  | 'Missing'
  | 'Unknown';

/**
 * The phase of the runtime's last operation (a sync, an update): `Failed` and `Error` mean the
 * declared state was not applied, whatever the health says.
 *
 * @public
 */
export type RuntimeOperationPhase =
  | 'Running'
  | 'Succeeded'
  | 'Failed'
  | 'Error'
  | 'Terminating';

/**
 * What runs in one environment, as the runtime reports it at `observedAt`.
 *
 * @public
 */
export interface RuntimeState {
  environment: string;
  /** What was observed, for messages and links: e.g. `argocd prod-eu: payments-stage`. */
  source: string;
  /** A link to the runtime's own view (the Argo CD Application page). */
  url?: string;
  sync: {
    status: RuntimeSyncStatus;
    /** The declared revision the runtime compared against (a manifest-repository commit). */
    revision?: string;
  };
  health: {
    status: RuntimeHealthStatus;
    message?: string;
  };
  /** The last operation, when the runtime ran one. */
  lastOperation?: {
    phase: RuntimeOperationPhase;
    /** What the runtime said, bounded: the reason a sync failed. */
    message?: string;
    /** The revision the operation applied. */
    revision?: string;
    /** ISO 8601. */
    startedAt?: string;
    /** ISO 8601; unset while it runs. */
    finishedAt?: string;
  };
  /**
   * The digests (`sha256:…`) of the images the live workloads run, sorted and without repeats;
   * empty when nothing runs (no pods) or the runtime does not run images.
   */
  runningDigests: string[];
  /**
   * ISO 8601 time since which the state holds as reported: the health's last transition, else
   * the last operation's end.
   */
  since?: string;
  /** ISO 8601 time of the observation. */
  observedAt: string;
  /**
   * Serverless runtimes: the code hashes the functions run, as Lambda's `CodeSha256` spells
   * them (base64 of the SHA-256 of the deployment zip), sorted and without repeats; unset where
   * the runtime runs no packages. Image functions report their digests in `runningDigests`.
   */
  runningCodeSha256s?: string[];
  /** Serverless runtimes: each function of the environment, what it runs and how it is tagged. */
  functions?: RuntimeFunctionState[];
}

/**
 * One function of an environment (a Lambda function, at its alias when one is used).
 *
 * @public
 */
export interface RuntimeFunctionState {
  name: string;
  /** `$LATEST` or the published version number the alias points to. */
  version: string;
  /** The share of traffic (0 to 1) when an alias splits it between versions. */
  weight?: number;
  /** `Zip` (a deployment package) or `Image` (a container image). */
  packageType: 'Zip' | 'Image';
  /** Lambda's `CodeSha256`: base64 SHA-256 of the zip, or the hex image digest. */
  codeSha256: string;
  /** ISO 8601 time of the function's (version's) last update. */
  lastModified?: string;
  /** The function's tags (the deployed commit among them, when the deploy sets it). */
  tags: Record<string, string>;
}

/**
 * Observes what actually runs in an entity's environments (the runtime port): Argo CD
 * Applications, Lambda functions, the embedded local runtime.
 *
 * @public
 */
export interface RuntimeObserver {
  /** Whether the entity's annotations (or the observer's configuration) place it here. */
  serves(subject: RuntimeSubject): boolean;
  /**
   * The state of each named environment; undefined where the runtime has nothing for it (no
   * Application found). Reads only, and never from a cache older than the call: a caller
   * waiting for a transition sees it on the next call. A runtime that cannot be reached is an
   * error naming the instance, never an undefined environment.
   */
  observe(
    subject: RuntimeSubject,
    environments: string[],
  ): Promise<Record<string, RuntimeState | undefined>>;
}
