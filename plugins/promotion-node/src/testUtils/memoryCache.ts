import { CacheService } from '@backstage/backend-plugin-api';

/**
 * A cache of its own for one adapter or test backend: the default in-memory store is shared by
 * every backend in a process, so a second backend would read the first one's entries.
 *
 * @public
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
