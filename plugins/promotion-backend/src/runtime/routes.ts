import { createValidatedOpenApiRouter } from '@backstage/backend-openapi-utils';
import { HttpAuthService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import { spec } from '../schema/openapi.generated';
import { EntityTargets } from '../service/EntityTargets';
import { entityRefInput } from '../service/entityRefInput';
import { entityRefOf } from '../service/requests';
import { RuntimeViews } from './RuntimeViews';

type ApiRouter = ReturnType<typeof createValidatedOpenApiRouter<typeof spec>>;

/** Entity refs one `POST /v1/runtime/query` may ask for (the OpenAPI document's `maxItems`). */
export const MAX_RUNTIME_QUERY_REFS = 100;

/**
 * The refs of a runtime query, checked before anything is read: a list of 1 to
 * {@link MAX_RUNTIME_QUERY_REFS} entity refs (`component:default/checkout`; kind `component` and
 * namespace `default` where left out), normalized and without repeats.
 */
export function parseRuntimeQuery(body: unknown): string[] {
  const refs = (body as { entityRefs?: unknown } | undefined)?.entityRefs;
  if (!Array.isArray(refs) || refs.length === 0) {
    throw new InputError('entityRefs: give a list of 1 or more entity refs');
  }
  if (refs.length > MAX_RUNTIME_QUERY_REFS) {
    throw new InputError(
      `entityRefs: at most ${MAX_RUNTIME_QUERY_REFS} entity refs per request, got ${refs.length}`,
    );
  }
  const normalized = refs.map((ref, index) => {
    if (typeof ref !== 'string' || !ref.trim()) {
      throw new InputError(`entityRefs[${index}]: not an entity ref`);
    }
    return entityRefInput(ref, {
      defaultKind: 'component',
      parameter: `entityRefs[${index}]`,
    });
  });
  return [...new Set(normalized)];
}

/**
 * `GET /v1/entities/:kind/:namespace/:name/runtime`: per environment what the lineage declares
 * and what the entity's runtime observer reports, and whether they disagree; observed afresh.
 * `POST /v1/runtime/query`: the same for up to {@link MAX_RUNTIME_QUERY_REFS} entities in one
 * request (the release board), from observations at most `promotion.runtime.cacheTtlSeconds`
 * old; an entity the caller may not read in the catalog, or that is not set up for promotion, is
 * left out of the answer exactly as one that does not exist.
 */
export function addRuntimeRoutes(
  router: ApiRouter,
  options: {
    httpAuth: HttpAuthService;
    targets: EntityTargets;
    runtimeViews: RuntimeViews;
  },
) {
  const { httpAuth, targets, runtimeViews } = options;
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
      res.json(await runtimeViews.view(entity));
    },
  );

  router.post('/v1/runtime/query', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const refs = parseRuntimeQuery(req.body);
    const entities = await targets.getManyForRead(refs, credentials);
    res.json(await runtimeViews.query(entities));
  });
}
