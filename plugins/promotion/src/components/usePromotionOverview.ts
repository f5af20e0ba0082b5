import { getCompoundEntityRef } from '@backstage/catalog-model';
import { useApi } from '@backstage/core-plugin-api';
import { useEntity } from '@backstage/plugin-catalog-react';
import useAsync from 'react-use/esm/useAsync';
import { promotionApiRef } from '../api';

/** The configured environments and the current entity's promotion settings, loaded together. */
export function usePromotionOverview() {
  const { entity } = useEntity();
  const api = useApi(promotionApiRef);
  return useAsync(async () => {
    const ref = getCompoundEntityRef(entity);
    const [environments, target] = await Promise.all([
      api.listEnvironments(),
      api.getPromotionTarget(ref),
    ]);
    return { environments, target };
  }, [api, entity]);
}
