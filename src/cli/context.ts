import { loadConfig, requireDatabaseUrl, type Config } from '../config.ts';
import { createLogger, type Logger } from '../log.ts';
import { openServices, type Services } from '../services.ts';

/** Config and a stderr logger for a CLI command. */
export function cliBasics(): { config: Config; log: Logger } {
  const config = loadConfig();
  return { config, log: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, { fd: 2 }) };
}

/** Run a command body with services on DATABASE_URL, closing them afterwards. */
export async function withServices<T>(work: (services: Services) => Promise<T>): Promise<T> {
  const { config, log } = cliBasics();
  const services = await openServices(config, log, requireDatabaseUrl(config));
  try {
    return await work(services);
  } finally {
    await services.close();
  }
}
