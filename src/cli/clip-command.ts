import { InvalidArgumentError } from 'commander';
import { cutClip } from '../clip/clip.js';
import { followedBoxes } from '../clip/box-track.js';
import { IndexStore } from '../index/index-store.js';

/** What to cut: a search hit (its track) or a span of a video. */
export type ClipTarget = { track: number } | { video: number; from: number; to: number };

/** `track:12` (as `dasr search` reports hits), or `<video id> <t0> <t1>`. */
export function parseClipTarget(args: readonly string[]): ClipTarget {
  const track = args.length === 1 ? /^track:(\d+)$/.exec(args[0]!) : null;
  if (track) return { track: Number(track[1]) };
  if (args.length === 3) {
    const [video, from, to] = args.map((arg) => (arg.trim() === '' ? Number.NaN : Number(arg))) as [number, number, number];
    if (Number.isInteger(video) && Number.isFinite(from) && Number.isFinite(to)) return { video, from, to };
  }
  throw new InvalidArgumentError('expected track:<id> (a search hit) or <video id> <t0> <t1> (seconds)');
}

export async function clipCommand(target: ClipTarget, options: { data: string; pad: number; boxes?: boolean; out: string }): Promise<void> {
  const store = await IndexStore.open(options.data, { access: 'read' });
  try {
    let video: number;
    let start: number;
    let end: number;
    let boxes: { t: number; box: [number, number, number, number] }[] | undefined;
    if ('track' in target) {
      const track = store.db.getTrack(target.track);
      if (!track) throw new Error(`no track ${target.track} in ${options.data}`);
      ({ videoId: video, firstT: start, lastT: end } = track);
      if (options.boxes) boxes = followedBoxes(store.db.regionsOfTrack(track.id));
    } else {
      ({ video, from: start, to: end } = target);
      if (options.boxes) throw new Error('--boxes needs a track (track:<id>): a bare time span has no instance to draw');
    }
    const record = store.db.getVideo(video);
    if (!record) throw new Error(`no video ${video} in ${options.data}`);
    if (record.sourceKind !== 'file') throw new Error(`video ${video} is a live stream (${record.path}); clips are cut from files`);
    const result = await cutClip({ video: record.path, start, end, pad: options.pad, boxes, out: options.out });
    process.stdout.write(`${result.out} (${result.start.toFixed(2)}–${result.end.toFixed(2)} s of ${record.path}), thumbnail ${result.thumbnail}\n`);
  } finally {
    await store.close({ saveVectors: false });
  }
}
