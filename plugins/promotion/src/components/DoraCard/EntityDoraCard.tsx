import {
  getCompoundEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import { DoraScope } from '../../api';
import { DoraCard } from './DoraCard';

/**
 * The DORA card of the entity being viewed: a component's own figures, a System's or a Group's
 * (as owner) services added up.
 *
 * @public
 */
export const EntityDoraCard = (props: { weeks?: number }) => {
  const { entity } = useEntity();
  const kind = entity.kind.toLocaleLowerCase('en-US');
  const ref = stringifyEntityRef(entity);
  let scope: DoraScope = { entity: getCompoundEntityRef(entity) };
  if (kind === 'system') scope = { system: ref };
  if (kind === 'group') scope = { owner: ref };
  return <DoraCard scope={scope} weeks={props.weeks} />;
};
