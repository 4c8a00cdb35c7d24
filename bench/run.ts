/** `npm run bench -- <name> [args]`: benchmarks print figures; nothing here asserts on time. */
const benches: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  model: () => import('./model.js'),
  dasr: () => import('./dasr.js'),
  localisation: () => import('./localisation.js'),
  ingest: () => import('./ingest.js'),
  search: () => import('./search.js'),
  serve: () => import('./serve.js'),
  profile: () => import('./profile.js'),
  topdown: () => import('./topdown.js'),
  windows: () => import('./windows.js'),
  'ingest-long': () => import('./ingest-long.js'),
  still: () => import('./still.js'),
  matching: () => import('./matching.js'),
  'vector-save': () => import('./vector-save.js'),
  cluster: () => import('./cluster.js'),
  'cluster-storage': () => import('./cluster-storage.js'),
  'cluster-index': () => import('./cluster-index.js'),
};

const [name, ...args] = process.argv.slice(2);
const load = name ? benches[name] : undefined;
if (!load) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [args]\n`);
  process.exit(2);
}
await (await load()).run(args);
