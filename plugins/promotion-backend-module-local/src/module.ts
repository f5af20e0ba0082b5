import { createBackendModule } from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import {
  ArtifactRegistryProvider,
  DeploymentTargetProvider,
  RuntimeObserverProvider,
  SourceControlProvider,
  promotionArtifactRegistryExtensionPoint,
  promotionDeploymentTargetExtensionPoint,
  promotionRuntimeObserverExtensionPoint,
  promotionSourceControlExtensionPoint,
  readLocalDataDir,
  unavailableDeploymentTarget,
} from '@mainline/plugin-promotion-node';
import { localLayout } from './layout';
import { LocalArtifactRegistry } from './LocalArtifactRegistry';
import { LocalGitSourceControl } from './LocalGitSourceControl';
import { LocalLambdaDeployments } from './LocalLambdaDeployments';
import { localEntry } from './registries';
import { LocalRuntimeObserver } from './LocalRuntime';
import { readDurationFromConfig } from '@backstage/config';
import { durationToMilliseconds } from '@backstage/types';

/** The data directory's layout, when `promotion.local.dataDir` is set. */
function configuredLayout(config: Config) {
  const dataDir = readLocalDataDir(config);
  return dataDir ? localLayout(dataDir) : undefined;
}

/**
 * `promotion.source.provider: local` (the default when `promotion.local.dataDir` is set): bare
 * git repositories under `<dataDir>/git`.
 *
 * @public
 */
export const localSourceControlProvider: SourceControlProvider = {
  name: 'local',
  create({ config, onUpstreamAnswer }) {
    const layout = configuredLayout(config);
    return (
      layout &&
      new LocalGitSourceControl(layout.git, {
        onGitExit: onUpstreamAnswer
          ? (code, command) =>
              onUpstreamAnswer({
                system: 'git',
                host: 'local',
                status: code,
                headers: {},
                path: command,
              })
          : undefined,
      })
    );
  },
};

/**
 * The embedded artifact store under `<dataDir>/artifacts` (`local/<name>` images,
 * `local://<prefix>` packages), whichever source control is used.
 *
 * @public
 */
export const localArtifactRegistryProvider: ArtifactRegistryProvider = {
  name: 'local',
  create({ config }) {
    const layout = configuredLayout(config);
    return layout
      ? [localEntry(new LocalArtifactRegistry(layout.artifacts))]
      : [];
  },
};

/**
 * Serverless deploys recorded under `<dataDir>/deployments`: the embedded default's archive
 * deploys, and GitHub mode's with `promotion.github.lambdaDeploys: recorded`.
 *
 * @public
 */
export const recordedDeploymentTargetProvider: DeploymentTargetProvider = {
  name: 'recorded',
  create({ config }) {
    const layout = configuredLayout(config);
    return layout
      ? new LocalLambdaDeployments(layout.deployments)
      : unavailableDeploymentTarget(
          'promotion.github.lambdaDeploys is recorded, which needs promotion.local.dataDir',
        );
  },
};

/** `promotion.local.runtime.applyDelay`, default 3 s. */
function applyDelayMs(config: Config): number {
  const key = 'promotion.local.runtime.applyDelay';
  if (!config.has(key)) return 3_000;
  return durationToMilliseconds(readDurationFromConfig(config, { key }));
}

/**
 * The embedded runtime (when `promotion.local.dataDir` is set): applies the local manifest
 * repository `promotion.local.runtime.applyDelay` after each commit and reports what runs, for
 * entities annotated `mainline.dev/local-runtime`.
 *
 * @public
 */
export const localRuntimeObserverProvider: RuntimeObserverProvider = {
  name: 'local',
  create({ config }) {
    const layout = configuredLayout(config);
    if (!layout) return undefined;
    return new LocalRuntimeObserver({
      source: new LocalGitSourceControl(layout.git),
      artifacts: new LocalArtifactRegistry(layout.artifacts),
      branch: config.getOptionalString('promotion.manifestBranch') ?? 'main',
      applyDelayMs: applyDelayMs(config),
      seedDir: layout.runtime,
    });
  },
};

/**
 * The embedded default of the promotion plugin: local git repositories, the filesystem artifact
 * store and recorded Serverless deploys, all under `promotion.local.dataDir`.
 *
 * @public
 */
export const promotionModuleLocal = createBackendModule({
  pluginId: 'promotion',
  moduleId: 'local',
  register(env) {
    env.registerInit({
      deps: {
        sources: promotionSourceControlExtensionPoint,
        registries: promotionArtifactRegistryExtensionPoint,
        deployments: promotionDeploymentTargetExtensionPoint,
        runtime: promotionRuntimeObserverExtensionPoint,
      },
      async init({ sources, registries, deployments, runtime }) {
        runtime.addRuntimeObserverProvider(localRuntimeObserverProvider);
        sources.addSourceControlProvider(localSourceControlProvider);
        registries.addArtifactRegistryProvider(localArtifactRegistryProvider);
        deployments.addDeploymentTargetProvider(
          recordedDeploymentTargetProvider,
        );
      },
    });
  },
});
