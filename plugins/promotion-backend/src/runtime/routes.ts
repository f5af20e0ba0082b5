import { createValidatedOpenApiRouter } from '@backstage/backend-openapi-utils';
import { HttpAuthService } from '@backstage/backend-plugin-api';
import {
  ArtifactKind,
  EnvironmentState,
  RuntimeEnvironment,
  RuntimeView,
} from '@mainline/plugin-promotion-common';
import { RuntimeState } from '@mainline/plugin-promotion-node';
import { LineageService } from '../lineage/LineageService';
import { spec } from '../schema/openapi.generated';
import { EntityTargets } from '../service/EntityTargets';
import { entityRefOf } from '../service/requests';
import { RuntimeObservers } from './RuntimeObservers';

type ApiRouter = ReturnType<typeof createValidatedOpenApiRouter<typeof spec>>;

type Declared = RuntimeEnvironment['declared'];

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
 * `GET /v1/entities/:kind/:namespace/:name/runtime`: per environment what the lineage declares
 * and what the entity's runtime observer reports, and whether they disagree. The runtime is read
 * on every call (the observers cache nothing); the lineage is the one the lanes show.
 */
export function addRuntimeRoutes(
  router: ApiRouter,
  options: {
    httpAuth: HttpAuthService;
    targets: EntityTargets;
    lineage: LineageService;
    runtime: RuntimeObservers;
    defaultLimit: number;
  },
) {
  const { httpAuth, targets, lineage, runtime, defaultLimit } = options;
  router.get(
    '/v1/entities/:kind/:namespace/:name/runtime',
    async (req, res) => {
      const credentials = await httpAuth.credentials(req, {
        allow: ['user', 'service'],
      });
      const entity = await targets.getForRead(
        entityRefOf(req.params),
        credentials,
      );
      const subject = {
        entityRef: entity.entityRef,
        name: req.params.name,
        annotations: entity.annotations ?? {},
      };
      const served = runtime.forSubject(subject);
      const view = await lineage.lineage(entity.entityRef, entity.target, {
        limit: defaultLimit,
      });
      const names = view.environments.map(e => e.name);
      const states = served
        ? await served.observer.observe(subject, names)
        : {};
      const body: RuntimeView = {
        entityRef: entity.entityRef,
        observer: served?.name ?? null,
        environments: view.environments.map(environment => {
          const declared = declaredOf(environment);
          const running = states[environment.name];
          const reason = driftOf(entity.target.artifactKind, declared, running);
          return {
            name: environment.name,
            declared,
            running: (running ?? null) as RuntimeEnvironment['running'],
            drift: reason !== undefined,
            driftReason: reason ?? null,
          };
        }),
      };
      res.json(body);
    },
  );
}
