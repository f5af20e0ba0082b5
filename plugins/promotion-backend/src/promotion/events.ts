import {
  AuditorService,
  AuditorServiceEvent,
  AuditorServiceEventSeverityLevel,
  LoggerService,
} from '@backstage/backend-plugin-api';
import { stringifyError } from '@backstage/errors';
import { JsonObject } from '@backstage/types';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { SignalsService } from '@backstage/plugin-signals-node';
import { PromotionRecord } from '../database/PromotionStore';
import { LineageService } from '../lineage/LineageService';
import { EntityContext, WriteContext } from './types';

/** Who an event is for: a request's caller, or (for background work) whoever asked originally. */
export type EventActor = Pick<WriteContext, 'actor'> &
  Partial<Pick<WriteContext, 'request'>>;

/** What the owners of an entity are told. */
export interface OwnerNotice {
  title: string;
  description: string;
  severity: 'critical' | 'high' | 'normal';
}

/** The follower and the reconciler act for whoever asked; every permission was checked then. */
export function requesterOf(record: PromotionRecord): EventActor {
  return {
    actor: {
      entityRef: record.requestedBy,
      name: record.requestedBy,
      email: '',
    },
  };
}

/** Told of every promotion's outcome (the OpenTelemetry metrics). */
export interface OutcomeMetrics {
  promotionEnded(record: PromotionRecord): void;
  promotionRefused(environment: string, kind: string, check: string): void;
}

type EventEntity = Pick<EntityContext, 'entityRef' | 'owners'> &
  Partial<Pick<EntityContext, 'target'>>;

/**
 * The one place a write tells anyone about itself: the auditor event (created with the request
 * when a request asked, so that the auditor names the user; background work, a recovery or a
 * pushed tag, names the original requester in `meta.requestedBy`), the owners' notification, the
 * signal to open tabs and the lineage cache invalidation. Telling is best-effort: a notification
 * or signal that cannot be delivered never fails or undoes a release.
 */
export class PromotionEvents {
  constructor(
    private readonly options: {
      auditor: AuditorService;
      lineage: LineageService;
      notifications?: NotificationService;
      signals?: SignalsService;
      logger: LoggerService;
      metrics?: OutcomeMetrics;
    },
  ) {}

  /** A promotion or rollback reached its end state (counted once, by whoever ended it). */
  ended(record: PromotionRecord): void {
    this.options.metrics?.promotionEnded(record);
  }

  /** A promotion or rollback was refused by `check` before anything changed. */
  refusedBy(environment: string, kind: string, check: string): void {
    this.options.metrics?.promotionRefused(environment, kind, check);
  }

  /** Starts the auditor event of a write; the caller ends it with `success` or `fail`. */
  audit(
    eventId: string,
    who: EventActor,
    options: {
      severityLevel: AuditorServiceEventSeverityLevel;
      meta: JsonObject;
    },
  ): Promise<AuditorServiceEvent> {
    return this.options.auditor.createEvent({
      eventId,
      severityLevel: options.severityLevel,
      ...(who.request ? { request: who.request } : {}),
      meta: { ...options.meta, requestedBy: who.actor.entityRef },
    });
  }

  /** A write refused before it changed anything: one failed auditor event, and the owners told. */
  async refused(
    eventId: string,
    who: EventActor,
    options: {
      severityLevel: AuditorServiceEventSeverityLevel;
      meta: JsonObject;
      error: Error;
      entity?: EventEntity;
      notice?: OwnerNotice;
    },
  ): Promise<void> {
    const event = await this.audit(eventId, who, options);
    await event.fail({ error: options.error });
    if (options.entity && options.notice) {
      await this.notify(options.entity, options.notice);
    }
  }

  /**
   * Something an entity's tabs show changed: the cached lineage goes, then the owners are told
   * (when there is something to tell) and the open tabs reload.
   */
  async changed(
    entity: EventEntity,
    environment: string | null,
    notice?: OwnerNotice,
  ): Promise<void> {
    await this.invalidate(entity);
    if (notice) await this.notify(entity, notice);
    await this.signal(entity, environment);
  }

  /** The owners are told and the open tabs reload; nothing cached changed. */
  async tell(
    entity: EventEntity,
    environment: string | null,
    notice: OwnerNotice,
  ): Promise<void> {
    await this.notify(entity, notice);
    await this.signal(entity, environment);
  }

  /**
   * A step of a running promotion was recorded: only the open tabs are told, so that its
   * progress shows step by step. Nothing is read and nothing cached changes (the lineage goes
   * when the promotion ends); the message says which step, so a tab need not guess.
   */
  async stepRecorded(
    entity: EventEntity,
    record: Pick<PromotionRecord, 'id' | 'environment'>,
    step: { name: string; status: string },
  ): Promise<void> {
    await this.signal(entity, record.environment, {
      promotionId: record.id,
      step: step.name,
      status: step.status,
    });
  }

  /** Only the cached lineage goes (the change is told later, or by someone else). */
  async invalidate(entity: EventEntity): Promise<void> {
    await this.options.lineage.invalidate(entity.entityRef, entity.target);
  }

  private async notify(entity: EventEntity, notice: OwnerNotice) {
    if (!this.options.notifications || entity.owners.length === 0) return;
    const [kind, rest] = entity.entityRef.split(':');
    const [namespace, name] = rest.split('/');
    try {
      await this.options.notifications.send({
        recipients: { type: 'entity', entityRef: entity.owners },
        payload: {
          ...notice,
          topic: 'promotion',
          link: `/catalog/${namespace}/${kind}/${name}/environments`,
        },
      });
    } catch (error) {
      // A notification that cannot be delivered must not undo or fail a release.
      this.options.logger.warn(
        `Could not notify owners of ${entity.entityRef}: ${stringifyError(
          error,
        )}`,
      );
    }
  }

  private async signal(
    entity: EventEntity,
    environment: string | null,
    extra: JsonObject = {},
  ) {
    try {
      await this.options.signals?.publish({
        recipients: { type: 'broadcast' },
        channel: `promotion:${entity.entityRef}`,
        message: { entityRef: entity.entityRef, environment, ...extra },
      });
    } catch (error) {
      this.options.logger.warn(
        `Could not signal open tabs of ${entity.entityRef}: ${stringifyError(
          error,
        )}`,
      );
    }
  }
}
