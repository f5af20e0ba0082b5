import crypto from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';

/*
 * An Argo CD API server on loopback, answering the reads a runtime observer makes the way Argo
 * CD's API server does: `GET /api/v1/applications` (with `name`, `selector`, `appNamespace`
 * filters; what the token may not see is left out, as RBAC filters a list),
 * `GET /api/v1/applications/{name}`, `.../{name}/resource-tree`, `.../{name}/managed-resources`
 * and `.../{name}/resource` (a live object's manifest as a JSON string, which is where a Pod's
 * `status.containerStatuses[].imageID` is). Bearer token auth; errors as grpc-gateway's
 * `{"error", "code", "message"}` with the gRPC code's HTTP status (an Application that does not
 * exist answers 403 `permission denied`, as Argo CD does so as not to reveal which exist).
 * Tests drive sync and health transitions through `setApplication`, `startSync` and
 * `finishSync`. The answers validate against the definitions extracted from Argo CD's own
 * swagger document (argocd-schema.json, see ArgoCdTestServer.test.ts).
 */

export type ArgoCdSyncStatus = 'Synced' | 'OutOfSync' | 'Unknown';
export type ArgoCdHealthStatus =
  | 'Healthy'
  | 'Progressing'
  | 'Degraded'
  | 'Suspended'
  | 'Missing'
  | 'Unknown';
export type ArgoCdOperationPhase =
  | 'Running'
  | 'Succeeded'
  | 'Failed'
  | 'Error'
  | 'Terminating';

/** A live Pod of the Application's Deployment. */
export interface ArgoCdPodSeed {
  name: string;
  containers: Array<{ name: string; image: string; digest: string }>;
  /** Default Healthy. */
  health?: ArgoCdHealthStatus;
}

/** An Application as a test seeds it. */
export interface ArgoCdApplicationSeed {
  name: string;
  /** The namespace the Application lives in. Default `argocd`. */
  appNamespace?: string;
  project?: string;
  labels?: Record<string, string>;
  /** Where it deploys. Default `https://kubernetes.default.svc`, namespace = name. */
  destination?: { server: string; namespace: string };
  source?: { repoURL: string; path: string; targetRevision: string };
  sync: { status: ArgoCdSyncStatus; revision: string };
  health: {
    status: ArgoCdHealthStatus;
    message?: string;
    lastTransitionTime: Date;
  };
  operation?: {
    phase: ArgoCdOperationPhase;
    message?: string;
    revision: string;
    startedAt: Date;
    finishedAt?: Date;
  };
  pods: ArgoCdPodSeed[];
}

/** One request the server answered, for counting upstream calls in tests and the benchmark. */
export interface ArgoCdTestRequest {
  method: string;
  path: string;
  status: number;
}

/** The triggers of Argo CD's notifications catalog the server evaluates, as the controller does. */
export type ArgoCdTrigger =
  | 'on-deployed'
  | 'on-health-degraded'
  | 'on-sync-failed'
  | 'on-sync-running'
  | 'on-sync-succeeded';

/** Where and how the server sends notifications (a `service.webhook.<name>` and its subscriptions). */
export interface ArgoCdNotificationsOptions {
  /** The webhook's URL, e.g. `<backend>/api/events/http/argocd`. */
  url: string;
  /** The webhook's `headers` (the shared secret among them). */
  headers?: Record<string, string>;
  /** The instance name the template writes into the body. */
  instance: string;
  /** The subscribed triggers. Default on-deployed, on-health-degraded and on-sync-failed. */
  triggers?: ArgoCdTrigger[];
}

/** One notification the server sent (or dropped), for assertions. */
export interface ArgoCdSentNotification {
  trigger: ArgoCdTrigger;
  application: string;
  /** The webhook's answer; `dropped` when `dropNotifications` held it back. */
  status: number | 'dropped' | 'unreachable';
}

export interface ArgoCdTestServerOptions {
  /** The bearer token the server accepts. Default `argocd-test-token`. */
  token?: string;
  /** Names of Applications the token may not see (listed out, 403 by name). */
  hidden?: string[];
  /** Default 0 (any free port). */
  port?: number;
}

export interface ArgoCdTestServer {
  /** E.g. `http://127.0.0.1:PORT`. */
  baseUrl: string;
  token: string;
  requests: ArgoCdTestRequest[];
  resetRequests(): void;
  /** Creates or replaces an Application. */
  setApplication(seed: ArgoCdApplicationSeed): void;
  /**
   * Starts a sync to `revision`, as an automated sync after a manifest commit: OutOfSync at the
   * new revision, health Progressing, operation Running.
   */
  startSync(name: string, revision: string, at?: Date): void;
  /**
   * Ends the running sync: `Succeeded` makes the Application Synced with the given pods and
   * health; `Failed` leaves it OutOfSync with the message and the old pods still running.
   */
  finishSync(
    name: string,
    outcome:
      | {
          phase: 'Succeeded';
          pods: ArgoCdPodSeed[];
          health?: ArgoCdHealthStatus;
        }
      | { phase: 'Failed' | 'Error'; message: string },
    at?: Date,
  ): void;
  /** Sets the health alone (pods crash-looping after a successful sync). */
  setHealth(name: string, status: ArgoCdHealthStatus, message?: string): void;
  /**
   * Starts sending notifications as the notifications controller does: after each change of an
   * Application, a POST of the template's body (`notificationBody`) for every subscribed trigger
   * whose condition turned true (on-deployed once per synced revision). Conditions already true
   * now are taken as notified before. Undefined stops them.
   */
  notifyTo(options: ArgoCdNotificationsOptions | undefined): void;
  /** While true, triggers fire but their notifications are lost on the way (nothing is sent). */
  dropNotifications(drop: boolean): void;
  /** Every notification since `notifyTo`, in order. */
  notifications: ArgoCdSentNotification[];
  /** Resolves once every notification sent so far has been answered. */
  notificationsSettled(): Promise<void>;
  close(): Promise<void>;
}

interface StoredApplication {
  seed: ArgoCdApplicationSeed;
  uid: string;
  createdAt: Date;
  resourceVersion: number;
}

/** gRPC codes grpc-gateway puts in `code`, with the HTTP status it maps each to. */
const GRPC = {
  invalidArgument: { code: 3, status: 400 },
  notFound: { code: 5, status: 404 },
  permissionDenied: { code: 7, status: 403 },
  unauthenticated: { code: 16, status: 401 },
  unimplemented: { code: 12, status: 501 },
};

class ArgoError extends Error {
  constructor(
    readonly grpc: { code: number; status: number },
    message: string,
  ) {
    super(message);
  }
}

const iso = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

function deploymentName(app: ArgoCdApplicationSeed) {
  return app.name;
}

function namespaceOf(app: ArgoCdApplicationSeed) {
  return app.destination?.namespace ?? app.name;
}

function uidOf(...parts: string[]) {
  const hex = crypto.createHash('sha256').update(parts.join('/')).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(
    12,
    16,
  )}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function imageRef(image: string, digest: string) {
  // containerd reports `<repository>@<digest>`; the tag is not part of it.
  const repository = image.replace(/:[^/:]+$/, '');
  return `${repository}@${digest}`;
}

function applicationJson(stored: StoredApplication) {
  const app = stored.seed;
  const source = app.source ?? {
    repoURL: 'https://github.com/acme/deployments.git',
    path: `apps/${app.name}`,
    targetRevision: 'HEAD',
  };
  const destination = app.destination ?? {
    server: 'https://kubernetes.default.svc',
    namespace: namespaceOf(app),
  };
  const images = [
    ...new Set(app.pods.flatMap(p => p.containers.map(c => c.image))),
  ].sort();
  const op = app.operation;
  return {
    metadata: {
      name: app.name,
      namespace: app.appNamespace ?? 'argocd',
      uid: stored.uid,
      resourceVersion: String(stored.resourceVersion),
      generation: stored.resourceVersion,
      creationTimestamp: iso(stored.createdAt),
      labels: app.labels ?? {},
    },
    spec: {
      project: app.project ?? 'default',
      source,
      destination,
      syncPolicy: { automated: { prune: true, selfHeal: true } },
    },
    status: {
      sync: {
        status: app.sync.status,
        revision: app.sync.revision,
        comparedTo: { source, destination },
      },
      health: {
        status: app.health.status,
        ...(app.health.message ? { message: app.health.message } : {}),
        lastTransitionTime: iso(app.health.lastTransitionTime),
      },
      ...(op
        ? {
            operationState: {
              operation: {
                sync: { revision: op.revision, prune: true },
                initiatedBy: { automated: true },
              },
              phase: op.phase,
              ...(op.message ? { message: op.message } : {}),
              startedAt: iso(op.startedAt),
              ...(op.finishedAt ? { finishedAt: iso(op.finishedAt) } : {}),
              ...(op.finishedAt
                ? { syncResult: { revision: op.revision, source } }
                : {}),
            },
          }
        : {}),
      reconciledAt: iso(new Date()),
      resources: [
        {
          group: 'apps',
          version: 'v1',
          kind: 'Deployment',
          namespace: namespaceOf(app),
          name: deploymentName(app),
          status: app.sync.status,
          health: { status: app.health.status },
        },
      ],
      summary: { images },
      sourceType: 'Kustomize',
      controllerNamespace: 'argocd',
    },
  };
}

function podNodes(app: ArgoCdApplicationSeed) {
  const namespace = namespaceOf(app);
  const deployment = deploymentName(app);
  const replicaSet = `${deployment}-${crypto
    .createHash('sha256')
    .update(app.pods.map(p => p.name).join(','))
    .digest('hex')
    .slice(0, 10)}`;
  const deploymentUid = uidOf(app.name, 'Deployment', deployment);
  const replicaSetUid = uidOf(app.name, 'ReplicaSet', replicaSet);
  const nodes: object[] = [
    {
      group: 'apps',
      version: 'v1',
      kind: 'Deployment',
      namespace,
      name: deployment,
      uid: deploymentUid,
      resourceVersion: '1',
      health: { status: app.health.status },
      info: [{ name: 'Revision', value: 'Rev:1' }],
    },
    {
      group: 'apps',
      version: 'v1',
      kind: 'ReplicaSet',
      namespace,
      name: replicaSet,
      uid: replicaSetUid,
      resourceVersion: '1',
      parentRefs: [
        {
          group: 'apps',
          kind: 'Deployment',
          namespace,
          name: deployment,
          uid: deploymentUid,
        },
      ],
      health: { status: app.health.status },
    },
  ];
  for (const pod of app.pods) {
    nodes.push({
      version: 'v1',
      kind: 'Pod',
      namespace,
      name: pod.name,
      uid: uidOf(app.name, 'Pod', pod.name),
      resourceVersion: '1',
      parentRefs: [
        {
          group: 'apps',
          kind: 'ReplicaSet',
          namespace,
          name: replicaSet,
          uid: replicaSetUid,
        },
      ],
      images: pod.containers.map(c => c.image),
      health: { status: pod.health ?? 'Healthy' },
      info: [
        { name: 'Status Reason', value: 'Running' },
        {
          name: 'Containers',
          value: `${pod.containers.length}/${pod.containers.length}`,
        },
      ],
    });
  }
  return nodes;
}

function podManifest(app: ArgoCdApplicationSeed, pod: ArgoCdPodSeed) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      namespace: namespaceOf(app),
      uid: uidOf(app.name, 'Pod', pod.name),
      labels: { 'app.kubernetes.io/instance': app.name },
    },
    spec: {
      containers: pod.containers.map(c => ({ name: c.name, image: c.image })),
    },
    status: {
      phase: 'Running',
      containerStatuses: pod.containers.map(c => ({
        name: c.name,
        image: c.image,
        imageID: imageRef(c.image, c.digest),
        ready: (pod.health ?? 'Healthy') === 'Healthy',
        restartCount: 0,
        started: true,
        state: { running: { startedAt: iso(new Date()) } },
      })),
    },
  };
}

/** `key=value`, `key!=value`, `key` and `!key` terms, comma-separated (a Kubernetes selector). */
function matchesSelector(labels: Record<string, string>, selector: string) {
  return selector
    .split(',')
    .map(t => t.trim())
    .filter(Boolean)
    .every(term => {
      const unequal = term.match(/^([^!=]+)!=(.*)$/);
      if (unequal) return labels[unequal[1].trim()] !== unequal[2].trim();
      const equal = term.match(/^([^!=]+)==?(.*)$/);
      if (equal) return labels[equal[1].trim()] === equal[2].trim();
      if (term.startsWith('!')) return !(term.slice(1) in labels);
      return term in labels;
    });
}

type ApplicationJson = ReturnType<typeof applicationJson>;

/**
 * The conditions of the catalog's triggers (`when`, and `oncePer` for on-deployed), on the
 * Application as the controller sees it.
 */
const TRIGGERS: Record<
  ArgoCdTrigger,
  (app: ApplicationJson) => string | undefined
> = {
  'on-deployed': app => {
    const op = app.status.operationState;
    return op?.phase === 'Succeeded' && app.status.health.status === 'Healthy'
      ? op.syncResult?.revision ?? ''
      : undefined;
  },
  'on-health-degraded': app =>
    app.status.health.status === 'Degraded' ? '' : undefined,
  'on-sync-failed': app =>
    ['Error', 'Failed'].includes(app.status.operationState?.phase ?? '')
      ? ''
      : undefined,
  'on-sync-running': app =>
    app.status.operationState?.phase === 'Running' ? '' : undefined,
  'on-sync-succeeded': app =>
    app.status.operationState?.phase === 'Succeeded' ? '' : undefined,
};

/**
 * The body the webhook template of docs/runtime.md renders for an Application (its Go template
 * fields, filled in as text/template and Sprig's toJson would).
 */
export function notificationBody(
  app: ApplicationJson,
  instance: string,
): Record<string, unknown> {
  const labels = app.metadata.labels;
  return {
    instance,
    application: app.metadata.name,
    namespace: app.metadata.namespace,
    labels: Object.keys(labels).length > 0 ? labels : null,
    sync: app.status.sync.status,
    revision: app.status.sync.revision,
    health: app.status.health.status,
    phase: app.status.operationState?.phase ?? '',
  };
}

export async function startArgoCdTestServer(
  options: ArgoCdTestServerOptions = {},
): Promise<ArgoCdTestServer> {
  const token = options.token ?? 'argocd-test-token';
  const hidden = new Set(options.hidden ?? []);
  const applications = new Map<string, StoredApplication>();
  const requests: ArgoCdTestRequest[] = [];

  const visible = (name: string, appNamespace: string | null) => {
    const stored = applications.get(name);
    if (
      !stored ||
      hidden.has(name) ||
      (appNamespace && (stored.seed.appNamespace ?? 'argocd') !== appNamespace)
    ) {
      // Argo CD answers the same for a missing Application and a forbidden one.
      throw new ArgoError(GRPC.permissionDenied, 'permission denied');
    }
    return stored;
  };

  // The notifications controller: per Application and trigger, the value it last notified for
  // (the condition's oncePer value while true), as the controller keeps it in an annotation.
  let notify: ArgoCdNotificationsOptions | undefined;
  let drop = false;
  const notified = new Map<string, Set<string>>();
  const sent: ArgoCdSentNotification[] = [];
  const inFlight = new Set<Promise<void>>();
  const triggersOf = (to: ArgoCdNotificationsOptions) =>
    to.triggers ?? ['on-deployed', 'on-health-degraded', 'on-sync-failed'];
  const evaluate = (stored: StoredApplication, send: boolean) => {
    if (!notify) return;
    const to = notify;
    const app = applicationJson(stored);
    for (const trigger of triggersOf(to)) {
      const key = `${stored.seed.name}\n${trigger}`;
      const value = TRIGGERS[trigger](app);
      // With oncePer (on-deployed) once per value ever; otherwise each time the condition turns true.
      const once = trigger === 'on-deployed';
      const seen = notified.get(key) ?? new Set<string>();
      notified.set(key, seen);
      const fresh = value !== undefined && !seen.has(value);
      if (value !== undefined) seen.add(value);
      else if (!once) seen.clear();
      if (!fresh || !send) continue;
      const entry: ArgoCdSentNotification = {
        trigger,
        application: stored.seed.name,
        status: 'dropped',
      };
      sent.push(entry);
      if (drop) continue;
      const delivery = fetch(to.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...to.headers },
        body: JSON.stringify(notificationBody(app, to.instance)),
      })
        .then(async response => {
          entry.status = response.status;
          await response.arrayBuffer();
        })
        .catch(() => {
          entry.status = 'unreachable';
        })
        .finally(() => inFlight.delete(delivery));
      inFlight.add(delivery);
    }
  };

  const update = (
    name: string,
    change: (app: ArgoCdApplicationSeed) => ArgoCdApplicationSeed,
  ) => {
    const stored = applications.get(name);
    if (!stored) throw new Error(`no Application ${name}`);
    stored.seed = change(stored.seed);
    stored.resourceVersion += 1;
    evaluate(stored, true);
  };

  const route = (method: string, url: URL): unknown => {
    if (method !== 'GET') {
      throw new ArgoError(
        GRPC.unimplemented,
        `${method} is not served by the test server`,
      );
    }
    const appNamespace = url.searchParams.get('appNamespace');
    if (url.pathname === '/api/v1/applications') {
      const name = url.searchParams.get('name');
      const selector = url.searchParams.get('selector');
      const items = [...applications.values()]
        .filter(a => !hidden.has(a.seed.name))
        .filter(a => !name || a.seed.name === name)
        .filter(
          a =>
            !appNamespace || (a.seed.appNamespace ?? 'argocd') === appNamespace,
        )
        .filter(
          a => !selector || matchesSelector(a.seed.labels ?? {}, selector),
        )
        .sort((a, b) => a.seed.name.localeCompare(b.seed.name))
        .map(applicationJson);
      return { metadata: { resourceVersion: String(requests.length) }, items };
    }
    const match = url.pathname.match(
      /^\/api\/v1\/applications\/([^/]+)(?:\/(resource-tree|managed-resources|resource))?$/,
    );
    if (!match) {
      throw new ArgoError(GRPC.notFound, `${url.pathname} is not an API path`);
    }
    const stored = visible(decodeURIComponent(match[1]), appNamespace);
    const app = stored.seed;
    switch (match[2]) {
      case undefined:
        return applicationJson(stored);
      case 'resource-tree':
        return { nodes: podNodes(app) };
      case 'managed-resources':
        return {
          items: [
            {
              group: 'apps',
              kind: 'Deployment',
              namespace: namespaceOf(app),
              name: deploymentName(app),
              liveState: JSON.stringify({
                apiVersion: 'apps/v1',
                kind: 'Deployment',
                metadata: {
                  name: deploymentName(app),
                  namespace: namespaceOf(app),
                },
              }),
              modified: app.sync.status !== 'Synced',
            },
          ],
        };
      default: {
        const kind = url.searchParams.get('kind');
        const resourceName = url.searchParams.get('resourceName');
        const namespace = url.searchParams.get('namespace');
        if (!kind || !resourceName || !url.searchParams.has('version')) {
          throw new ArgoError(
            GRPC.invalidArgument,
            'kind, resourceName and version are required',
          );
        }
        const pod = app.pods.find(p => p.name === resourceName);
        if (kind !== 'Pod' || !pod || namespace !== namespaceOf(app)) {
          throw new ArgoError(
            GRPC.notFound,
            `${kind} "${resourceName}" not found as part of application ${app.name}`,
          );
        }
        return { manifest: JSON.stringify(podManifest(app, pod)) };
      }
    }
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: unknown) => {
      requests.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        status,
      });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      try {
        if (req.headers.authorization !== `Bearer ${token}`) {
          throw new ArgoError(
            GRPC.unauthenticated,
            req.headers.authorization
              ? 'invalid session: token is invalid'
              : 'no session information',
          );
        }
        send(200, route(req.method ?? 'GET', url));
      } catch (error) {
        if (error instanceof ArgoError) {
          send(error.grpc.status, {
            error: error.message,
            code: error.grpc.code,
            message: error.message,
          });
        } else {
          send(500, { error: String(error), code: 13, message: String(error) });
        }
      }
    });
  });
  await new Promise<void>(resolve =>
    server.listen(options.port ?? 0, '127.0.0.1', resolve),
  );
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    token,
    requests,
    resetRequests: () => {
      requests.length = 0;
    },
    setApplication(seed) {
      const existing = applications.get(seed.name);
      const stored = {
        seed,
        uid: existing?.uid ?? crypto.randomUUID(),
        createdAt: existing?.createdAt ?? new Date(),
        resourceVersion: (existing?.resourceVersion ?? 0) + 1,
      };
      applications.set(seed.name, stored);
      evaluate(stored, true);
    },
    notifyTo(to) {
      notify = to;
      notified.clear();
      sent.length = 0;
      for (const stored of applications.values()) evaluate(stored, false);
    },
    dropNotifications(value) {
      drop = value;
    },
    notifications: sent,
    notificationsSettled: async () => {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    startSync(name, revision, at = new Date()) {
      update(name, app => ({
        ...app,
        sync: { status: 'OutOfSync', revision },
        health: { status: 'Progressing', lastTransitionTime: at },
        operation: { phase: 'Running', revision, startedAt: at },
      }));
    },
    finishSync(name, outcome, at = new Date()) {
      update(name, app => {
        if (!app.operation || app.operation.phase !== 'Running') {
          throw new Error(`no sync of ${name} is running`);
        }
        if (outcome.phase === 'Succeeded') {
          return {
            ...app,
            sync: { status: 'Synced', revision: app.operation.revision },
            health: {
              status: outcome.health ?? 'Healthy',
              lastTransitionTime: at,
            },
            operation: {
              ...app.operation,
              phase: 'Succeeded',
              message: 'successfully synced (all tasks run)',
              finishedAt: at,
            },
            pods: outcome.pods,
          };
        }
        return {
          ...app,
          // The old version keeps running, healthy: only the operation says the sync failed.
          health: { status: 'Healthy', lastTransitionTime: at },
          operation: {
            ...app.operation,
            phase: outcome.phase,
            message: outcome.message,
            finishedAt: at,
          },
        };
      });
    },
    setHealth(name, status, message) {
      update(name, app => ({
        ...app,
        health: { status, message, lastTransitionTime: new Date() },
      }));
    },
    close: () =>
      new Promise<void>((resolve, reject) =>
        server.close(error => (error ? reject(error) : resolve())),
      ),
  };
}
