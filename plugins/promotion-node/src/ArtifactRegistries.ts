import { InputError } from '@backstage/errors';
import {
  Artifact,
  ArtifactLocation,
  ArtifactRegistry,
  PendingArtifactQuery,
} from './ports/ArtifactRegistry';
import { ArtifactRegistryEntry } from './extensions';

/**
 * The artifact registries of a backend, chosen by an entity's artifact location (ECR image
 * repositories, S3 package prefixes, OCI registries, the embedded store). Itself an
 * ArtifactRegistry, so one object serves every location.
 *
 * @public
 */
export class ArtifactRegistries implements ArtifactRegistry {
  constructor(private readonly entries: ArtifactRegistryEntry[]) {}

  lookup(location: ArtifactLocation): ArtifactRegistry | undefined {
    return this.entries.find(e => e.serves(location))?.registry;
  }

  private pick(location: ArtifactLocation): ArtifactRegistry {
    const registry = this.lookup(location);
    if (!registry) {
      throw new InputError(
        `No ${
          location.kind === 'image' ? 'image' : 'package'
        } registry serves "${location.location}"${
          this.entries.length
            ? ` (configured: ${this.entries.map(e => e.name).join(', ')})`
            : ''
        }`,
      );
    }
    return registry;
  }

  async getArtifact(location: ArtifactLocation, sha: string) {
    return this.pick(location).getArtifact(location, sha);
  }

  async listArtifacts(location: ArtifactLocation): Promise<Artifact[]> {
    return this.pick(location).listArtifacts(location);
  }

  async findArtifacts(location: ArtifactLocation, query: PendingArtifactQuery) {
    return this.pick(location).findArtifacts(location, query);
  }

  checkTag(location: ArtifactLocation, tag: string): string | undefined {
    return this.pick(location).checkTag(location, tag);
  }

  async addTag(location: ArtifactLocation, sha: string, tag: string) {
    return this.pick(location).addTag(location, sha, tag);
  }

  async deleteArtifact(location: ArtifactLocation, sha: string) {
    return this.pick(location).deleteArtifact(location, sha);
  }
}
