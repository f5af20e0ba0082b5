import {
  BackstageCredentials,
  HttpAuthService,
} from '@backstage/backend-plugin-api';
import { createValidatedOpenApiRouter } from '@backstage/backend-openapi-utils';
import { stringifyEntityRef } from '@backstage/catalog-model';
import {
  EnvironmentDefinition,
  PromotionTarget,
} from '@mainline/plugin-promotion-common';
import { LineageService } from '../lineage/LineageService';
import { spec } from '../schema/openapi.generated';
import { EntityTargets } from './EntityTargets';

export interface RouterOptions {
  httpAuth: HttpAuthService;
  targets: EntityTargets;
  lineage: LineageService;
  environments: EnvironmentDefinition[];
  defaultLimit: number;
}

/** Translates HTTP to the promotion services; every handler requires a signed-in caller. */
export async function createRouter(options: RouterOptions) {
  const { httpAuth, targets, lineage, environments, defaultLimit } = options;
  const router = createValidatedOpenApiRouter(spec);

  const entityTarget = async (
    params: { kind: string; namespace: string; name: string },
    credentials: BackstageCredentials,
  ): Promise<{ entityRef: string; target: PromotionTarget }> =>
    targets.get(
      stringifyEntityRef({
        kind: params.kind,
        namespace: params.namespace,
        name: params.name,
      }),
      credentials,
    );

  router.get('/v1/environments', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    res.json({ environments });
  });

  router.get('/v1/entities/:kind/:namespace/:name/target', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const { entityRef, target } = await entityTarget(req.params, credentials);
    res.json({ entityRef, ...target });
  });

  router.get(
    '/v1/entities/:kind/:namespace/:name/lineage',
    async (req, res) => {
      const credentials = await httpAuth.credentials(req, {
        allow: ['user', 'service'],
      });
      const { entityRef, target } = await entityTarget(req.params, credentials);
      res.json(
        await lineage.lineage(entityRef, target, {
          limit: req.query.limit ?? defaultLimit,
          branch: req.query.branch,
        }),
      );
    },
  );

  router.get(
    '/v1/entities/:kind/:namespace/:name/compare',
    async (req, res) => {
      const credentials = await httpAuth.credentials(req, {
        allow: ['user', 'service'],
      });
      const { entityRef, target } = await entityTarget(req.params, credentials);
      res.json(
        await lineage.compare(entityRef, target, req.query.from, req.query.to),
      );
    },
  );

  return router;
}
