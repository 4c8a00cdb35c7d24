/** What a data directory keeps for a video beside the index: its upload, cached clips and thumbnails, recordings. */
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { VideoRecord } from '../index/database.js';
import type { IndexStore } from '../index/index-store.js';
import { recordingDir } from '../record/live-recording.js';
import { uploadDir } from './service.js';
import { regionThumbnailPath } from './subscriptions.js';

/** The cached whole-frame picture of a keyframe (shot search results). */
export function keyframeThumbnailPath(dataDir: string, keyframeId: number): string {
  return join(dataDir, 'thumbnails', `keyframe-${keyframeId}.jpg`);
}

/** Clip files of a video start with this, so that they can be removed with it. */
export function clipPrefix(videoId: number): string {
  return `video-${videoId}-`;
}

/**
 * The regions and keyframes whose thumbnails a video's removal deletes: the embedded index lists them (read them
 * before the video goes); a cluster's are none.
 */
export function thumbnailIdsOf(embedded: IndexStore | null | undefined, videoId: number): { regionIds: number[]; keyframeIds: number[] } {
  return { regionIds: embedded?.db.regionIdsOfVideo(videoId) ?? [], keyframeIds: embedded?.db.keyframesOfVideo(videoId).map((k) => k.id) ?? [] };
}

/**
 * Deletes what `dataDir` holds of a video removed from the index: the file if it was uploaded, its cached clips, the
 * thumbnails of the regions and keyframes given (the embedded index lists them; a cluster's ids are never given out
 * again, so a picture cached under one is merely never asked for), and its live recordings.
 */
export async function removeVideoFiles(dataDir: string, video: VideoRecord, indexed: { regionIds: readonly number[]; keyframeIds: readonly number[] }): Promise<void> {
  if (video.sourceKind === 'file' && video.path.startsWith(uploadDir(dataDir))) await rm(dirname(video.path), { recursive: true, force: true });
  const clipsDir = join(dataDir, 'clips');
  if (existsSync(clipsDir)) for (const name of readdirSync(clipsDir)) if (name.startsWith(clipPrefix(video.id))) await rm(join(clipsDir, name), { force: true });
  for (const regionId of indexed.regionIds) await rm(regionThumbnailPath(dataDir, regionId), { force: true });
  for (const keyframeId of indexed.keyframeIds) await rm(keyframeThumbnailPath(dataDir, keyframeId), { force: true });
  await rm(recordingDir(dataDir, video.id), { recursive: true, force: true });
}
