import { Config } from '@backstage/config';
import {
  ArtifactRegistryEntry,
  OutboundHosts,
  UpstreamAnswer,
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
  onUpstreamAnswer?: (answer: UpstreamAnswer) => void,
): ArtifactRegistryEntry {
  return {
    name: 'OCI',
    generic: true,
    serves: l =>
      l.kind === 'image' && parseOciLocation(l.location) !== undefined,
    registry: new OciArtifactRegistry(
      registries,
      hosts,
      onUpstreamAnswer ? reportingFetch(onUpstreamAnswer) : fetch,
    ),
  };
}

/** `fetch`, telling `report` of every answer (status 0: none), token requests included. */
function reportingFetch(report: (answer: UpstreamAnswer) => void) {
  return async (
    input: Parameters<typeof fetch>[0],
    init?: Parameters<typeof fetch>[1],
  ): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const answer = { system: 'oci', host: url.host, path: url.pathname };
    try {
      const response = await fetch(input, init);
      report({ ...answer, status: response.status, headers: {} });
      return response;
    } catch (error) {
      report({ ...answer, status: 0, headers: {} });
      throw error;
    }
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
