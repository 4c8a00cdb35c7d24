/** Where a long ingestion stands; speed is media seconds per wall second (× real time). */
export interface IngestProgress {
  label: string;
  /** media time reached, seconds */
  position: number;
  /** media duration, seconds (NaN when unknown) */
  duration: number;
  keyframes: number;
  regions: number;
  elapsedMs: number;
}

export function speed(progress: IngestProgress): number {
  return progress.elapsedMs > 0 ? progress.position / (progress.elapsedMs / 1000) : 0;
}

/** Seconds left at the current speed, or NaN when it cannot be estimated yet. */
export function etaSeconds(progress: IngestProgress): number {
  const s = speed(progress);
  return Number.isFinite(progress.duration) && s > 0 ? Math.max(0, (progress.duration - progress.position) / s) : Number.NaN;
}

export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** One line: a bar, position / duration, speed, ETA and counts. */
export function formatProgress(progress: IngestProgress, width = 24): string {
  const fraction = Number.isFinite(progress.duration) && progress.duration > 0 ? Math.min(1, progress.position / progress.duration) : 0;
  const filled = Math.round(fraction * width);
  const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
  return (
    `${progress.label} ${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ${formatClock(progress.position)}/${formatClock(progress.duration)} ` +
    `${speed(progress).toFixed(2)}× ETA ${formatClock(etaSeconds(progress))} · ${progress.keyframes} keyframes, ${progress.regions} regions`
  );
}

/**
 * Draws progress on a terminal (rewriting one line), or, when the stream is not a terminal (logs, CI),
 * writes a plain line at most every `intervalMs` so logs stay readable.
 */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr, intervalMs = 5000): { update(p: IngestProgress): void; done(p: IngestProgress): void } {
  let lastPrinted = 0;
  return {
    update(p) {
      if (stream.isTTY) stream.write(`\r${formatProgress(p)}\x1b[K`);
      else if (Date.now() - lastPrinted >= intervalMs) {
        lastPrinted = Date.now();
        stream.write(`${formatProgress(p)}\n`);
      }
    },
    done(p) {
      stream.write(`${stream.isTTY ? '\r' : ''}${formatProgress(p)}${stream.isTTY ? '\x1b[K' : ''}\n`);
    },
  };
}
