import { useEffect, useReducer } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import { CompoundEntityRef } from '@backstage/catalog-model';
import {
  Comparison,
  ComponentOutcome,
  PromoteRequest,
  PromotionPlan,
} from '@mainline/plugin-promotion-common';
import { promotionApiRef } from '../api';

/** How long typing settles before the dry run is asked again. */
export const PLAN_DEBOUNCE_MS = 300;

/** The dry run of a promotion, and of the repository-wide release when one is asked. */
export interface PromotionPlanState {
  plan?: PromotionPlan;
  /** Why the dry run was refused; its `checks` are read with `refusedChecks`. */
  planError?: Error;
  /** The commits the promotion brings to the environment (absent when they could not be read). */
  comparison?: Comparison;
  /** Each component's outcome of the repository-wide dry run. */
  repositoryPlan?: ComponentOutcome[];
  repositoryPlanError?: Error;
}

type Action =
  | { type: 'planned'; plan: PromotionPlan; comparison?: Comparison }
  | { type: 'planFailed'; error: Error }
  | { type: 'repositoryPlanned'; components: ComponentOutcome[] }
  | { type: 'repositoryPlanFailed'; error: Error };

function reduce(state: PromotionPlanState, action: Action): PromotionPlanState {
  switch (action.type) {
    case 'planned':
      return {
        ...state,
        plan: action.plan,
        planError: undefined,
        comparison: action.comparison,
      };
    case 'planFailed':
      // The comparison of the last plan stays: it still describes the commits on screen.
      return { ...state, plan: undefined, planError: action.error };
    case 'repositoryPlanned':
      return {
        ...state,
        repositoryPlan: action.components,
        repositoryPlanError: undefined,
      };
    case 'repositoryPlanFailed':
      return {
        ...state,
        repositoryPlan: undefined,
        repositoryPlanError: action.error,
      };
    default:
      return state;
  }
}

/**
 * Asks the backend for the dry run of `request` whenever it changes (after a short debounce), with
 * the commits it brings; with `repository`, also the repository-wide dry run. `request` undefined
 * (e.g. while the tag typed is invalid) keeps the last answer. Answers to superseded requests are
 * dropped.
 */
export function usePromotionPlan(
  entity: CompoundEntityRef,
  request: PromoteRequest | undefined,
  options: { repository: boolean },
): PromotionPlanState {
  const api = useApi(promotionApiRef);
  const [state, dispatch] = useReducer(reduce, {});
  const environment = request?.environment;
  const sha = request?.sha;
  const tag = request?.tag;
  const { repository } = options;

  useEffect(() => {
    if (environment === undefined || sha === undefined) return undefined;
    let cancelled = false;
    const timer = setTimeout(() => {
      const asked = { environment, sha, tag };
      if (repository) {
        api.promoteRepository(entity, { ...asked, dryRun: true }).then(
          next => {
            if (!cancelled)
              dispatch({
                type: 'repositoryPlanned',
                components: next.components,
              });
          },
          error => {
            if (!cancelled) dispatch({ type: 'repositoryPlanFailed', error });
          },
        );
      }
      Promise.all([
        api.planPromotion(entity, asked),
        api.compare(entity, environment, sha).catch(() => undefined),
      ]).then(
        ([plan, comparison]) => {
          if (!cancelled) dispatch({ type: 'planned', plan, comparison });
        },
        error => {
          if (!cancelled) dispatch({ type: 'planFailed', error });
        },
      );
    }, PLAN_DEBOUNCE_MS);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [api, entity, environment, sha, tag, repository]);

  return state;
}
