import {
  Link,
  StatusError,
  StatusOK,
  StatusPending,
  StatusRunning,
} from '@backstage/core-components';
import List from '@material-ui/core/List';
import ListItem from '@material-ui/core/ListItem';
import ListItemText from '@material-ui/core/ListItemText';

/** The icon for each status of a promotion or of one of its steps. */
export const STATUS = {
  pending: StatusPending,
  running: StatusRunning,
  succeeded: StatusOK,
  failed: StatusError,
  planned: StatusPending,
  'awaiting-approval': StatusPending,
} as const;

/** The steps of a promotion (or its plan), each with its state and what it did. */
export const StepList = ({
  steps,
}: {
  steps: Array<{
    name: string;
    detail: string | null;
    status: keyof typeof STATUS;
    url?: string | null;
    waiting?: boolean;
  }>;
}) => (
  <List dense aria-label="promotion steps">
    {steps.map(step => {
      const Icon = STATUS[step.status];
      return (
        <ListItem key={step.name} data-testid={`step-${step.name}`}>
          <ListItemText
            primary={
              <Icon>
                {step.name}: {step.waiting ? 'waiting' : step.status}
              </Icon>
            }
            secondary={
              <>
                {step.detail}
                {step.url && (
                  <>
                    {' '}
                    <Link to={step.url} target="_blank" rel="noopener">
                      open
                    </Link>
                  </>
                )}
              </>
            }
          />
        </ListItem>
      );
    })}
  </List>
);
