import { Knex } from 'knex';
import { ConfigReader } from '@backstage/config';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { DEFAULT_ENVIRONMENTS } from '@mainline/plugin-promotion-common';
import {
  ArgoCdRuntimeObserver,
  readArgoCdOptions,
} from '@mainline/plugin-promotion-backend-module-argocd';
import { ArgoCdTestServer } from '@mainline/test-servers';
import { EntityContext } from '../promotion/types';
import { defaultRuntimeSettings } from '../runtime/settings';
import {
  demoCheckout,
  handBuiltDemo,
  handBuiltService,
} from './handBuiltService';

/** The demo's checkout, served by an Argo CD observer through `argocd/app-name`. */
export const argoCdCheckout: EntityContext = {
  ...demoCheckout,
  annotations: { 'argocd/app-name': 'checkout' },
};

/** What demo ran before the promotion, in the Applications the fixture seeds. */
export const OLD_DIGEST = `sha256:${'0'.repeat(64)}`;

/** A Pod of checkout running `digest`, as the Argo CD test server's Applications take it. */
export const checkoutPod = (name: string, digest: string) => ({
  name,
  containers: [{ name: 'checkout', image: 'local/checkout', digest }],
});

/**
 * The promotion engine over a fresh copy of the embedded default's demo (`handBuiltDemo` on
 * `client`), with the Argo CD module's observer reading `argo` for checkout (the verify step and
 * requireRunningIn), and `argo` seeded as the demo stands: stage Synced and Healthy on its
 * manifest commit, running the stage commit's artifact since `stageHealthySince` (two hours ago
 * by default); demo Synced and Healthy for a day, running an older image ({@link OLD_DIGEST}).
 * Shared by the verify tests and the bench's verify rows (no jest in it).
 */
export async function argoCdVerifiedCheckout(options: {
  prefix: string;
  client: Knex;
  argo: ArgoCdTestServer;
  polls: { timeoutMs?: number; minPollMs: number; maxPollMs: number };
  notifications?: NotificationService;
  stageHealthySince?: Date;
}) {
  const { argo } = options;
  const { knex, yanks, local, dataDir } = await handBuiltDemo(
    options.prefix,
    options.client,
  );
  const observer = new ArgoCdRuntimeObserver(
    readArgoCdOptions(
      new ConfigReader({
        promotion: {
          artifacts: { insecureHosts: [new URL(argo.baseUrl).host] },
          argocd: {
            instances: [{ name: 'main', url: argo.baseUrl, token: argo.token }],
          },
        },
      }),
    )!,
  );
  const { lineage, service } = handBuiltService({
    knex,
    yanks,
    adapters: local,
    notifications: options.notifications,
    runtime: {
      observerFor: subject =>
        observer.serves(subject) ? { name: 'argocd', observer } : undefined,
      settings: defaultRuntimeSettings(
        DEFAULT_ENVIRONMENTS.map(e => ({ ...e })),
        options.polls,
      ),
    },
  });
  const checkout = argoCdCheckout;
  const view = await lineage.lineage(checkout.entityRef, checkout.target, {
    limit: 50,
  });
  const stageSha = view.environments[0].current!.sha!;
  const adapters = local.forTarget(checkout.target);
  const artifact = (await adapters.artifacts.getArtifact(
    adapters.artifactLocation,
    stageSha,
  ))!;
  const manifests = await local.gitops.current(checkout.target, [
    'stage',
    'demo',
  ]);
  // Stage has run the commit's artifact for two hours (requireRunningIn: 30 min by default).
  argo.setApplication({
    name: 'checkout-stage',
    sync: { status: 'Synced', revision: manifests.stage!.revision! },
    health: {
      status: 'Healthy',
      lastTransitionTime:
        options.stageHealthySince ?? new Date(Date.now() - 2 * 3_600_000),
    },
    pods: [checkoutPod('checkout-stage-1', artifact.digest)],
  });
  // Demo runs an older artifact, synced and healthy.
  argo.setApplication({
    name: 'checkout-demo',
    sync: { status: 'Synced', revision: manifests.demo!.revision! },
    health: {
      status: 'Healthy',
      lastTransitionTime: new Date(Date.now() - 86_400_000),
    },
    pods: [checkoutPod('checkout-demo-old', OLD_DIGEST)],
  });
  return {
    knex,
    local,
    dataDir,
    lineage,
    service,
    stageSha,
    artifact,
    manifests,
  };
}
