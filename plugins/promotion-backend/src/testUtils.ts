import fs from 'node:fs';
import path from 'node:path';
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import {
  ANNOTATION_LOCATION,
  ANNOTATION_ORIGIN_LOCATION,
  Entity,
  RELATION_OWNED_BY,
  RELATION_PART_OF,
} from '@backstage/catalog-model';
import { parseAllDocuments } from 'yaml';
import { relatedRefs } from './service/EntityTargets';

export { memoryCache } from '@mainline/plugin-promotion-node/testUtils';

/**
 * The demo catalog as shipped, so tests also prove its annotations match the demo data; with the
 * ownedBy/partOf relations and the location annotations the catalog's processing would add (the
 * app config reads it from `file:` locations).
 */
export function demoEntities(): Entity[] {
  const catalog = path.resolve(
    resolvePackagePath('@mainline/plugin-promotion-backend'),
    '../../catalog',
  );
  return ['storefront.yaml', 'shop.yaml'].flatMap(file =>
    parseAllDocuments(fs.readFileSync(path.join(catalog, file), 'utf8')).map(
      doc =>
        withLocation(
          withRelations(doc.toJS() as Entity),
          `file:${path.join(catalog, file)}`,
          `file:${path.join(catalog, 'all.yaml')}`,
        ),
    ),
  );
}

/** The entity as the catalog stores it when read from `location`, registered as `origin`. */
export function withLocation(
  entity: Entity,
  location: string,
  origin = location,
): Entity {
  return {
    ...entity,
    metadata: {
      ...entity.metadata,
      annotations: {
        ...entity.metadata.annotations,
        [ANNOTATION_LOCATION]: location,
        [ANNOTATION_ORIGIN_LOCATION]: origin,
      },
    },
  };
}

export function withRelations(entity: Entity): Entity {
  // An unprocessed entity: relatedRefs reads the spec fields the relations are made from.
  const relations = [
    ...relatedRefs(entity, RELATION_OWNED_BY, 'owner').map(targetRef => ({
      type: RELATION_OWNED_BY,
      targetRef,
    })),
    ...relatedRefs(entity, RELATION_PART_OF, 'system').map(targetRef => ({
      type: RELATION_PART_OF,
      targetRef,
    })),
  ];
  return { ...entity, relations };
}
