/**
 * Device check of the DASR pipeline on GPU execution providers: equality of boxes and features with the cpu,
 * DASR keyframes/s and plain forward throughput, GPU memory. Writes device-report.json (+ a log and the raw
 * measurements) into --out.
 *
 *   run-check [run] [--providers cpu,cuda,webgpu] [--out DIR] [common options]
 *       here or anywhere: the cpu reference plus each listed provider, each in a child process of this very
 *       script (listing cpu adds a second cpu run with one thread, a cpu-vs-cpu self-check)
 *   run-check device --root /tmp/dc --out $OUT [--budget-s 300] [common options]
 *       on the GPU machine, inside the unpacked payload (scripts/device-check/pack.sh): finds the CUDA 13
 *       libraries of the Python environment, lays out the ONNX Runtime builds, runs cpu, cuda (ORT 1.29 +
 *       the asus4 CUDA 13 provider), webgpu (ORT 1.30) and the optional extra runs within the time budget
 *   run-check measure --provider P --variant V --json FILE [common options]      one run, in this process
 *   run-check report --out DIR FILE.json...                                       merge measurements
 *
 * common options: --images a.png,b.png  --long-side 512  --batches 1,4,16  --forward-batches 1,4,16
 *                 --seconds 4  --cache DIR  --threads N  --box-px 1  --min-cosine 0.9999  --in-process
 *                 --profile-runs N (ONNX Runtime profile of N DASR runs, summarised per operator)
 */
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, cpSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, hostname, totalmem, release as osRelease } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { parseDevice, type Device } from '../../src/model/session.js';
import { ensureModels } from '../../src/model/provision.js';
import { createLogger } from '../../src/log.js';
import { measure, nvidiaSmiCsv, parseGpuCsv, type MeasureOptions } from './measure.js';
import { DEFAULT_TOLERANCES, buildReport, type DeviceReport, type Measurement, type StepRecord, type Tolerances } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The project (or payload app) root: scripts/device-check/ is two levels down, in sources and compiled alike. */
const appRoot = resolve(here, '..', '..');

export const DEFAULT_IMAGES = [
  'fixtures/photos/chelsea.png',
  'fixtures/photos/coffee.png',
  'fixtures/videos/moving-object-query-scene.png',
  'fixtures/videos/moving-object-query.png',
];

interface Common {
  images: string[];
  longSide: number;
  batches: number[];
  forwardBatches: number[];
  seconds: number;
  cacheDir?: string;
  threads?: number;
  tolerances: Tolerances;
  inProcess: boolean;
  profileRuns: number;
}

interface Args {
  command: string;
  flags: Map<string, string>;
  positional: string[];
}

function parseArgs(argv: string[]): Args {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  let command = 'run';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq > 0) flags.set(arg.slice(2, eq), arg.slice(eq + 1));
      else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags.set(arg.slice(2), argv[++i]!);
      else flags.set(arg.slice(2), 'true');
    } else if (i === 0 && ['run', 'device', 'measure', 'report'].includes(arg)) command = arg;
    else positional.push(arg);
  }
  return { command, flags, positional };
}

const numbers = (value: string | undefined, fallback: number[]): number[] =>
  value === undefined ? fallback : value === '' || value === 'none' ? [] : value.split(',').map((v) => Number.parseInt(v, 10)).filter((v) => v > 0);

function common(flags: Map<string, string>, defaults: Partial<Common> = {}): Common {
  const images = (flags.get('images')?.split(',') ?? defaults.images ?? DEFAULT_IMAGES).map((p) => resolve(appRoot, p));
  const count = flags.get('image-count');
  return {
    images: count ? images.slice(0, Number.parseInt(count, 10)) : images,
    longSide: Number.parseInt(flags.get('long-side') ?? String(defaults.longSide ?? 512), 10),
    batches: numbers(flags.get('batches'), defaults.batches ?? [1, 4, 16]),
    forwardBatches: numbers(flags.get('forward-batches'), defaults.forwardBatches ?? [1, 4, 16]),
    seconds: Number.parseFloat(flags.get('seconds') ?? String(defaults.seconds ?? 4)),
    cacheDir: flags.get('cache') ?? defaults.cacheDir,
    threads: flags.has('threads') ? Number.parseInt(flags.get('threads')!, 10) : defaults.threads,
    tolerances: {
      boxPx: Number.parseFloat(flags.get('box-px') ?? String(DEFAULT_TOLERANCES.boxPx)),
      minCosine: Number.parseFloat(flags.get('min-cosine') ?? String(DEFAULT_TOLERANCES.minCosine)),
      matchIou: DEFAULT_TOLERANCES.matchIou,
    },
    inProcess: flags.get('in-process') === 'true',
    profileRuns: Number.parseInt(flags.get('profile-runs') ?? '0', 10),
  };
}

/** A run for the orchestrator: which app root (ONNX Runtime build), provider, options, environment. */
export interface Step {
  variant: string;
  provider: Device;
  role: StepRecord['role'];
  root: string;
  options: Omit<MeasureOptions, 'variant' | 'provider' | 'log'>;
  env?: NodeJS.ProcessEnv;
  timeoutS: number;
  /** skipped, with this reason, unless the function says to run it (called when its turn comes) */
  runIf?: (done: StepRecord[]) => string | null;
  /** the least time the step is worth starting with */
  minS?: number;
}

class Log {
  constructor(private readonly file: string | null) {}
  line(text: string): void {
    process.stderr.write(`${text}\n`);
    if (this.file) appendFileSync(this.file, `${text}\n`);
  }
  raw(text: string): void {
    if (this.file) appendFileSync(this.file, text);
  }
}

/** Runs one step in a child process (node + this script's `measure`, from the step's app root). */
async function runChild(step: Step, workDir: string, log: Log, remainingS: number): Promise<{ record: StepRecord; measurement?: Measurement }> {
  const name = `${step.variant}/${step.provider}`;
  const jsonFile = join(workDir, `measure-${slug(step.variant)}-${step.provider}.json`);
  rmSync(jsonFile, { force: true });
  const script = join(step.root, 'scripts', 'device-check', `run-check${extname(fileURLToPath(import.meta.url))}`);
  const o = step.options;
  const args = [
    ...process.execArgv,
    script,
    'measure',
    '--provider', step.provider,
    '--variant', step.variant,
    '--json', jsonFile,
    '--images', o.images.join(','),
    '--long-side', String(o.longSide),
    '--batches', o.batches.join(',') || 'none',
    '--forward-batches', o.forwardBatches.join(',') || 'none',
    '--seconds', String(o.seconds),
    ...(o.cacheDir ? ['--cache', o.cacheDir] : []),
    ...(o.threads !== undefined ? ['--threads', String(o.threads)] : []),
    ...(o.profileRuns ? ['--profile-runs', String(o.profileRuns)] : []),
  ];
  const timeoutS = Math.max(5, Math.min(step.timeoutS, remainingS));
  log.line(`[device-check] ── ${name} (${step.role}), timeout ${timeoutS.toFixed(0)} s`);
  const gpuBefore = nvidiaSmiCsv();
  const t0 = performance.now();
  let tail = '';
  const ortErrors: string[] = [];
  let pending = '';
  const { code, signal, timedOut } = await new Promise<{ code: number | null; signal: string | null; timedOut: boolean }>((done) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...step.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    const collect = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      process.stderr.write(text);
      log.raw(text);
      tail = (tail + text).slice(-4000);
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (/\[E:onnxruntime/.test(line) && ortErrors.length < 20) ortErrors.push(stripAnsi(line).trim().slice(0, 1000));
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (error) => {
      tail += `\nspawn failed: ${error.message}`;
    });
    child.on('close', (c, s) => {
      clearTimeout(timer);
      done({ code: c, signal: s, timedOut });
    });
  });
  const seconds = (performance.now() - t0) / 1000;
  const record: StepRecord = { variant: step.variant, provider: step.provider, role: step.role, status: 'ok', exitCode: code, signal, seconds, gpuBefore, gpuAfter: nvidiaSmiCsv() };
  if (ortErrors.length) record.ortErrors = ortErrors;
  let measurement: Measurement | undefined;
  if (existsSync(jsonFile)) {
    try {
      measurement = JSON.parse(readFileSync(jsonFile, 'utf8')) as Measurement;
    } catch (error) {
      record.why = `unreadable measurement: ${String(error)}`;
    }
  }
  if (timedOut) record.status = 'timed-out';
  else if (signal || (code !== 0 && !measurement)) record.status = 'crashed';
  else if (measurement) record.status = measurement.status;
  else record.status = 'error';
  if (record.status !== 'ok') {
    record.logTail = tail.slice(-2000);
    record.why ??= timedOut ? `killed after ${timeoutS.toFixed(0)} s` : signal ? `killed by ${signal}` : measurement?.error ?? `exit code ${code}`;
  }
  log.line(`[device-check] ── ${name}: ${record.status} in ${seconds.toFixed(1)} s${record.why ? ` (${record.why.split('\n')[0]})` : ''}`);
  return { record, measurement };
}

/** Runs the steps in order within a time budget; the report is written even when steps fail. */
export async function runPlan(steps: Step[], options: { workDir: string; log: Log; budgetS: number; reserveS?: number; inProcess?: boolean }): Promise<{ records: StepRecord[]; measurements: Measurement[] }> {
  const records: StepRecord[] = [];
  const measurements: Measurement[] = [];
  const deadline = performance.now() + options.budgetS * 1000;
  for (const step of steps) {
    const remainingS = (deadline - performance.now()) / 1000 - (options.reserveS ?? 0);
    const skip =
      step.runIf?.(records) ??
      (remainingS < (step.minS ?? 10)
        ? `only ${Math.max(0, remainingS).toFixed(0)} s of the budget left`
        : options.inProcess && step.env
          ? 'its environment cannot be set in-process (NVIDIA libraries read it once, when they load)'
          : null);
    if (skip) {
      records.push({ variant: step.variant, provider: step.provider, role: step.role, status: 'skipped', why: skip });
      options.log.line(`[device-check] ── ${step.variant}/${step.provider}: skipped (${skip})`);
      continue;
    }
    if (options.inProcess) {
      const m = await measure({ ...step.options, variant: step.variant, provider: step.provider, log: (l) => options.log.line(l) });
      records.push({ variant: step.variant, provider: step.provider, role: step.role, status: m.status, seconds: m.wallSeconds, ...(m.error ? { why: m.error } : {}) });
      measurements.push(m);
    } else {
      const { record, measurement } = await runChild(step, options.workDir, options.log, remainingS);
      records.push(record);
      if (measurement) measurements.push(measurement);
    }
  }
  return { records, measurements };
}

function hostInfo(): Record<string, unknown> {
  return {
    hostname: hostname(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? null,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: osRelease(),
    node: process.version,
    ortInThisProcess: ort.env.versions.common,
  };
}

function gpuInfo(): Record<string, unknown> | null {
  const csv = nvidiaSmiCsv();
  if (!csv) return null;
  return {
    queryGpu: csv,
    snapshot: parseGpuCsv(csv),
    details: run('nvidia-smi', ['--query-gpu=name,driver_version,compute_cap,memory.total,clocks.max.sm', '--format=csv']),
  };
}

function run(command: string, args: string[], env?: NodeJS.ProcessEnv): string | null {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env }).trim();
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    const out = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim();
    return out ? `${out}\n(${e.message.split('\n')[0]})` : null;
  }
}

function writeOutputs(outDir: string, report: DeviceReport, measurements: Measurement[]): void {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'device-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'measurements.json'), `${JSON.stringify(measurements)}\n`);
}

/** Here (or any machine): the cpu reference and the listed providers of the one installed ONNX Runtime. */
async function planRun(flags: Map<string, string>): Promise<DeviceReport> {
  const c = common(flags);
  const outDir = resolve(flags.get('out') ?? join(appRoot, 'out', 'device-check'));
  mkdirSync(outDir, { recursive: true });
  const logFile = join(outDir, 'device-check.log');
  writeFileSync(logFile, '');
  const log = new Log(logFile);
  const variant = flags.get('variant') ?? `ort-${ort.env.versions.common}`;
  const providers = (flags.get('providers') ?? 'cpu').split(',').filter(Boolean).map(parseDevice);
  const base = { images: c.images, longSide: c.longSide, batches: c.batches, forwardBatches: c.forwardBatches, seconds: c.seconds, cacheDir: c.cacheDir, profileRuns: c.profileRuns };
  const steps: Step[] = [{ variant, provider: 'cpu', role: 'reference', root: appRoot, options: { ...base, threads: c.threads ?? 0 }, timeoutS: 1800 }];
  for (const provider of providers) {
    if (provider === 'cpu') steps.push({ variant: `${variant}+1thread`, provider: 'cpu', role: 'subject', root: appRoot, options: { ...base, threads: 1 }, timeoutS: 1800 });
    else steps.push({ variant, provider, role: 'subject', root: appRoot, options: { ...base, threads: c.threads }, timeoutS: 1800 });
  }
  const { records, measurements } = await runPlan(steps, { workDir: outDir, log, budgetS: Number.parseFloat(flags.get('budget-s') ?? '3600'), inProcess: c.inProcess });
  const report = buildReport({
    plan: 'run',
    measurements,
    steps: records,
    host: hostInfo(),
    gpu: gpuInfo(),
    environment: { ldLibraryPath: process.env.LD_LIBRARY_PATH ?? null },
    config: { ...base, images: c.images.map((i) => i.slice(appRoot.length + 1)), providers },
    tolerances: c.tolerances,
  });
  writeOutputs(outDir, report, measurements);
  for (const line of report.summary.verdict) log.line(`[device-check] ${line}`);
  log.line(`[device-check] report: ${join(outDir, 'device-report.json')}`);
  return report;
}

// ───────────────────────────── the GPU machine ─────────────────────────────

/** Shared libraries the asus4 CUDA 13 provider needs (NEEDED) or dlopens by these names. */
const CUDA_LIBS = ['libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10', 'libcudnn.so.9', 'libcufft.so.12', 'libnvrtc.so.13'];
/** Names the provider dlopens without a version; pip wheels ship only the versioned file, so links are made. */
const UNVERSIONED = [
  ['libcudnn.so', 'libcudnn.so.9'],
  ['libcufft.so', 'libcufft.so.12'],
  ['libnvrtc.so', 'libnvrtc.so.13'],
] as const;

interface CudaEnvironment {
  pythonNvidiaPaths: string[];
  libDirs: string[];
  found: Record<string, string | null>;
  links: Record<string, string>;
  libcuda: string | null;
  ldLibraryPath: string;
  problems: string[];
}

function findCudaLibraries(root: string): CudaEnvironment {
  const problems: string[] = [];
  const py = run('python3', ['-c', 'import nvidia, sys; print("\\n".join(list(nvidia.__path__)))']);
  const pythonNvidiaPaths = (py ?? '').split('\n').filter((p) => p.startsWith('/') && existsSync(p));
  if (pythonNvidiaPaths.length === 0) problems.push(`python3 could not import the nvidia packages (${(py ?? 'no output').split('\n').pop()})`);
  const libDirs: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    if (entries.some((e) => /\.so(\.\d+)*$/.test(e))) libDirs.push(dir);
    if (depth > 0) for (const e of entries) if (isDir(join(dir, e))) walk(join(dir, e), depth - 1);
  };
  for (const p of pythonNvidiaPaths) walk(p, 3);
  for (const d of ['/usr/local/cuda/lib64', '/usr/local/cuda/targets/x86_64-linux/lib']) if (isDir(d)) libDirs.push(d);
  const found: Record<string, string | null> = {};
  for (const lib of CUDA_LIBS) found[lib] = libDirs.map((d) => join(d, lib)).find((f) => existsSync(f)) ?? null;
  const linkDir = join(root, 'cuda-links');
  mkdirSync(linkDir, { recursive: true });
  const links: Record<string, string> = {};
  for (const [name, target] of UNVERSIONED) {
    if (libDirs.some((d) => existsSync(join(d, name)))) continue;
    const real = found[target];
    if (!real) continue;
    rmSync(join(linkDir, name), { force: true });
    symlinkSync(real, join(linkDir, name));
    links[name] = real;
  }
  const ldconfig = run('ldconfig', ['-p']) ?? '';
  const libcudaLine = ldconfig.split('\n').find((l) => /libcuda\.so\.1\b/.test(l));
  const driverDirs = ['/usr/local/nvidia/lib64', '/usr/local/nvidia/lib', '/usr/lib/x86_64-linux-gnu'].filter((d) => existsSync(join(d, 'libcuda.so.1')));
  const libcuda = libcudaLine?.split('=>')[1]?.trim() ?? (driverDirs[0] ? join(driverDirs[0], 'libcuda.so.1') : null);
  if (!libcuda) problems.push('libcuda.so.1 (the driver) was not found');
  for (const [lib, path] of Object.entries(found)) if (!path) problems.push(`${lib} not found under the Python nvidia packages`);
  const ldLibraryPath = [linkDir, ...new Set(libDirs), ...driverDirs.filter((d) => !d.startsWith('/usr/lib')), process.env.LD_LIBRARY_PATH ?? ''].filter(Boolean).join(':');
  return { pythonNvidiaPaths, libDirs: [...new Set(libDirs)], found, links, libcuda, ldLibraryPath, problems };
}

function vulkanEnvironment(): { env: NodeJS.ProcessEnv; info: Record<string, unknown> } {
  const ldconfig = run('ldconfig', ['-p']) ?? '';
  const loader = ldconfig.split('\n').find((l) => l.includes('libvulkan.so.1'))?.trim() ?? null;
  const standard = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'].flatMap((d) => (isDir(d) ? readdirSync(d).map((f) => join(d, f)) : []));
  const nvidiaIcd = '/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json';
  const env: NodeJS.ProcessEnv = {};
  // The ICD file names libGLX_nvidia.so.0 without a path: make the driver's folder findable when ldconfig is not told of it.
  if (existsSync('/usr/local/nvidia/lib64') && !ldconfig.includes('/usr/local/nvidia/lib64')) {
    env.LD_LIBRARY_PATH = ['/usr/local/nvidia/lib64', process.env.LD_LIBRARY_PATH ?? ''].filter(Boolean).join(':');
  }
  if (!standard.some((f) => f.includes('nvidia')) && existsSync(nvidiaIcd)) {
    env.VK_DRIVER_FILES = nvidiaIcd;
    env.VK_ICD_FILENAMES = nvidiaIcd;
  }
  return { env, info: { loader, icdFiles: standard, nvidiaIcd: existsSync(nvidiaIcd) ? nvidiaIcd : null, env } };
}

/**
 * An onnxruntime-node package assembled from parts: the binding and dist of `from`, optionally another core
 * library and the CUDA provider files, with its own onnxruntime-common nested so the version pairs hold.
 */
function assemblePackage(dest: string, from: string, common: string, extras: { core?: string; providers?: string[] }): string {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  for (const entry of ['package.json', 'dist', 'lib']) if (existsSync(join(from, entry))) cpSync(join(from, entry), join(dest, entry), { recursive: true });
  const binFrom = join(from, 'bin', 'napi-v6', 'linux', 'x64');
  const bin = join(dest, 'bin', 'napi-v6', 'linux', 'x64');
  mkdirSync(bin, { recursive: true });
  for (const file of readdirSync(binFrom)) linkOrCopy(join(binFrom, file), join(bin, file));
  if (extras.core) {
    rmSync(join(bin, 'libonnxruntime.so.1'), { force: true });
    linkOrCopy(extras.core, join(bin, 'libonnxruntime.so.1'));
  }
  for (const file of extras.providers ?? []) linkOrCopy(file, join(bin, file.split('/').pop()!));
  cpSync(common, join(dest, 'node_modules', 'onnxruntime-common'), { recursive: true });
  return dest;
}

/** An app root whose node_modules resolve onnxruntime-node to `ortPackage` and everything else to the payload's. */
function assembleApp(dest: string, app: string, ortPackage: string): string {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(join(dest, 'node_modules'), { recursive: true });
  for (const entry of ['package.json', 'src', 'scripts']) cpSync(join(app, entry), join(dest, entry), { recursive: true });
  for (const entry of readdirSync(join(app, 'node_modules'))) {
    if (entry === 'onnxruntime-node' || entry === 'onnxruntime-common' || entry.startsWith('.')) continue;
    symlinkSync(realpathSync(join(app, 'node_modules', entry)), join(dest, 'node_modules', entry));
  }
  symlinkSync(ortPackage, join(dest, 'node_modules', 'onnxruntime-node'));
  return dest;
}

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/**
 * The plan on the GPU machine. Payload layout under --root (see pack.sh):
 *   app/                 compiled src + scripts, node_modules with onnxruntime-node 1.30.0 (the product's)
 *   ort129/onnxruntime-node, ort129/onnxruntime-common    onnxruntime-node 1.29.0 from npm (linux-x64 only)
 *   cuda/                libonnxruntime_providers_cuda.so (+ _shared) of com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
 */
async function planDevice(flags: Map<string, string>): Promise<DeviceReport> {
  const root = resolve(flags.get('root') ?? '/tmp/dc');
  const outDir = resolve(flags.get('out') ?? process.env.OUT ?? join(root, 'out'));
  const workDir = join(root, 'work');
  mkdirSync(outDir, { recursive: true });
  mkdirSync(workDir, { recursive: true });
  const logFile = join(outDir, 'device-check.log');
  if (!existsSync(logFile)) writeFileSync(logFile, '');
  const log = new Log(logFile);
  const started = performance.now();
  const budgetS = Number.parseFloat(flags.get('budget-s') ?? '300');
  const c = common(flags, { cacheDir: join(root, 'models') });
  const app = join(root, 'app');
  const only = flags.get('steps')?.split(',');

  const cuda = findCudaLibraries(root);
  const vulkan = vulkanEnvironment();
  const provider = join(root, 'cuda', 'libonnxruntime_providers_cuda.so');
  const providers = [provider, join(root, 'cuda', 'libonnxruntime_providers_shared.so')].filter((f) => existsSync(f));
  const cudaEnv: NodeJS.ProcessEnv = { LD_LIBRARY_PATH: cuda.ldLibraryPath };
  const lddProvider = existsSync(provider) ? run('ldd', [provider], cudaEnv) : 'the provider is not in the payload';
  const computeCap = run('nvidia-smi', ['--query-gpu=compute_cap', '--format=csv,noheader']);
  log.line(`[device-check] CUDA libraries: ${JSON.stringify(cuda.found)}`);
  log.line(`[device-check] links made: ${JSON.stringify(cuda.links)}; LD_LIBRARY_PATH for cuda runs: ${cuda.ldLibraryPath}`);
  log.line(`[device-check] ldd ${provider}:\n${lddProvider}`);
  log.line(`[device-check] vulkan: ${JSON.stringify(vulkan.info)}`);

  // The models are translated once (about 2 s), before any child starts.
  const tm = performance.now();
  await ensureModels({ cacheDir: c.cacheDir, logger: createLogger('info', (l) => log.line(l)) });
  const modelSeconds = (performance.now() - tm) / 1000;

  const ort130 = `ort-${ort.env.versions.common}`;
  const variants: Record<string, string> = { [ort130]: app };
  const assembled: string[] = [];
  const ort129 = join(root, 'ort129', 'onnxruntime-node');
  const common129 = join(root, 'ort129', 'onnxruntime-common');
  const v129 = 'ort-1.29.0+asus4-cuda13';
  const v129tf32 = `${v129}+NVIDIA_TF32_OVERRIDE=1`;
  const v130x = `${ort130}+asus4-cuda13-1.29-abi-mismatch`;
  if (existsSync(ort129) && providers.length === 2) {
    variants[v129] = assembleApp(join(root, 'variants', 'ort129', 'app'), app, assemblePackage(join(root, 'variants', 'ort129', 'onnxruntime-node'), ort129, common129, { providers }));
    assembled.push(v129);
    variants[v130x] = assembleApp(
      join(root, 'variants', 'ort130x', 'app'),
      app,
      assemblePackage(join(root, 'variants', 'ort130x', 'onnxruntime-node'), join(app, 'node_modules', 'onnxruntime-node'), join(app, 'node_modules', 'onnxruntime-common'), { providers }),
    );
    assembled.push(v130x);
  } else {
    log.line('[device-check] onnxruntime-node 1.29.0 or the CUDA provider files are missing from the payload: no cuda runs');
  }

  const gpuOptions = { images: c.images, longSide: c.longSide, batches: c.batches, forwardBatches: c.forwardBatches, seconds: c.seconds, cacheDir: c.cacheDir, profileRuns: c.profileRuns };
  const cpuOptions = { ...gpuOptions, batches: c.batches.slice(0, 1), forwardBatches: c.forwardBatches.slice(0, 1), seconds: Math.min(c.seconds, 2), threads: c.threads ?? 0 };
  const anyCuda = (records: StepRecord[]) => records.some((r) => r.provider === 'cuda' && r.status === 'ok');
  const steps: Step[] = [
    { variant: ort130, provider: 'cpu', role: 'reference', root: app, options: cpuOptions, timeoutS: 150, minS: 30 },
    ...(variants[v129] ? [{ variant: v129, provider: 'cuda', role: 'subject', root: variants[v129], options: gpuOptions, env: cudaEnv, timeoutS: 150, minS: 30 } satisfies Step] : []),
    { variant: ort130, provider: 'webgpu', role: 'subject', root: app, options: gpuOptions, env: vulkan.env, timeoutS: 150, minS: 30 },
    // What TF32 would buy: the product turns it off for the CUDA provider (session.ts) unless the variable is set.
    ...(variants[v129]
      ? [{ variant: v129tf32, provider: 'cuda', role: 'experiment', root: variants[v129], options: { ...gpuOptions, batches: c.batches.slice(0, 1), forwardBatches: [], profileRuns: 0 },
           env: { ...cudaEnv, NVIDIA_TF32_OVERRIDE: '1' }, timeoutS: 90, minS: 30,
           runIf: (done: StepRecord[]) => (anyCuda(done) ? null : 'no cuda run to compare with') } satisfies Step]
      : []),
    ...(variants[v129]
      ? [{ variant: v129, provider: 'cpu', role: 'subject', root: variants[v129], options: { ...cpuOptions, batches: [], forwardBatches: [], profileRuns: 0 }, timeoutS: 90, minS: 40,
           runIf: (done: StepRecord[]) => (anyCuda(done) ? null : 'no 1.29 cuda run to pair it with') } satisfies Step]
      : []),
    ...(variants[v130x]
      ? [{ variant: v130x, provider: 'cuda', role: 'experiment', root: variants[v130x], options: { ...gpuOptions, batches: c.batches.slice(0, 1), forwardBatches: c.forwardBatches.slice(0, 1), profileRuns: 0 }, env: cudaEnv, timeoutS: 60, minS: 30 } satisfies Step]
      : []),
  ];
  const chosen = only ? steps.filter((s) => only.includes(`${s.variant}/${s.provider}`) || only.includes(s.provider) || only.includes(s.role)) : steps;
  const elapsed = (performance.now() - started) / 1000;
  const { records, measurements } = await runPlan(chosen, { workDir, log, budgetS: budgetS - elapsed, reserveS: 5, inProcess: c.inProcess });

  const report = buildReport({
    plan: 'device',
    measurements,
    steps: records,
    host: hostInfo(),
    gpu: { ...(gpuInfo() ?? {}), computeCap },
    environment: {
      root,
      cuda,
      lddProvider,
      providerFiles: providers.map((f) => ({ file: f, bytes: statSync(f).size })),
      vulkan: vulkan.info,
      variants: Object.fromEntries(Object.entries(variants).map(([k, v]) => [k, v])),
      assembled,
      modelPrepareSeconds: modelSeconds,
      totalSeconds: (performance.now() - started) / 1000,
    },
    config: { ...gpuOptions, images: c.images.map((i) => i.split('/').pop()), cpuReference: { batches: cpuOptions.batches, forwardBatches: cpuOptions.forwardBatches }, budgetS },
    tolerances: c.tolerances,
    notes: [
      `${v129}: onnxruntime-node 1.29.0 (npm) with the CUDA 13 provider of com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 (ORT 1.29.0), copied next to its libonnxruntime.so.1; the provider bridge is a C++ interface, so core and provider must be the same ORT version.`,
      `${v129tf32}: the same with TF32 allowed in cuDNN/cuBLAS (ONNX Runtime's default, which the product turns off through NVIDIA_TF32_OVERRIDE=0 unless the variable is set), to show what TF32 changes in boxes and speed.`,
      'The core library of com.github.asus4.onnxruntime@0.4.9 (1.29.0) was tried as a second pairing while preparing this check: it is a CPU build that answers "CUDA execution provider is not enabled in this build", so it is not shipped.',
      `${v130x}: the product's onnxruntime-node 1.30.0 with the 1.29.0 provider — an ABI mismatch on purpose, an experiment whose success would not make it safe to ship.`,
      'The pruned provider (pack.sh default) keeps only the sm_90 cubins (H100/H200); on another GPU its kernels are missing.',
    ],
  });
  report.environment.totalSeconds = (performance.now() - started) / 1000;
  writeOutputs(outDir, report, measurements);
  for (const line of report.summary.verdict) log.line(`[device-check] ${line}`);
  log.line(`[device-check] report: ${join(outDir, 'device-report.json')} (${report.environment.totalSeconds as number} s)`);
  return report;
}

// ───────────────────────────── entry ─────────────────────────────

async function commandMeasure(flags: Map<string, string>): Promise<number> {
  const c = common(flags);
  const m = await measure({
    variant: flags.get('variant') ?? `ort-${ort.env.versions.common}`,
    provider: parseDevice(flags.get('provider') ?? 'cpu'),
    images: c.images,
    longSide: c.longSide,
    batches: c.batches,
    forwardBatches: c.forwardBatches,
    seconds: c.seconds,
    threads: c.threads,
    cacheDir: c.cacheDir,
    profileRuns: c.profileRuns,
  });
  const json = flags.get('json');
  if (json) writeFileSync(json, `${JSON.stringify(m)}\n`);
  else process.stdout.write(`${JSON.stringify(m)}\n`);
  return m.status === 'error' ? 1 : 0;
}

async function commandReport(flags: Map<string, string>, files: string[]): Promise<number> {
  const measurements = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Measurement);
  const report = buildReport({ plan: 'report', measurements, host: hostInfo(), tolerances: common(flags).tolerances });
  writeOutputs(resolve(flags.get('out') ?? '.'), report, measurements);
  for (const line of report.summary.verdict) process.stderr.write(`${line}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const { command, flags, positional } = parseArgs(argv);
  switch (command) {
    case 'measure':
      return commandMeasure(flags);
    case 'report':
      return commandReport(flags, positional);
    case 'device': {
      const report = await planDevice(flags);
      return report.summary.referenceOk ? 0 : 2;
    }
    default: {
      const report = await planRun(flags);
      return report.summary.referenceOk && report.comparisons.every((cmp) => cmp.pass) ? 0 : 2;
    }
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9.-]+/g, '_');
}

function extname(path: string): string {
  const m = /\.[cm]?[jt]s$/.exec(path);
  return m ? m[0] : '.js';
}

const invoked = process.argv[1] ? realpathSafe(resolve(process.argv[1])) : '';
if (invoked === realpathSafe(fileURLToPath(import.meta.url))) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}

function realpathSafe(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
