/**
 * Ctrl-C and SIGTERM as an AbortSignal for a long-running command: the first of them asks the command to stop
 * cleanly (a second one finds no listener and ends the process). `abort()` stops it the same way from within (a
 * part that failed); `release()` removes the listeners once the command is over.
 */
export function interruptSignal(): { signal: AbortSignal; abort(): void; release(): void } {
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: abort.signal,
    abort: stop,
    release() {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}
