import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import List from '@material-ui/core/List';
import ListItem from '@material-ui/core/ListItem';
import ListItemText from '@material-ui/core/ListItemText';
import { usePromotionOverview } from '../usePromotionOverview';
import { triggerLabel } from '../triggerLabel';

/**
 * A compact view of the environments for the entity overview page.
 *
 * @public
 */
export const EnvironmentsCard = () => {
  const { value, loading, error } = usePromotionOverview();
  return (
    <InfoCard title="Environments">
      {loading && <Progress />}
      {error && <ResponseErrorPanel error={error} />}
      {value && (
        <List dense>
          {value.environments.map(environment => (
            <ListItem key={environment.name}>
              <ListItemText
                primary={environment.name}
                secondary={triggerLabel(environment.trigger)}
              />
            </ListItem>
          ))}
        </List>
      )}
    </InfoCard>
  );
};
