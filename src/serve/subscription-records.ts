/**
 * Where persisted subscriptions are kept: a JSON file of the data directory (one service), or a table of the cluster's
 * PostgreSQL (src/cluster/postgres-subscriptions.ts), which every API replica reads.
 */
import { float32FromLEBytes, float32ToLEBytes } from '../util/float32-bytes.js';
import { ADMIN_OWNER } from './auth.js';
import { readJsonFile, writeJsonAtomic } from './json-file.js';

export interface SavedSubscription {
  id: string;
  vector: Float32Array;
  threshold: number;
  streams: number[] | null;
  updates: boolean;
  name: string | null;
  createdAt: number;
  owner: string;
}

export interface SubscriptionRecords {
  /** the ids of every persisted subscription (cheap: what a replica polls) */
  ids(): Promise<string[]>;
  /** the persisted subscriptions (those of `ids` only, when given), oldest first */
  load(ids?: readonly string[]): Promise<SavedSubscription[]>;
  /** durable when it resolves */
  save(subscription: SavedSubscription): Promise<void>;
  remove(id: string): Promise<void>;
  close(): Promise<void>;
}

interface FileEntry {
  id: string;
  /** float32 little-endian, base64 */
  vector: string;
  threshold: number;
  streams: number[] | null;
  updates: boolean;
  name: string | null;
  createdAt: number;
  /** absent in files written before subscriptions had owners: the administrator's */
  owner?: string;
}

/** The embedded service's records: the whole list rewritten atomically on each change. */
export class JsonSubscriptionRecords implements SubscriptionRecords {
  private entries: FileEntry[] | null = null;

  constructor(private readonly file: string) {}

  async ids(): Promise<string[]> {
    return this.read().map((entry) => entry.id);
  }

  async load(ids?: readonly string[]): Promise<SavedSubscription[]> {
    const wanted = ids ? new Set(ids) : null;
    return this.read()
      .filter((entry) => !wanted || wanted.has(entry.id))
      .sort((x, y) => x.createdAt - y.createdAt || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
      .map((entry) => ({ ...entry, vector: float32FromLEBytes(Buffer.from(entry.vector, 'base64')), owner: entry.owner ?? ADMIN_OWNER }));
  }

  async save(subscription: SavedSubscription): Promise<void> {
    const entry: FileEntry = { ...subscription, vector: float32ToLEBytes(subscription.vector).toString('base64') };
    this.write([...this.read().filter((e) => e.id !== subscription.id), entry]);
  }

  async remove(id: string): Promise<void> {
    const entries = this.read();
    if (entries.some((e) => e.id === id)) this.write(entries.filter((e) => e.id !== id));
  }

  async close(): Promise<void> {}

  private read(): FileEntry[] {
    this.entries ??= readJsonFile<{ subscriptions: FileEntry[] }>(this.file, { subscriptions: [] }).subscriptions;
    return this.entries;
  }

  private write(entries: FileEntry[]): void {
    writeJsonAtomic(this.file, { subscriptions: entries });
    this.entries = entries;
  }
}
