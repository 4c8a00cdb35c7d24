import { describe, expect, it } from 'vitest';
import { resolveDasrConfig } from '../../src/detect/config.js';
import { descriptorSettingMismatches } from '../../src/search/index-settings.js';

/** `videos` indexed with these detector settings (none recorded: undefined), as the store counts them */
const indexed = (dasr: object | undefined, videos = 1) => ({ config: dasr === undefined ? null : { dasr, interval: 1 }, videos });

describe('descriptorSettingMismatches', () => {
  const query = resolveDasrConfig({});

  it('says nothing when every video was described as the query is, or recorded no detector settings', () => {
    expect(descriptorSettingMismatches(query, [indexed({ ...query }, 3), indexed(undefined), { config: { interval: 1 }, videos: 2 }])).toEqual([]);
  });

  it('names each setting and value the videos differ on, counting only the videos it judged', () => {
    // Indexed before poolingCells existed: the rule then was every touched cell.
    const { poolingCells: _absent, ...before } = query;
    const lines = descriptorSettingMismatches(query, [indexed(before, 2), indexed({ ...query, longSide: 640 }), indexed({ ...query }), indexed(undefined, 5)]);
    expect(lines).toEqual([
      '1 of 4 indexed videos with recorded settings were described with --long-side 640, this search with --long-side 512: the query is not described as their regions were. Search with --long-side 640, or index them again with the current settings (dasr index --force).',
      '2 of 4 indexed videos with recorded settings were described with --pooling-cells touched, this search with --pooling-cells overlap: the query is not described as their regions were. Search with --pooling-cells touched, or index them again with the current settings (dasr index --force).',
    ]);
  });

  it("compares the long side queries are described at: the pooling pass's when there is one", () => {
    // detected at 512 and pooled at 768, or detected and pooled at 768: the same query descriptor
    expect(descriptorSettingMismatches(resolveDasrConfig({ longSide: 768 }), [indexed(resolveDasrConfig({ poolLongSide: 768 }))])).toEqual([]);
    expect(descriptorSettingMismatches(resolveDasrConfig({ poolLongSide: 768 }), [indexed(query)])).toEqual([
      '1 of 1 indexed videos with recorded settings were described with --long-side 512, this search with --long-side 768: the query is not described as their regions were. Search with --long-side 512, or index them again with the current settings (dasr index --force).',
    ]);
  });
});
