import { InfoCard } from '@backstage/core-components';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Typography from '@material-ui/core/Typography';
import { Promotion } from '@mainline/plugin-promotion-common';
import { relativeTime } from '../format';
import { STATUS } from '../StepList';
import { ApprovalPanel } from '../Approvals';
import { RollbackNote } from '../RollbackNote';

/** How many promotions the card lists: enough to see what happened today, not a history. */
export const RECENT_PROMOTIONS = 10;

/**
 * The latest promotions and rollbacks of the entity, newest first, including the ones refused at
 * their checks (e.g. a release tag pushed in GitHub that the rules refused), so that a refusal is
 * a visible line with its reason rather than nothing at all.
 */
export const RecentPromotions = ({
  promotions,
  error,
  onChanged,
}: {
  promotions: Promotion[] | undefined;
  error?: Error;
  /** A decision on a promotion awaiting approvals changed it: the tab reloads. */
  onChanged?: () => void;
}) => {
  // Sorted here as well: the list endpoint's order is not part of its contract.
  const recent = [...(promotions ?? [])]
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .slice(0, RECENT_PROMOTIONS);
  return (
    <InfoCard title="Recent promotions" noPadding>
      {error && (
        <Typography variant="body2" color="error" style={{ padding: 16 }}>
          Recent promotions could not be loaded: {error.message}
        </Typography>
      )}
      {!error && promotions && recent.length === 0 && (
        <Typography variant="body2" style={{ padding: 16 }}>
          No promotion or rollback of this entity is recorded yet.
        </Typography>
      )}
      {recent.length > 0 && (
        <Table size="small" aria-label="recent promotions">
          <TableHead>
            <TableRow>
              <TableCell>Environment</TableCell>
              <TableCell>Version</TableCell>
              <TableCell>Commit</TableCell>
              <TableCell>Status</TableCell>
              <TableCell>Requested by</TableCell>
              <TableCell>When</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {recent.map(promotion => {
              const Icon = STATUS[promotion.status];
              return (
                <TableRow
                  key={promotion.id}
                  data-testid={`promotion-${promotion.id}`}
                >
                  <TableCell>
                    {promotion.environment}
                    {promotion.kind === 'rollback' && ' (rollback)'}
                  </TableCell>
                  <TableCell>{promotion.tag ?? promotion.version}</TableCell>
                  <TableCell>
                    <code>{promotion.sha.slice(0, 7)}</code>
                  </TableCell>
                  <TableCell>
                    <Icon>{promotion.status}</Icon>
                    {promotion.status === 'failed' && promotion.error && (
                      <Typography variant="body2" color="error">
                        {promotion.error}
                      </Typography>
                    )}
                    <RollbackNote promotion={promotion} />
                    {promotion.status === 'awaiting-approval' && (
                      <ApprovalPanel
                        promotion={promotion}
                        onChanged={onChanged}
                      />
                    )}
                  </TableCell>
                  <TableCell>{promotion.requestedBy}</TableCell>
                  <TableCell>
                    <span title={new Date(promotion.createdAt).toISOString()}>
                      {relativeTime(promotion.createdAt)}
                    </span>
                  </TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      )}
    </InfoCard>
  );
};
