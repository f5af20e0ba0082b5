import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { getCompoundEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import List from '@material-ui/core/List';
import ListItem from '@material-ui/core/ListItem';
import ListItemText from '@material-ui/core/ListItemText';
import useAsync from 'react-use/esm/useAsync';
import { promotionApiRef } from '../../api';
import { relativeTime } from '../format';

/**
 * What runs in each environment, for the entity overview page.
 *
 * @public
 */
export const EnvironmentsCard = () => {
  const { entity } = useEntity();
  const api = useApi(promotionApiRef);
  const { value, loading, error } = useAsync(
    () => api.getLineage(getCompoundEntityRef(entity), { limit: 20 }),
    [api, entity],
  );
  return (
    <InfoCard title="Environments">
      {loading && <Progress />}
      {error && <ResponseErrorPanel error={error} />}
      {value && (
        <List dense>
          {value.environments.map(environment => (
            <ListItem key={environment.name}>
              <ListItemText
                primary={`${environment.name}: ${
                  environment.current?.tag ??
                  environment.current?.version ??
                  'nothing deployed'
                }`}
                secondary={
                  environment.current
                    ? `${
                        environment.current.sha?.slice(0, 7) ?? ''
                      } · ${relativeTime(environment.current.deployedAt)}${
                        environment.behindBy
                          ? ` · ${environment.behindBy} behind`
                          : ''
                      }`
                    : undefined
                }
              />
            </ListItem>
          ))}
        </List>
      )}
    </InfoCard>
  );
};
