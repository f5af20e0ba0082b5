import { Knex } from 'knex';
import type { ApprovalContext } from './ApprovalPolicy';

/** One user's recorded decision on a promotion. */
export interface ApprovalRow {
  approver: string;
  decision: 'approved' | 'rejected';
  comment: string | null;
  decidedAt: string;
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    /UNIQUE constraint failed|duplicate key/i.test(e?.message ?? '')
  );
}

/**
 * The approvals of promotions: what each awaiting promotion needs (two columns of its row) and
 * each user's decision (`promotion_approvals`, one row per user and promotion). Every move of a
 * promotion out of `awaiting-approval` is a conditional update, so of concurrent approvers,
 * rejecters and replicas exactly one moves it.
 */
export class ApprovalStore {
  constructor(private readonly knex: Knex) {}

  /** What an approval-gated promotion needs; undefined for a promotion that needs no approvals. */
  async requirement(
    id: string,
  ): Promise<{ required: number; context: ApprovalContext } | undefined> {
    const row = await this.knex('promotion_promotions')
      .where({ id })
      .first('required_approvals', 'approval_context');
    if (
      !row ||
      row.required_approvals === null ||
      row.required_approvals === undefined
    ) {
      return undefined;
    }
    return {
      required: Number(row.required_approvals),
      context: row.approval_context
        ? JSON.parse(row.approval_context)
        : { owners: [], authors: {}, source: '' },
    };
  }

  async decisions(id: string): Promise<ApprovalRow[]> {
    const rows = await this.knex('promotion_approvals')
      .where({ promotion_id: id })
      .orderBy([
        { column: 'decided_at', order: 'asc' },
        { column: 'approver', order: 'asc' },
      ]);
    return rows.map(r => ({
      approver: r.approver,
      decision: r.decision,
      comment: r.comment ?? null,
      decidedAt: new Date(r.decided_at).toISOString(),
    }));
  }

  /**
   * Records a decision; when the user decided already, nothing changes and their earlier
   * decision comes back (`created: false`).
   */
  async decide(
    id: string,
    approver: string,
    decision: 'approved' | 'rejected',
    comment: string | null,
  ): Promise<{ created: boolean; row: ApprovalRow }> {
    const decidedAt = new Date();
    try {
      await this.knex('promotion_approvals').insert({
        promotion_id: id,
        approver,
        decision,
        comment,
        decided_at: decidedAt,
      });
      return {
        created: true,
        row: {
          approver,
          decision,
          comment,
          decidedAt: decidedAt.toISOString(),
        },
      };
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const existing = (await this.decisions(id)).find(
        d => d.approver === approver,
      );
      if (!existing) throw error;
      return { created: false, row: existing };
    }
  }

  /** Removes a user's decision; false when there was none. */
  async withdraw(id: string, approver: string): Promise<boolean> {
    const deleted = await this.knex('promotion_approvals')
      .where({ promotion_id: id, approver })
      .delete();
    return deleted > 0;
  }

  /**
   * Moves an awaiting promotion on: its approval step done with `detail`, its status `running`.
   * False when it no longer awaits approvals (someone else moved it first).
   */
  async claim(id: string, detail: string): Promise<boolean> {
    return this.knex.transaction(async trx => {
      const now = new Date();
      const updated = await trx('promotion_promotions')
        .where({ id, status: 'awaiting-approval' })
        .update({ status: 'running', updated_at: now });
      if (updated === 0) return false;
      await trx('promotion_steps')
        .where({ promotion_id: id, name: 'approval' })
        .update({
          status: 'succeeded',
          detail,
          started_at: now,
          finished_at: now,
        });
      return true;
    });
  }

  /** Ends an awaiting promotion as failed at its approval step; false when it no longer awaits. */
  async reject(id: string, detail: string): Promise<boolean> {
    return this.knex.transaction(async trx => {
      const now = new Date();
      const updated = await trx('promotion_promotions')
        .where({ id, status: 'awaiting-approval' })
        .update({ status: 'failed', error: detail, updated_at: now });
      if (updated === 0) return false;
      await trx('promotion_steps')
        .where({ promotion_id: id, name: 'approval' })
        .update({
          status: 'failed',
          detail,
          started_at: now,
          finished_at: now,
        });
      return true;
    });
  }

  /** Promotions awaiting approvals, oldest first (for the sweep that carries on complete ones). */
  async listAwaiting(
    limit = 100,
  ): Promise<Array<{ id: string; entityRef: string }>> {
    const rows = await this.knex('promotion_promotions')
      .where({ status: 'awaiting-approval' })
      .orderBy('created_at')
      .limit(limit)
      .select('id', 'entity_ref');
    return rows.map(r => ({ id: r.id, entityRef: r.entity_ref }));
  }
}
