import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { actionsRegistryServiceRef } from '@backstage/backend-plugin-api/alpha';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import { notificationService } from '@backstage/plugin-notifications-node';
import { signalsServiceRef } from '@backstage/plugin-signals-node';
import { promotionPermissions } from '@mainline/plugin-promotion-common';
import { registerActions } from './actions';
import { createAdapterResolver, readLocalDataDir } from './adapters';
import { openDatabase } from './database/migrations';
import { PromotionStore } from './database/PromotionStore';
import { YankStore } from './database/YankStore';
import { PromotionService } from './promotion/PromotionService';
import { Actors } from './service/actors';
import { ensureDemoData } from './demo/ensureDemoData';
import { LineageService } from './lineage/LineageService';
import { readEnvironments } from './service/environments';
import { ReleaseBoard } from './board/ReleaseBoard';
import { RepositoryPromotions } from './promotion/RepositoryPromotions';
import { EntityTargets } from './service/EntityTargets';
import { createRouter } from './service/router';
import { GitHubEvents } from './events/GitHubEvents';

/**
 * The Mainline promotion backend plugin: lineage and promotion APIs.
 *
 * @public
 */
export const promotionPlugin = createBackendPlugin({
  pluginId: 'promotion',
  register(env) {
    env.registerInit({
      deps: {
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        auth: coreServices.auth,
        scheduler: coreServices.scheduler,
        events: eventsServiceRef,
        logger: coreServices.logger,
        config: coreServices.rootConfig,
        database: coreServices.database,
        cache: coreServices.cache,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
        auditor: coreServices.auditor,
        userInfo: coreServices.userInfo,
        catalog: catalogServiceRef,
        actionsRegistry: actionsRegistryServiceRef,
        notifications: notificationService,
        signals: signalsServiceRef,
      },
      async init({
        httpRouter,
        httpAuth,
        auth,
        scheduler,
        events,
        logger,
        config,
        database,
        cache,
        permissions,
        permissionsRegistry,
        auditor,
        userInfo,
        catalog,
        actionsRegistry,
        notifications,
        signals,
      }) {
        permissionsRegistry.addPermissions(promotionPermissions);
        const environments = readEnvironments(config);
        const knex = await openDatabase(database);
        const yanks = new YankStore(knex);
        const mainBranch =
          config.getOptionalString('promotion.mainBranch') ?? 'main';
        const defaultLimit =
          config.getOptionalNumber('promotion.lineage.defaultLimit') ?? 50;

        const adapters = createAdapterResolver(config, { cache, logger });
        const dataDir = readLocalDataDir(config);
        if (dataDir && config.getOptionalBoolean('promotion.local.demoData')) {
          await ensureDemoData({ dataDir, yanks, logger });
        }

        const lineage = new LineageService({
          adapters,
          yanks,
          cache,
          environments,
          mainBranch,
          cacheTtlMs:
            (config.getOptionalNumber('promotion.lineage.cacheTtlSeconds') ??
              60) * 1000,
        });
        const store = new PromotionStore(knex);
        const promotions = new PromotionService({
          adapters,
          store,
          yanks,
          lineage,
          environments,
          mainBranch,
          annotatedTags:
            config.getOptionalBoolean('promotion.tags.annotated') ?? true,
          permissions,
          auditor,
          notifications,
          signals,
          logger,
        });
        const targets = new EntityTargets(catalog, {
          readCacheTtlMs:
            (config.getOptionalNumber('promotion.catalogReadCacheSeconds') ??
              5) * 1000,
        });
        const actors = new Actors(userInfo, catalog);
        const board = new ReleaseBoard({
          targets,
          lineage,
          store,
          adapters,
          environments,
          limit: defaultLimit,
        });
        const repositoryPromotions = new RepositoryPromotions({
          targets,
          promotions,
        });
        httpRouter.use(
          await createRouter({
            httpAuth,
            targets,
            lineage,
            promotions,
            repositoryPromotions,
            board,
            store,
            yanks,
            actors,
            environments,
            defaultLimit,
          }),
        );
        // Promotions waiting for a manifest pull request or a deploy workflow run are finished by
        // whichever replica gets there first; webhooks wake them sooner, this catches the rest.
        const resolveEntity = async (entityRef: string) =>
          targets.get(entityRef, await auth.getOwnServiceCredentials());
        await scheduler.scheduleTask({
          id: 'promotion-follow-waiting',
          frequency: {
            seconds:
              config.getOptionalNumber('promotion.followUp.intervalSeconds') ??
              30,
          },
          timeout: { minutes: 5 },
          initialDelay: { seconds: 5 },
          scope: 'global',
          fn: async () => {
            await promotions.followWaiting(resolveEntity);
          },
        });
        await new GitHubEvents({
          events,
          catalog,
          auth,
          logger,
          signals,
          invalidate: entityRef => lineage.invalidate(entityRef),
          followWaiting: entityRef =>
            promotions.followWaiting(resolveEntity, { entityRef }),
        }).subscribe();

        registerActions({
          actionsRegistry,
          targets,
          lineage,
          promotions,
          actors,
          defaultLimit,
        });
        logger.info(
          `Promotion environments: ${environments
            .map(e => e.name)
            .join(' -> ')}`,
        );
      },
    });
  },
});
