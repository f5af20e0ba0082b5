import { createValidatedOpenApiRouter } from '@backstage/backend-openapi-utils';
import { HttpAuthService } from '@backstage/backend-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { Response } from 'express';
import toCsv from 'csv-stringify/lib/sync';
import { ReleaseBoard } from '../board/ReleaseBoard';
import { spec } from '../schema/openapi.generated';
import { EntityTargets } from '../service/EntityTargets';
import { DoraService } from './DoraService';
import { DoraReport } from './metrics';

type ApiRouter = ReturnType<typeof createValidatedOpenApiRouter<typeof spec>>;

const CSV_COLUMNS = [
  'event',
  'entityRef',
  'environment',
  'at',
  'version',
  'sha',
  'promotionId',
  'hours',
  'detail',
] as const;

/** The events behind the figures, one CSV row each: what a spreadsheet recomputes them from. */
export function doraEventsCsv(report: DoraReport): string {
  const rows: Array<Record<(typeof CSV_COLUMNS)[number], string | number>> = [];
  const { releases, leadTimes, excludedCommits, failures } = report.events;
  for (const r of releases) {
    rows.push({
      event: 'release',
      entityRef: r.entityRef,
      environment: r.environment,
      at: r.deployedAt,
      version: r.version,
      sha: r.sha,
      promotionId: r.promotionId,
      hours: '',
      detail: [
        r.failed ? 'failed' : 'ok',
        r.baseline ? 'baseline' : '',
        r.commitsShipped === null ? '' : `${r.commitsShipped} commits`,
      ]
        .filter(Boolean)
        .join('; '),
    });
  }
  for (const l of leadTimes) {
    rows.push({
      event: 'lead-time',
      entityRef: l.entityRef,
      environment: '',
      at: l.mergedAt,
      version: l.version,
      sha: l.sha,
      promotionId: l.promotionId,
      hours: l.hours,
      detail: l.subject,
    });
  }
  for (const x of excludedCommits) {
    rows.push({
      event: 'excluded-commit',
      entityRef: x.entityRef,
      environment: '',
      at: '',
      version: '',
      sha: x.sha,
      promotionId: x.promotionId,
      hours: '',
      detail: `${x.reason}: ${x.subject}`,
    });
  }
  for (const f of failures) {
    rows.push({
      event: 'failure',
      entityRef: f.entityRef,
      environment: f.environment,
      at: f.deployedAt,
      version: f.version,
      sha: f.sha,
      promotionId: f.promotionId,
      hours: f.restoreHours ?? '',
      detail: [
        ...f.causes.map(c => `${c.type} at ${c.at}`),
        f.restoredBy
          ? `restored by ${f.restoredBy.kind} ${f.restoredBy.version} at ${f.restoredBy.at}`
          : 'not restored',
      ].join('; '),
    });
  }
  return toCsv(
    rows.map(row => CSV_COLUMNS.map(column => row[column])),
    { header: true, columns: [...CSV_COLUMNS] },
  );
}

function send(
  res: Response,
  report: DoraReport,
  format: string | undefined,
  name: string,
) {
  if (format === 'csv') {
    res.setHeader('content-type', 'text/csv; charset=utf-8');
    res.setHeader(
      'content-disposition',
      `attachment; filename="dora-${name}-${report.from.slice(
        0,
        10,
      )}-${report.to.slice(0, 10)}.csv"`,
    );
    res.end(doraEventsCsv(report));
    return;
  }
  res.json(report);
}

/**
 * The DORA endpoints. Reading needs the catalog read of every entity involved: one entity is
 * looked up with the caller's credentials, a System or owner is the board's catalog query made
 * with them (entities the caller cannot read are not counted).
 */
export function addDoraRoutes(
  router: ApiRouter,
  options: {
    httpAuth: HttpAuthService;
    targets: EntityTargets;
    board: ReleaseBoard;
    dora: DoraService;
  },
) {
  const { httpAuth, targets, board, dora } = options;

  router.get('/v1/dora', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    // Both checked before the catalog is asked.
    const filter = ReleaseBoard.parseQuery({
      owner: req.query.owner,
      system: req.query.system,
    });
    const period = DoraService.parsePeriod(req.query);
    const services = await board.services(filter, credentials);
    const name = (filter.system ?? filter.owner ?? 'all').replace(
      /[^A-Za-z0-9._-]+/g,
      '_',
    );
    send(res, await dora.report(services, period), req.query.format, name);
  });

  router.get('/v1/entities/:kind/:namespace/:name/dora', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const period = DoraService.parsePeriod(req.query);
    const entity = await targets.getForRead(
      stringifyEntityRef(req.params),
      credentials,
    );
    send(
      res,
      await dora.report([entity], period),
      req.query.format,
      req.params.name,
    );
  });
}
