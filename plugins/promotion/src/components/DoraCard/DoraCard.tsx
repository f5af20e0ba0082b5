import { useState } from 'react';
import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Grid from '@material-ui/core/Grid';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Tab from '@material-ui/core/Tab';
import Tabs from '@material-ui/core/Tabs';
import Typography from '@material-ui/core/Typography';
import type { DoraReport } from '@mainline/plugin-promotion-common';
import useAsync from 'react-use/esm/useAsync';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { DoraScope, promotionApiRef } from '../../api';

/** @public */
export interface DoraCardProps {
  /** One entity, or the services of a system and/or owner. */
  scope: DoraScope;
  /** How many weeks up to now (default 12). */
  weeks?: number;
  title?: string;
}

const CHART = { width: 440, height: 170 };

/** "5.2 h", "3.1 d"; a dash when there is no value. */
export function duration(hours: number | null): string {
  if (hours === null) return '—';
  if (hours >= 48) return `${(hours / 24).toFixed(1)} d`;
  return `${hours.toFixed(1)} h`;
}

const percent = (rate: number | null) =>
  rate === null ? '—' : `${Math.round(rate * 100)} %`;
const day = (iso: string) => iso.slice(0, 10);
const short = (sha: string) => sha.slice(0, 7);

const Figure = (props: { label: string; value: string; detail: string }) => (
  <Grid item xs={6} md={3}>
    <Box aria-label={props.label}>
      <Typography variant="overline" color="textSecondary">
        {props.label}
      </Typography>
      <Typography variant="h5">{props.value}</Typography>
      <Typography variant="caption" color="textSecondary">
        {props.detail}
      </Typography>
    </Box>
  </Grid>
);

function download(blob: Blob, name: string) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

/** The weekly trends: deployments and failures as bars, median lead time and restore as lines. */
const Trends = ({ report }: { report: DoraReport }) => {
  const data = report.weeks.map(week => ({
    week: day(week.weekStart).slice(5),
    deployments: week.deployments - week.changeFailureRate.failed,
    failed: week.changeFailureRate.failed,
    leadTime: week.leadTime.medianHours,
    restore: week.timeToRestore.medianHours,
  }));
  return (
    <Grid container spacing={2}>
      <Grid item xs={12} lg={6} aria-label="deployments per week">
        <Typography variant="subtitle2">Prod deployments per week</Typography>
        <BarChart {...CHART} data={data}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="week" fontSize={11} />
          <YAxis allowDecimals={false} fontSize={11} width={28} />
          <Tooltip />
          <Legend />
          <Bar
            dataKey="deployments"
            name="healthy"
            stackId="d"
            fill="#2e7d32"
            isAnimationActive={false}
          />
          <Bar
            dataKey="failed"
            name="failed"
            stackId="d"
            fill="#c62828"
            isAnimationActive={false}
          />
        </BarChart>
      </Grid>
      <Grid item xs={12} lg={6} aria-label="lead time and restore per week">
        <Typography variant="subtitle2">
          Median lead time and time to restore (hours)
        </Typography>
        <LineChart {...CHART} data={data}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="week" fontSize={11} />
          <YAxis fontSize={11} width={36} />
          <Tooltip />
          <Legend />
          <Line
            dataKey="leadTime"
            name="lead time"
            stroke="#1565c0"
            connectNulls
            isAnimationActive={false}
          />
          <Line
            dataKey="restore"
            name="restore"
            stroke="#ef6c00"
            connectNulls
            isAnimationActive={false}
          />
        </LineChart>
      </Grid>
    </Grid>
  );
};

/** The events behind the figures. */
const Events = ({ report }: { report: DoraReport }) => {
  const [tab, setTab] = useState(0);
  const { releases, leadTimes, failures } = report.events;
  const many = report.entities.length > 1;
  const name = (ref: string) => ref.replace(/^[^:]+:[^/]+\//, '');
  return (
    <>
      <Tabs value={tab} onChange={(_e, value) => setTab(value)}>
        <Tab label={`Failures (${failures.length})`} />
        <Tab label={`Releases (${releases.length})`} />
        <Tab label={`Lead times (${leadTimes.length})`} />
      </Tabs>
      {tab === 0 && (
        <Table size="small" aria-label="failures">
          <TableHead>
            <TableRow>
              <TableCell>Release</TableCell>
              <TableCell>Why it failed</TableCell>
              <TableCell>Restored by</TableCell>
              <TableCell>Time to restore</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {failures.map(f => (
              <TableRow key={f.promotionId}>
                <TableCell>
                  {many && `${name(f.entityRef)} `}
                  {f.version} ({day(f.deployedAt)})
                </TableCell>
                <TableCell>
                  {f.causes
                    .map(c =>
                      c.type === 'hotfix'
                        ? `hotfix ${short(c.sha ?? '')}: ${c.detail}`
                        : `${c.type} by ${c.by}${
                            c.detail ? `: ${c.detail}` : ''
                          }`,
                    )
                    .join('; ')}
                </TableCell>
                <TableCell>
                  {f.restoredBy
                    ? `${f.restoredBy.kind} ${f.restoredBy.version}`
                    : 'not restored yet'}
                </TableCell>
                <TableCell>{duration(f.restoreHours)}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {tab === 1 && (
        <Table size="small" aria-label="releases">
          <TableHead>
            <TableRow>
              <TableCell>Release</TableCell>
              <TableCell>Finished</TableCell>
              <TableCell>Commits shipped</TableCell>
              <TableCell>Outcome</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {releases.map(r => (
              <TableRow key={r.promotionId}>
                <TableCell>
                  {many && `${name(r.entityRef)} `}
                  {r.version} ({short(r.sha)})
                </TableCell>
                <TableCell>{day(r.deployedAt)}</TableCell>
                <TableCell>
                  {r.baseline ? 'baseline' : r.commitsShipped ?? 'unknown'}
                </TableCell>
                <TableCell>{r.failed ? 'failed' : 'healthy'}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {tab === 2 && (
        <Table size="small" aria-label="lead times">
          <TableHead>
            <TableRow>
              <TableCell>Commit</TableCell>
              <TableCell>Merged</TableCell>
              <TableCell>Released in</TableCell>
              <TableCell>Lead time</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {leadTimes.map(l => (
              <TableRow key={`${l.entityRef}:${l.sha}`}>
                <TableCell>
                  {short(l.sha)} {l.subject}
                </TableCell>
                <TableCell>{day(l.mergedAt)}</TableCell>
                <TableCell>{l.version}</TableCell>
                <TableCell>{duration(l.hours)}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </>
  );
};

/**
 * The four DORA metrics of an entity, a System or an owner from the promotion ledger, with
 * weekly trend charts and the events behind every figure.
 *
 * @public
 */
export const DoraCard = ({ scope, weeks = 12, title }: DoraCardProps) => {
  const api = useApi(promotionApiRef);
  const key = JSON.stringify(scope);
  const period = () => {
    const to = new Date();
    const from = new Date(to.getTime() - weeks * 7 * 24 * 60 * 60 * 1000);
    return { from: from.toISOString(), to: to.toISOString() };
  };
  const { value, loading, error } = useAsync(
    () => api.getDora(scope, period()),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [api, key, weeks],
  );
  const exportCsv = async () => {
    const range = value ? { from: value.from, to: value.to } : period();
    download(
      await api.exportDora(scope, range),
      `dora-${range.from.slice(0, 10)}-${range.to.slice(0, 10)}.csv`,
    );
  };
  const summary = value?.summary;
  return (
    <InfoCard
      title={title ?? 'Delivery (DORA)'}
      subheader={
        value
          ? `${day(value.from)} to ${day(value.to)} · failure window ${
              value.failureWindowHours
            } h`
          : undefined
      }
      action={
        <Button size="small" onClick={exportCsv} disabled={!value}>
          Events CSV
        </Button>
      }
    >
      {loading && <Progress />}
      {error && <ResponseErrorPanel error={error} />}
      {value && summary && (
        <>
          <Grid container spacing={2}>
            <Figure
              label="Deployment frequency"
              value={`${summary.deploymentsPerWeek} / week`}
              detail={`${summary.deployments} prod releases`}
            />
            <Figure
              label="Lead time for changes"
              value={duration(summary.leadTime.medianHours)}
              detail={`median · p90 ${duration(summary.leadTime.p90Hours)} · ${
                summary.leadTime.commits
              } commits`}
            />
            <Figure
              label="Change failure rate"
              value={percent(summary.changeFailureRate.rate)}
              detail={`${summary.changeFailureRate.failed} of ${summary.changeFailureRate.releases} releases`}
            />
            <Figure
              label="Time to restore"
              value={duration(summary.timeToRestore.medianHours)}
              detail={`median · ${summary.timeToRestore.restored} restored${
                summary.timeToRestore.open
                  ? ` · ${summary.timeToRestore.open} open`
                  : ''
              }`}
            />
          </Grid>
          <Trends report={value} />
          <Events report={value} />
        </>
      )}
    </InfoCard>
  );
};
