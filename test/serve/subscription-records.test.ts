/**
 * Where persisted subscriptions are kept, behind one contract: the embedded service's JSON file and a cluster's
 * PostgreSQL table (PGlite over the wire protocol here). Then hubs sharing records, as a cluster's API replicas do:
 * a persisted subscription made on one joins the others at their next refresh, and leaves them when removed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresSubscriptionRecords } from '../../src/cluster/postgres-subscriptions.js';
import { createLogger } from '../../src/log.js';
import { JsonSubscriptionRecords, type SavedSubscription, type SubscriptionRecords } from '../../src/serve/subscription-records.js';
import { SubscriptionHub, type SubscriptionParams } from '../../src/serve/subscriptions.js';
import { deferred } from '../support/deferred.js';
import { startTestPostgres, type TestPostgres } from '../support/test-postgres.js';
import { mulberry32, randomUnitVector } from '../support/random.js';

const DIM = 16;
let server: TestPostgres;
const dirs: string[] = [];

beforeAll(async () => {
  server = await startTestPostgres();
}, 60_000);

afterAll(async () => {
  await server?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function temporaryDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-records-'));
  dirs.push(dir);
  return dir;
}

function saved(id: string, seed: number, createdAt: number): SavedSubscription {
  return { id, vector: randomUnitVector(mulberry32(seed), DIM), threshold: 0.7 + seed / 100, streams: seed % 2 ? [seed, 9] : null, updates: seed % 2 === 0, name: seed % 2 ? `object ${seed}` : null, createdAt, owner: `owner-${seed}` };
}

interface Engine {
  name: string;
  /** empty records; `reopen` gives the same records again, as a new process would */
  create(): Promise<{ records: SubscriptionRecords; reopen(): Promise<SubscriptionRecords> }>;
}

const ENGINES: Engine[] = [
  {
    name: 'JSON file',
    async create() {
      const file = join(temporaryDir(), 'subscriptions.json');
      return { records: new JsonSubscriptionRecords(file), reopen: async () => new JsonSubscriptionRecords(file) };
    },
  },
  {
    name: 'PostgreSQL',
    async create() {
      await server.query('DROP TABLE IF EXISTS dasr_subscriptions');
      return { records: await PostgresSubscriptionRecords.open(server.url), reopen: () => PostgresSubscriptionRecords.open(server.url) };
    },
  },
];

describe.each(ENGINES)('subscription records: $name', (engine) => {
  it('keeps what was saved exactly, oldest first, replaces by id, removes, and gives it back when reopened', async () => {
    const { records, reopen } = await engine.create();
    expect(await records.load()).toEqual([]);
    const [a, b, c] = [saved('a', 1, 300), saved('b', 2, 100), saved('c', 3, 200)];
    for (const s of [a, b, c]) await records.save(s);
    expect((await records.ids()).sort()).toEqual(['a', 'b', 'c']);
    expect(await records.load()).toEqual([b, c, a]);
    expect(await records.load(['a', 'c', 'missing'])).toEqual([c, a]);
    const changed = { ...c, threshold: 0.5, streams: [4], name: 'renamed' };
    await records.save(changed);
    await records.remove('b');
    await records.remove('never-saved');
    expect(await records.load()).toEqual([changed, a]);
    await records.close();
    const again = await reopen();
    expect(await again.load()).toEqual([changed, a]);
    // the descriptor bit for bit
    expect(Buffer.from((await again.load(['a']))[0]!.vector.buffer)).toEqual(Buffer.from(a.vector.buffer));
    await again.close();
  });
});

describe('hubs sharing records (API replicas of a cluster)', () => {
  const params = (seed: number, persist: boolean): SubscriptionParams => ({ vector: randomUnitVector(mulberry32(seed), DIM), threshold: 0.8, streams: null, updates: false, persist, name: `s${seed}`, owner: 'admin' });
  const open = async (records: SubscriptionRecords): Promise<SubscriptionHub> => {
    return SubscriptionHub.open({ dataDir: temporaryDir(), records, dim: DIM, queueCapacity: 8, logger: createLogger('error') });
  };

  it('a persisted subscription joins the other hubs at their refresh and leaves them when removed; others stay local', async () => {
    await server.query('DROP TABLE IF EXISTS dasr_subscriptions');
    const [recordsA, recordsB] = [await PostgresSubscriptionRecords.open(server.url), await PostgresSubscriptionRecords.open(server.url)];
    const [a, b] = [await open(recordsA), await open(recordsB)];
    const persisted = await a.create(params(1, true));
    const local = await a.create(params(2, false));
    expect(b.get(persisted.id)).toBeUndefined();
    await b.refresh();
    expect(b.get(persisted.id)).toMatchObject({ id: persisted.id, name: 's1', persist: true, attached: false, threshold: 0.8 });
    expect(b.get(local.id)).toBeUndefined();
    // a hub opened later holds it from the start
    const c = await open(recordsB);
    expect(c.get(persisted.id)).toMatchObject({ id: persisted.id });

    const told: string[] = [];
    expect(b.attach(persisted.id, () => undefined, () => told.push('b'))).toBe(true);
    expect(await a.remove(persisted.id)).toBe(true);
    expect(a.get(persisted.id)).toBeUndefined();
    await b.refresh();
    expect(b.get(persisted.id)).toBeUndefined();
    expect(told).toEqual(['b']);
    await Promise.all([recordsA.close(), recordsB.close()]);
  });

  it('a refresh that read the records before a change made here neither drops a new subscription nor brings a removed one back', async () => {
    const inner = new JsonSubscriptionRecords(join(temporaryDir(), 'subscriptions.json'));
    const reading = deferred<string[]>();
    let hold = false;
    // ids() answers with what the records held when it was asked, but only when the test says so
    const records: SubscriptionRecords = {
      ids: async () => {
        const ids = await inner.ids();
        if (!hold) return ids;
        await reading.promise;
        return ids;
      },
      load: (ids) => inner.load(ids),
      save: (s) => inner.save(s),
      remove: (id) => inner.remove(id),
      close: () => inner.close(),
    };
    const hub = await open(records);
    const old = await hub.create(params(3, true));
    hold = true;
    const refreshing = hub.refresh();
    const created = await hub.create(params(4, true));
    expect(await hub.remove(old.id)).toBe(true);
    reading.resolve([]);
    await refreshing;
    hold = false;
    expect(hub.get(created.id)).toMatchObject({ id: created.id });
    expect(hub.get(old.id)).toBeUndefined();
    await hub.refresh();
    expect([hub.get(created.id)?.id, hub.get(old.id)]).toEqual([created.id, undefined]);
  });

  it('a subscription removed while it is being saved is not saved after all', async () => {
    const inner = new JsonSubscriptionRecords(join(temporaryDir(), 'subscriptions.json'));
    const saving = deferred();
    const records: SubscriptionRecords = {
      ids: () => inner.ids(),
      load: (ids) => inner.load(ids),
      save: async (s) => {
        await saving.promise;
        await inner.save(s);
      },
      remove: (id) => inner.remove(id),
      close: () => inner.close(),
    };
    const hub = await open(records);
    const creating = hub.create(params(5, true));
    const [id] = hub.list({ owner: 'admin', role: 'admin' }).map((s) => s.id);
    expect(await hub.remove(id!)).toBe(true);
    saving.resolve();
    await expect(creating).rejects.toThrow(/was removed while it was being made/);
    expect(await inner.ids()).toEqual([]);
  });
});
