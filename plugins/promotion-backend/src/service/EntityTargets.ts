import { BackstageCredentials } from '@backstage/backend-plugin-api';
import {
  Entity,
  RELATION_OWNED_BY,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { NotFoundError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import {
  PromotionTarget,
  readPromotionTarget,
} from '@mainline/plugin-promotion-common';

/**
 * Looks an entity up in the catalog with the caller's credentials (so catalog read permissions
 * apply) and reads its promotion settings.
 */
export class EntityTargets {
  constructor(private readonly catalog: CatalogService) {}

  async get(
    entityRef: string,
    credentials: BackstageCredentials,
  ): Promise<{ entityRef: string; target: PromotionTarget; owners: string[] }> {
    const entity = await this.catalog.getEntityByRef(entityRef, {
      credentials,
    });
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
    return { entityRef, target: read.target, owners: ownersOf(entity) };
  }
}

/** Who is told about promotions of an entity: its owners, as the catalog relates them. */
function ownersOf(entity: Entity): string[] {
  const related = (entity.relations ?? [])
    .filter(r => r.type === RELATION_OWNED_BY)
    .map(r => r.targetRef);
  if (related.length > 0) return related;
  const owner = (entity.spec as { owner?: unknown } | undefined)?.owner;
  return typeof owner === 'string'
    ? [
        stringifyEntityRef(
          parseEntityRef(owner, {
            defaultKind: 'group',
            defaultNamespace: entity.metadata.namespace ?? 'default',
          }),
        ),
      ]
    : [];
}
