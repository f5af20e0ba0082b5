import crypto from 'node:crypto';
import {
  BackendFeature,
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import {
  actionsRegistryServiceRef,
  metricsServiceRef,
} from '@backstage/backend-plugin-api/alpha';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { notificationService } from '@backstage/plugin-notifications-node';
import { signalsServiceRef } from '@backstage/plugin-signals-node';
import { promotionPermissions } from '@mainline/plugin-promotion-common';
import {
  promotionArtifactRegistryExtensionPoint,
  promotionChangeRequestsExtensionPoint,
  promotionDeploymentTargetExtensionPoint,
  promotionPreparationExtensionPoint,
  promotionRuntimeObserverExtensionPoint,
  promotionSourceControlExtensionPoint,
  promotionSourceEventsExtensionPoint,
} from '@mainline/plugin-promotion-node';
import { registerActions } from './actions';
import { PromotionAdapterProviders, createAdapterResolver } from './adapters';
import { openDatabase } from './database/migrations';
import { DEFAULT_LEASE_MS, PromotionStore } from './database/PromotionStore';
import { YankStore } from './database/YankStore';
import { PromotionService } from './promotion/PromotionService';
import { Actors } from './service/actors';
import { Preparations } from './preparations';
import { LineageService } from './lineage/LineageService';
import { readEnvironments } from './service/environments';
import { readFreezes } from './promotion/freezes';
import { recordPreparedPromotion } from './database/preparedPromotions';
import { PolicyReader } from './promotion/policyContext';
import { ReleaseBoard } from './board/ReleaseBoard';
import { RepositoryPromotions } from './promotion/RepositoryPromotions';
import { EntityTargets } from './service/EntityTargets';
import { WriteScope, readWriteScopeOptions } from './service/WriteScope';
import { createRouter } from './service/router';
import { DoraService } from './dora/DoraService';
import {
  SourceEventsHandlers,
  sourceEvents,
  wakeVerifySteps,
} from './events/SourceEvents';
import { PushedTags } from './promotion/PushedTags';
import { RateBudget } from './budget/RateBudget';
import { LineageSnapshots } from './board/LineageSnapshots';
import { LineageWarmer } from './warmer/LineageWarmer';
import { PromotionMetrics } from './metrics/PromotionMetrics';
import { RuntimeObservers } from './runtime/RuntimeObservers';
import {
  DEFAULT_RUNTIME_CACHE_TTL_MS,
  DEFAULT_RUNTIME_CONCURRENCY,
  RuntimeViews,
} from './runtime/RuntimeViews';
import { readRuntimeSettings } from './runtime/settings';
import { PromotionEvents } from './promotion/events';
import { ApprovalPolicy } from './promotion/approvals/ApprovalPolicy';
import { ApprovalService } from './promotion/approvals/ApprovalService';
import { ApprovalStore } from './promotion/approvals/ApprovalStore';
import { ApproverDirectory } from './promotion/approvals/ApproverDirectory';
import { registerApprovalActions } from './promotion/approvals/actions';

/**
 * How long a webhook delivery id is remembered: longer than GitHub lets anyone redeliver one.
 */
const WEBHOOK_DELIVERY_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * The Mainline promotion backend plugin: lineage and promotion APIs.
 *
 * @public
 */
export const promotionPlugin: BackendFeature = createBackendPlugin({
  pluginId: 'promotion',
  register(env) {
    // Backend modules add adapters here before the plugin's init composes them.
    const providers = new PromotionAdapterProviders();
    env.registerExtensionPoint(promotionSourceControlExtensionPoint, providers);
    env.registerExtensionPoint(
      promotionChangeRequestsExtensionPoint,
      providers,
    );
    env.registerExtensionPoint(
      promotionArtifactRegistryExtensionPoint,
      providers,
    );
    env.registerExtensionPoint(
      promotionDeploymentTargetExtensionPoint,
      providers,
    );
    const runtimeObservers = new RuntimeObservers();
    env.registerExtensionPoint(
      promotionRuntimeObserverExtensionPoint,
      runtimeObservers,
    );
    const preparations = new Preparations();
    env.registerExtensionPoint(
      promotionPreparationExtensionPoint,
      preparations,
    );
    const sourceEventsHandlers = new SourceEventsHandlers();
    env.registerExtensionPoint(
      promotionSourceEventsExtensionPoint,
      sourceEventsHandlers,
    );
    env.registerInit({
      deps: {
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        auth: coreServices.auth,
        scheduler: coreServices.scheduler,
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
        metrics: metricsServiceRef,
      },
      async init({
        httpRouter,
        httpAuth,
        auth,
        scheduler,
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
        metrics,
      }) {
        permissionsRegistry.addPermissions(promotionPermissions);
        const environments = readEnvironments(config);
        const knex = await openDatabase(database);
        const yanks = new YankStore(knex);
        const mainBranch =
          config.getOptionalString('promotion.mainBranch') ?? 'main';
        const defaultLimit =
          config.getOptionalNumber('promotion.lineage.defaultLimit') ?? 50;

        // GitHub's budget as its answers tell it; background work leaves the reserve to people.
        const rateBudget = new RateBudget({
          reserve: config.getOptionalNumber('promotion.github.rateReserve'),
          // Every replica's observations through the cache store (shared with Redis or Valkey).
          shared: cache,
          onShareError: error =>
            logger.warn(`Could not share the rate budget: ${error}`),
        });
        const promotionMetrics = new PromotionMetrics(metrics, rateBudget);
        const adapters = preparations.guard(
          createAdapterResolver(
            config,
            {
              cache,
              logger,
              onUpstreamAnswer: answer => {
                if (answer.system === 'github') {
                  rateBudget.observe(answer.host, answer.headers, answer.path);
                }
                promotionMetrics.upstreamAnswered(answer.system, answer.status);
              },
            },
            providers,
          ),
        );
        /** Whether background work may run now; says once per round why it waits. */
        const budgetAllows = async (work: string) => {
          await rateBudget.sync();
          if (rateBudget.allowsBackground()) return true;
          logger.info(
            `Deferring ${work}: GitHub's remaining rate budget is under the reserve of ${
              rateBudget.reserve
            } until ${rateBudget.deferredUntil()}`,
          );
          return false;
        };
        runtimeObservers.create({ config, logger, cache });
        const runtimeSettings = readRuntimeSettings(config, environments);
        await preparations.start({
          recordYank: yank => yanks.record(yank),
          recordPromotion: promotion =>
            recordPreparedPromotion(knex, promotion),
          logger,
        });

        const snapshots = new LineageSnapshots(knex, {
          onError: error =>
            logger.warn(`Could not keep lineage snapshots: ${error}`),
        });
        const lineage = new LineageService({
          onAssembled: (entityRef, request, read) =>
            snapshots.record(entityRef, request, read),
          adapters,
          yanks,
          cache,
          environments,
          mainBranch,
          cacheTtlMs:
            (config.getOptionalNumber('promotion.lineage.cacheTtlSeconds') ??
              60) * 1000,
          onCacheRead: (hit, layer) => promotionMetrics.cacheRead(hit, layer),
        });
        const followIntervalSeconds =
          config.getOptionalNumber('promotion.followUp.intervalSeconds') ?? 30;
        const store = new PromotionStore(knex, {
          leaseMs:
            (config.getOptionalNumber('promotion.locks.leaseSeconds') ??
              DEFAULT_LEASE_MS / 1000) * 1000,
          owner: crypto.randomUUID(),
          // Between two checks of the follower a waiting promotion's lease must stay live.
          waitingLeaseMs: 3 * followIntervalSeconds * 1000,
        });
        const writeScope = new WriteScope({
          catalog,
          auth,
          auditor,
          environments: environments.map(e => e.name),
          options: readWriteScopeOptions(config),
        });
        // Approvals from the owner groups, read from the catalog (see promotion/approvals).
        const approvalStore = new ApprovalStore(knex);
        const approverDirectory = new ApproverDirectory({ catalog, auth });
        const approvalEvents = new PromotionEvents({
          auditor,
          lineage,
          notifications,
          signals,
          logger,
        });
        const approvalPolicy = new ApprovalPolicy({
          directory: approverDirectory,
          adapters,
          events: approvalEvents,
          store: approvalStore,
        });
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
          writeScope,
          auditor,
          notifications,
          signals,
          logger,
          metrics: promotionMetrics,
          runtime: {
            observerFor: subject => runtimeObservers.forSubject(subject),
            settings: runtimeSettings,
          },
          approvals: approvalPolicy,
          policies: new PolicyReader({
            catalog,
            auth,
            store,
            environments,
            freezes: readFreezes(
              config,
              environments.map(e => e.name),
            ),
          }),
        });
        const approvals = new ApprovalService({
          store: approvalStore,
          promotions: store,
          policy: approvalPolicy,
          directory: approverDirectory,
          engine: () => promotions,
          permissions,
          events: approvalEvents,
          environments,
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
          mainBranch,
          snapshots,
          coldReadsPerBoard: config.getOptionalNumber(
            'promotion.board.coldReadsPerRequest',
          ),
          coldReadWaitMs: ((seconds?: number) =>
            seconds === undefined ? undefined : seconds * 1000)(
            config.getOptionalNumber('promotion.board.coldReadWaitSeconds'),
          ),
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
            rateBudget,
            runtimeViews: new RuntimeViews({
              lineage,
              runtime: runtimeObservers,
              yanks,
              cache,
              cacheTtlMs:
                (config.getOptionalNumber(
                  'promotion.runtime.cacheTtlSeconds',
                ) ?? DEFAULT_RUNTIME_CACHE_TTL_MS / 1000) * 1000,
              concurrency:
                config.getOptionalNumber('promotion.runtime.concurrency') ??
                DEFAULT_RUNTIME_CONCURRENCY,
              defaultLimit,
              mainBranch,
              snapshots,
            }),
            approvals,
            dora: new DoraService({
              store,
              yanks,
              lineage,
              environments,
              failureWindowMs:
                (config.getOptionalNumber(
                  'promotion.dora.failureWindowHours',
                ) ?? 168) *
                60 *
                60 *
                1000,
              commitLimit:
                config.getOptionalNumber('promotion.dora.commitLimit') ?? 500,
              historyLimit: 10_000,
            }),
          }),
        );
        // Promotions waiting for a manifest pull request or a deploy workflow run are finished by
        // whichever replica gets there first; webhooks wake them sooner, this catches the rest.
        const resolveEntity = async (entityRef: string) =>
          targets.get(entityRef, await auth.getOwnServiceCredentials());
        await scheduler.scheduleTask({
          id: 'promotion-follow-waiting',
          frequency: { seconds: followIntervalSeconds },
          timeout: { minutes: 5 },
          initialDelay: { seconds: 5 },
          scope: 'global',
          fn: async () => {
            if (!(await budgetAllows('polling waiting promotions'))) return;
            await promotions.followWaiting(resolveEntity);
          },
        });
        // Verify steps poll the runtime with backoff from minPoll; each poll that is not due yet
        // costs one database read. Local: every replica may poll, finishing is conditional.
        if (runtimeObservers.count > 0) {
          await scheduler.scheduleTask({
            id: 'promotion-follow-verify',
            frequency: { milliseconds: runtimeSettings.minPollMs },
            timeout: { minutes: 5 },
            initialDelay: { seconds: 1 },
            scope: 'local',
            fn: async () => {
              await promotions.followWaiting(resolveEntity, {
                verifyOnly: true,
              });
            },
          });
        }
        // Promotions whose worker stopped (a killed process, a lost database connection) are found
        // by their lease running out and recovered by whichever replica claims them first. One
        // task on every replica (claims are conditional, so replicas never recover one twice),
        // first run just after start: a local task leaves no scheduler lock behind a killed
        // process that could hold up the recovery after its restart.
        await scheduler.scheduleTask({
          id: 'promotion-recover-stalled',
          frequency: {
            seconds:
              config.getOptionalNumber('promotion.recovery.intervalSeconds') ??
              15,
          },
          timeout: { minutes: 1 },
          initialDelay: { seconds: 1 },
          scope: 'local',
          fn: async () => {
            await promotions.recoverStalled(resolveEntity);
            // Approved promotions that could not proceed when their last approval came.
            await approvals.sweep(
              resolveEntity,
              await auth.getOwnServiceCredentials(),
            );
            await store.pruneDeliveries(
              new Date(Date.now() - WEBHOOK_DELIVERY_RETENTION_MS),
            );
          },
        });
        // One promotion engine: release tags people push in GitHub are promoted here too, from
        // the webhook and, for deliveries that never came, from a periodic pass over the tags.
        const pushedTags = new PushedTags({
          targets,
          catalog,
          auth,
          store,
          promotions,
          adapters,
          environments,
          logger,
        });
        const tagsFromPushes =
          config.getOptionalBoolean('promotion.tags.fromPushes') ?? true;
        if (tagsFromPushes) {
          // The first pass (which records each repository's tags as history) runs shortly after
          // start and once any background preparation (the demo) is done, without holding up the
          // start; a webhook's tag is claimed either way.
          await scheduler.scheduleTask({
            id: 'promotion-reconcile-tags',
            frequency: {
              seconds:
                config.getOptionalNumber(
                  'promotion.tags.reconcileIntervalSeconds',
                ) ?? 300,
            },
            timeout: { minutes: 10 },
            initialDelay: { seconds: 5 },
            scope: 'global',
            fn: async () => {
              await preparations.settled();
              if (!(await budgetAllows('reconciling pushed tags'))) return;
              await pushedTags.reconcile();
            },
          });
        }
        // The board's snapshots kept fresh in the background, within the rate budget.
        if (config.getOptionalBoolean('promotion.warmer.enabled') ?? true) {
          const warmer = new LineageWarmer({
            lineage,
            snapshots,
            budget: rateBudget,
            services: async () =>
              board.services({}, await auth.getOwnServiceCredentials()),
            logger,
            limit: defaultLimit,
            mainBranch,
            perRound: config.getOptionalNumber('promotion.warmer.perRound'),
            concurrency: config.getOptionalNumber(
              'promotion.warmer.concurrency',
            ),
            refreshAfterMs:
              (config.getOptionalNumber(
                'promotion.warmer.refreshAfterMinutes',
              ) ?? 60) * 60_000,
          });
          await scheduler.scheduleTask({
            id: 'promotion-warm-lineage',
            frequency: {
              seconds:
                config.getOptionalNumber('promotion.warmer.intervalSeconds') ??
                10,
            },
            timeout: { minutes: 5 },
            initialDelay: { seconds: 3 },
            scope: 'global',
            fn: async () => {
              await preparations.settled();
              await warmer.round();
            },
          });
        }
        // Upstream events (the GitHub module's webhooks) through one narrow interface.
        await sourceEventsHandlers.start(
          sourceEvents({
            catalog,
            auth,
            logger,
            signals,
            invalidate: entityRef => lineage.invalidate(entityRef),
            followWaiting: entityRef =>
              promotions.followWaiting(resolveEntity, { entityRef }),
            wakeVerify: wakeVerifySteps(promotions, resolveEntity),
            firstDelivery: (id, topic) => store.firstDelivery(id, topic),
            pushedTag: tagsFromPushes
              ? tag => pushedTags.handle({ ...tag, source: 'webhook' })
              : undefined,
          }),
        );

        registerActions({
          actionsRegistry,
          targets,
          lineage,
          promotions,
          actors,
          defaultLimit,
        });
        registerApprovalActions({
          actionsRegistry,
          targets,
          actors,
          approvals,
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
