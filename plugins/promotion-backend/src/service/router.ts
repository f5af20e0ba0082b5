import {
  BackstageCredentials,
  HttpAuthService,
} from '@backstage/backend-plugin-api';
import { createValidatedOpenApiRouter } from '@backstage/backend-openapi-utils';
import {
  EnvironmentDefinition,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';
import { PromotionStore } from '../database/PromotionStore';
import { YankStore } from '../database/YankStore';
import { LineageService } from '../lineage/LineageService';
import { ReleaseBoard } from '../board/ReleaseBoard';
import { toPromotion, toYank } from '../promotion/api';
import { PromotionService } from '../promotion/PromotionService';
import { RepositoryPromotions } from '../promotion/RepositoryPromotions';
import { Actors } from './actors';
import { spec } from '../schema/openapi.generated';
import { EntityTargets } from './EntityTargets';
import { RateBudget } from '../budget/RateBudget';
import { DoraService } from '../dora/DoraService';
import { addDoraRoutes } from '../dora/routes';
import { addRuntimeRoutes } from '../runtime/routes';
import { RuntimeViews } from '../runtime/RuntimeViews';
import { ApprovalService } from '../promotion/approvals/ApprovalService';
import { addApprovalRoutes } from '../promotion/approvals/routes';
import {
  entityRefOf,
  parseBoard,
  parseExport,
  parsePromote,
  parseRollback,
  parseYank,
} from './requests';
import { refusalHandler, writeExport, writeLineage } from './responses';

export interface RouterOptions {
  httpAuth: HttpAuthService;
  targets: EntityTargets;
  lineage: LineageService;
  promotions: PromotionService;
  repositoryPromotions: RepositoryPromotions;
  board: ReleaseBoard;
  store: PromotionStore;
  yanks: YankStore;
  actors: Actors;
  environments: EnvironmentDefinition[];
  defaultLimit: number;
  /** GitHub's rate budget as this replica sees it. */
  rateBudget?: RateBudget;
  dora: DoraService;
  /** The runtime views (declared beside running); without them, no runtime routes. */
  runtimeViews?: RuntimeViews;
  /** Approving, rejecting and withdrawing (absent: no approval routes). */
  approvals?: ApprovalService;
}

/** Translates HTTP to the promotion services; every handler requires a signed-in caller. */
export async function createRouter(options: RouterOptions) {
  const { httpAuth, targets, lineage, promotions, store, yanks, actors } =
    options;
  const { environments, defaultLimit, repositoryPromotions, board } = options;
  const router = createValidatedOpenApiRouter(spec);
  const caller = (req: Parameters<typeof httpAuth.credentials>[0]) =>
    httpAuth.credentials(req, { allow: ['user', 'service'] });

  /** The entity a write acts on, looked up afresh. */
  const entityTarget = async (
    params: { kind: string; namespace: string; name: string },
    credentials: BackstageCredentials,
  ): Promise<{
    entityRef: string;
    target: PromotionTarget;
    owners: string[];
  }> => targets.get(entityRefOf(params), credentials);
  /**
   * The entity a read shows: the caller's own recent lookup may answer (see
   * `EntityTargets.getForRead`); the catalog's read permission is still the caller's.
   */
  const readTarget = async (
    params: { kind: string; namespace: string; name: string },
    credentials: BackstageCredentials,
  ) => targets.getForRead(entityRefOf(params), credentials);

  router.get('/v1/environments', async (req, res) => {
    await caller(req);
    res.json({ environments });
  });

  router.get('/v1/github/rate-budget', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    await options.rateBudget?.sync();
    res.json({ integrations: options.rateBudget?.snapshot() ?? [] });
  });

  router.get('/v1/board', async (req, res) => {
    const credentials = await caller(req);
    const timings: Record<string, number> = {};
    const answer = await board.board(parseBoard(req), credentials, timings);
    // Where the server spent the board's time (browsers' developer tools show it).
    res.setHeader(
      'Server-Timing',
      Object.entries(timings)
        .map(([phase, ms]) => `${phase};dur=${ms}`)
        .join(', '),
    );
    res.json(answer);
  });

  router.get('/v1/promotions/export', async (req, res) => {
    const credentials = await caller(req);
    const input = parseExport(req);
    const services = await board.services(input.filter, credentials);
    const items = await store.history(
      services.map(s => s.entityRef),
      { since: input.since, limit: input.limit },
    );
    writeExport(res, items, input.format);
  });

  router.get('/v1/entities/:kind/:namespace/:name/target', async (req, res) => {
    const credentials = await caller(req);
    const { entityRef, target } = await readTarget(req.params, credentials);
    res.json({ entityRef, ...target });
  });

  router.get(
    '/v1/entities/:kind/:namespace/:name/lineage',
    async (req, res) => {
      const credentials = await caller(req);
      const { entityRef, target } = await readTarget(req.params, credentials);
      const served = await lineage.serve(entityRef, target, {
        limit: req.query.limit ?? defaultLimit,
        branch: req.query.branch,
      });
      writeLineage(req, res, served);
    },
  );

  router.get(
    '/v1/entities/:kind/:namespace/:name/compare',
    async (req, res) => {
      const credentials = await caller(req);
      const { entityRef, target } = await readTarget(req.params, credentials);
      res.json(
        await lineage.compare(entityRef, target, req.query.from, req.query.to),
      );
    },
  );

  /**
   * The caller of a write, checked first (401), then the request parsed (400 before the catalog
   * or any upstream is asked), then the actor named for tags, manifest commits and the audit.
   */
  const writeContext = async <T>(
    req: Parameters<typeof httpAuth.credentials>[0],
    parse: () => T,
  ) => {
    const credentials = await caller(req);
    const input = parse();
    // The request goes along so that auditor events name the caller, not the plugin.
    const ctx = {
      credentials,
      actor: await actors.of(credentials),
      request: req,
    };
    return { ctx, input };
  };

  router.post(
    '/v1/entities/:kind/:namespace/:name/promotions',
    async (req, res) => {
      const { ctx, input } = await writeContext(req, () =>
        parsePromote(environments, req),
      );
      const entity = await entityTarget(req.params, ctx.credentials);
      const result = await promotions.promote(entity, input, ctx);
      if ('dryRun' in result) {
        res.status(200).json(result);
      } else {
        res.status(201).json(toPromotion(result));
      }
    },
  );

  router.post(
    '/v1/entities/:kind/:namespace/:name/repository-promotions',
    async (req, res) => {
      const { ctx, input } = await writeContext(req, () =>
        parsePromote(environments, req),
      );
      const entity = await entityTarget(req.params, ctx.credentials);
      res.json(await repositoryPromotions.promote(entity, input, ctx));
    },
  );

  router.get(
    '/v1/entities/:kind/:namespace/:name/promotions',
    async (req, res) => {
      const credentials = await caller(req);
      const { entityRef } = await readTarget(req.params, credentials);
      const items = await store.list(entityRef, {
        limit: req.query.limit ?? 50,
      });
      res.json({ items: items.map(toPromotion) });
    },
  );

  router.get(
    '/v1/entities/:kind/:namespace/:name/promotions/:id',
    async (req, res) => {
      const credentials = await caller(req);
      const { entityRef } = await readTarget(req.params, credentials);
      res.json(toPromotion(await store.require(entityRef, req.params.id)));
    },
  );

  router.post(
    '/v1/entities/:kind/:namespace/:name/promotions/:id/retry',
    async (req, res) => {
      const { ctx } = await writeContext(req, () => undefined);
      const entity = await entityTarget(req.params, ctx.credentials);
      res.json(toPromotion(await promotions.retry(entity, req.params.id, ctx)));
    },
  );

  router.post(
    '/v1/entities/:kind/:namespace/:name/rollbacks',
    async (req, res) => {
      const { ctx, input } = await writeContext(req, () =>
        parseRollback(environments, req),
      );
      const entity = await entityTarget(req.params, ctx.credentials);
      const result = await promotions.rollback(entity, input, ctx);
      res.status(201).json(toPromotion(result));
    },
  );

  router.post('/v1/entities/:kind/:namespace/:name/yanks', async (req, res) => {
    const { ctx, input } = await writeContext(req, () => parseYank(req));
    const entity = await entityTarget(req.params, ctx.credentials);
    const { created, ...result } = await promotions.yank(entity, input, ctx);
    res.status(created ? 201 : 200).json({
      yank: toYank(result.yank),
      deleted: result.deleted,
      affectedEnvironments: result.affectedEnvironments,
    });
  });

  router.get('/v1/entities/:kind/:namespace/:name/yanks', async (req, res) => {
    const credentials = await caller(req);
    const { entityRef } = await readTarget(req.params, credentials);
    const items = await yanks.listForEntity(entityRef);
    res.json({
      items: items.map(toYank),
    });
  });

  addDoraRoutes(router, { httpAuth, targets, board, dora: options.dora });
  if (options.runtimeViews) {
    addRuntimeRoutes(router, {
      httpAuth,
      targets,
      runtimeViews: options.runtimeViews,
    });
  }
  if (options.approvals) {
    addApprovalRoutes(router, {
      httpAuth,
      targets,
      actors,
      approvals: options.approvals,
    });
  }

  // A refused write answers Backstage's error body with its failed checks beside it.
  router.use(refusalHandler);

  return router;
}
