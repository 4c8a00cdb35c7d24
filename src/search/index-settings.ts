import type { DasrConfig } from '../detect/config.js';
import type { VideoRecord } from '../index/database.js';

/**
 * The detector settings a region's descriptor depends on, each with its command-line option and the value a video
 * indexed before the setting existed was indexed with (undefined: none).
 */
const DESCRIPTOR_SETTINGS: readonly { name: 'longSide' | 'poolLongSide' | 'poolingLayer' | 'poolingCells'; option: string; before?: string }[] = [
  { name: 'longSide', option: '--long-side' },
  { name: 'poolLongSide', option: '--pool-long-side' },
  { name: 'poolingLayer', option: '--pooling' },
  { name: 'poolingCells', option: '--pooling-cells', before: 'touched' },
];

/**
 * One line for each descriptor setting and value with which indexed videos were described otherwise than a query
 * described by `query` is: the query then meets their regions pooled another way, and matches and boxes suffer.
 * Videos with no recorded settings are not judged. Empty when all agree.
 */
export function descriptorSettingMismatches(query: DasrConfig, videos: readonly Pick<VideoRecord, 'config'>[]): string[] {
  const recorded = videos.flatMap((video) => {
    const dasr = (video.config as { dasr?: Partial<Record<string, unknown>> } | null)?.dasr;
    return dasr && typeof dasr === 'object' ? [dasr] : [];
  });
  const lines: string[] = [];
  for (const { name, option, before } of DESCRIPTOR_SETTINGS) {
    const wanted = query[name] ?? 'none';
    const others = new Map<string, number>();
    for (const dasr of recorded) {
      const indexed = String(name in dasr ? dasr[name] : (before ?? 'none'));
      if (indexed !== String(wanted)) others.set(indexed, (others.get(indexed) ?? 0) + 1);
    }
    for (const [indexed, count] of others) {
      const described = (value: string): string => (value === 'none' ? `without ${option}` : `with ${option} ${value}`);
      lines.push(
        `${count} of ${videos.length} indexed videos were described ${described(indexed)}, this search ${described(String(wanted))}: the query is not ` +
          `described as their regions were. Search ${described(indexed)}, or index them again (dasr index redoes a file indexed with other settings).`,
      );
    }
  }
  return lines;
}
