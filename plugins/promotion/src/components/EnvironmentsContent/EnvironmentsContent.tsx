import {
  Content,
  InfoCard,
  Progress,
  ResponseErrorPanel,
  StructuredMetadataTable,
} from '@backstage/core-components';
import Chip from '@material-ui/core/Chip';
import Grid from '@material-ui/core/Grid';
import Typography from '@material-ui/core/Typography';
import { usePromotionOverview } from '../usePromotionOverview';
import { triggerLabel } from '../triggerLabel';

/**
 * The Environments tab: one lane per environment in promotion order, and where this service's
 * source, artifacts and deployments live.
 *
 * @public
 */
export const EnvironmentsContent = () => {
  const { value, loading, error } = usePromotionOverview();
  if (loading) {
    return <Progress />;
  }
  if (error || !value) {
    return <ResponseErrorPanel error={error ?? new Error('No data')} />;
  }
  const { environments, target } = value;
  return (
    <Content>
      <Grid container spacing={3}>
        {environments.map((environment, index) => (
          <Grid item xs={12} md={4} key={environment.name}>
            <InfoCard
              title={environment.name}
              subheader={
                index === 0
                  ? 'first environment'
                  : `promoted from ${environments[index - 1].name}`
              }
            >
              <Typography variant="body2" component="p">
                Deployed by {triggerLabel(environment.trigger)}.
              </Typography>
              {environment.production && (
                <Chip size="small" label="production" color="secondary" />
              )}
            </InfoCard>
          </Grid>
        ))}
        <Grid item xs={12}>
          <InfoCard title="Release settings">
            <StructuredMetadataTable
              metadata={{
                'Source repository': target.sourceRepo,
                Artifact: `${
                  target.artifactKind === 'image'
                    ? 'container image'
                    : 'Serverless package'
                } in ${target.artifactLocation}`,
                ...(target.manifestRepo
                  ? {
                      'Manifest repository': `${target.manifestRepo}: ${target.manifestPath}`,
                    }
                  : {}),
                ...(target.serverlessService
                  ? { 'Serverless service': target.serverlessService }
                  : {}),
                Versioning: target.versioning,
              }}
            />
          </InfoCard>
        </Grid>
      </Grid>
    </Content>
  );
};
