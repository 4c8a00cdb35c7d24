/**
 * ffmpeg's segment muxer, asked for `-segment_list <file> -segment_list_type csv`, appends one line per finished
 * segment: `<file name>,<start>,<end>` (seconds on the output's timeline, which for a stream copy is the decoder's:
 * see decode/frames.ts). The last line may be half written while ffmpeg runs.
 */
export interface ListedSegment {
  file: string;
  start: number;
  end: number;
}

/** The complete lines of a segment list (a trailing line without its newline is not finished yet). */
export function parseSegmentList(text: string): ListedSegment[] {
  const lines = text.split('\n');
  lines.pop(); // '' after the last newline, or a line still being written
  const segments: ListedSegment[] = [];
  for (const line of lines) {
    const match = /^(.+),([-\d.e+]+),([-\d.e+]+)\r?$/.exec(line);
    if (!match) continue;
    const start = Number(match[2]);
    const end = Number(match[3]);
    if (Number.isFinite(start) && Number.isFinite(end) && end >= start) segments.push({ file: match[1]!.replace(/^"(.*)"$/, '$1'), start, end });
  }
  return segments;
}
