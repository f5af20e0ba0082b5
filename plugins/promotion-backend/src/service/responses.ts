import { serializeError } from '@backstage/errors';
import type { ErrorRequestHandler, Request, Response } from 'express';
import toCsv from 'csv-stringify/lib/sync';
import { PromotionRecord } from '../database/PromotionStore';
import { ServedLineage } from '../lineage/LineageService';
import { PromotionRefusedError } from '../promotion/checks';

/*
 * Response writers: the status, headers and body of each kind of answer, so that the router's
 * handlers only say which answer.
 */

/**
 * A lineage, revalidated on every use (the caller's permission is checked before each time): an
 * unchanged one answers 304 without a body; otherwise the body serialized (and compressed) once
 * per lineage, not per request.
 */
export function writeLineage(
  req: Pick<Request, 'fresh' | 'acceptsEncodings'>,
  res: Response,
  served: ServedLineage,
) {
  res.setHeader('cache-control', 'private, no-cache');
  res.setHeader('etag', served.etag);
  res.setHeader('vary', 'Accept-Encoding');
  if (req.fresh) {
    res.status(304).end();
    return;
  }
  res.setHeader('content-type', 'application/json; charset=utf-8');
  // Compression middleware leaves a body that already names its encoding alone.
  if (req.acceptsEncodings('gzip', 'identity') === 'gzip') {
    res.setHeader('content-encoding', 'gzip');
    res.end(served.gzipped);
  } else {
    res.end(JSON.stringify(served.lineage));
  }
}

const EXPORT_COLUMNS = [
  'createdAt',
  'entityRef',
  'environment',
  'kind',
  'status',
  'version',
  'tag',
  'sha',
  'requestedBy',
  'error',
  'updatedAt',
  'id',
] as const;

/**
 * The promotion history as an attachment: JSON, or CSV with one column per field; the internal
 * fields (request hash, idempotency key, whether the tag was chosen) stay out.
 */
export function writeExport(
  res: Response,
  history: Array<Omit<PromotionRecord, 'steps'>>,
  format: 'csv' | 'json',
) {
  const items = history.map(
    ({
      idempotencyKey,
      requestHash,
      tagAutomatic,
      rollbackOf,
      onBehalfOf,
      rolledBackBy,
      ...item
    }) => item,
  );
  const stamp = new Date().toISOString().slice(0, 10);
  res.setHeader(
    'content-disposition',
    `attachment; filename="promotions-${stamp}.${format}"`,
  );
  if (format === 'json') {
    res.json({ items });
    return;
  }
  res.setHeader('content-type', 'text/csv; charset=utf-8');
  // The OpenAPI types describe JSON bodies; CSV goes out as it is.
  res.end(
    toCsv(
      items.map(item => EXPORT_COLUMNS.map(column => item[column] ?? '')),
      { header: true, columns: [...EXPORT_COLUMNS] },
    ),
  );
}

/**
 * Writes a refused promotion or rollback (or a read of an entity that is not set up) as
 * Backstage's error handler would (`error`, `request`, `response`), plus the failed checks as a
 * top-level `checks` array; every other error goes on to the error handler.
 */
export const refusalHandler: ErrorRequestHandler = (error, req, res, next) => {
  if (!(error instanceof PromotionRefusedError) || res.headersSent) {
    next(error);
    return;
  }
  const statusCode = error.statusCode;
  res.status(statusCode).json({
    error: serializeError(error),
    request: { method: req.method, url: req.url },
    response: { statusCode },
    checks: error.checks,
  });
};
