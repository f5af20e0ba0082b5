import { InfoCard, StatusOK, StatusWarning } from '@backstage/core-components';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Chip from '@material-ui/core/Chip';
import Grid from '@material-ui/core/Grid';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import {
  EnvironmentState,
  RuntimeView,
} from '@mainline/plugin-promotion-common';
import { bytes, plural, relativeTime, shortDigest } from '../format';
import { GuardedButton } from '../GuardedButton';
import { triggerLabel } from '../triggerLabel';
import { WriteAllowance } from '../useWritePermissions';
import { RuntimeStatus } from './RuntimeStatus';

export interface EnvironmentLanesProps {
  environments: EnvironmentState[];
  onPromote: (environment: EnvironmentState) => void;
  onRollback: (environment: EnvironmentState) => void;
  onCompare: (from: string, to: string) => void;
  permissions: {
    promote: (production: boolean) => WriteAllowance;
    rollback: WriteAllowance;
  };
  /** What runs in each environment, when the backend observes the entity's runtime. */
  runtime?: RuntimeView;
  /** Why the runtime could not be read (an unreachable Argo CD instance, a denied Lambda call). */
  runtimeError?: Error;
}

/**
 * What the backend said (a `ResponseError` keeps its body: the 503's message names the Argo CD
 * instance or the Lambda region), else the error's own message.
 */
function reasonOf(error: Error): string {
  const body = (error as { body?: { error?: { message?: unknown } } }).body;
  const message = body?.error?.message;
  return typeof message === 'string' ? message : error.message;
}

/** Full shas (recorded Serverless deploys) are shown short, as everywhere else. */
function displayVersion(version: string): string {
  return /^[0-9a-f]{40}$/.test(version) ? version.slice(0, 7) : version;
}

/** One lane per environment in promotion order: what runs there, since when, and what waits. */
export const EnvironmentLanes = (props: EnvironmentLanesProps) => {
  const { environments, onPromote, onRollback, onCompare, permissions } = props;
  const { runtime, runtimeError } = props;
  return (
    <Grid container spacing={2}>
      {environments.map((environment, index) => {
        const current = environment.current;
        const previous = index > 0 ? environments[index - 1] : undefined;
        return (
          <Grid item xs={12} md={4} key={environment.name}>
            <InfoCard
              title={
                <Box display="flex" alignItems="center" style={{ gap: 8 }}>
                  <span>{environment.name}</span>
                  {environment.production && (
                    <Chip size="small" color="secondary" label="production" />
                  )}
                </Box>
              }
              subheader={`deployed by ${triggerLabel(environment.trigger)}`}
            >
              <Box data-testid={`lane-${environment.name}`}>
                {current ? (
                  <>
                    <Typography variant="h5" component="p">
                      {current.tag ?? displayVersion(current.version)}
                    </Typography>
                    <Typography variant="body2" component="p">
                      commit{' '}
                      <code>{current.sha?.slice(0, 7) ?? 'unknown'}</code>
                    </Typography>
                    {current.artifact ? (
                      <Tooltip title={current.artifact.digest}>
                        <Typography
                          variant="body2"
                          component="p"
                          color="textSecondary"
                        >
                          {current.artifact.uri.split('@')[0]} ·{' '}
                          {shortDigest(current.artifact.digest)} ·{' '}
                          {bytes(current.artifact.size)}
                        </Typography>
                      </Tooltip>
                    ) : (
                      <StatusWarning>
                        artifact missing: {current.version} is not in the
                        registry (yanked or expired)
                      </StatusWarning>
                    )}
                    <Tooltip title={current.deployedAt}>
                      <Typography
                        variant="body2"
                        component="p"
                        color="textSecondary"
                      >
                        deployed {relativeTime(current.deployedAt)}
                        {current.deployedBy ? ` by ${current.deployedBy}` : ''}
                      </Typography>
                    </Tooltip>
                  </>
                ) : (
                  <Typography variant="body2">Nothing deployed yet.</Typography>
                )}
                {runtime?.environments
                  .filter(r => r.name === environment.name)
                  .map(r => (
                    <RuntimeStatus
                      key={r.name}
                      runtime={r}
                      observer={runtime.observer}
                    />
                  ))}
                {runtimeError && (
                  <StatusWarning>
                    running: unknown ({reasonOf(runtimeError)})
                  </StatusWarning>
                )}
                <Box mt={1}>
                  {environment.behindBy === 0 && (
                    <StatusOK>
                      up to date with {previous?.name ?? 'main'}
                    </StatusOK>
                  )}
                  {environment.behindBy !== null &&
                    environment.behindBy > 0 && (
                      <StatusWarning>
                        <Button
                          size="small"
                          variant="text"
                          onClick={() =>
                            onCompare(
                              environment.name,
                              previous?.name ?? 'main',
                            )
                          }
                        >
                          {plural(environment.behindBy, 'commit')} behind{' '}
                          {previous?.name ?? 'main'}
                        </Button>
                      </StatusWarning>
                    )}
                </Box>
                <Box mt={1} display="flex" style={{ gap: 8 }}>
                  {environment.trigger.type === 'tag' && (
                    <GuardedButton
                      allowance={permissions.promote(environment.production)}
                      size="small"
                      variant="contained"
                      color="primary"
                      onClick={() => onPromote(environment)}
                    >
                      Promote to {environment.name}
                    </GuardedButton>
                  )}
                  <GuardedButton
                    allowance={permissions.rollback}
                    size="small"
                    variant="outlined"
                    onClick={() => onRollback(environment)}
                  >
                    Roll back
                  </GuardedButton>
                </Box>
              </Box>
            </InfoCard>
          </Grid>
        );
      })}
    </Grid>
  );
};
