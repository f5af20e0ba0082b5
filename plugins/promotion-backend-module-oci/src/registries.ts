import { Config } from '@backstage/config';
import {
  ArtifactRegistryEntry,
  OutboundHosts,
  configuredHost,
} from '@mainline/plugin-promotion-node';
import {
  OciArtifactRegistry,
  OciRegistryConfig,
  parseOciLocation,
} from './OciArtifactRegistry';

/**
 * An OCI distribution entry: `<host>/<repository>` and `oci://<host>/<repository>` image
 * locations (GHCR, Harbor, Docker Hub), for the registries configured with their credentials
 * and the hosts allowed without any.
 *
 * @public
 */
export function ociEntry(
  registries: OciRegistryConfig[] = [],
  hosts: Partial<OutboundHosts> = {},
): ArtifactRegistryEntry {
  return {
    name: 'OCI',
    generic: true,
    serves: l =>
      l.kind === 'image' && parseOciLocation(l.location) !== undefined,
    registry: new OciArtifactRegistry(registries, hosts),
  };
}

/**
 * `promotion.artifacts.oci.registries`: credentials and transport per registry host.
 *
 * @public
 */
export function readOciRegistries(config: Config): OciRegistryConfig[] {
  return (
    config.getOptionalConfigArray('promotion.artifacts.oci.registries') ?? []
  ).map(r => ({
    host: configuredHost(
      r.getString('host'),
      'promotion.artifacts.oci.registries[].host',
    ),
    username: r.getOptionalString('username'),
    password: r.getOptionalString('password'),
    token: r.getOptionalString('token'),
    insecure: r.getOptionalBoolean('insecure'),
    authHosts: r
      .getOptionalStringArray('authHosts')
      ?.map(h =>
        configuredHost(h, 'promotion.artifacts.oci.registries[].authHosts'),
      ),
  }));
}
