import { randomBytes } from 'node:crypto';
import { loadConfig, type VaultConfig } from '../../src/config.ts';
import { startTransitServer, type TransitServer } from './transitServer.ts';

/**
 * Where the key provider tests send their Transit requests: the test server, or a real
 * Vault when VAULT_ADDR and VAULT_TOKEN are set. Tests that seal Vault, deny paths or
 * expire tokens need the test server and are skipped against a real Vault.
 */
export interface TransitTarget {
  name: string;
  server: TransitServer | undefined;
  /** Environment for loadConfig or a child `strata` process. */
  env(extra?: Record<string, string>): Record<string, string>;
  vaultConfig(extra?: Record<string, string>): VaultConfig;
  close(): Promise<void>;
}

export function realVaultAvailable(): boolean {
  return Boolean(process.env.VAULT_ADDR && process.env.VAULT_TOKEN);
}

export async function startTransitTarget(kind: 'test server' | 'real Vault'): Promise<TransitTarget> {
  const server = kind === 'test server' ? await startTransitServer() : undefined;
  const base: Record<string, string> = server
    ? { STRATA_KEY_PROVIDER: 'vault', VAULT_ADDR: server.url, VAULT_TOKEN: server.rootToken }
    : {
        STRATA_KEY_PROVIDER: 'vault',
        VAULT_ADDR: process.env.VAULT_ADDR!,
        VAULT_TOKEN: process.env.VAULT_TOKEN!,
        ...(process.env.VAULT_NAMESPACE ? { VAULT_NAMESPACE: process.env.VAULT_NAMESPACE } : {}),
        ...(process.env.VAULT_CACERT ? { VAULT_CACERT: process.env.VAULT_CACERT } : {}),
        ...(process.env.STRATA_VAULT_TRANSIT_MOUNT ? { STRATA_VAULT_TRANSIT_MOUNT: process.env.STRATA_VAULT_TRANSIT_MOUNT } : {}),
      };
  const env = (extra: Record<string, string> = {}) => ({ ...base, ...extra });
  return {
    name: kind,
    server,
    env,
    vaultConfig: (extra) => loadConfig(env(extra)).vault!,
    close: async () => server?.close(),
  };
}

/** Make a tenant code unlikely to collide with keys left in a shared real Vault. */
export function uniqueCode(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}
