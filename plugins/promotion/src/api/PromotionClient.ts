import { CompoundEntityRef } from '@backstage/catalog-model';
import { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import { ResponseError } from '@backstage/errors';
import {
  Comparison,
  DoraQuery,
  DoraReport,
  EntityPromotionTarget,
  Lineage,
  ListPromotionsQuery,
  PromoteRequest,
  Promotion,
  PromotionApprovals,
  PromotionEnvironment,
  PromotionPlan,
  ReleaseBoard,
  RepositoryPromotion,
  RepositoryPromotionRequest,
  RollbackRequest,
  RuntimeQueryResult,
  RuntimeView,
  Yank,
  YankRequest,
  YankResult,
} from '@mainline/plugin-promotion-common';
import { BoardQuery, DoraScope, PromotionApi } from './PromotionApi';

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

  async listEnvironments(): Promise<PromotionEnvironment[]> {
    const body = await this.request<{ environments: PromotionEnvironment[] }>(
      '/v1/environments',
    );
    return body.environments;
  }

  getPromotionTarget(
    entity: CompoundEntityRef,
  ): Promise<EntityPromotionTarget> {
    return this.request(`${entityPath(entity)}/target`);
  }

  getLineage(
    entity: CompoundEntityRef,
    options: { limit?: number; branch?: string } = {},
  ): Promise<Lineage> {
    return this.request(`${entityPath(entity)}/lineage${query(options)}`);
  }

  compare(
    entity: CompoundEntityRef,
    from: string,
    to: string,
  ): Promise<Comparison> {
    return this.request(`${entityPath(entity)}/compare${query({ from, to })}`);
  }

  planPromotion(
    entity: CompoundEntityRef,
    request: PromoteRequest,
  ): Promise<PromotionPlan> {
    return this.request(`${entityPath(entity)}/promotions`, {
      method: 'POST',
      body: { ...request, dryRun: true },
    });
  }

  promote(
    entity: CompoundEntityRef,
    request: PromoteRequest,
    idempotencyKey: string,
  ): Promise<Promotion> {
    return this.request(`${entityPath(entity)}/promotions`, {
      method: 'POST',
      body: request,
      idempotencyKey,
    });
  }

  async listPromotions(
    entity: CompoundEntityRef,
    options: ListPromotionsQuery = {},
  ): Promise<Promotion[]> {
    const body = await this.request<{ items: Promotion[] }>(
      `${entityPath(entity)}/promotions${query({ ...options })}`,
    );
    return body.items;
  }

  getPromotion(entity: CompoundEntityRef, id: string): Promise<Promotion> {
    return this.request(
      `${entityPath(entity)}/promotions/${encodeURIComponent(id)}`,
    );
  }

  retryPromotion(entity: CompoundEntityRef, id: string): Promise<Promotion> {
    return this.request(
      `${entityPath(entity)}/promotions/${encodeURIComponent(id)}/retry`,
      {
        method: 'POST',
      },
    );
  }

  getApprovals(
    entity: CompoundEntityRef,
    id: string,
  ): Promise<PromotionApprovals> {
    return this.request(approvalsPath(entity, id));
  }

  approvePromotion(
    entity: CompoundEntityRef,
    id: string,
    comment?: string,
  ): Promise<PromotionApprovals> {
    return this.request(approvalsPath(entity, id), {
      method: 'POST',
      body: comment ? { comment } : {},
    });
  }

  rejectPromotion(
    entity: CompoundEntityRef,
    id: string,
    comment?: string,
  ): Promise<PromotionApprovals> {
    return this.request(
      `${entityPath(entity)}/promotions/${encodeURIComponent(id)}/rejections`,
      { method: 'POST', body: comment ? { comment } : {} },
    );
  }

  withdrawApproval(
    entity: CompoundEntityRef,
    id: string,
  ): Promise<PromotionApprovals> {
    return this.request(approvalsPath(entity, id), { method: 'DELETE' });
  }

  rollback(
    entity: CompoundEntityRef,
    request: RollbackRequest,
    idempotencyKey: string,
  ): Promise<Promotion> {
    return this.request(`${entityPath(entity)}/rollbacks`, {
      method: 'POST',
      body: request,
      idempotencyKey,
    });
  }

  yank(entity: CompoundEntityRef, request: YankRequest): Promise<YankResult> {
    return this.request(`${entityPath(entity)}/yanks`, {
      method: 'POST',
      body: request,
    });
  }

  getRuntime(entity: CompoundEntityRef): Promise<RuntimeView> {
    return this.request(`${entityPath(entity)}/runtime`);
  }

  queryRuntime(entityRefs: string[]): Promise<RuntimeQueryResult> {
    return this.request('/v1/runtime/query', {
      method: 'POST',
      body: { entityRefs },
    });
  }

  async listYanks(entity: CompoundEntityRef): Promise<Yank[]> {
    const body = await this.request<{ items: Yank[] }>(
      `${entityPath(entity)}/yanks`,
    );
    return body.items;
  }

  promoteRepository(
    entity: CompoundEntityRef,
    request: RepositoryPromotionRequest,
    idempotencyKey?: string,
  ): Promise<RepositoryPromotion> {
    return this.request(`${entityPath(entity)}/repository-promotions`, {
      method: 'POST',
      body: request,
      idempotencyKey,
    });
  }

  getBoard(board: BoardQuery = {}): Promise<ReleaseBoard> {
    return this.request(`/v1/board${query({ ...board })}`);
  }

  async exportPromotions(
    options: Omit<BoardQuery, 'tag'> & { format: 'csv' | 'json' },
  ): Promise<Blob> {
    const response = await this.fetch(
      `/v1/promotions/export${query({ ...options })}`,
    );
    return response.blob();
  }

  getDora(scope: DoraScope, period: DoraQuery = {}): Promise<DoraReport> {
    return this.request(doraPath(scope, { ...period }));
  }

  async exportDora(scope: DoraScope, period: DoraQuery = {}): Promise<Blob> {
    const response = await this.fetch(
      doraPath(scope, { ...period, format: 'csv' }),
    );
    return response.blob();
  }

  private async fetch(
    path: string,
    init: {
      method?: string;
      headers?: Record<string, string>;
      body?: string;
    } = {},
  ): Promise<Response> {
    const baseUrl = await this.discoveryApi.getBaseUrl('promotion');
    const response = await this.fetchApi.fetch(`${baseUrl}${path}`, {
      method: init.method ?? 'GET',
      headers: init.headers,
      body: init.body,
    });
    if (!response.ok) {
      // ResponseError keeps the whole parsed body, so a refusal's `checks` reach the dialogs.
      throw await ResponseError.fromResponse(response);
    }
    return response;
  }

  private async request<T>(
    path: string,
    options: {
      method?: 'GET' | 'POST' | 'DELETE';
      body?: object;
      idempotencyKey?: string;
    } = {},
  ): Promise<T> {
    const headers: Record<string, string> = {};
    if (options.body) headers['content-type'] = 'application/json';
    if (options.idempotencyKey)
      headers['idempotency-key'] = options.idempotencyKey;
    const response = await this.fetch(path, {
      method: options.method,
      headers,
      body: options.body ? JSON.stringify(options.body) : undefined,
    });
    return (await response.json()) as T;
  }
}

function approvalsPath(entity: CompoundEntityRef, id: string): string {
  return `${entityPath(entity)}/promotions/${encodeURIComponent(id)}/approvals`;
}

function doraPath(
  scope: DoraScope,
  params: Record<string, string | undefined>,
): string {
  if ('entity' in scope) {
    return `${entityPath(scope.entity)}/dora${query(params)}`;
  }
  return `/v1/dora${query({
    system: scope.system,
    owner: scope.owner,
    ...params,
  })}`;
}

function entityPath(entity: CompoundEntityRef): string {
  return `/v1/entities/${[entity.kind, entity.namespace, entity.name]
    .map(part => encodeURIComponent(part.toLocaleLowerCase('en-US')))
    .join('/')}`;
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
