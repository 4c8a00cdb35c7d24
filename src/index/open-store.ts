import type { Logger } from '../log.js';
import { IndexStore } from './index-store.js';
import { PostgresRegionStore } from './postgres-store.js';
import { isPostgresLocation, type RegionStore } from './region-store.js';

/**
 * Opens the index at `location` for writing: a `postgres://` URL is the cluster's shared index, anything else a data
 * directory of the embedded engine. `dim` is the detector's descriptor length (an index of another one is refused).
 */
export function openRegionStore(location: string, options: { dim: number; writer: string; logger?: Logger }): Promise<RegionStore> {
  return isPostgresLocation(location) ? PostgresRegionStore.open(location, { dim: options.dim, logger: options.logger }) : IndexStore.open(location, options);
}

/**
 * Opens an index that exists already: a cluster index (readers and writers alike), or a data directory, to read it
 * or, with `writer`, as its one writer (a command that deletes).
 */
export function openExistingRegionStore(location: string, options: { writer?: string } = {}): Promise<RegionStore> {
  if (isPostgresLocation(location)) return PostgresRegionStore.open(location, { create: false });
  return options.writer ? IndexStore.open(location, { writer: options.writer }) : IndexStore.open(location, { access: 'read' });
}
