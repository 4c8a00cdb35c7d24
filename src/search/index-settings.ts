import { poolingLongSide, type DasrConfig } from '../detect/config.js';
import type { VideoSettings } from '../index/database.js';

/**
 * The detector settings a query's descriptor depends on, each read from a detector configuration as stored with a
 * video (a setting absent there: the video was indexed before it existed, with the behaviour given here), and the
 * option that sets it.
 */
const DESCRIPTOR_SETTINGS: readonly { option: string; of: (dasr: Partial<DasrConfig>) => string }[] = [
  // queries are described on one pass, at the pooling pass's long side if there is one
  { option: '--long-side', of: (dasr) => String(poolingLongSide({ longSide: dasr.longSide ?? Number.NaN, poolLongSide: dasr.poolLongSide })) },
  { option: '--pooling', of: (dasr) => String(dasr.poolingLayer) },
  { option: '--pooling-cells', of: (dasr) => dasr.poolingCells ?? 'touched' },
];

/**
 * One line for each descriptor setting and value with which indexed videos were described otherwise than a query
 * described by `query` is: the query then meets their regions pooled another way, and matches and boxes suffer.
 * Videos with no recorded detector settings are not judged. Empty when all agree.
 */
export function descriptorSettingMismatches(query: DasrConfig, settings: readonly VideoSettings[]): string[] {
  const recorded = settings.flatMap(({ config, videos }) => {
    const dasr = (config as { dasr?: unknown } | null)?.dasr;
    return dasr && typeof dasr === 'object' ? [{ dasr: dasr as Partial<DasrConfig>, videos }] : [];
  });
  const judged = recorded.reduce((sum, r) => sum + r.videos, 0);
  const lines: string[] = [];
  for (const { option, of } of DESCRIPTOR_SETTINGS) {
    const wanted = of(query);
    const others = new Map<string, number>();
    for (const { dasr, videos } of recorded) {
      const indexed = of(dasr);
      if (indexed !== wanted) others.set(indexed, (others.get(indexed) ?? 0) + videos);
    }
    for (const [indexed, count] of others) {
      lines.push(
        `${count} of ${judged} indexed videos with recorded settings were described with ${option} ${indexed}, this search with ${option} ${wanted}: the query is not described ` +
          `as their regions were. Search with ${option} ${indexed}, or index them again with the current settings (dasr index --force).`,
      );
    }
  }
  return lines;
}
