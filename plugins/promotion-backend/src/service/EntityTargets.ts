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
import { PromotionRefusedError } from '../promotion/checks';
import { EntityContext } from '../promotion/types';

/** A promotable entity from a catalog query, with the entity itself. */
export type ListedTarget = EntityContext & { entity: Entity };

/** How many callers' entity lookups `getForRead` holds at most. */
const MAX_READ_ENTRIES = 5000;

/**
 * Looks entities up in the catalog with the caller's credentials (so catalog read permissions
 * apply) and reads their promotion settings.
 */
export class EntityTargets {
  /** Recent answers of `getForRead`, per caller and entity; see there. */
  private readonly reads = new Map<
    string,
    { expiresAt: number; entity: Promise<EntityContext> }
  >();

  constructor(
    private readonly catalog: CatalogService,
    private readonly options: {
      /** How long a caller's successful lookup serves that caller's reads; 0 turns it off. */
      readCacheTtlMs?: number;
    } = {},
  ) {}

  /**
   * `get` for read-only requests. A lookup is the most expensive part of a cached read (a
   * catalog request with a freshly signed token, and the catalog's own permission request), so
   * the answer the catalog gave to one caller serves that same caller (same principal, same
   * access restrictions) for a few seconds, and concurrent lookups of one caller share one
   * request. Only answers are kept: a refusal or failure is asked again every time, and a write
   * always looks the entity up afresh (`get`).
   */
  async getForRead(
    entityRef: string,
    credentials: BackstageCredentials,
  ): Promise<EntityContext> {
    const ttl = this.options.readCacheTtlMs ?? 0;
    if (ttl <= 0) return this.get(entityRef, credentials);
    const key = `${JSON.stringify(credentials.principal)}\n${entityRef}`;
    const now = Date.now();
    const held = this.reads.get(key);
    if (held && held.expiresAt > now) return held.entity;
    if (held) this.reads.delete(key);
    const entity = this.get(entityRef, credentials);
    // The token's own end bounds the answer too (it is verified again on every request anyway).
    const expiresAt = Math.min(
      now + ttl,
      credentials.expiresAt?.getTime() ?? Infinity,
    );
    this.reads.set(key, { expiresAt, entity });
    entity.catch(() => {
      if (this.reads.get(key)?.entity === entity) this.reads.delete(key);
    });
    // Oldest first (insertion order): bounded however many callers come by.
    while (this.reads.size > MAX_READ_ENTRIES) {
      this.reads.delete(this.reads.keys().next().value!);
    }
    return entity;
  }

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
      // A 404 as before, with the `setup` check naming the first annotation to add, or to fix.
      const message = `${entityRef} is not set up for promotion: ${read.problem}`;
      throw new PromotionRefusedError(
        [
          {
            name: 'setup',
            passed: false,
            reason: read.problem,
            data: read.missing
              ? { missingAnnotation: read.annotation }
              : { invalidAnnotation: read.annotation },
          },
        ],
        message,
        'NotFoundError',
      );
    }
    return read.entity;
  }

  /**
   * Several entities for a read-only request, in one catalog request with the caller's
   * credentials, in the order asked. An entity the catalog does not answer (absent, or not
   * readable by the caller) and one not set up for promotion are left out alike, so the answer
   * tells nothing about entities the caller may not see.
   */
  async getManyForRead(
    entityRefs: string[],
    credentials: BackstageCredentials,
  ): Promise<EntityContext[]> {
    if (entityRefs.length === 0) return [];
    const { items } = await this.catalog.getEntitiesByRefs(
      { entityRefs },
      { credentials },
    );
    return items.flatMap(entity => {
      if (!entity) return [];
      const read = EntityTargets.read(entity);
      return read.ok ? [read.entity] : [];
    });
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
  ):
    | { ok: true; entity: EntityContext }
    | { ok: false; problem: string; annotation: string; missing: boolean } {
    const read = readPromotionTarget(entity);
    if (!read.ok) {
      const { annotation } = read.problems[0];
      return {
        ok: false,
        annotation,
        // Absent (or blank) rather than present with a value that does not read.
        missing: !entity.metadata.annotations?.[annotation]?.trim(),
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
        annotations: entity.metadata.annotations ?? {},
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
