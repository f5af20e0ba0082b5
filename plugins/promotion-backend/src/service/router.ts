import {
  BackstageCredentials,
  HttpAuthService,
} from '@backstage/backend-plugin-api';
import { createValidatedOpenApiRouter } from '@backstage/backend-openapi-utils';
import { serializeError } from '@backstage/errors';
import { ErrorRequestHandler } from 'express';
import { stringifyEntityRef } from '@backstage/catalog-model';
import {
  EnvironmentDefinition,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';
import { PromotionStore } from '../database/PromotionStore';
import { YankStore } from '../database/YankStore';
import { LineageService } from '../lineage/LineageService';
import toCsv from 'csv-stringify/lib/sync';
import { ReleaseBoard } from '../board/ReleaseBoard';
import { toPromotion, toYank } from '../promotion/api';
import { PromotionRefusedError } from '../promotion/checks';
import { PromotionService } from '../promotion/PromotionService';
import { RepositoryPromotions } from '../promotion/RepositoryPromotions';
import { Actors } from './actors';
import { spec } from '../schema/openapi.generated';
import { EntityTargets } from './EntityTargets';
import { RateBudget } from '../budget/RateBudget';
import { DoraService } from '../dora/DoraService';
import { addDoraRoutes } from '../dora/routes';

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
}

/**
 * Writes a refused promotion or rollback (or a read of an entity that is not set up) as Backstage's
 * error handler would (`error`, `request`,
 * `response`), plus the failed checks as a top-level `checks` array; every other error goes on to
 * the error handler.
 */
const refusalHandler: ErrorRequestHandler = (error, req, res, next) => {
  if (!(error instanceof PromotionRefusedError) || res.headersSent) {
    next(error);
    return;
  }
  const statusCode = error.statusCode;
  res.status(statusCode).json({
    error: serializeError(error),
    request: { method: req.method, url: req.url },
    response: { statusCode },
    checks: error.checks,
  });
};

/** Translates HTTP to the promotion services; every handler requires a signed-in caller. */
export async function createRouter(options: RouterOptions) {
  const { httpAuth, targets, lineage, promotions, store, yanks, actors } =
    options;
  const { environments, defaultLimit, repositoryPromotions, board } = options;
  const router = createValidatedOpenApiRouter(spec);

  const entityRefOf = (params: {
    kind: string;
    namespace: string;
    name: string;
  }) =>
    stringifyEntityRef({
      kind: params.kind,
      namespace: params.namespace,
      name: params.name,
    });
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
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    res.json({ environments });
  });

  router.get('/v1/github/rate-budget', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    res.json({ integrations: options.rateBudget?.snapshot() ?? [] });
  });

  router.get('/v1/board', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const query = ReleaseBoard.parseQuery(req.query);
    res.json(await board.board(query, credentials));
  });

  router.get('/v1/promotions/export', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const filter = ReleaseBoard.parseQuery(req.query);
    const services = await board.services(filter, credentials);
    const items = (
      await store.history(
        services.map(s => s.entityRef),
        {
          since: req.query.since ? new Date(req.query.since) : undefined,
          limit: req.query.limit ?? 1000,
        },
      )
    ).map(({ idempotencyKey, requestHash, tagAutomatic, ...item }) => item);
    const stamp = new Date().toISOString().slice(0, 10);
    if (req.query.format === 'json') {
      res.setHeader(
        'content-disposition',
        `attachment; filename="promotions-${stamp}.json"`,
      );
      res.json({ items });
      return;
    }
    const columns = [
      'createdAt',
      'entityRef',
      'environment',
      'kind',
      'status',
      'version',
      'tag',
      'sha',
      'requestedBy',
      'error',
      'updatedAt',
      'id',
    ] as const;
    res.setHeader('content-type', 'text/csv; charset=utf-8');
    res.setHeader(
      'content-disposition',
      `attachment; filename="promotions-${stamp}.csv"`,
    );
    // The OpenAPI types describe JSON bodies; CSV goes out as it is.
    res.end(
      toCsv(
        items.map(item => columns.map(column => item[column] ?? '')),
        { header: true, columns: [...columns] },
      ),
    );
  });

  router.get('/v1/entities/:kind/:namespace/:name/target', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const { entityRef, target } = await readTarget(req.params, credentials);
    res.json({ entityRef, ...target });
  });

  router.get(
    '/v1/entities/:kind/:namespace/:name/lineage',
    async (req, res) => {
      const credentials = await httpAuth.credentials(req, {
        allow: ['user', 'service'],
      });
      const { entityRef, target } = await readTarget(req.params, credentials);
      const served = await lineage.serve(entityRef, target, {
        limit: req.query.limit ?? defaultLimit,
        branch: req.query.branch,
      });
      // Revalidated on every use (the caller's permission is checked above each time); an
      // unchanged lineage answers 304 without a body.
      res.setHeader('cache-control', 'private, no-cache');
      res.setHeader('etag', served.etag);
      res.setHeader('vary', 'Accept-Encoding');
      if (req.fresh) {
        res.status(304).end();
        return;
      }
      res.setHeader('content-type', 'application/json; charset=utf-8');
      // Serialized and compressed once per lineage, not per request (compression middleware
      // leaves a body that already names its encoding alone).
      if (req.acceptsEncodings('gzip', 'identity') === 'gzip') {
        res.setHeader('content-encoding', 'gzip');
        res.end(served.gzipped);
      } else {
        res.end(JSON.stringify(served.lineage));
      }
    },
  );

  router.get(
    '/v1/entities/:kind/:namespace/:name/compare',
    async (req, res) => {
      const credentials = await httpAuth.credentials(req, {
        allow: ['user', 'service'],
      });
      const { entityRef, target } = await readTarget(req.params, credentials);
      res.json(
        await lineage.compare(entityRef, target, req.query.from, req.query.to),
      );
    },
  );

  // Writes: the caller is named for tags, manifest commits and the audit trail.
  const writeContext = async (
    req: Parameters<typeof httpAuth.credentials>[0],
  ) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    // The request goes along so that auditor events name the caller, not the plugin.
    return { credentials, actor: await actors.of(credentials), request: req };
  };

  router.post(
    '/v1/entities/:kind/:namespace/:name/promotions',
    async (req, res) => {
      const ctx = await writeContext(req);
      const entity = await entityTarget(req.params, ctx.credentials);
      const result = await promotions.promote(
        entity,
        { ...req.body, idempotencyKey: req.header('idempotency-key') },
        ctx,
      );
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
      const ctx = await writeContext(req);
      const request = {
        ...req.body,
        idempotencyKey: req.header('idempotency-key'),
      };
      // Refused before the catalog or any repository is asked.
      promotions.checkPromoteRequest(request);
      const entity = await entityTarget(req.params, ctx.credentials);
      res.json(await repositoryPromotions.promote(entity, request, ctx));
    },
  );

  router.get(
    '/v1/entities/:kind/:namespace/:name/promotions',
    async (req, res) => {
      const credentials = await httpAuth.credentials(req, {
        allow: ['user', 'service'],
      });
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
      const credentials = await httpAuth.credentials(req, {
        allow: ['user', 'service'],
      });
      const { entityRef } = await readTarget(req.params, credentials);
      res.json(toPromotion(await store.require(entityRef, req.params.id)));
    },
  );

  router.post(
    '/v1/entities/:kind/:namespace/:name/promotions/:id/retry',
    async (req, res) => {
      const ctx = await writeContext(req);
      const entity = await entityTarget(req.params, ctx.credentials);
      res.json(toPromotion(await promotions.retry(entity, req.params.id, ctx)));
    },
  );

  router.post(
    '/v1/entities/:kind/:namespace/:name/rollbacks',
    async (req, res) => {
      const ctx = await writeContext(req);
      const entity = await entityTarget(req.params, ctx.credentials);
      const result = await promotions.rollback(
        entity,
        { ...req.body, idempotencyKey: req.header('idempotency-key') },
        ctx,
      );
      res.status(201).json(toPromotion(result));
    },
  );

  router.post('/v1/entities/:kind/:namespace/:name/yanks', async (req, res) => {
    const ctx = await writeContext(req);
    const entity = await entityTarget(req.params, ctx.credentials);
    const { created, ...result } = await promotions.yank(entity, req.body, ctx);
    res.status(created ? 201 : 200).json({
      yank: toYank(result.yank),
      deleted: result.deleted,
      affectedEnvironments: result.affectedEnvironments,
    });
  });

  router.get('/v1/entities/:kind/:namespace/:name/yanks', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const { entityRef } = await readTarget(req.params, credentials);
    const items = await yanks.listForEntity(entityRef);
    res.json({
      items: items.map(toYank),
    });
  });

  addDoraRoutes(router, { httpAuth, targets, board, dora: options.dora });

  // A refused write answers Backstage's error body with its failed checks beside it.
  router.use(refusalHandler);

  return router;
}
