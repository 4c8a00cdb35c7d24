import { describe, expect, it } from 'vitest';
import { resolveDasrConfig } from '../../src/detect/config.js';
import { descriptorSettingMismatches } from '../../src/search/index-settings.js';

const video = (dasr: object | undefined) => ({ config: dasr === undefined ? null : { dasr, interval: 1 } });

describe('descriptorSettingMismatches', () => {
  const query = resolveDasrConfig({});

  it('says nothing when every video was described as the query is, or recorded no settings', () => {
    expect(descriptorSettingMismatches(query, [video({ ...query }), video(undefined), { config: { interval: 1 } }])).toEqual([]);
  });

  it('names each setting and value the videos differ on, with the option to search them with', () => {
    // Indexed before poolingCells existed: the rule then was every touched cell.
    const { poolingCells: _absent, ...before } = query;
    const lines = descriptorSettingMismatches(query, [video(before), video(before), video({ ...query, longSide: 640 }), video({ ...query })]);
    expect(lines).toEqual([
      '1 of 4 indexed videos were described with --long-side 640, this search with --long-side 512: the query is not described as their regions were. Search with --long-side 640, or index them again (dasr index redoes a file indexed with other settings).',
      '2 of 4 indexed videos were described with --pooling-cells touched, this search with --pooling-cells overlap: the query is not described as their regions were. Search with --pooling-cells touched, or index them again (dasr index redoes a file indexed with other settings).',
    ]);
    expect(descriptorSettingMismatches(resolveDasrConfig({ poolLongSide: 768 }), [video(query)])).toEqual([
      '1 of 1 indexed videos were described without --pool-long-side, this search with --pool-long-side 768: the query is not described as their regions were. Search without --pool-long-side, or index them again (dasr index redoes a file indexed with other settings).',
    ]);
  });
});
