/**
 * Service configuration, read from the environment once and validated at start-up.
 * A bad value fails fast with the variable's name and the expected form.
 */
import { readFileSync } from 'node:fs';

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

/** Leases, claim sizes and the error-rate stop of the acting endpoints. */
export interface ActingConfig {
  /** Lease given when a claim names none, in seconds. */
  defaultLeaseSeconds: number;
  /** Maximum lease a claim may request, in seconds. */
  maxLeaseSeconds: number;
  /** Maximum actions one claim hands out, whatever the agent requests. */
  maxClaim: number;
  /** Failure fraction of a share's recent results above which its claims stop (a policy may set its own). */
  maxFailureRate: number;
  /** How many of a share's latest results the failure rate is computed over. */
  failureWindow: number;
  /** Results needed in the window before the rate can stop a share. */
  failureMinResults: number;
  /** Age in seconds after which a share's recorded results are pruned. */
  resultRetentionSeconds: number;
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
  /** Scans finalised at once by one worker process. */
  finalizeConcurrency: number;
  /** OK scans kept per share; older snapshots expire and their rows are dropped. */
  scanRetention: number;
  /** work_mem and maintenance_work_mem of one scan's finalisation, in MiB. */
  finalizeMemoryMb: number;
  /** Key provider of tenant keys: `local` (development keyring) or `vault` (Vault/OpenBao Transit). */
  keyProvider: 'local' | 'vault';
  /** Folder of the local keyring: one key file per tenant, created at onboarding. */
  keyringDir: string;
  /** Vault connection; undefined unless STRATA_KEY_PROVIDER=vault. */
  vault: VaultConfig | undefined;
  /** Seconds an unwrapped data key stays cached in memory (0 disables the cache). */
  dekCacheTtlSeconds: number;
  /** Callbacks one cached data key serves before it is unwrapped again. */
  dekCacheMaxUses: number;
  /**
   * Let `strata api` and `strata worker` start on a login that can read around
   * row-level security (a superuser), with a warning. For development and tests only;
   * rejected when NODE_ENV is production.
   */
  allowSuperuser: boolean;
  /** pg_dump and pg_restore for tenant export and import; unset means search PATH and /usr/lib/postgresql. */
  pgDumpPath: string | undefined;
  pgRestorePath: string | undefined;
  acting: ActingConfig;
  sanitize: SanitizeSettings;
}

export interface SanitizeSettings {
  /** Seconds a remediation proposal can be approved and started after it is made. */
  proposalTtlSeconds: number;
  /** Seconds a quarantined orphan is kept before it is deleted. */
  quarantineGraceSeconds: number;
  /** Objects asked for in one page of a server-side Tier-2 listing. */
  inventoryPageSize: number;
  /** Most objects one agent inventory chunk may carry. */
  maxInventoryChunkObjects: number;
  /** Largest agent inventory chunk body, in bytes. */
  maxInventoryChunkBytes: number;
  /**
   * Fault injection for tests: a worker exits after recording this many remediation
   * actions, as if killed. 0 (the default) turns it off; rejected in production.
   */
  faultExitAfterActions: number;
}

/** Connection and authentication settings of Vault (or OpenBao). */
export interface VaultConfig {
  /** Base URL, e.g. `https://vault.internal:8200` (VAULT_ADDR). */
  address: string;
  /** Enterprise or OpenBao namespace sent as X-Vault-Namespace (VAULT_NAMESPACE). */
  namespace: string | undefined;
  /** Mount path of the Transit engine, without slashes (STRATA_VAULT_TRANSIT_MOUNT). */
  transitMount: string;
  /** PEM file of the CA that signed Vault's TLS certificate (VAULT_CACERT). */
  caCertPath: string | undefined;
  /** Milliseconds one Vault request may take before it counts as unreachable. */
  requestTimeoutMs: number;
  auth: VaultAuthConfig;
}

export type VaultAuthConfig =
  | { method: 'token'; token: string }
  | { method: 'approle'; mount: string; roleId: string; secretId: string };

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

function readFraction(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;

  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || value > 1) {
    throw new ConfigError(`${name} must be a number above 0 and at most 1, got "${raw}"`);
  }
  return value;
}

/** Read the acting settings; the defaults suit agents that claim a few hundred files at a time. */
export function loadActingConfig(env: Env = process.env): ActingConfig {
  const maxLeaseSeconds = readInt(env, 'STRATA_ACT_MAX_LEASE_SECONDS', 3600, 10, 86_400);
  return {
    defaultLeaseSeconds: Math.min(readInt(env, 'STRATA_ACT_LEASE_SECONDS', 300, 5, 86_400), maxLeaseSeconds),
    maxLeaseSeconds,
    maxClaim: readInt(env, 'STRATA_ACT_MAX_CLAIM', 256, 1, 10_000),
    maxFailureRate: readFraction(env, 'STRATA_ACT_MAX_FAILURE_RATE', 0.25),
    failureWindow: readInt(env, 'STRATA_ACT_FAILURE_WINDOW', 200, 1, 100_000),
    failureMinResults: readInt(env, 'STRATA_ACT_FAILURE_MIN_RESULTS', 20, 1, 100_000),
    resultRetentionSeconds: readInt(env, 'STRATA_ACT_RESULT_RETENTION_DAYS', 90, 1, 36_500) * 86_400,
  };
}

function readDatabaseUrl(env: Env): string | undefined {
  const raw = env.DATABASE_URL;
  if (raw === undefined || raw === '') return undefined;
  if (!/^postgres(ql)?:\/\//.test(raw)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// connection string');
  }
  return raw;
}

function readFlag(env: Env, name: string): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new ConfigError(`${name} must be 1, true, 0 or false, got "${raw}"`);
}

function readFaultExit(env: Env, nodeEnv: string): number {
  const after = readInt(env, 'STRATA_FAULT_EXIT_AFTER_ACTIONS', 0, 0, 1_000_000);
  if (after > 0 && nodeEnv === 'production') {
    throw new ConfigError('STRATA_FAULT_EXIT_AFTER_ACTIONS is for fault tests only and is rejected when NODE_ENV=production; unset it');
  }
  return after;
}

function readAllowSuperuser(env: Env, nodeEnv: string): boolean {
  const allowed = readFlag(env, 'STRATA_ALLOW_SUPERUSER');
  if (allowed && nodeEnv === 'production') {
    throw new ConfigError('STRATA_ALLOW_SUPERUSER is for development only and is rejected when NODE_ENV=production; unset it');
  }
  return allowed;
}

const MOUNT_PATH = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/;

function readMountPath(env: Env, name: string, fallback: string): string {
  const raw = env[name] || fallback;
  if (!MOUNT_PATH.test(raw)) {
    throw new ConfigError(`${name} must be a mount path such as "${fallback}" (letters, digits, _ and -, segments joined by /), got "${raw}"`);
  }
  return raw;
}

function readVaultAddress(env: Env, nodeEnv: string): string {
  const raw = env.VAULT_ADDR;
  if (raw === undefined || raw === '') {
    throw new ConfigError('VAULT_ADDR is not set; STRATA_KEY_PROVIDER=vault needs the Vault address, e.g. https://vault.internal:8200');
  }

  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`VAULT_ADDR must be an http:// or https:// URL, got "${raw}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`VAULT_ADDR must be an http:// or https:// URL, got "${raw}"`);
  }

  // Tokens and wrapped keys cross this connection, so production insists on TLS unless
  // Vault listens on the same host.
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol === 'http:' && nodeEnv === 'production' && !loopback) {
    throw new ConfigError(`VAULT_ADDR uses plain http to ${url.hostname}, which is rejected when NODE_ENV=production; use https://`);
  }
  return raw.replace(/\/+$/, '');
}

function readVaultAuth(env: Env): VaultAuthConfig {
  const roleId = env.STRATA_VAULT_ROLE_ID;
  if (roleId) {
    const secretId = readSecretId(env);
    return { method: 'approle', mount: readMountPath(env, 'STRATA_VAULT_APPROLE_MOUNT', 'approle'), roleId, secretId };
  }

  const token = env.VAULT_TOKEN;
  if (token) return { method: 'token', token };
  throw new ConfigError(
    'STRATA_KEY_PROVIDER=vault needs credentials: set STRATA_VAULT_ROLE_ID and STRATA_VAULT_SECRET_ID (or STRATA_VAULT_SECRET_ID_FILE) for AppRole, or VAULT_TOKEN',
  );
}

function readSecretId(env: Env): string {
  if (env.STRATA_VAULT_SECRET_ID) return env.STRATA_VAULT_SECRET_ID;

  const file = env.STRATA_VAULT_SECRET_ID_FILE;
  if (!file) {
    throw new ConfigError('STRATA_VAULT_ROLE_ID is set but no secret id: set STRATA_VAULT_SECRET_ID or STRATA_VAULT_SECRET_ID_FILE');
  }
  try {
    const secretId = readFileSync(file, 'utf8').trim();
    if (secretId === '') throw new ConfigError(`STRATA_VAULT_SECRET_ID_FILE ${file} is empty`);
    return secretId;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`STRATA_VAULT_SECRET_ID_FILE ${file} cannot be read: ${(error as Error).message}`);
  }
}

function readVaultConfig(env: Env, nodeEnv: string): VaultConfig {
  return {
    address: readVaultAddress(env, nodeEnv),
    namespace: env.VAULT_NAMESPACE || undefined,
    transitMount: readMountPath(env, 'STRATA_VAULT_TRANSIT_MOUNT', 'transit'),
    caCertPath: env.VAULT_CACERT || undefined,
    requestTimeoutMs: readInt(env, 'STRATA_VAULT_TIMEOUT_MS', 5_000, 100, 120_000),
    auth: readVaultAuth(env),
  };
}

const MiB = 1024 * 1024;

/** Build the configuration from an environment (the process's by default). */
export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = env.NODE_ENV || 'development';
  const keyProvider = readChoice(env, 'STRATA_KEY_PROVIDER', 'local', ['local', 'vault'] as const);
  return {
    databaseUrl: readDatabaseUrl(env),
    httpHost: env.STRATA_HTTP_HOST || '0.0.0.0',
    httpPort: readInt(env, 'STRATA_HTTP_PORT', 8080, 0, 65535),
    logLevel: readChoice(env, 'STRATA_LOG_LEVEL', 'info', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    nodeEnv,
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
    finalizeConcurrency: readInt(env, 'STRATA_FINALIZE_CONCURRENCY', 2, 1, 64),
    scanRetention: readInt(env, 'STRATA_SCAN_RETENTION', 3, 1, 1000),
    finalizeMemoryMb: readInt(env, 'STRATA_FINALIZE_MEMORY_MB', 512, 16, 65_536),
    keyProvider,
    keyringDir: env.STRATA_KEYRING_DIR || '.strata/keyring',
    vault: keyProvider === 'vault' ? readVaultConfig(env, nodeEnv) : undefined,
    dekCacheTtlSeconds: readInt(env, 'STRATA_DEK_CACHE_TTL_SECONDS', 300, 0, 86_400),
    dekCacheMaxUses: readInt(env, 'STRATA_DEK_CACHE_MAX_USES', 10_000, 1, 100_000_000),
    allowSuperuser: readAllowSuperuser(env, nodeEnv),
    pgDumpPath: env.STRATA_PG_DUMP || undefined,
    pgRestorePath: env.STRATA_PG_RESTORE || undefined,
    acting: loadActingConfig(env),
    sanitize: {
      proposalTtlSeconds: readInt(env, 'STRATA_PROPOSAL_TTL_SECONDS', 86_400, 60, 30 * 86_400),
      quarantineGraceSeconds: readInt(env, 'STRATA_QUARANTINE_GRACE_SECONDS', 30 * 86_400, 0, 3650 * 86_400),
      inventoryPageSize: readInt(env, 'STRATA_INVENTORY_PAGE_SIZE', 1000, 1, 1000),
      maxInventoryChunkObjects: readInt(env, 'STRATA_MAX_INVENTORY_CHUNK_OBJECTS', 100_000, 1, 10_000_000),
      maxInventoryChunkBytes: readInt(env, 'STRATA_MAX_INVENTORY_CHUNK_BYTES', 64 * MiB, 1024, 1024 * MiB),
      faultExitAfterActions: readFaultExit(env, nodeEnv),
    },
  };
}

/** Return the database URL, or fail with the variable to set. */
export function requireDatabaseUrl(config: Config): string {
  if (!config.databaseUrl) {
    throw new ConfigError('DATABASE_URL is not set; set it to a postgresql:// connection string');
  }
  return config.databaseUrl;
}
