import path from 'node:path';
import { Config } from '@backstage/config';

/**
 * `promotion.local.dataDir`, resolved against the backend's working directory: where the embedded
 * default keeps its repositories, artifacts and deploy records (and the demo its data). Shared by
 * Mainline's own core plugin, local and demo modules; not for other modules.
 *
 * @internal
 */
export function readLocalDataDir(config: Config): string | undefined {
  const dir = config.getOptionalString('promotion.local.dataDir');
  return dir === undefined ? undefined : path.resolve(dir);
}
