import { BackstageCredentials } from '@backstage/backend-plugin-api';
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
  ): Promise<{ entityRef: string; target: PromotionTarget }> {
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
    return { entityRef, target: read.target };
  }
}
