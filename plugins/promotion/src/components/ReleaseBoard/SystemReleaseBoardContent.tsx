import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import { ReleaseBoard } from './ReleaseBoard';

/** The release board of the System entity being viewed: its services only. */
export const SystemReleaseBoardContent = () => {
  const { entity } = useEntity();
  return <ReleaseBoard system={stringifyEntityRef(entity)} />;
};
