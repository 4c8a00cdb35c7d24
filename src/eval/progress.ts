import { performance } from 'node:perf_hooks';
import { formatClock } from '../ingest/progress.js';

export interface CountProgress {
  /** `done` items of the total are finished (absolute, not an increment) */
  update(done: number): void;
  done(): void;
}

/**
 * "label 123/689 frames (18%), 2.41 s/frame, ETA 22:10" on stderr-like sinks: at most one line every
 * `intervalMs` (and always the last one). The rate is the elapsed time over the items done so far, so items served
 * from a cache make the first estimates optimistic.
 */
export function countProgress(label: string, total: number, write: (line: string) => void, unit = 'frames', intervalMs = 2000): CountProgress {
  const started = performance.now();
  let lastPrinted = Number.NEGATIVE_INFINITY;
  let current = 0;
  const line = (): string => {
    const elapsed = (performance.now() - started) / 1000;
    const rate = current > 0 ? elapsed / current : Number.NaN;
    const eta = Number.isFinite(rate) ? rate * (total - current) : Number.NaN;
    const pct = total > 0 ? Math.round((100 * current) / total) : 100;
    return `${label} ${current}/${total} ${unit} (${pct}%), ${Number.isFinite(rate) ? rate.toFixed(2) : '-'} s/${unit.replace(/s$/, '')}, elapsed ${formatClock(elapsed)}, ETA ${formatClock(eta)}`;
  };
  return {
    update(done) {
      current = done;
      const now = performance.now();
      if (now - lastPrinted >= intervalMs) {
        lastPrinted = now;
        write(line());
      }
    },
    done() {
      write(line());
    },
  };
}
