import {
  Link,
  StatusError,
  StatusOK,
  StatusPending,
  StatusWarning,
} from '@backstage/core-components';
import Box from '@material-ui/core/Box';
import Chip from '@material-ui/core/Chip';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import { RuntimeEnvironment } from '@mainline/plugin-promotion-common';
import { relativeTime, shortDigest } from '../format';

type Running = NonNullable<RuntimeEnvironment['running']>;

/** The status icon of each health, wherever the runtime is shown (lanes, board, lineage). */
export const HEALTH_STATUS = {
  Healthy: StatusOK,
  Progressing: StatusPending,
  Suspended: StatusWarning,
  Missing: StatusWarning,
  Unknown: StatusWarning,
  Degraded: StatusError,
} as const;

/** Where the deep link goes, by the observer that answered. */
const RUNTIME_NAME: Record<string, string> = {
  argocd: 'Argo CD',
  lambda: 'the AWS console',
  local: 'the local runtime',
};

/** Whether the runtime's last operation (sync, Lambda update) failed, however healthy it looks. */
export function lastOperationFailed(running: Running): boolean {
  const phase = running.lastOperation?.phase;
  return phase === 'Failed' || phase === 'Error';
}

/**
 * One line of what the runtime reports, for a tooltip: the source, the sync status and revision,
 * the health's message, a failed last sync, since when.
 */
export function runtimeSummary(running: Running): string {
  return [
    running.source,
    `${running.sync.status}${
      running.sync.revision ? ` at ${running.sync.revision.slice(0, 7)}` : ''
    }`,
    running.health.message,
    lastOperationFailed(running) &&
      `last sync failed${
        running.lastOperation?.message
          ? `: ${running.lastOperation.message}`
          : ''
      }`,
    running.since && `since ${relativeTime(running.since)}`,
  ]
    .filter(Boolean)
    .join(' · ');
}

/** What runs, shortly: image digests, else Lambda code hashes (base64, as Lambda prints them). */
function runningIdentity(running: Running): string {
  if (running.runningDigests.length > 0) {
    return running.runningDigests.map(shortDigest).join(', ');
  }
  if (running.runningCodeSha256s?.length) {
    return running.runningCodeSha256s.map(h => h.slice(0, 12)).join(', ');
  }
  return 'nothing';
}

/**
 * One environment's runtime, under what the lineage declares: what runs and its health, since
 * when, the sync state, a failed last operation, and a drift marker when it is not what is
 * declared.
 */
export const RuntimeStatus = (props: {
  runtime: RuntimeEnvironment;
  observer: string | null;
}) => {
  const { runtime, observer } = props;
  const running = runtime.running;
  if (!observer) return null;
  if (!running) {
    return (
      <Typography variant="body2" color="textSecondary" component="p">
        running: nothing observed
      </Typography>
    );
  }
  const Health = HEALTH_STATUS[running.health.status] ?? StatusWarning;
  const failed = lastOperationFailed(running);
  const identity = [
    ...running.runningDigests,
    ...(running.runningCodeSha256s ?? []),
  ].join('\n');
  return (
    <Box mt={1} data-testid={`runtime-${runtime.name}`}>
      <Box display="flex" alignItems="center" style={{ gap: 8 }}>
        <Tooltip title={identity || 'no running workloads'}>
          <Typography variant="body2" component="span">
            running <code>{runningIdentity(running)}</code>
          </Typography>
        </Tooltip>
        {runtime.drift && (
          <Tooltip
            title={runtime.driftReason ?? 'differs from what is declared'}
          >
            <Chip
              size="small"
              color="secondary"
              label="drift"
              aria-label={`drift: ${runtime.driftReason ?? ''}`}
            />
          </Tooltip>
        )}
      </Box>
      <Health>
        {running.health.status}
        {running.health.message ? `: ${running.health.message}` : ''}
        {running.since && (
          <Tooltip title={running.since}>
            {/* The health icon lays its children out in a row, which drops a leading space. */}
            <span style={{ whiteSpace: 'pre' }}>
              {` since ${relativeTime(running.since)}`}
            </span>
          </Tooltip>
        )}
      </Health>
      <Typography variant="body2" color="textSecondary" component="p">
        {running.sync.status}
        {running.sync.revision
          ? ` at ${running.sync.revision.slice(0, 7)}`
          : ''}
        {' · '}
        {running.source}
      </Typography>
      {failed && (
        <StatusError>
          last {observer === 'lambda' ? 'update' : 'sync'} failed
          {running.lastOperation?.message
            ? `: ${running.lastOperation.message}`
            : ''}
        </StatusError>
      )}
      {running.url && (
        <Typography variant="caption" component="p">
          <Link to={running.url} target="_blank" rel="noopener">
            open in {RUNTIME_NAME[observer] ?? observer}
          </Link>
        </Typography>
      )}
    </Box>
  );
};
