import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { PromotionStore } from './PromotionStore';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

const config = {
  directory: resolvePackagePath(
    '@mainline/plugin-promotion-backend',
    'migrations',
  ),
  tableName: 'promotion__knex_migrations',
};

const at = (iso: string) => new Date(iso);
const promotionId = '00000000-0000-4000-8000-000000000001';

/**
 * Rows written after each migration, in the shape that migration leaves the tables, and what
 * the migration itself must have done to the rows before it. A migration without an entry here
 * is still walked up and down with the earlier rows in place.
 */
const afterUp: Record<string, (knex: Knex) => Promise<void>> = {
  '20261123000000_yanks.js': async knex => {
    await knex('promotion_yanks').insert({
      entity_ref: 'component:default/checkout',
      sha: 'a'.repeat(40),
      yanked_by: 'user:default/ada',
      reason: 'leaks a secret',
      yanked_at: at('2026-11-23T10:00:00Z'),
    });
  },
  '20261123010000_promotions.js': async knex => {
    await knex('promotion_promotions').insert({
      id: promotionId,
      entity_ref: 'component:default/checkout',
      kind: 'promotion',
      environment: 'demo',
      sha: 'b'.repeat(40),
      tag: 'rc-1',
      version: 'rc-1',
      status: 'running',
      idempotency_key: 'key-1',
      request_hash: 'hash',
      requested_by: 'user:default/ada',
      error: null,
      created_at: at('2026-11-23T11:00:00Z'),
      updated_at: at('2026-11-23T11:00:00Z'),
    });
    await knex('promotion_steps').insert([
      {
        promotion_id: promotionId,
        position: 0,
        name: 'checks',
        status: 'succeeded',
      },
      {
        promotion_id: promotionId,
        position: 1,
        name: 'deploy',
        status: 'running',
      },
    ]);
    await knex('promotion_locks').insert({
      entity_ref: 'component:default/checkout',
      environment: 'demo',
      promotion_id: promotionId,
      acquired_at: at('2026-11-23T11:00:00Z'),
    });
    await knex('promotion_audit').insert({
      at: at('2026-11-23T11:00:00Z'),
      actor: 'user:default/ada',
      action: 'promote',
      entity_ref: 'component:default/checkout',
      outcome: 'succeeded',
    });
  },
  '20261124000000_step_links.js': async knex => {
    await knex('promotion_steps')
      .where({ promotion_id: promotionId, position: 1 })
      .update({ url: 'https://example.test/pull/7', pending: 'pull/7' });
  },
  '20261201000000_leases.js': async knex => {
    // A lock from before leases is held for the old stale limit from when it was taken.
    const lock = await knex('promotion_locks').first();
    expect(new Date(lock.expires_at).toISOString()).toBe(
      '2026-11-23T11:10:00.000Z',
    );
    expect(lock.owner).toBeNull();
    await knex('promotion_webhook_deliveries').insert({
      delivery_id: 'delivery-1',
      topic: 'github.pull_request',
      received_at: at('2026-12-01T00:00:00Z'),
    });
  },
  '20261201000000_tag_choice.js': async knex => {
    // Promotions from before were given their tag.
    const row = await knex('promotion_promotions')
      .where({ id: promotionId })
      .first();
    expect(Boolean(row.tag_automatic)).toBe(false);
  },
  '20261202000000_pushed_tags.js': async knex => {
    await knex('promotion_pushed_tags').insert({
      repo: 'acme/checkout',
      tag: 'rc-2',
      sha: 'c'.repeat(40),
      source: 'webhook',
      outcome: 'claimed',
      received_at: at('2026-12-02T00:00:00Z'),
    });
    await knex('promotion_tag_baselines').insert({
      repo: 'acme/checkout',
      at: at('2026-12-02T00:00:00Z'),
    });
  },
  '20261204000000_approvals.js': async knex => {
    // The status column holds the longest status (PostgreSQL enforces the length).
    await knex('promotion_promotions')
      .where({ id: promotionId })
      .update({
        status: 'awaiting-approval',
        required_approvals: 2,
        approval_context: JSON.stringify({
          owners: ['group:default/payments'],
        }),
      });
    const row = await knex('promotion_promotions')
      .where({ id: promotionId })
      .first();
    expect(row).toMatchObject({
      status: 'awaiting-approval',
      required_approvals: 2,
    });
    await knex('promotion_promotions')
      .where({ id: promotionId })
      .update({ status: 'running' });
    await knex('promotion_approvals').insert({
      promotion_id: promotionId,
      approver: 'user:default/grace',
      decision: 'approved',
      comment: null,
      decided_at: at('2026-12-04T00:00:00Z'),
    });
    // One decision per user and promotion.
    await expect(
      knex('promotion_approvals').insert({
        promotion_id: promotionId,
        approver: 'user:default/grace',
        decision: 'rejected',
        decided_at: at('2026-12-04T00:01:00Z'),
      }),
    ).rejects.toThrow();
  },
  '20261210000000_lineage_snapshots.js': async knex => {
    await knex('promotion_lineage_snapshots').insert({
      entity_ref: 'component:default/checkout',
      branch: 'main',
      page_limit: 50,
      generation: '0123456789abcdef',
      lineage: JSON.stringify({ commits: [], environments: [] }),
      taken_at: at('2026-12-10T00:00:00Z'),
    });
  },
};

/**
 * Migrations that drop a table on purpose: its rows are gone after up, and down brings the table
 * back empty. Every other table must keep its rows both ways.
 */
const drops: Record<string, string[]> = {
  '20261203000000_drop_audit.js': ['promotion_audit'],
};

/** A snapshot with the rows of the tables whose rows are lost emptied (the tables kept). */
function withoutLost(
  state: Record<string, string[]>,
  lost: Set<string>,
): Record<string, string[]> {
  const emptied = { ...state };
  for (const table of lost) if (table in emptied) emptied[table] = [];
  return emptied;
}

async function tableNames(knex: Knex): Promise<string[]> {
  const rows: Array<{ name: string }> =
    knex.client.config.client === 'pg'
      ? await knex
          .select('tablename as name')
          .from('pg_tables')
          .where('schemaname', knex.raw('current_schema()'))
      : await knex
          .select('name')
          .from('sqlite_master')
          .where({ type: 'table' });
  return rows
    .map(r => r.name)
    .filter(n => n.startsWith('promotion_') && !n.startsWith('promotion__'))
    .sort();
}

const normalize = (value: unknown) =>
  value instanceof Date ? value.getTime() : value;

/** Every row of every plugin table, in a form that compares across one database's reads. */
async function snapshot(knex: Knex) {
  const tables: Record<string, string[]> = {};
  for (const table of await tableNames(knex)) {
    const rows = await knex(table).select();
    tables[table] = rows
      .map(row =>
        JSON.stringify(
          Object.keys(row)
            .sort()
            .map(k => [k, normalize(row[k])]),
        ),
      )
      .sort();
  }
  return tables;
}

/** Whether every row of `before` is still in `after`, with the values of its columns then. */
function survives(
  before: Record<string, string[]>,
  after: Record<string, string[]>,
) {
  for (const [table, rows] of Object.entries(before)) {
    expect(after[table]).toBeDefined();
    const kept = after[table].map(r => Object.fromEntries(JSON.parse(r)));
    for (const row of rows) {
      const old = Object.fromEntries(JSON.parse(row));
      expect(kept).toContainEqual(expect.objectContaining(old));
    }
  }
}

describe.each(databases.eachSupportedId())('migrations on %s', databaseId => {
  it('go up one by one keeping the rows, come down one by one back to each earlier state, and go up again', async () => {
    const knex = await databases.init(databaseId);
    const [, pending]: [unknown, Array<{ file: string }>] =
      await knex.migrate.list(config);
    const names = pending.map(m => m.file);
    expect(names.length).toBeGreaterThan(0);
    for (const name of Object.keys(afterUp)) expect(names).toContain(name);

    // Up: before each migration, the state it starts from; after it, every row still there.
    const states: Array<Record<string, string[]>> = [];
    for (const name of names) {
      const before = await snapshot(knex);
      states.push(before);
      await knex.migrate.up({ ...config, name });
      const kept = Object.fromEntries(
        Object.entries(before).filter(([t]) => !drops[name]?.includes(t)),
      );
      survives(kept, await snapshot(knex));
      await afterUp[name]?.(knex);
    }

    // Down: each migration undone gives back exactly the tables and rows it started from, but
    // for the rows a dropping migration discarded, which stay lost below it.
    const lost = new Set<string>();
    for (const name of [...names].reverse()) {
      const [completed]: [Array<{ name: string }>] = await knex.migrate.list(
        config,
      );
      expect(completed.map(m => m.name).at(-1)).toBe(name);
      await knex.migrate.down(config);
      for (const table of drops[name] ?? []) lost.add(table);
      expect(await snapshot(knex)).toEqual(withoutLost(states.pop()!, lost));
    }
    expect(await tableNames(knex)).toEqual([]);

    // Up again from nothing, and the store works on the result.
    await knex.migrate.latest(config);
    const store = new PromotionStore(knex);
    const { created } = await store.create(
      {
        id: promotionId,
        entityRef: 'component:default/checkout',
        kind: 'promotion',
        environment: 'demo',
        sha: 'b'.repeat(40),
        tag: 'rc-1',
        version: 'rc-1',
        tagAutomatic: true,
        idempotencyKey: null,
        requestHash: 'hash',
        requestedBy: 'user:default/ada',
      },
      [{ name: 'checks', status: 'succeeded', detail: 'passed' }],
    );
    expect(created).toBe(true);
    await store.acquireLock('component:default/checkout', 'demo', promotionId);
  });
});
