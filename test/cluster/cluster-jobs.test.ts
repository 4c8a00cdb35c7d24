import type { NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { ClusterJobs } from '../../src/cluster/cluster-jobs.js';
import type { VideoSummary } from '../../src/index/database.js';

const jobs = new ClusterJobs({} as NatsConnection, { interval: 0.5, sceneThreshold: 0.3, stillThreshold: 4 }, '/uploads');

function video(change: Partial<VideoSummary>): VideoSummary {
  return {
    ...{ id: 1, path: '/v.mp4', sourceKind: 'file', contentKey: 'k', width: 640, height: 360, duration: 60, fps: 25, status: 'indexing', error: null },
    ...{ createdAt: 0, updatedAt: 0, lastCommittedT: 12.5, config: { interval: 0.5 }, keyframeCount: 40, regionCount: 200, trackCount: 9 },
    ...change,
  };
}

describe("the cluster's indexing progress of a video", () => {
  it('is the last committed keyframe of a whole-file run, and keyframes × interval of a split one (its ranges run at once)', () => {
    expect(jobs.progress(video({}))).toEqual({ state: 'indexing', position: 12.5, duration: 60 });
    expect(jobs.progress(video({ config: { interval: 0.5, split: 10 } }))).toEqual({ state: 'indexing', position: 20, duration: 60 });
    expect(jobs.progress(video({ config: { interval: 0.5, split: 10 }, keyframeCount: 130 }))).toEqual({ state: 'indexing', position: 60, duration: 60 });
    expect(jobs.progress(video({ status: 'ready' }))).toBeNull();
    expect(jobs.progress(video({ sourceKind: 'live' }))).toBeNull();
  });
});
