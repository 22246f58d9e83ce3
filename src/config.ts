/**
 * Service configuration, read from the environment once and validated at start-up.
 * A bad value fails fast with the variable's name and the expected form.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface IngestLimits {
  /** Largest request body as sent (compressed when gzip), in bytes. */
  maxChunkBytes: number;
  /** Largest chunk after gzip decompression, in bytes. */
  maxChunkDecompressedBytes: number;
  /** Most rows one chunk may carry. */
  maxChunkRows: number;
  /** Maximum length of `dir_path`, in characters. */
  maxPathChars: number;
  /** Maximum length of a file `name`, in characters. */
  maxNameChars: number;
}

export interface Config {
  /** PostgreSQL connection string; unset only where the caller brings its own database. */
  databaseUrl: string | undefined;
  httpHost: string;
  httpPort: number;
  logLevel: string;
  nodeEnv: string;
  /** Connections in the service's own pool (per process). */
  dbPoolMax: number;
  /** Milliseconds a request waits for a pooled connection before it gets a 503. */
  dbConnectTimeoutMs: number;
  /** Chunk uploads one API process streams at once; further uploads get a 503 with Retry-After. */
  maxConcurrentChunks: number;
  ingest: IngestLimits;
  /** Tenant schemas migrated at once by `strata migrate`. */
  migrateConcurrency: number;
  /** Chunks normalised at once by one worker process. */
  normalizeConcurrency: number;
  keyProvider: 'local';
  /** Folder of the local keyring: one key file per tenant, created at onboarding. */
  keyringDir: string;
  /** pg_dump and pg_restore for tenant export and import; unset means search PATH and /usr/lib/postgresql. */
  pgDumpPath: string | undefined;
  pgRestorePath: string | undefined;
}

type Env = Record<string, string | undefined>;

function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;

  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function readChoice<T extends string>(env: Env, name: string, fallback: T, choices: readonly T[]): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${choices.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function readDatabaseUrl(env: Env): string | undefined {
  const raw = env.DATABASE_URL;
  if (raw === undefined || raw === '') return undefined;
  if (!/^postgres(ql)?:\/\//.test(raw)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// connection string');
  }
  return raw;
}

const MiB = 1024 * 1024;

/** Build the configuration from an environment (the process's by default). */
export function loadConfig(env: Env = process.env): Config {
  return {
    databaseUrl: readDatabaseUrl(env),
    httpHost: env.STRATA_HTTP_HOST || '0.0.0.0',
    httpPort: readInt(env, 'STRATA_HTTP_PORT', 8080, 0, 65535),
    logLevel: readChoice(env, 'STRATA_LOG_LEVEL', 'info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    nodeEnv: env.NODE_ENV || 'development',
    dbPoolMax: readInt(env, 'STRATA_DB_POOL_MAX', 20, 2, 1000),
    dbConnectTimeoutMs: readInt(env, 'STRATA_DB_CONNECT_TIMEOUT_MS', 10_000, 100, 600_000),
    maxConcurrentChunks: readInt(env, 'STRATA_MAX_CONCURRENT_CHUNKS', 12, 1, 10_000),
    ingest: {
      maxChunkBytes: readInt(env, 'STRATA_MAX_CHUNK_BYTES', 256 * MiB, 1024, 4096 * MiB),
      maxChunkDecompressedBytes: readInt(env, 'STRATA_MAX_CHUNK_DECOMPRESSED_BYTES', 1024 * MiB, 1024, 16384 * MiB),
      maxChunkRows: readInt(env, 'STRATA_MAX_CHUNK_ROWS', 1_000_000, 1, 100_000_000),
      maxPathChars: readInt(env, 'STRATA_MAX_PATH_CHARS', 32_767, 16, 1_000_000),
      maxNameChars: readInt(env, 'STRATA_MAX_NAME_CHARS', 1024, 16, 65_535),
    },
    migrateConcurrency: readInt(env, 'STRATA_MIGRATE_CONCURRENCY', 8, 1, 256),
    normalizeConcurrency: readInt(env, 'STRATA_NORMALIZE_CONCURRENCY', 4, 1, 256),
    keyProvider: readChoice(env, 'STRATA_KEY_PROVIDER', 'local', ['local']),
    keyringDir: env.STRATA_KEYRING_DIR || '.strata/keyring',
    pgDumpPath: env.STRATA_PG_DUMP || undefined,
    pgRestorePath: env.STRATA_PG_RESTORE || undefined,
  };
}

/** Return the database URL, or fail with the variable to set. */
export function requireDatabaseUrl(config: Config): string {
  if (!config.databaseUrl) {
    throw new ConfigError('DATABASE_URL is not set; set it to a postgresql:// connection string');
  }
  return config.databaseUrl;
}
