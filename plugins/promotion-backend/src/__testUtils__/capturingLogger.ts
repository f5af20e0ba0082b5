import {
  LoggerService,
  RootLoggerService,
} from '@backstage/backend-plugin-api';

/** Every line any plugin logs, with its metadata and errors, as text. */
export function capturingLogger(lines: string[]): RootLoggerService {
  const make = (meta: object): LoggerService => {
    const log =
      (level: string) => (message: string, extra?: Error | object) => {
        const error =
          extra instanceof Error
            ? `${extra.name}: ${extra.message}\n${extra.stack}`
            : JSON.stringify(extra ?? {});
        lines.push(`${level} ${JSON.stringify(meta)} ${message} ${error}`);
      };
    return {
      error: log('error'),
      warn: log('warn'),
      info: log('info'),
      debug: log('debug'),
      child: childMeta => make({ ...meta, ...childMeta }),
    };
  };
  return make({});
}
