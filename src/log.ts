/** Diagnostics go to stderr so that stdout stays clean for --json output and piping. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The level set by DASR_LOG_LEVEL (default info). */
export function configuredLogLevel(): LogLevel {
  return (process.env.DASR_LOG_LEVEL as LogLevel | undefined) ?? 'info';
}

export function createLogger(
  level: LogLevel = configuredLogLevel(),
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Logger {
  const threshold = ORDER[level] ?? ORDER.info;
  const at = (l: LogLevel) => (message: string) => {
    if (ORDER[l] >= threshold) write(`[dasr] ${l}: ${message}`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export const defaultLogger = createLogger();
