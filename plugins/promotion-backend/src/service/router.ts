import { HttpAuthService } from '@backstage/backend-plugin-api';
import { createValidatedOpenApiRouter } from '@backstage/backend-openapi-utils';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { NotFoundError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import {
  EnvironmentDefinition,
  readPromotionTarget,
} from '@mainline/plugin-promotion-common';
import { spec } from '../schema/openapi.generated';

export interface RouterOptions {
  httpAuth: HttpAuthService;
  catalog: CatalogService;
  environments: EnvironmentDefinition[];
}

/** Translates HTTP to the promotion services; every handler requires a signed-in user. */
export async function createRouter(options: RouterOptions) {
  const { httpAuth, catalog, environments } = options;
  const router = createValidatedOpenApiRouter(spec);

  router.get('/v1/environments', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    res.json({ environments });
  });

  router.get('/v1/entities/:kind/:namespace/:name/target', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const ref = {
      kind: req.params.kind,
      namespace: req.params.namespace,
      name: req.params.name,
    };
    const entityRef = stringifyEntityRef(ref);
    const entity = await catalog.getEntityByRef(ref, { credentials });
    if (!entity) {
      throw new NotFoundError(`No entity ${entityRef} in the catalog`);
    }
    const read = readPromotionTarget(entity);
    if (!read.ok) {
      throw new NotFoundError(
        `${entityRef} is not set up for promotion: ${read.problems
          .map(p => `annotation ${p.annotation} ${p.message}`)
          .join('; ')}`,
      );
    }
    res.json({ entityRef, ...read.target });
  });

  return router;
}
