import { ConfigError, type Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { KeyProvider } from './keyProvider.ts';
import { LocalKeyring } from './localKeyring.ts';
import { VaultTransitKeyProvider } from './vault/vaultTransitKeyProvider.ts';

/** Build the key provider that STRATA_KEY_PROVIDER names. */
export function createKeyProvider(config: Config, log: Logger): KeyProvider {
  if (config.keyProvider === 'vault') {
    if (!config.vault) throw new ConfigError('STRATA_KEY_PROVIDER=vault but the Vault settings are missing');
    return new VaultTransitKeyProvider(config.vault, log);
  }
  return new LocalKeyring(config.keyringDir, config.nodeEnv, log);
}
