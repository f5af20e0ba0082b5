import { BackstageCredentials } from '@backstage/backend-plugin-api';
import {
  ANNOTATION_LOCATION,
  Entity,
  RELATION_OWNED_BY,
  RELATION_PART_OF,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { NotFoundError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { readPromotionTarget } from '@mainline/plugin-promotion-common';
import { EntityContext } from '../promotion/types';

/** A promotable entity from a catalog query, with the entity itself. */
export type ListedTarget = EntityContext & { entity: Entity };

/**
 * Looks entities up in the catalog with the caller's credentials (so catalog read permissions
 * apply) and reads their promotion settings.
 */
export class EntityTargets {
  constructor(private readonly catalog: CatalogService) {}

  async get(
    entityRef: string,
    credentials: BackstageCredentials,
  ): Promise<EntityContext> {
    const entity = await this.catalog.getEntityByRef(entityRef, {
      credentials,
    });
    if (!entity) {
      throw new NotFoundError(`No entity ${entityRef} in the catalog`);
    }
    const read = EntityTargets.read(entity);
    if (!read.ok) {
      throw new NotFoundError(
        `${entityRef} is not set up for promotion: ${read.problem}`,
      );
    }
    return read.entity;
  }

  /**
   * The promotable entities a catalog filter matches, sorted by ref, in one query; entities whose
   * promotion settings do not read are left out.
   */
  async list(
    filter: Record<string, string | string[]>,
    credentials: BackstageCredentials,
  ): Promise<ListedTarget[]> {
    const { items } = await this.catalog.getEntities(
      { filter },
      { credentials },
    );
    return items
      .flatMap(entity => {
        const read = EntityTargets.read(entity);
        return read.ok ? [{ ...read.entity, entity }] : [];
      })
      .sort((a, b) => a.entityRef.localeCompare(b.entityRef));
  }

  /** An entity already read from the catalog (a list query), as `get` would answer it. */
  static read(
    entity: Entity,
  ): { ok: true; entity: EntityContext } | { ok: false; problem: string } {
    const read = readPromotionTarget(entity);
    if (!read.ok) {
      return {
        ok: false,
        problem: read.problems
          .map(p => `annotation ${p.annotation} ${p.message}`)
          .join('; '),
      };
    }
    return {
      ok: true,
      entity: {
        entityRef: stringifyEntityRef(entity),
        target: read.target,
        owners: relatedRefs(entity, RELATION_OWNED_BY, 'owner'),
        systems: relatedRefs(entity, RELATION_PART_OF, 'system'),
        location: entity.metadata.annotations?.[ANNOTATION_LOCATION],
      },
    };
  }
}

/**
 * Who an entity relates to, as the catalog relates them (`ownedBy`, `partOf`), else from the spec
 * field those relations are made from (an entity not yet processed).
 */
export function relatedRefs(
  entity: Entity,
  type: typeof RELATION_OWNED_BY | typeof RELATION_PART_OF,
  field: 'owner' | 'system',
): string[] {
  const related = (entity.relations ?? [])
    .filter(r => r.type === type)
    .map(r => r.targetRef);
  if (related.length > 0) return related;
  const value = (entity.spec as Record<string, unknown> | undefined)?.[field];
  if (typeof value !== 'string') return [];
  try {
    return [
      stringifyEntityRef(
        parseEntityRef(value, {
          defaultKind: field === 'owner' ? 'group' : 'system',
          defaultNamespace: entity.metadata.namespace ?? 'default',
        }),
      ),
    ];
  } catch {
    return [];
  }
}
