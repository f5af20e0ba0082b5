import {
  ArtifactRegistry,
  ArtifactRegistryEntry,
} from '@mainline/plugin-promotion-node';

/**
 * The embedded store: `local/<name>` images and `local://<prefix>` packages.
 *
 * @public
 */
export function localEntry(registry: ArtifactRegistry): ArtifactRegistryEntry {
  return {
    name: 'embedded',
    serves: l => /^local(\/|:\/\/)/.test(l.location),
    registry,
  };
}
