import { InputError } from '@backstage/errors';
import { stringifyEntityRef } from '@backstage/catalog-model';
import {
  EnvironmentDefinition,
  checkTagName,
  matchesTagPattern,
} from '@mainline/plugin-promotion-common';
import type { Request } from 'express';
import { BoardFilter, ReleaseBoard } from '../board/ReleaseBoard';
import { PromoteRequest } from '../promotion/PromotionService';

/*
 * One parser per operation: the typed input of a request, or an InputError naming the field.
 * The OpenAPI validator has already checked the shapes; these are the rules about values that
 * need nothing but the request and the configured environments, so that bad input is answered
 * 400 before the catalog or any upstream is asked.
 */

/** The entity a request names in its path. */
export function entityRefOf(params: {
  kind: string;
  namespace: string;
  name: string;
}): string {
  return stringifyEntityRef({
    kind: params.kind,
    namespace: params.namespace,
    name: params.name,
  });
}

/** The configured environment `name`, or an InputError listing the ones there are. */
export function environmentNamed(
  environments: EnvironmentDefinition[],
  name: string,
): EnvironmentDefinition {
  const environment = environments.find(e => e.name === name);
  if (!environment) {
    throw new InputError(
      `environment "${name}" is not one of ${environments
        .map(e => e.name)
        .join(', ')}`,
    );
  }
  return environment;
}

/**
 * The checks of a promotion request that need no upstream read (the environment, its trigger, the
 * tag's form and pattern). The router's parsers run them first; a promotion that comes without a
 * request (a pushed tag, a scaffolder action) runs them in the service.
 */
export function checkPromoteInput(
  environments: EnvironmentDefinition[],
  request: Pick<PromoteRequest, 'environment' | 'tag'>,
): EnvironmentDefinition {
  const environment = environmentNamed(environments, request.environment);
  if (request.tag !== undefined) {
    const problem = checkTagName(request.tag);
    if (problem) throw new InputError(`tag "${request.tag}": ${problem}`);
    if (
      environment.trigger.type === 'tag' &&
      !matchesTagPattern(request.tag, environment.trigger.pattern)
    ) {
      throw new InputError(
        `tag "${request.tag}" does not match ${environment.name}'s pattern ${environment.trigger.pattern}`,
      );
    }
  }
  if (environment.trigger.type !== 'tag') {
    throw new InputError(
      `${environment.name} is deployed by every merge to ${environment.trigger.branch}, not by a tag; use a rollback to re-point it`,
    );
  }
  return environment;
}

type Body<T> = Pick<Request<any, any, T>, 'body' | 'header'>;

/** A promotion (or repository-wide promotion) request with its Idempotency-Key. */
export function parsePromote(
  environments: EnvironmentDefinition[],
  req: Body<Omit<PromoteRequest, 'idempotencyKey'>>,
): PromoteRequest {
  const request = {
    ...req.body,
    idempotencyKey: req.header('idempotency-key'),
  };
  checkPromoteInput(environments, request);
  return request;
}

/** What a rollback asks for. */
export interface RollbackInput {
  environment: string;
  sha?: string;
  tag?: string;
  idempotencyKey?: string;
}

/** A rollback request: a known environment and exactly one of a sha and a well-formed tag. */
export function parseRollback(
  environments: EnvironmentDefinition[],
  req: Body<Omit<RollbackInput, 'idempotencyKey'>>,
): RollbackInput {
  const request = {
    ...req.body,
    idempotencyKey: req.header('idempotency-key'),
  };
  environmentNamed(environments, request.environment);
  if (!request.sha === !request.tag) {
    throw new InputError('give exactly one of sha and tag to roll back to');
  }
  if (request.tag !== undefined) {
    // A tag git refuses names nothing to roll back to: no need to ask.
    const problem = checkTagName(request.tag);
    if (problem) throw new InputError(`tag "${request.tag}": ${problem}`);
  }
  return request;
}

/** What a yank asks for. */
export interface YankInput {
  sha: string;
  reason: string;
  force?: boolean;
}

/** A yank request: the reason says why, in at least a few characters. */
export function parseYank(req: Body<YankInput>): YankInput {
  const reason = req.body.reason.trim();
  if (reason.length < 3) {
    throw new InputError(
      'reason must say why the commit is yanked (at least 3 characters)',
    );
  }
  return { ...req.body, reason };
}

/** The board's filter (owner, system, tag). */
export const parseBoard = (req: {
  query: Parameters<typeof ReleaseBoard.parseQuery>[0];
}) => ReleaseBoard.parseQuery(req.query);

/** What an export asks for. */
export interface ExportInput {
  filter: BoardFilter & { tag?: string };
  since?: Date;
  limit: number;
  format: 'csv' | 'json';
}

/** An export request: the board's filter, how far back, how many, and as what. */
export function parseExport(req: {
  query: Parameters<typeof ReleaseBoard.parseQuery>[0] & {
    since?: string;
    limit?: number;
    format?: string;
  };
}): ExportInput {
  return {
    filter: ReleaseBoard.parseQuery(req.query),
    since: req.query.since ? new Date(req.query.since) : undefined,
    limit: req.query.limit ?? 1000,
    format: req.query.format === 'json' ? 'json' : 'csv',
  };
}
