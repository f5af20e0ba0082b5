import { useEffect } from 'react';
import {
  discoveryApiRef,
  fetchApiRef,
  useApi,
} from '@backstage/core-plugin-api';
import { ResponseError } from '@backstage/errors';
import Box from '@material-ui/core/Box';
import LinearProgress from '@material-ui/core/LinearProgress';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { relativeTime } from '../format';

/** One integration's budget as `GET /v1/github/rate-budget` answers it. */
export interface RateBudgetIntegration {
  integration: string;
  reserve: number;
  backgroundDeferred: boolean;
  resources: Array<{
    resource: string;
    limit: number;
    remaining: number;
    resetAt: string;
    observedAt: string;
  }>;
}

/** How often the widget asks again: the budget moves with every request the backend makes. */
const REFRESH_MS = 60_000;

const RESOURCE_LABEL: Record<string, string> = {
  core: 'REST requests',
  graphql: 'GraphQL points',
};

/**
 * GitHub's remaining rate budget per integration, as the backend last saw it, above the release
 * board: what is left of each window, when it resets, and whether background refreshes are
 * waiting for the reset so that the reserve stays free for promotions. Shows nothing when the
 * backend uses no GitHub integration (the embedded default).
 */
export const RateBudgetCard = () => {
  const discoveryApi = useApi(discoveryApiRef);
  const fetchApi = useApi(fetchApiRef);
  const budget = useAsyncRetry(async (): Promise<RateBudgetIntegration[]> => {
    const baseUrl = await discoveryApi.getBaseUrl('promotion');
    const response = await fetchApi.fetch(`${baseUrl}/v1/github/rate-budget`);
    if (!response.ok) throw await ResponseError.fromResponse(response);
    return (await response.json()).integrations;
  }, [discoveryApi, fetchApi]);
  const { retry } = budget;
  useEffect(() => {
    const timer = setInterval(retry, REFRESH_MS);
    return () => clearInterval(timer);
  }, [retry]);

  if (budget.error && !budget.value) {
    return (
      <Box px={3} pt={2}>
        <Typography variant="caption" color="textSecondary">
          GitHub rate budget unavailable: {budget.error.message}
        </Typography>
      </Box>
    );
  }
  const integrations = budget.value ?? [];
  if (integrations.length === 0) return null;
  return (
    // Above the board's own content area, with its padding.
    <Box px={3} pt={3} display="flex" flexWrap="wrap" style={{ gap: 24 }}>
      {integrations.map(integration => (
        <Box key={integration.integration} minWidth={260}>
          <Typography variant="subtitle2">
            GitHub rate budget · {integration.integration}
          </Typography>
          {integration.resources.map(r => {
            const low = r.remaining < integration.reserve;
            return (
              <Tooltip
                key={r.resource}
                title={`Reserve for promotions: ${integration.reserve.toLocaleString(
                  'en',
                )}; seen ${relativeTime(r.observedAt)}`}
              >
                <Box
                  mt={1}
                  aria-label={`${integration.integration} ${r.resource}`}
                >
                  <Typography
                    variant="body2"
                    color={low ? 'error' : 'textPrimary'}
                  >
                    {`${
                      RESOURCE_LABEL[r.resource] ?? r.resource
                    }: ${r.remaining.toLocaleString(
                      'en',
                    )} of ${r.limit.toLocaleString(
                      'en',
                    )} left, resets ${relativeTime(r.resetAt)}`}
                  </Typography>
                  <LinearProgress
                    variant="determinate"
                    color={low ? 'secondary' : 'primary'}
                    value={r.limit > 0 ? (100 * r.remaining) / r.limit : 0}
                  />
                </Box>
              </Tooltip>
            );
          })}
          {integration.backgroundDeferred && (
            <Typography variant="caption" color="error">
              Background refreshes wait for the reset; promotions use the
              reserve.
            </Typography>
          )}
        </Box>
      ))}
    </Box>
  );
};
