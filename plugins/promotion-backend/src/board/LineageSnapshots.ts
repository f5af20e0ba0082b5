import { Knex } from 'knex';
import { Lineage } from '../lineage/types';

const TABLE = 'promotion_lineage_snapshots';
/** Rows per statement (SQLite allows 999 bound values; five columns each). */
const CHUNK = 100;
/** Lineages read within this long are written together. */
const FLUSH_DELAY_MS = 500;

/** One service's last lineage read, and when it was read. */
export interface LineageSnapshot {
  lineage: Lineage;
  takenAt: string;
  /** The cache generation it was read under: another one means it is known to be outdated. */
  generation: string;
}

/**
 * The last lineage read of every service (per branch and page size) in the plugin's database,
 * so that a board is served at once, marked with its age, when the cached lineage is gone (a
 * restarted replica, an expired entry) while the warmer reads it afresh. Lineages read from
 * upstream are recorded as they come and written in batches.
 */
export class LineageSnapshots {
  private readonly pending = new Map<
    string,
    {
      entity_ref: string;
      branch: string;
      page_limit: number;
      generation: string;
      lineage: string;
      taken_at: Date;
    }
  >();
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly knex: Knex,
    private readonly options: { onError?: (error: unknown) => void } = {},
  ) {}

  /** Keeps `lineage` as the entity's snapshot (written within half a second). */
  record(
    entityRef: string,
    request: { branch: string; limit: number; generation: string },
    lineage: Lineage,
  ): void {
    this.pending.set(
      `${entityRef}\u0000${request.branch}\u0000${request.limit}`,
      {
        entity_ref: entityRef,
        branch: request.branch,
        page_limit: request.limit,
        generation: request.generation,
        lineage: JSON.stringify(lineage),
        taken_at: new Date(),
      },
    );
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush().catch(error => this.options.onError?.(error));
      }, FLUSH_DELAY_MS);
      this.timer.unref?.();
    }
  }

  /** Writes what was recorded so far. */
  async flush(): Promise<void> {
    if (this.flushing) await this.flushing.catch(() => undefined);
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    this.pending.clear();
    this.flushing = (async () => {
      for (let i = 0; i < rows.length; i += CHUNK) {
        await this.knex(TABLE)
          .insert(rows.slice(i, i + CHUNK))
          .onConflict(['entity_ref', 'branch', 'page_limit'])
          .merge(['generation', 'lineage', 'taken_at']);
      }
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  /** The snapshots of `entityRefs` there are, by entity ref. */
  async read(
    entityRefs: string[],
    request: { branch: string; limit: number },
  ): Promise<Map<string, LineageSnapshot>> {
    const found = new Map<string, LineageSnapshot>();
    for (let i = 0; i < entityRefs.length; i += 500) {
      const rows: Array<{
        entity_ref: string;
        generation: string;
        lineage: string;
        taken_at: Date | string | number;
      }> = await this.knex(TABLE)
        .select('entity_ref', 'generation', 'lineage', 'taken_at')
        .where({ branch: request.branch, page_limit: request.limit })
        .whereIn('entity_ref', entityRefs.slice(i, i + 500));
      for (const row of rows) {
        found.set(row.entity_ref, {
          lineage: JSON.parse(row.lineage),
          generation: row.generation,
          takenAt: new Date(row.taken_at).toISOString(),
        });
      }
    }
    return found;
  }

  /**
   * When each snapshot of `request` was taken and under which generation, by entity ref (no
   * lineage bodies read).
   */
  async ages(request: {
    branch: string;
    limit: number;
  }): Promise<Map<string, { takenAt: number; generation: string }>> {
    const rows: Array<{
      entity_ref: string;
      generation: string;
      taken_at: Date | string | number;
    }> = await this.knex(TABLE)
      .select('entity_ref', 'generation', 'taken_at')
      .where({ branch: request.branch, page_limit: request.limit });
    return new Map(
      rows.map(r => [
        r.entity_ref,
        { takenAt: new Date(r.taken_at).getTime(), generation: r.generation },
      ]),
    );
  }
}
