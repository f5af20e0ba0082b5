import Typography from '@material-ui/core/Typography';
import { Promotion } from '@mainline/plugin-promotion-common';

/**
 * The link between a promotion whose verification failed and its automatic rollback
 * (`verify.rollback` of the environment), on either of the two: "rolled back to rc-1" under the
 * failed promotion, "automatic rollback" on the rollback.
 */
export const RollbackNote = ({
  promotion,
}: {
  promotion: Pick<Promotion, 'rolledBackBy' | 'rollbackOf' | 'onBehalfOf'>;
}) => {
  const { rolledBackBy, rollbackOf } = promotion;
  if (rolledBackBy) {
    const text = {
      running: `rolling back to ${rolledBackBy.version}`,
      'awaiting-approval': `rolling back to ${rolledBackBy.version}`,
      succeeded: `rolled back to ${rolledBackBy.version}`,
      failed: `the rollback to ${rolledBackBy.version} failed`,
    }[rolledBackBy.status];
    return (
      <Typography
        variant="body2"
        data-testid="rolled-back"
        color={rolledBackBy.status === 'failed' ? 'error' : 'textPrimary'}
      >
        {text} (automatically, verification failed)
      </Typography>
    );
  }
  if (rollbackOf) {
    return (
      <Typography
        variant="body2"
        color="textSecondary"
        data-testid="automatic-rollback"
      >
        automatic rollback after a failed verification
        {promotion.onBehalfOf ? ` (promoted by ${promotion.onBehalfOf})` : ''}
      </Typography>
    );
  }
  return null;
};
