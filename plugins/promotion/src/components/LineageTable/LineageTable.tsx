import { Link, Table, TableColumn } from '@backstage/core-components';
import Box from '@material-ui/core/Box';
import Chip from '@material-ui/core/Chip';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import { StatusWarning } from '@backstage/core-components';
import { LineageCommit, RuntimeView } from '@mainline/plugin-promotion-common';
import {
  HEALTH_STATUS,
  runtimeSummary,
} from '../EnvironmentLanes/RuntimeStatus';
import { relativeTime, shortDigest } from '../format';
import { GuardedButton } from '../GuardedButton';
import { WriteAllowance } from '../useWritePermissions';

export interface LineageTableProps {
  title: string;
  commits: LineageCommit[];
  onYank?: (commit: LineageCommit) => void;
  onPromote?: (commit: LineageCommit) => void;
  /** Whether the user may promote (to some environment) and yank; all allowed when absent. */
  permissions?: { promote: WriteAllowance; yank: WriteAllowance };
  /**
   * What runs (the view the lanes show): each commit is marked in the environments that run it,
   * with their health. No column without an observer.
   */
  runtime?: RuntimeView;
}

type Observed = RuntimeView['environments'][number];

/**
 * The environments that run the commit: an image's digest among the running ones (mid-rollout
 * an environment runs two commits), a package's commit the one the runtime verified by its code
 * hash (Lambda reports it as the sync revision; Argo CD's revision is the manifest commit's).
 */
export function runningEnvironments(
  commit: LineageCommit,
  runtime: RuntimeView | undefined,
): Array<Observed & { running: NonNullable<Observed['running']> }> {
  if (!runtime?.observer) return [];
  const digests = new Set(commit.artifacts.map(a => a.digest));
  return runtime.environments.flatMap(environment => {
    const running = environment.running;
    if (!running) return [];
    const runsImage = running.runningDigests.some(d => digests.has(d));
    const runsPackage =
      (running.runningCodeSha256s?.length ?? 0) > 0 &&
      running.sync.status === 'Synced' &&
      running.sync.revision === commit.sha;
    return runsImage || runsPackage ? [{ ...environment, running }] : [];
  });
}

/** The lineage of a branch: one row per commit, newest first. */
export const LineageTable = ({
  title,
  commits,
  onYank,
  onPromote,
  permissions = { promote: { allowed: true }, yank: { allowed: true } },
  runtime,
}: LineageTableProps) => {
  const columns: TableColumn<LineageCommit>[] = [
    {
      title: 'Commit',
      field: 'message',
      render: commit => (
        <Box
          style={commit.yanked ? { textDecoration: 'line-through' } : undefined}
        >
          <Typography variant="body2">
            <code>{commit.shortSha}</code> {commit.message}
          </Typography>
          {commit.pullRequest &&
            (commit.pullRequest.url ? (
              <Link to={commit.pullRequest.url}>
                #{commit.pullRequest.number}
              </Link>
            ) : (
              <Typography variant="caption">
                PR #{commit.pullRequest.number}
              </Typography>
            ))}
          {commit.cherryPickOf && (
            <Typography variant="caption" display="block">
              cherry-picked from main {commit.cherryPickOf.slice(0, 7)}
            </Typography>
          )}
        </Box>
      ),
    },
    {
      title: 'Author',
      field: 'author.name',
      render: commit => (
        <Tooltip title={commit.committedAt}>
          <span>
            {commit.author.name}
            <br />
            <Typography variant="caption">
              {relativeTime(commit.committedAt)}
            </Typography>
          </span>
        </Tooltip>
      ),
    },
    {
      title: 'Artifact',
      render: commit => {
        if (commit.yanked) {
          return (
            <Tooltip
              title={`${commit.yanked.reason} (${commit.yanked.by}, ${commit.yanked.at})`}
            >
              <Chip
                size="small"
                label="yanked"
                style={{ background: '#b71c1c', color: 'white' }}
              />
            </Tooltip>
          );
        }
        if (commit.artifacts.length === 0) {
          return <Chip size="small" variant="outlined" label="none" />;
        }
        return commit.artifacts.map(artifact => (
          <Tooltip
            key={artifact.digest}
            title={`${artifact.uri} ${artifact.digest}`}
          >
            <Chip
              size="small"
              color="primary"
              label={`${artifact.kind} ${shortDigest(artifact.digest)}`}
            />
          </Tooltip>
        ));
      },
    },
    {
      title: 'Tags',
      render: commit =>
        commit.tags.map(tag => <Chip key={tag} size="small" label={tag} />),
    },
    {
      // What the manifests (or the recorded deploys) say; the runtime's view is the next column.
      title: runtime?.observer ? 'Declared in' : 'Runs in',
      render: commit =>
        commit.environments.map(name => (
          <Chip key={name} size="small" color="secondary" label={name} />
        )),
    },
    ...(runtime?.observer
      ? [
          {
            title: 'Running in',
            render: (commit: LineageCommit) =>
              runningEnvironments(commit, runtime).map(({ name, running }) => {
                const Health =
                  HEALTH_STATUS[running.health.status] ?? StatusWarning;
                return (
                  <Tooltip key={name} title={runtimeSummary(running)}>
                    <Typography
                      variant="caption"
                      component="div"
                      aria-label={`running in ${name}: ${running.health.status}`}
                      style={{ whiteSpace: 'nowrap' }}
                    >
                      <Health>
                        {name} {running.health.status}
                      </Health>
                    </Typography>
                  </Tooltip>
                );
              }),
          } as TableColumn<LineageCommit>,
        ]
      : []),
    {
      title: '',
      render: commit =>
        !commit.yanked && commit.artifacts.length > 0 ? (
          <Box display="flex" style={{ gap: 4, whiteSpace: 'nowrap' }}>
            {onPromote && (
              <GuardedButton
                allowance={permissions.promote}
                size="small"
                onClick={() => onPromote(commit)}
              >
                Promote
              </GuardedButton>
            )}
            {onYank && (
              <GuardedButton
                allowance={permissions.yank}
                size="small"
                color="secondary"
                onClick={() => onYank(commit)}
              >
                Yank
              </GuardedButton>
            )}
          </Box>
        ) : null,
    },
  ];
  return (
    <Table<LineageCommit>
      title={title}
      options={{ paging: true, pageSize: 20, search: true, padding: 'dense' }}
      columns={columns}
      data={commits}
    />
  );
};
