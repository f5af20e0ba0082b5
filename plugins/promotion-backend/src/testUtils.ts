import fs from 'node:fs';
import path from 'node:path';
import {
  CacheService,
  resolvePackagePath,
} from '@backstage/backend-plugin-api';
import { Entity } from '@backstage/catalog-model';
import { parseAllDocuments } from 'yaml';

/**
 * A cache of its own for one test backend: the default in-memory store is shared by every
 * backend in a process, so a second backend would read the first one's lineage.
 */
export function memoryCache(): CacheService {
  const store = new Map<string, unknown>();
  const cache: CacheService = {
    get: async key => store.get(key) as any,
    set: async (key, value) => {
      store.set(key, value);
    },
    delete: async key => {
      store.delete(key);
    },
    withOptions: () => cache,
  };
  return cache;
}

/** The demo catalog as shipped, so tests also prove its annotations match the demo data. */
export function demoEntities(): Entity[] {
  return parseAllDocuments(
    fs.readFileSync(
      path.resolve(
        resolvePackagePath('@mainline/plugin-promotion-backend'),
        '../../catalog/storefront.yaml',
      ),
      'utf8',
    ),
  ).map(doc => doc.toJS() as Entity);
}
