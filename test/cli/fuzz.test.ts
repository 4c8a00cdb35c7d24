import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDasr } from '../../src/cli/program.js';
import { DATABASE_FILE } from '../../src/index/database.js';
import { runCli } from '../support/cli.js';
import { mulberry32 } from '../support/random.js';
import { storedFiles } from '../support/stored-files.js';
import { fixture } from '../video/fixtures.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CASES = 2000;
const QUERY = fixture('moving-object-query.png');
const VIDEO = fixture('moving-object.mp4');

/**
 * Values each argument kind refuses, whatever else the command line holds. (Not blanks for numbers' sake only:
 * Number('') is 0, which the parsers used to take.)
 */
const BAD = {
  integer: ['-1', '1.5', 'abc', 'NaN', '1e400', '', ' ', '0x', '1,2', '٣', 'Infinity', '--'],
  seconds: ['-1', 'abc', 'NaN', 'Infinity', '1e400', '', ' ', '1s', '--'],
  fraction: ['-0.1', '1.01', 'abc', 'NaN', '', ' ', '50%', '--'],
  grey: ['-1', '256', 'abc', '', ' ', 'NaN', '--'],
  cosine: ['-1.5', '2', 'abc', 'NaN', '', ' ', '--'],
  ids: ['0', '-1', '1.5', 'a,b', '1,,2', '', ' ', '1;2', '--'],
  box: ['1,2,3', '0,0,0,10', '0,0,-5,10', 'abc', '', '[1,2]', '1,2,3,4,5', 'NaN,0,10,10', '0,0,Infinity,10', '--'],
  choice: ['', 'CPU', 'gpu0', 'dasr*', 'res6', '../x', '🙂', '--'],
  /** inputs of whiten fit, which takes directories too */
  imageInput: ['/nonexistent/images', '', 'a\u0000b', fixture('not-video.txt'), 'x'.repeat(5000)],
  image: ['/nonexistent/query.png', ROOT, fixture('not-video.txt'), VIDEO, '', 'x'.repeat(5000), 'a\u0000b', join(ROOT, 'package.json')],
  video: ['/nonexistent/video.mp4', ROOT, fixture('not-video.txt'), fixture('audio-only.m4a'), fixture('zero-length.mp4'), '', 'file:///etc/passwd', 'concat:a|b', 'pipe:0', 'a\u0000b', 'x'.repeat(5000)],
  clipTarget: ['track:abc', 'track:', 'track:-1', 'video', 'abc 1 2', '1 abc 2', '1 2', '1 2 3 4', '1.5 0 1'],
  methods: ['', 'dasr,nope', 'all', 'DASR', ',', '--'],
  unknownOption: ['--nope', '-z', '--top5', '--dat', '---', '--🙂'],
  unknownCommand: ['serch', 'indx', 'eval nope', 'models nope', 'whiten nope', 'shots nope', '🙂'],
} as const;

type Kind = Exclude<keyof typeof BAD, 'clipTarget' | 'unknownCommand' | 'unknownOption'>;

/**
 * A command line that would run (and change or read the index) but for its slots: each `[option, kind]` slot gets
 * a good value normally and a refused one when mutated. Only slots that are checked before any work starts are
 * listed (positional inputs are read before a model loads; options are parsed first).
 */
interface Template {
  command: string[];
  positional?: { kind: Kind; good: string[] };
  options: [string, Kind, string][];
  /** more arguments, always good */
  fixed?: string[];
  /** takes --data (the fuzzed index) */
  data?: boolean;
}

function templates(data: string): Template[] {
  const globals: [string, Kind, string][] = [
    ['--threads', 'integer', '1'],
    ['--long-side', 'integer', '256'],
    ['--max-peaks', 'integer', '4'],
    ['--nms', 'fraction', '0.5'],
    ['--device', 'choice', 'cpu'],
    ['--variant', 'choice', 'dasr-star'],
    ['--pooling', 'choice', 'res5a'],
    ['--topdown', 'choice', 'res4'],
  ];
  return [
    { command: ['classify'], positional: { kind: 'image', good: [QUERY] }, options: [['--top', 'integer', '3']] },
    { command: ['detect'], positional: { kind: 'image', good: [QUERY] }, options: [] },
    {
      command: ['search'],
      data: true,
      positional: { kind: 'image', good: [QUERY] },
      options: [
        ['--top', 'integer', '5'],
        ['--box', 'box', '0,0,60,60'],
        ['--video', 'integer', '1'],
        ['--from', 'seconds', '0'],
        ['--to', 'seconds', '9'],
        ['--min-score', 'cosine', '0.2'],
        ['--expand', 'integer', '3'],
        ['--right', 'ids', '1,2'],
        ['--wrong', 'ids', '3'],
      ],
    },
    { command: ['index'], data: true, positional: { kind: 'video', good: [VIDEO] }, options: [['--interval', 'seconds', '0.5'], ['--scene', 'fraction', '0.3'], ['--still', 'grey', '3']] },
    { command: ['rm'], data: true, positional: { kind: 'integer', good: ['1'] }, options: [] },
    { command: ['shots', 'learn'], data: true, options: [['--k', 'integer', '4'], ['--local-dims', 'integer', '8'], ['--dims', 'integer', '8'], ['--sample', 'integer', '100']] },
    { command: ['whiten', 'fit'], positional: { kind: 'imageInput', good: [QUERY] }, options: [['--dims', 'integer', '8']], fixed: ['--out', join(data, 'never.json')] },
    {
      command: ['serve'],
      options: [
        ['--port', 'integer', '0'],
        ['--interval', 'seconds', '1'],
        ['--scene', 'fraction', '0.3'],
        ['--still', 'grey', '3'],
        ['--queue', 'integer', '8'],
        ['--max-streams', 'integer', '2'],
        ['--media-jobs', 'integer', '1'],
        ['--clip-cache-mb', 'integer', '64'],
        ['--max-upload-mb', 'integer', '64'],
      ],
    },
    {
      command: ['eval', 'tracks', join(ROOT, 'fixtures')],
      options: [
        ['--mode', 'choice', 'image'],
        ['--queries', 'choice', 'first'],
        ['--query-view', 'choice', 'crop'],
        ['--methods', 'methods', 'baseline'],
        ['--expand', 'integer', '0'],
        ['--feedback', 'integer', '0'],
        ['--examples', 'integer', '2'],
        ['--expand-alpha', 'seconds', '3'],
      ],
    },
    { command: ['eval', 'ukbench', join(ROOT, 'fixtures')], options: [['--methods', 'methods', 'baseline']] },
  ].map((t) => ({ ...t, options: [...globals, ...t.options] })) as Template[];
}

/** One seeded command line with at least one refused part, and what was refused (for the report). */
function fuzzedArgs(random: () => number, data: string, all: Template[]): { args: string[]; refused: string[] } {
  // refused: `<option> <value>`, `input <value>`, `unknown <option>`, `<option> without its value`, `command …`, `clip …`
  const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const template = pick(all);
  const refused: string[] = [];
  const globalsEnd = 8;
  const mutate = new Set<number>();
  const slots = template.options.length + (template.positional ? 1 : 0) + 1; // the last slot: something foreign
  const count = 1 + Math.floor(random() * 3);
  while (mutate.size < count) mutate.add(Math.floor(random() * slots));
  const globals: string[] = [];
  const rest: string[] = [];
  template.options.forEach(([option, kind, good], i) => {
    if (!mutate.has(i) && random() < 0.6) return; // a good option, present or not
    const value = mutate.has(i) ? pick(BAD[kind]) : good;
    if (mutate.has(i)) refused.push(`${option} ${JSON.stringify(value)}`);
    (i < globalsEnd ? globals : rest).push(`${option}=${value}`);
  });
  let positional: string[] = [];
  if (template.positional) {
    const i = template.options.length;
    if (mutate.has(i)) {
      const value = pick(BAD[template.positional.kind]);
      refused.push(`input ${JSON.stringify(value.slice(0, 40))}`);
      positional = [value];
    } else {
      positional = template.positional.good;
    }
  }
  if (template.data) rest.push('--data', data);
  rest.push(...(template.fixed ?? []));
  const args = [...globals, ...template.command, ...positional, ...rest];
  if (mutate.has(slots - 1) || refused.length === 0) {
    // something foreign: an unknown option or command, a missing value, a bad clip target
    const foreign = Math.floor(random() * 4);
    if (foreign === 0) {
      const option = pick(BAD.unknownOption);
      args.splice(Math.floor(random() * (args.length + 1)), 0, option);
      refused.push(`unknown ${option}`);
    } else if (foreign === 1) {
      const command = pick(BAD.unknownCommand).split(' ');
      refused.push(`command ${command.join(' ')}`);
      return { args: [...globals, ...command, ...positional, ...rest], refused };
    } else if (foreign === 2 && template.options.length > globalsEnd) {
      const [option] = pick(template.options.slice(globalsEnd));
      refused.push(`${option} without its value`);
      args.push(option);
    } else {
      const target = pick(BAD.clipTarget).split(' ');
      refused.push(`clip ${target.join(' ')}`);
      return { args: [...globals, 'clip', ...target, '--out', join(data, 'never.mp4'), '--data', data], refused };
    }
  }
  return { args, refused };
}

/**
 * Whether commander's message names a part that was made bad (a message about a good option means the template,
 * not the check, is wrong). The commands' own messages name no option and pass.
 */
function blamesARefusedPart(message: string, refused: string[]): boolean {
  const option = /^error: option '(-[\w-]+)/.exec(message)?.[1];
  if (option) return refused.some((r) => r.startsWith(`${option} `));
  const unknown = /^error: unknown option '([^']+)'/.exec(message)?.[1];
  if (unknown) return refused.includes(`unknown ${unknown}`) || refused.some((r) => r.startsWith('input "-'));
  return true;
}

/** `dasr` in this process, its output captured. */
async function runInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  try {
    const code = await runDasr(['node', 'dasr', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

/** What the index holds, read as any other reader would. */
function indexContent(data: string): unknown {
  const db = new Database(join(data, DATABASE_FILE), { readonly: true, fileMustExist: true });
  try {
    const count = (table: string): unknown => db.prepare(`SELECT count(*) AS n, max(id) AS last FROM ${table}`).get();
    return { videos: count('videos'), regions: count('regions'), tracks: count('tracks'), keyframes: db.prepare('SELECT count(*) AS n FROM keyframes').get() };
  } finally {
    db.close();
  }
}

describe('dasr with fuzzed arguments', () => {
  let data: string;
  let before: { files: string[]; content: unknown };

  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), 'dasr-cli-fuzz-'));
    const indexed = await runCli(['--long-side', '256', '--max-peaks', '4', 'index', VIDEO, '--interval', '0.5', '--data', data]);
    expect(indexed.code, indexed.stderr).toBe(0);
    before = { content: indexContent(data), files: storedFiles(data) };
  });
  afterAll(() => rmSync(data, { recursive: true, force: true }));

  it(`refuses ${CASES} seeded bad command lines with one clear line each, before any work, and changes nothing`, async () => {
    const random = mulberry32(0xc1f022);
    const all = templates(data);
    const problems: string[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < CASES; i++) {
      const { args, refused } = fuzzedArgs(random, data, all);
      seen.add(args.find((a) => !a.startsWith('-')) ?? '');
      const run = await runInProcess(args);
      const label = `dasr ${args.map((a) => JSON.stringify(a.slice(0, 60))).join(' ')} (refused: ${refused.join('; ')})`;
      const firstLine = run.stderr.split('\n')[0] ?? '';
      if (run.code !== 1) problems.push(`${label}: exit ${run.code}`);
      else if (!/^(error|dasr): \S/.test(firstLine)) problems.push(`${label}: stderr starts ${JSON.stringify(firstLine.slice(0, 200))}`);
      else if (/\n\s+at .+:\d+:\d+/.test(run.stderr)) problems.push(`${label}: a stack trace`);
      else if (run.stdout !== '') problems.push(`${label}: wrote ${JSON.stringify(run.stdout.slice(0, 100))} to stdout`);
      else if (!blamesARefusedPart(firstLine, refused)) problems.push(`${label}: refused for something good: ${firstLine}`);
      if (problems.length > 20) break;
    }
    expect(problems).toEqual([]);
    expect([...seen].sort()).toEqual(expect.arrayContaining(['classify', 'clip', 'detect', 'eval', 'index', 'rm', 'search', 'serve', 'whiten']));
    expect({ content: indexContent(data), files: storedFiles(data) }).toEqual(before);
    expect(existsSync(join(ROOT, 'data')), 'a command wrote the default data directory').toBe(false);
  });
});
