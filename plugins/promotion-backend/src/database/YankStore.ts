import { Knex } from 'knex';
import type { PreparedYank } from '@mainline/plugin-promotion-node';
import type { YankRecords } from './PromotionDatabase';

/** A yanked commit's tombstone: the API's `Yank` and the entity it belongs to. */
export type Yank = PreparedYank;

interface YankRow {
  entity_ref: string;
  sha: string;
  yanked_by: string;
  reason: string;
  yanked_at: string | Date;
}

/** Tombstones of yanked commits, in the plugin's own table. */
export class YankStore implements YankRecords {
  constructor(private readonly knex: Knex) {}

  async listForEntity(entityRef: string): Promise<Yank[]> {
    const rows = await this.knex<YankRow>('promotion_yanks')
      .where({ entity_ref: entityRef })
      .orderBy('yanked_at', 'desc');
    return rows.map(row => ({
      entityRef: row.entity_ref,
      sha: row.sha,
      yankedBy: row.yanked_by,
      reason: row.reason,
      yankedAt: new Date(row.yanked_at).toISOString(),
    }));
  }

  /** The tombstones of several entities in one query (the board's runtime batch), by entity. */
  async listForEntities(entityRefs: string[]): Promise<Map<string, Yank[]>> {
    const found = new Map<string, Yank[]>(entityRefs.map(ref => [ref, []]));
    // Within SQLite's bound-parameter limit per statement.
    for (let i = 0; i < entityRefs.length; i += 500) {
      const rows = await this.knex<YankRow>('promotion_yanks')
        .whereIn('entity_ref', entityRefs.slice(i, i + 500))
        .orderBy('yanked_at', 'desc');
      for (const row of rows) {
        found.get(row.entity_ref)?.push({
          entityRef: row.entity_ref,
          sha: row.sha,
          yankedBy: row.yanked_by,
          reason: row.reason,
          yankedAt: new Date(row.yanked_at).toISOString(),
        });
      }
    }
    return found;
  }

  /** Records a tombstone; recording the same commit again keeps the first one. */
  async record(yank: Yank): Promise<void> {
    await this.knex<YankRow>('promotion_yanks')
      .insert({
        entity_ref: yank.entityRef,
        sha: yank.sha,
        yanked_by: yank.yankedBy,
        reason: yank.reason,
        yanked_at: new Date(yank.yankedAt),
      })
      .onConflict(['entity_ref', 'sha'])
      .ignore();
  }
}
