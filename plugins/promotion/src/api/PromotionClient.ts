import { CompoundEntityRef } from '@backstage/catalog-model';
import { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import { ResponseError } from '@backstage/errors';
import { EnvironmentDefinition } from '@mainline/plugin-promotion-common';
import { EntityPromotionTarget, PromotionApi } from './PromotionApi';

/**
 * Talks to the promotion backend through Backstage's discovery and fetch APIs, so that the
 * user's identity and any configured proxying apply.
 *
 * @public
 */
export class PromotionClient implements PromotionApi {
  private readonly discoveryApi: DiscoveryApi;
  private readonly fetchApi: FetchApi;

  constructor(options: { discoveryApi: DiscoveryApi; fetchApi: FetchApi }) {
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi;
  }

  async listEnvironments(): Promise<EnvironmentDefinition[]> {
    const body = await this.get<{ environments: EnvironmentDefinition[] }>(
      '/v1/environments',
    );
    return body.environments;
  }

  async getPromotionTarget(
    entity: CompoundEntityRef,
  ): Promise<EntityPromotionTarget> {
    return this.get<EntityPromotionTarget>(`${entityPath(entity)}/target`);
  }

  private async get<T>(path: string): Promise<T> {
    const baseUrl = await this.discoveryApi.getBaseUrl('promotion');
    const response = await this.fetchApi.fetch(`${baseUrl}${path}`);
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    return (await response.json()) as T;
  }
}

function entityPath(entity: CompoundEntityRef): string {
  return `/v1/entities/${[entity.kind, entity.namespace, entity.name]
    .map(part => encodeURIComponent(part.toLocaleLowerCase('en-US')))
    .join('/')}`;
}
