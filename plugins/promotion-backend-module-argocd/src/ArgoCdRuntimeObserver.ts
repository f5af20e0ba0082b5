import { InputError, ServiceUnavailableError } from '@backstage/errors';
import {
  RuntimeHealthStatus,
  RuntimeObserver,
  RuntimeOperationPhase,
  RuntimeState,
  RuntimeSubject,
  RuntimeSyncStatus,
  parseJson,
  readBounded,
} from '@mainline/plugin-promotion-node';
import { ArgoCdInstance, ArgoCdOptions } from './config';

/**
 * The annotations of the Backstage Argo CD plugins, which this observer reads as they do.
 *
 * @public
 */
export const ARGOCD_APP_NAME = 'argocd/app-name';
/**
 * The annotation selecting a service's Argo CD applications by label.
 *
 * @public
 */
export const ARGOCD_APP_SELECTOR = 'argocd/app-selector';
/**
 * The annotation naming the Argo CD instance a service runs under.
 *
 * @public
 */
export const ARGOCD_INSTANCE_NAME = 'argocd/instance-name';

/** An Application list of a large instance stays well under this. */
const BODY_LIMIT = 16 * 1024 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;
/** The longest Argo CD message kept: sync errors can quote whole manifests. */
const MESSAGE_LIMIT = 500;
const DIGEST = /(sha256:[0-9a-f]{64})$/;
const STATUS_MEANING: Record<number, string> = {
  401: ' (the token was rejected)',
  403: ' (permission denied)',
};

const SYNC: RuntimeSyncStatus[] = ['Synced', 'OutOfSync', 'Unknown'];
const HEALTH: RuntimeHealthStatus[] = [
  'Healthy',
  'Progressing',
  'Degraded',
  'Suspended',
  'Missing',
  'Unknown',
];
const PHASES: RuntimeOperationPhase[] = [
  'Running',
  'Succeeded',
  'Failed',
  'Error',
  'Terminating',
];

/** The fields of an Argo CD Application this observer reads (v1alpha1Application). */
interface Application {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
  };
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string; message?: string; lastTransitionTime?: string };
    operationState?: {
      phase?: string;
      message?: string;
      startedAt?: string;
      finishedAt?: string;
      operation?: { sync?: { revision?: string } };
      syncResult?: { revision?: string };
    };
  };
}

/**
 * The Application an Argo CD notification is about.
 *
 * @public
 */
export interface NotifiedApplication {
  /** The configured instance that sent it. */
  instance: string;
  name: string;
  namespace?: string;
  /** `metadata.labels`, when the notification's template sends them. */
  labels?: Record<string, string>;
}

/**
 * Whether labels match a Kubernetes equality selector (`k=v`, `k==v`, `k!=v`, `k`, `!k`,
 * comma-separated); a set-based term (`k in (a,b)`) is taken as matching.
 */
function matchesSelector(labels: Record<string, string>, selector: string) {
  return selector
    .split(/,(?![^(]*\))/)
    .map(t => t.trim())
    .filter(Boolean)
    .every(term => {
      if (/\s(in|notin)\s/.test(term)) return true;
      const unequal = term.match(/^([^!=]+)!=(.*)$/);
      if (unequal) return labels[unequal[1].trim()] !== unequal[2].trim();
      const equal = term.match(/^([^!=]+)==?(.*)$/);
      if (equal) return labels[equal[1].trim()] === equal[2].trim();
      if (term.startsWith('!')) return !(term.slice(1).trim() in labels);
      return term in labels;
    });
}

interface ResourceNode {
  kind?: string;
  group?: string;
  version?: string;
  namespace?: string;
  name?: string;
}

function bounded(message: string | undefined): string | undefined {
  if (!message) return undefined;
  return message.length > MESSAGE_LIMIT
    ? `${message.slice(0, MESSAGE_LIMIT)}…`
    : message;
}

function oneOf<T extends string>(
  value: string | undefined,
  values: T[],
  fallback?: T,
) {
  return values.includes(value as T) ? (value as T) : fallback;
}

/**
 * What runs in each environment, from the Argo CD Application of that environment: its sync
 * status and revision, health, last operation, and the image digests of its live Pods (from
 * the resource tree, then each Pod's live manifest, `status.containerStatuses[].imageID`). Each
 * call reads Argo CD afresh; nothing is cached, so a caller waiting for a sync sees it land.
 *
 * @public
 */
export class ArgoCdRuntimeObserver implements RuntimeObserver {
  constructor(private readonly options: ArgoCdOptions) {}

  serves(subject: RuntimeSubject): boolean {
    return Boolean(
      subject.annotations[ARGOCD_APP_NAME] ||
        subject.annotations[ARGOCD_APP_SELECTOR],
    );
  }

  async observe(
    subject: RuntimeSubject,
    environments: string[],
  ): Promise<Record<string, RuntimeState | undefined>> {
    const instances = this.instancesFor(subject);
    const found = await this.applications(subject, environments, instances);
    const states = await Promise.all(
      environments.map(async environment => {
        const hit = found[environment];
        return [
          environment,
          hit
            ? await this.state(environment, hit.instance, hit.app)
            : undefined,
        ] as const;
      }),
    );
    return Object.fromEntries(states);
  }

  /**
   * Whether the Application a notification names may be `environment`'s of `subject`, from the
   * annotations alone, as `observe` would find it: on an instance the subject is asked on, by
   * the name pattern, or by the selector and the environment label. Without the Application's
   * labels a selector cannot be checked, so the answer is yes (one observation too many).
   */
  concerns(
    subject: RuntimeSubject,
    environment: string,
    app: NotifiedApplication,
  ): boolean {
    if (!this.serves(subject)) return false;
    const named = subject.annotations[ARGOCD_INSTANCE_NAME];
    if (named && named !== app.instance) return false;
    const selector = subject.annotations[ARGOCD_APP_SELECTOR];
    if (!selector) {
      return (
        app.name ===
        this.nameFor(subject.annotations[ARGOCD_APP_NAME], environment)
      );
    }
    if (!app.labels) return true;
    if (!matchesSelector(app.labels, selector)) return false;
    const labelled = app.labels[this.options.environmentLabel];
    return labelled !== undefined
      ? labelled === environment
      : app.name === this.nameFor(subject.name, environment);
  }

  private instancesFor(subject: RuntimeSubject): ArgoCdInstance[] {
    const named = subject.annotations[ARGOCD_INSTANCE_NAME];
    if (!named) return this.options.instances;
    const instance = this.options.instances.find(i => i.name === named);
    if (!instance) {
      throw new InputError(
        `${
          subject.entityRef
        }: ${ARGOCD_INSTANCE_NAME} names "${named}", which is not among the configured Argo CD instances (${this.options.instances
          .map(i => i.name)
          .join(', ')})`,
      );
    }
    return [instance];
  }

  private nameFor(name: string, environment: string) {
    return this.options.appNamePattern
      .replaceAll('{name}', name)
      .replaceAll('{environment}', environment);
  }

  /** Each environment's Application, from the first instance (in configured order) that has it. */
  private async applications(
    subject: RuntimeSubject,
    environments: string[],
    instances: ArgoCdInstance[],
  ): Promise<
    Record<string, { instance: ArgoCdInstance; app: Application } | undefined>
  > {
    const selector = subject.annotations[ARGOCD_APP_SELECTOR];
    const appName = subject.annotations[ARGOCD_APP_NAME];
    const perInstance = await Promise.all(
      instances.map(async instance => {
        if (selector) {
          // One list per instance; the environment is the label, else the name pattern.
          const apps = await this.list(instance, { selector });
          return environments.map(
            environment =>
              apps.find(
                a =>
                  a.metadata?.labels?.[this.options.environmentLabel] ===
                  environment,
              ) ??
              apps.find(
                a =>
                  a.metadata?.name === this.nameFor(subject.name, environment),
              ),
          );
        }
        return Promise.all(
          environments.map(async environment => {
            const name = this.nameFor(appName, environment);
            // A list by name answers empty for a missing Application, where a get by name
            // answers 403 alike for missing and forbidden.
            const apps = await this.list(instance, { name });
            return apps.find(a => a.metadata?.name === name);
          }),
        );
      }),
    );
    return Object.fromEntries(
      environments.map((environment, e) => {
        const i = perInstance.findIndex(apps => apps[e]);
        return [
          environment,
          i < 0
            ? undefined
            : { instance: instances[i], app: perInstance[i][e]! },
        ];
      }),
    );
  }

  private async state(
    environment: string,
    instance: ArgoCdInstance,
    app: Application,
  ): Promise<RuntimeState> {
    const name = app.metadata?.name ?? '';
    const namespace = app.metadata?.namespace;
    const status = app.status ?? {};
    const operation = status.operationState;
    const phase = oneOf(operation?.phase, PHASES);
    return {
      environment,
      source: `argocd ${instance.name}: ${name}`,
      url: `${instance.baseUrl}/applications/${encodeURIComponent(
        namespace ?? 'argocd',
      )}/${encodeURIComponent(name)}`,
      sync: {
        status: oneOf(status.sync?.status, SYNC, 'Unknown')!,
        revision: status.sync?.revision,
      },
      health: {
        status: oneOf(status.health?.status, HEALTH, 'Unknown')!,
        message: bounded(status.health?.message),
      },
      lastOperation: phase && {
        phase,
        message: bounded(operation?.message),
        revision:
          operation?.syncResult?.revision ??
          operation?.operation?.sync?.revision,
        startedAt: operation?.startedAt,
        finishedAt: operation?.finishedAt,
      },
      runningDigests: await this.runningDigests(instance, name, namespace),
      since: status.health?.lastTransitionTime ?? operation?.finishedAt,
      observedAt: new Date().toISOString(),
    };
  }

  /** The digests the Application's live Pods run, from each Pod's container statuses. */
  private async runningDigests(
    instance: ArgoCdInstance,
    name: string,
    namespace: string | undefined,
  ): Promise<string[]> {
    const app = encodeURIComponent(name);
    const scope: Record<string, string> = namespace
      ? { appNamespace: namespace }
      : {};
    const tree = await this.get<{ nodes?: ResourceNode[] }>(
      instance,
      `/api/v1/applications/${app}/resource-tree`,
      scope,
    );
    const pods = (tree.nodes ?? []).filter(n => n.kind === 'Pod' && n.name);
    const digests = await Promise.all(
      pods.map(async pod => {
        const live = await this.get<{ manifest?: string }>(
          instance,
          `/api/v1/applications/${app}/resource`,
          {
            ...scope,
            namespace: pod.namespace ?? '',
            resourceName: pod.name!,
            version: pod.version ?? 'v1',
            kind: 'Pod',
            group: pod.group ?? '',
          },
        );
        const manifest = parseJson<{
          status?: { containerStatuses?: Array<{ imageID?: string }> };
        }>(
          Buffer.from(live.manifest ?? '{}'),
          `the live manifest of Pod ${pod.name}`,
        );
        return (manifest.status?.containerStatuses ?? [])
          .map(c => c.imageID?.match(DIGEST)?.[1])
          .filter((d): d is string => Boolean(d));
      }),
    );
    return [...new Set(digests.flat())].sort();
  }

  private async list(
    instance: ArgoCdInstance,
    filter: { name?: string; selector?: string },
  ): Promise<Application[]> {
    const query: Record<string, string> = { ...filter };
    if (instance.appNamespace) query.appNamespace = instance.appNamespace;
    const list = await this.get<{ items?: Application[] | null }>(
      instance,
      '/api/v1/applications',
      query,
    );
    return list.items ?? [];
  }

  private async get<T>(
    instance: ArgoCdInstance,
    path: string,
    query: Record<string, string>,
  ): Promise<T> {
    const url = `${instance.baseUrl}${path}?${new URLSearchParams(query)}`;
    const operation = `GET ${path.replace(
      /\/applications\/[^/]+/,
      '/applications/{name}',
    )}`;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: {
          authorization: `Bearer ${instance.token}`,
          accept: 'application/json',
        },
        // Only the configured URL is contacted: a redirect elsewhere is a failure.
        redirect: 'error',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new ServiceUnavailableError(
        `Argo CD instance ${
          instance.name
        } could not be reached for ${operation}: ${(error as Error).name}`,
      );
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      const why = STATUS_MEANING[response.status] ?? '';
      throw new ServiceUnavailableError(
        `Argo CD instance ${instance.name} answered HTTP ${response.status} to ${operation}${why}`,
      );
    }
    return parseJson<T>(
      await readBounded(response, BODY_LIMIT, `the answer to ${operation}`),
      `the answer to ${operation}`,
    );
  }
}
