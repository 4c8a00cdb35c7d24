import { describe, expect, it } from 'vitest';
import type { ShotSearchHit } from '../../src/index/index-store.js';
import { groupIntoShots } from '../../src/search/shot-search.js';

const hit = (id: number, videoId: number, t: number, similarity = 0.5): ShotSearchHit => ({ id, videoId, t, width: 64, height: 48, similarity });

describe('groupIntoShots', () => {
  // video 1 has keyframes every second from 0 to 9; video 2 likewise
  const keyframesBetween = (after: number, before: number) => Math.max(0, Math.ceil(before) - Math.floor(after) - 1);
  const adjacent = (_video: number, after: number, before: number) => keyframesBetween(after, before) === 0;

  it('joins hits of one video with no keyframe between them into one run, in time order', () => {
    const hits = [hit(4, 1, 4), hit(2, 1, 2), hit(3, 1, 3), hit(7, 1, 7), hit(12, 2, 2), hit(13, 2, 3)];
    const runs = groupIntoShots(hits, adjacent, () => true);
    expect(runs.map((run) => run.map((h) => h.id))).toEqual([[2, 3, 4], [7], [12, 13]]);
  });

  it('ends a run where two neighbouring hits are not alike (a cut between two matching keyframes)', () => {
    const hits = [hit(1, 1, 1), hit(2, 1, 2), hit(3, 1, 3), hit(4, 1, 4)];
    const runs = groupIntoShots(hits, adjacent, (a, b) => !(a.id === 2 && b.id === 3));
    expect(runs.map((run) => run.map((h) => h.id))).toEqual([[1, 2], [3, 4]]);
  });

  it('gives no runs for no hits', () => {
    expect(groupIntoShots([], adjacent, () => true)).toEqual([]);
  });
});
