import { useCallback, useEffect, useRef, useState } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import {
  CompoundEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { useSignal } from '@backstage/plugin-signals-react';
import { Promotion } from '@mainline/plugin-promotion-common';
import { promotionApiRef } from '../api';

/** How often the running promotion is read when no signals reach the page. */
export const PROGRESS_POLL_MS = 2_000;
/** Enough of the newest promotions to find one that has just started. */
const RECENT = 10;

/**
 * The running promotion of `watch` (an environment and a commit) while it runs, so that its steps
 * show as they are recorded: read again whenever the backend signals a change of the entity
 * (channel `promotion:<entity ref>`), and only without signals every few seconds. `watch`
 * undefined stops reading and keeps the last promotion seen.
 */
export function usePromotionProgress(
  entity: CompoundEntityRef,
  watch: { environment: string; sha: string } | undefined,
): Promotion | undefined {
  const api = useApi(promotionApiRef);
  const [running, setRunning] = useState<Promotion>();
  const { lastSignal, isSignalsAvailable } = useSignal(
    `promotion:${stringifyEntityRef(entity)}`,
  );
  const environment = watch?.environment;
  const sha = watch?.sha;

  const read = useCallback(async () => {
    if (environment === undefined || sha === undefined) return;
    const items = await api
      .listPromotions(entity, { limit: RECENT })
      .catch(() => []);
    const live = items.find(
      p =>
        p.environment === environment &&
        p.sha.startsWith(sha) &&
        p.status === 'running',
    );
    if (live) setRunning(live);
  }, [api, entity, environment, sha]);

  // Each new signal reads once while watching; a signal from before the watch is not read again.
  const readOnSignal = useRef(read);
  readOnSignal.current = read;
  useEffect(() => {
    if (lastSignal) readOnSignal.current();
  }, [lastSignal]);

  useEffect(() => {
    if (isSignalsAvailable || environment === undefined) return undefined;
    const timer = setInterval(read, PROGRESS_POLL_MS);
    return () => clearInterval(timer);
  }, [isSignalsAvailable, environment, read]);

  return running;
}
