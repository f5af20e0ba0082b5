import { Git } from './git';
import { Identity } from './state';

/** GitHub's documentation link on error bodies; clients show it, nobody follows it in tests. */
export const DOCS_URL = 'https://docs.github.com/rest';

/** One field problem in a 422 body, as GitHub lists them. */
export interface ValidationProblem {
  resource: string;
  field?: string;
  code: string;
  message?: string;
}

/** An error answer with GitHub's body shape: `{ message, documentation_url[, errors] }`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: ValidationProblem[],
    /** Headers GitHub sends with this error (`x-accepted-github-permissions` on a 403). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): Record<string, unknown> {
    return {
      message: this.message,
      ...(this.errors ? { errors: this.errors } : {}),
      documentation_url: DOCS_URL,
      status: String(this.status),
    };
  }
}

export const notFound = () => new ApiError(404, 'Not Found');

/** A 422 listing which fields were wrong, the way GitHub validates request bodies. */
export function validationFailed(
  resource: string,
  problems: Array<{ field: string; code?: string; message?: string }>,
): ApiError {
  return new ApiError(
    422,
    'Validation Failed',
    problems.map(p => ({
      resource,
      field: p.field,
      code: p.code ?? 'invalid',
      ...(p.message ? { message: p.message } : {}),
    })),
  );
}

/** What a handler answers; the server adds ETag, rate-limit and Link headers. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RequestContext {
  method: string;
  /** Path parameters from the route, percent-decoded (Octokit encodes `/` inside them). */
  params: string[];
  query: URLSearchParams;
  body: Record<string, any>;
  /** The API base URL as this request reached it, for `url` fields and Link headers. */
  apiBase: string;
  /** The request path without the query. */
  pathname: string;
  /** Who the request's token is. */
  actor: Identity;
}

/** The owner/name of a repository route, with its git directory resolved and known to exist. */
export interface RepoContext extends RequestContext {
  owner: string;
  name: string;
  git: Git;
}

/** `per_page` (default 30, at most 100) and `page` (from 1) as GitHub reads them. */
export function pageParams(
  query: URLSearchParams,
  defaultPerPage = 30,
): { perPage: number; page: number } {
  const perPage = Number(query.get('per_page') ?? defaultPerPage);
  const page = Number(query.get('page') ?? 1);
  return {
    perPage: Math.min(
      100,
      Math.max(1, Number.isFinite(perPage) ? Math.floor(perPage) : 30),
    ),
    page: Math.max(1, Number.isFinite(page) ? Math.floor(page) : 1),
  };
}

/** The `Link` header GitHub sends on a page of a longer list. */
export function linkHeader(
  ctx: RequestContext,
  page: number,
  lastPage: number,
): Record<string, string> {
  if (lastPage <= 1) return {};
  const at = (n: number) => {
    const query = new URLSearchParams(ctx.query);
    query.set('page', String(n));
    return `<${ctx.apiBase}${ctx.pathname}?${query}>`;
  };
  const links = [];
  if (page > 1) links.push(`${at(page - 1)}; rel="prev"`);
  if (page < lastPage) links.push(`${at(page + 1)}; rel="next"`);
  links.push(`${at(lastPage)}; rel="last"`);
  if (page > 1) links.push(`${at(1)}; rel="first"`);
  return { link: links.join(', ') };
}

/** One page of an in-memory list, with its Link header. */
export function paged<T>(
  ctx: RequestContext,
  items: T[],
  defaultPerPage = 30,
): { items: T[]; headers: Record<string, string> } {
  const { perPage, page } = pageParams(ctx.query, defaultPerPage);
  const lastPage = Math.max(1, Math.ceil(items.length / perPage));
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    headers: linkHeader(ctx, page, lastPage),
  };
}

export function requireString(
  body: Record<string, any>,
  field: string,
  resource: string,
): string {
  const value = body[field];
  if (typeof value !== 'string' || value.length === 0) {
    throw validationFailed(resource, [
      { field, code: value === undefined ? 'missing_field' : 'invalid' },
    ]);
  }
  return value;
}

export function optionalString(
  body: Record<string, any>,
  field: string,
  resource: string,
): string | undefined {
  return body[field] === undefined || body[field] === null
    ? undefined
    : requireString(body, field, resource);
}

/** A person from a request body (author, committer, tagger), stamped now when no date is given. */
export function personFrom(
  value: unknown,
  field: string,
  resource: string,
  fallback: { name: string; email: string },
): { name: string; email: string; date: string } {
  if (value === undefined || value === null) {
    return { ...fallback, date: new Date().toISOString() };
  }
  const person = value as Record<string, unknown>;
  if (
    typeof person !== 'object' ||
    typeof person.name !== 'string' ||
    typeof person.email !== 'string' ||
    /[<>\n]/.test(`${person.name}${person.email}`) ||
    (person.date !== undefined &&
      (typeof person.date !== 'string' ||
        Number.isNaN(Date.parse(person.date))))
  ) {
    throw validationFailed(resource, [{ field }]);
  }
  return {
    name: person.name,
    email: person.email,
    date: new Date(
      typeof person.date === 'string' ? person.date : Date.now(),
    ).toISOString(),
  };
}
