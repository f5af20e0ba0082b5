import { useEffect, useMemo, useState } from 'react';
import {
  Content,
  InfoCard,
  Progress,
  ResponseErrorPanel,
  StatusError,
  StatusOK,
  StatusWarning,
} from '@backstage/core-components';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import {
  EntityRefLink,
  entityPresentationSnapshot,
} from '@backstage/plugin-catalog-react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Chip from '@material-ui/core/Chip';
import MenuItem from '@material-ui/core/MenuItem';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import TextField from '@material-ui/core/TextField';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import {
  ReleaseBoardCell,
  ReleaseBoardRow,
  RuntimeEnvironment,
  RuntimeView,
  checkTagName,
} from '@mainline/plugin-promotion-common';
import useAsync from 'react-use/esm/useAsync';
import { promotionApiRef } from '../../api';
import { DoraCard } from '../DoraCard';
import { plural, relativeTime } from '../format';
import { STATUS } from '../StepList';
import {
  HEALTH_STATUS,
  runtimeSummary,
} from '../EnvironmentLanes/RuntimeStatus';

export interface ReleaseBoardProps {
  /** Only this system's services (the System entity tab); the page shows every service. */
  system?: string;
}

const ALL = '';

/** An entity ref as people read it: kind and namespace only where they are not the usual ones. */
const displayRef = (ref: string, defaultKind: string) =>
  entityPresentationSnapshot(ref, { defaultKind }).primaryTitle;

const LastPromotion = ({ cell }: { cell: ReleaseBoardCell }) => {
  const last = cell.lastPromotion;
  if (!last) return null;
  const Status = STATUS[last.status];
  const who = displayRef(last.requestedBy, 'user');
  return (
    <Tooltip title={last.error ?? `${last.kind} ${last.id}`}>
      <Typography variant="caption" component="div">
        <Status>
          {last.kind === 'rollback' ? 'rolled back to' : 'promoted'}{' '}
          {last.version} by {who}, {relativeTime(last.createdAt)}
        </Status>
      </Typography>
    </Tooltip>
  );
};

/**
 * The board's runtime is read for this many rows per request (`POST /v1/runtime/query` takes up
 * to 100), at most {@link RUNTIME_REQUESTS} requests at a time, top rows first: a few requests
 * for the whole board instead of one per row, leaving the browser's connections to the rest.
 */
export const RUNTIME_BATCH = 50;
/** Runtime requests of one board in flight at once. */
export const RUNTIME_REQUESTS = 2;

/** Runs at most `size` of the given tasks at a time, in the order they were asked. */
function limiter(size: number) {
  let active = 0;
  const queue: Array<() => void> = [];
  const next = () => {
    if (active >= size) return;
    const start = queue.shift();
    if (start) {
      active += 1;
      start();
    }
  };
  return <T,>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push(() =>
        task()
          .then(resolve, reject)
          .finally(() => {
            active -= 1;
            next();
          }),
      );
      next();
    });
}

/** What a row knows of its runtime: loading, unreadable, or the view (null: not observed). */
type RowRuntime =
  | { loading: true }
  | { loading: false; error: Error }
  | { loading: false; view: RuntimeView | null };

/**
 * One environment's running marker: the health as the runtime reports it and a drift chip whose
 * tooltip is the reason. Nothing while loading or when no observer serves the service.
 */
const RunningMarker = ({
  runtime,
  environment,
}: {
  runtime: RowRuntime;
  environment: string;
}) => {
  if (runtime.loading) return null;
  if ('error' in runtime) {
    return (
      <Tooltip title={runtime.error.message}>
        <Typography variant="caption" component="div" color="textSecondary">
          running: unknown
        </Typography>
      </Tooltip>
    );
  }
  if (!runtime.view?.observer) return null;
  const observed: RuntimeEnvironment | undefined =
    runtime.view.environments.find(e => e.name === environment);
  const running = observed?.running;
  if (!observed || !running) {
    return (
      <Typography variant="caption" component="div" color="textSecondary">
        running: nothing observed
      </Typography>
    );
  }
  const Health = HEALTH_STATUS[running.health.status] ?? StatusWarning;
  return (
    <Box display="flex" alignItems="center" style={{ gap: 4 }}>
      <Tooltip title={runtimeSummary(running)}>
        <Typography variant="caption" component="span">
          <Health>running {running.health.status}</Health>
        </Typography>
      </Tooltip>
      {observed.drift && (
        <Tooltip
          title={observed.driftReason ?? 'differs from what is declared'}
        >
          <Chip
            size="small"
            color="secondary"
            label="drift"
            aria-label={`running drift: ${observed.driftReason ?? ''}`}
          />
        </Tooltip>
      )}
    </Box>
  );
};

const Cell = ({
  row,
  cell,
  runtime,
}: {
  row: ReleaseBoardRow;
  cell: ReleaseBoardCell;
  runtime: RowRuntime;
}) => (
  <TableCell aria-label={`${row.title} ${cell.environment}`}>
    {cell.version ? (
      <code style={{ whiteSpace: 'nowrap' }}>{cell.version}</code>
    ) : (
      <Typography variant="body2" color="textSecondary">
        nothing deployed
      </Typography>
    )}
    {cell.behindBy !== null && cell.behindBy > 0 && (
      <Typography variant="caption" component="div">
        {plural(cell.behindBy, 'commit')} behind
      </Typography>
    )}
    {cell.drift.map(drift => (
      <Typography key={drift} variant="caption" component="div">
        <StatusWarning>drift: {drift}</StatusWarning>
      </Typography>
    ))}
    <LastPromotion cell={cell} />
    <RunningMarker runtime={runtime} environment={cell.environment} />
  </TableCell>
);

/**
 * The runtime of the board's rows (those with cells to mark), read in batches once the board is
 * drawn: each row's markers appear when its batch answers, a failed batch marks its rows alone.
 * An entity the answer leaves out (not readable by the caller) has no markers.
 */
function useBoardRuntime(entityRefs: string[]): Map<string, RowRuntime> {
  const api = useApi(promotionApiRef);
  const [known, setKnown] = useState(() => new Map<string, RowRuntime>());
  const key = entityRefs.join('\n');
  useEffect(() => {
    const refs = key ? key.split('\n') : [];
    let cancelled = false;
    setKnown(new Map());
    if (!api.queryRuntime || refs.length === 0) return undefined;
    const query = api.queryRuntime.bind(api);
    const limit = limiter(RUNTIME_REQUESTS);
    const learn = (answers: Array<[string, RowRuntime]>) => {
      if (!cancelled) setKnown(current => new Map([...current, ...answers]));
    };
    for (let i = 0; i < refs.length; i += RUNTIME_BATCH) {
      const batch = refs.slice(i, i + RUNTIME_BATCH);
      limit(() => query(batch)).then(
        ({ items, failures }) => {
          const views = new Map(items.map(v => [v.entityRef, v]));
          const failed = new Map(failures.map(f => [f.entityRef, f.error]));
          learn(
            batch.map(ref => {
              const error = failed.get(ref);
              if (error) {
                return [
                  ref,
                  {
                    loading: false,
                    error: Object.assign(new Error(error.message), {
                      name: error.name,
                    }),
                  },
                ];
              }
              return [ref, { loading: false, view: views.get(ref) ?? null }];
            }),
          );
        },
        (error: Error) =>
          learn(batch.map(ref => [ref, { loading: false, error }])),
      );
    }
    return () => {
      cancelled = true;
    };
  }, [api, key]);
  return known;
}

const LOADING: RowRuntime = { loading: true };

/** Where a row's lineage came from, when it is not current: its snapshot's age, or none yet. */
const RowAge = ({ row }: { row: ReleaseBoardRow }) => {
  if (row.snapshotAt) {
    return (
      <Tooltip
        title={`Served from the lineage snapshot taken ${new Date(
          row.snapshotAt,
        ).toLocaleString()}${
          row.refreshing ? '; it is being read afresh' : ''
        }`}
      >
        <Typography
          variant="caption"
          component="div"
          color="textSecondary"
          aria-label={`${row.title} as of ${relativeTime(row.snapshotAt)}`}
        >
          as of {relativeTime(row.snapshotAt)}
          {row.refreshing ? ' · refreshing' : ''}
        </Typography>
      </Tooltip>
    );
  }
  if (row.refreshing && row.environments.length === 0 && !row.error) {
    return (
      <Typography variant="caption" component="div" color="textSecondary">
        being read…
      </Typography>
    );
  }
  return null;
};

/** One service's row: the board's cells, each with its running marker once the runtime is read. */
const BoardRow = ({
  row,
  environments,
  tag,
  runtime,
}: {
  row: ReleaseBoardRow;
  environments: string[];
  tag: string | undefined;
  runtime: RowRuntime;
}) => {
  return (
    <TableRow key={row.entityRef} aria-label={row.title}>
      <TableCell>
        <EntityRefLink entityRef={row.entityRef} title={row.title} />
        <Typography variant="caption" component="div" color="textSecondary">
          {row.sourcePath
            ? `${row.sourcePath} in ${row.sourceRepo}`
            : row.sourceRepo}
        </Typography>
        {row.releaseBranches && (
          <Chip size="small" label="release/* exception" />
        )}
        <RowAge row={row} />
        {row.error && <StatusError>{row.error}</StatusError>}
      </TableCell>
      {row.environments.map(cell => (
        <Cell key={cell.environment} row={row} cell={cell} runtime={runtime} />
      ))}
      {row.error && environments.map(e => <TableCell key={e}>—</TableCell>)}
      {tag && (
        <TableCell aria-label={`${row.title} ${tag}`}>
          {row.tag?.outcome === 'promotes' ? (
            <Tooltip title={row.tag.artifact ?? ''}>
              <span>
                <StatusOK>{row.tag.message}</StatusOK>
              </span>
            </Tooltip>
          ) : (
            <Typography variant="body2" color="textSecondary">
              {row.tag?.message}
            </Typography>
          )}
        </TableCell>
      )}
    </TableRow>
  );
};

/** A select of entity refs (shown by name), with an "all" choice first. */
const RefFilter = (props: {
  name: 'owner' | 'system';
  all: string;
  refs: string[];
  value: string;
  onChange: (value: string) => void;
}) => (
  <TextField
    select
    id={`release-board-${props.name}`}
    label={props.name === 'owner' ? 'Owner' : 'System'}
    SelectProps={{ displayEmpty: true }}
    InputLabelProps={{ shrink: true }}
    value={props.value}
    onChange={e => props.onChange(e.target.value)}
    style={{ minWidth: 180 }}
  >
    <MenuItem value={ALL}>{props.all}</MenuItem>
    {props.refs.map(ref => (
      <MenuItem key={ref} value={ref}>
        {displayRef(ref, props.name === 'owner' ? 'group' : 'system')}
      </MenuItem>
    ))}
  </TextField>
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

/**
 * Services × environments for release managers: what runs where, how far behind, what drifted,
 * and the last promotion of each; filters by owner and system; what a given tag ships; and the
 * promotion history as CSV or JSON.
 */
export const ReleaseBoard = ({ system }: ReleaseBoardProps) => {
  const api = useApi(promotionApiRef);
  const alertApi = useApi(alertApiRef);
  const [owner, setOwner] = useState(ALL);
  const [systemFilter, setSystemFilter] = useState(ALL);
  const [tagInput, setTagInput] = useState('');
  const [tag, setTag] = useState<string>();
  const board = useAsync(
    () => api.getBoard({ system, tag }),
    [api, system, tag],
  );
  const tagProblem = tagInput ? checkTagName(tagInput) : undefined;
  // Every row of the answer (not only the filtered ones): a filter change reads nothing again.
  const observed = useMemo(
    () =>
      (board.value?.services ?? [])
        .filter(row => row.environments.length > 0)
        .map(row => row.entityRef),
    [board.value],
  );
  const runtime = useBoardRuntime(observed);

  const rows = useMemo(
    () =>
      (board.value?.services ?? []).filter(
        row =>
          (owner === ALL || row.owner === owner) &&
          (systemFilter === ALL || row.system === systemFilter),
      ),
    [board.value, owner, systemFilter],
  );
  const options = (values: Array<string | null>) =>
    [...new Set(values.filter((v): v is string => Boolean(v)))].sort();
  const owners = options((board.value?.services ?? []).map(r => r.owner));
  const systems = options((board.value?.services ?? []).map(r => r.system));
  const environments = board.value?.environments ?? [];
  // The board lists environments in promotion order, so the last one is production (if any).
  const production: string | undefined = environments[environments.length - 1];
  const waiting = rows.filter(
    r =>
      (r.environments.find(c => c.environment === production)?.behindBy ?? 0) >
      0,
  ).length;
  const drifted = rows.filter(r =>
    r.environments.some(c => c.drift.length),
  ).length;

  const exportAs = async (format: 'csv' | 'json') => {
    try {
      const blob = await api.exportPromotions({
        format,
        owner: owner || undefined,
        system: system ?? (systemFilter || undefined),
      });
      download(
        blob,
        `promotions-${new Date().toISOString().slice(0, 10)}.${format}`,
      );
    } catch (error) {
      alertApi.post({
        message: `Export failed: ${(error as Error).message}`,
        severity: 'error',
      });
    }
  };

  return (
    <Content>
      <Box
        display="flex"
        flexWrap="wrap"
        alignItems="flex-start"
        mb={2}
        style={{ gap: 16 }}
      >
        <RefFilter
          name="owner"
          all="All owners"
          refs={owners}
          value={owner}
          onChange={setOwner}
        />
        {!system && (
          <RefFilter
            name="system"
            all="All systems"
            refs={systems}
            value={systemFilter}
            onChange={setSystemFilter}
          />
        )}
        <form
          onSubmit={e => {
            e.preventDefault();
            if (!tagProblem) setTag(tagInput || undefined);
          }}
        >
          <TextField
            label="What does this tag ship?"
            placeholder="v1.2.0 or rc-4"
            value={tagInput}
            error={Boolean(tagProblem)}
            helperText={tagProblem}
            onChange={e => setTagInput(e.target.value.trim())}
            inputProps={{ 'aria-label': 'tag to inspect' }}
          />
          <Button type="submit" disabled={Boolean(tagProblem)}>
            Show
          </Button>
        </form>
        <Box flexGrow={1} />
        <Button variant="outlined" onClick={() => exportAs('csv')}>
          Export CSV
        </Button>
        <Button variant="outlined" onClick={() => exportAs('json')}>
          Export JSON
        </Button>
      </Box>
      {board.loading && !board.value && <Progress />}
      {board.error && <ResponseErrorPanel error={board.error} />}
      {board.value && (
        <InfoCard
          title="Release board"
          subheader={[
            plural(rows.length, 'service'),
            production && `${waiting} with changes waiting for ${production}`,
            `${drifted} drifted`,
            board.value.refreshing
              ? `${board.value.refreshing} being read afresh`
              : undefined,
          ]
            .filter(Boolean)
            .join(' · ')}
        >
          <Table size="small" aria-label="release board">
            <TableHead>
              <TableRow>
                <TableCell>Service</TableCell>
                {environments.map(e => (
                  <TableCell key={e}>{e}</TableCell>
                ))}
                {tag && <TableCell>{tag} ships</TableCell>}
              </TableRow>
            </TableHead>
            <TableBody>
              {rows.map(row => (
                <BoardRow
                  key={row.entityRef}
                  row={row}
                  environments={environments}
                  tag={tag}
                  runtime={runtime.get(row.entityRef) ?? LOADING}
                />
              ))}
            </TableBody>
          </Table>
        </InfoCard>
      )}
      <Box mt={2}>
        <DoraCard
          scope={{
            owner: owner || undefined,
            system: system ?? (systemFilter || undefined),
          }}
        />
      </Box>
    </Content>
  );
};
