import { useCallback, useEffect, useMemo, useState } from 'react';
import {
  Content,
  EmptyState,
  Progress,
  ResponseErrorPanel,
  WarningPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import {
  getCompoundEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import {
  MissingAnnotationEmptyState,
  useEntity,
} from '@backstage/plugin-catalog-react';
import { useSignal } from '@backstage/plugin-signals-react';
import Box from '@material-ui/core/Box';
import Dialog from '@material-ui/core/Dialog';
import DialogContent from '@material-ui/core/DialogContent';
import DialogTitle from '@material-ui/core/DialogTitle';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import {
  EnvironmentState,
  LineageCommit,
  readPromotionTarget,
} from '@mainline/plugin-promotion-common';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { promotionApiRef, refusedChecks } from '../../api';
import { EnvironmentLanes } from '../EnvironmentLanes';
import { plural } from '../format';
import { LineageTable } from '../LineageTable';
import { PromoteDialog } from '../PromoteDialog';
import { RollbackDialog } from '../RollbackDialog';
import { YankDialog } from '../YankDialog';
import { RECENT_PROMOTIONS, RecentPromotions } from './RecentPromotions';
import { useWritePermissions } from '../useWritePermissions';

const POLL_MS = 30_000;

type OpenDialog =
  | { type: 'promote'; environment: string; sha: string }
  | { type: 'rollback'; environment: EnvironmentState }
  | { type: 'yank'; commit: LineageCommit }
  | { type: 'compare'; from: string; to: string };

const CompareDialog = ({
  from,
  to,
  onClose,
}: {
  from: string;
  to: string;
  onClose: () => void;
}) => {
  const { entity } = useEntity();
  const api = useApi(promotionApiRef);
  const comparison = useAsyncRetry(
    () => api.compare(getCompoundEntityRef(entity), from, to),
    [from, to],
  );
  return (
    <Dialog open onClose={onClose} maxWidth="md" fullWidth>
      <DialogTitle>
        In {to}, not yet in {from}
      </DialogTitle>
      <DialogContent>
        {comparison.loading && <Progress />}
        {comparison.error && <ResponseErrorPanel error={comparison.error} />}
        {comparison.value && (
          <LineageTable
            title={`${comparison.value.commits.length} commits`}
            commits={comparison.value.commits}
          />
        )}
      </DialogContent>
    </Dialog>
  );
};

/**
 * The Environments tab: what runs in each environment and how it got there, with promote, roll
 * back and yank at hand. Refreshes when a promotion of this entity happens anywhere (signals).
 *
 * @public
 */
export const EnvironmentsContent = () => {
  const { entity } = useEntity();
  const api = useApi(promotionApiRef);
  // One object per entity: dialogs re-plan when it changes, not on every render.
  const ref = useMemo(() => getCompoundEntityRef(entity), [entity]);
  // A monorepo component: its commits may release its siblings too.
  const target = readPromotionTarget(entity);
  const monorepo =
    target.ok && target.target.sourcePath
      ? target.target.sourceRepo
      : undefined;
  const [branch, setBranch] = useState('main');
  const [dialog, setDialog] = useState<OpenDialog>();
  const lineage = useAsyncRetry(
    () =>
      api.getLineage(ref, {
        limit: 100,
        branch: branch === 'main' ? undefined : branch,
      }),
    [api, entity, branch],
  );
  const { lastSignal, isSignalsAvailable } = useSignal(
    `promotion:${stringifyEntityRef(entity)}`,
  );
  // Apart from the lineage: a promotion refused at its checks changes no environment, so only
  // this list shows it. The card lists the newest few; the backend sends no more than that.
  const promotions = useAsyncRetry(
    () => api.listPromotions(ref, { limit: RECENT_PROMOTIONS }),
    [api, ref],
  );
  // What runs, read from the runtime apart from the lineage: a slow or unreachable runtime
  // leaves the lanes as they are, with the reason in place of the running state.
  const runtime = useAsyncRetry(
    async () => (api.getRuntime ? api.getRuntime(ref) : undefined),
    [api, ref],
  );
  const { retry: retryLineage } = lineage;
  const { retry: retryPromotions } = promotions;
  const { retry: retryRuntime } = runtime;
  const retry = useCallback(() => {
    retryLineage();
    retryPromotions();
    retryRuntime();
  }, [retryLineage, retryPromotions, retryRuntime]);
  const permissions = useWritePermissions();
  // One reload per signal, once no read is in flight (a retry during a read does nothing).
  // `retry` changes whenever a read starts or ends: calling it on that change reloaded the tab
  // over and over after the first signal.
  const [reloadAsked, setReloadAsked] = useState(false);
  useEffect(() => {
    if (lastSignal) setReloadAsked(true);
  }, [lastSignal]);
  const reading = lineage.loading || promotions.loading;
  useEffect(() => {
    if (!reloadAsked || reading) return;
    setReloadAsked(false);
    retry();
  }, [reloadAsked, reading, retry]);
  // Without signals (e.g. no signals backend), poll so that other people's promotions still show.
  useEffect(() => {
    if (isSignalsAvailable) return undefined;
    const timer = setInterval(retry, POLL_MS);
    return () => clearInterval(timer);
  }, [isSignalsAvailable, retry]);

  if (lineage.loading && !lineage.value) return <Progress />;
  if (lineage.error) {
    // An entity that is not set up answers with its `setup` check, naming the annotation.
    const setup = refusedChecks(lineage.error).find(c => c.name === 'setup');
    const missing = setup?.data?.missingAnnotation;
    if (setup && missing) {
      return (
        <Content>
          <MissingAnnotationEmptyState annotation={missing} />
          <Typography variant="body2">{setup.reason}</Typography>
        </Content>
      );
    }
    // Present but malformed: adding it is not the fix, correcting its value is.
    const invalid = setup?.data?.invalidAnnotation;
    if (setup && invalid) {
      return (
        <Content>
          <EmptyState
            missing="field"
            title={`Fix the ${invalid} annotation`}
            description={`This entity has the ${invalid} annotation, but its value does not read: ${setup.reason}`}
          />
        </Content>
      );
    }
    return <ResponseErrorPanel error={lineage.error} />;
  }
  const value = lineage.value!;
  const close = (changed: boolean) => {
    setDialog(undefined);
    if (changed) retry();
  };
  const nextEnvironment = (sha: string) =>
    value.environments.find(
      e =>
        e.trigger.type === 'tag' &&
        !value.commits.find(c => c.sha === sha)?.environments.includes(e.name),
    )?.name ?? value.environments[value.environments.length - 1].name;

  return (
    <Content>
      <EnvironmentLanes
        environments={value.environments}
        runtime={runtime.value}
        runtimeError={runtime.error}
        permissions={permissions}
        onPromote={environment => {
          const index = value.environments.indexOf(environment);
          const source =
            value.environments[index - 1]?.current?.sha ?? value.commits[0].sha;
          setDialog({
            type: 'promote',
            environment: environment.name,
            sha: source,
          });
        }}
        onRollback={environment => setDialog({ type: 'rollback', environment })}
        onCompare={(from, to) => setDialog({ type: 'compare', from, to })}
      />
      <Box mt={3}>
        <RecentPromotions
          promotions={promotions.value}
          error={promotions.error}
          onChanged={retry}
        />
      </Box>
      <Box mt={3} mb={1} display="flex" alignItems="center" style={{ gap: 16 }}>
        <Typography variant="h6">Lineage</Typography>
        {value.releaseBranches.length > 0 && (
          <TextField
            select
            id="lineage-branch"
            size="small"
            label="Branch"
            value={branch}
            onChange={e => setBranch(e.target.value)}
          >
            <MenuItem value="main">main</MenuItem>
            {value.releaseBranches.map(b => (
              <MenuItem key={b.name} value={b.name}>
                {b.name} (exception)
              </MenuItem>
            ))}
          </TextField>
        )}
      </Box>
      {value.artifactLookup && (
        <WarningPanel
          severity="error"
          title="Artifacts were not read: the backend refused the registry request"
          message={value.artifactLookup.reason}
        />
      )}
      {value.exception && (
        <WarningPanel
          title={`${value.branch} is the discouraged release-branch flow`}
        >
          Fixes land on main first and are cherry-picked here; each commit below
          links to the main commit it was picked from (by its cherry-pick
          trailer or the same patch). Prefer promoting main.
        </WarningPanel>
      )}
      {value.exception && value.missingFixes.length > 0 && (
        <Box mt={1} mb={1} aria-label="missing fixes">
          <Typography variant="subtitle2" color="error">
            {plural(value.missingFixes.length, 'fix', 'fixes')} on main not
            picked onto {value.branch}:
          </Typography>
          {value.missingFixes.map(fix => (
            <Typography key={fix.sha} variant="body2">
              <code>{fix.shortSha}</code> {fix.message}
            </Typography>
          ))}
        </Box>
      )}
      <LineageTable
        title={`${value.branch}: newest first`}
        permissions={{
          promote: permissions.promote(false),
          yank: permissions.yank,
        }}
        commits={value.commits}
        runtime={runtime.value}
        onPromote={commit =>
          setDialog({
            type: 'promote',
            environment: nextEnvironment(commit.sha),
            sha: commit.sha,
          })
        }
        onYank={commit => setDialog({ type: 'yank', commit })}
      />
      {dialog?.type === 'promote' && (
        <PromoteDialog
          entity={ref}
          environments={value.environments}
          initialEnvironment={dialog.environment}
          initialSha={dialog.sha}
          onClose={close}
          repository={monorepo}
        />
      )}
      {dialog?.type === 'rollback' && (
        <RollbackDialog
          entity={ref}
          environment={dialog.environment}
          commits={value.commits}
          onClose={close}
        />
      )}
      {dialog?.type === 'yank' && (
        <YankDialog entity={ref} commit={dialog.commit} onClose={close} />
      )}
      {dialog?.type === 'compare' && (
        <CompareDialog
          from={dialog.from}
          to={dialog.to}
          onClose={() => setDialog(undefined)}
        />
      )}
    </Content>
  );
};
