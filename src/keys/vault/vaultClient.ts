import { readFileSync } from 'node:fs';
import nodeVault from 'node-vault';
import type { VaultConfig } from '../../config.ts';
import type { Logger } from '../../log.ts';
import { KeyServiceUnavailableError } from '../keyErrors.ts';
import { VaultRequestError, classifyVaultError } from './vaultErrors.ts';

// NOTE: DEBUG=node-vault makes node-vault print request bodies, AppRole secret ids
// included, to stderr. Leave it unset outside a development machine.

/** Renew a token when this share of its TTL has passed, leaving time for a retry. */
const RENEW_AT_FRACTION = 2 / 3;

/**
 * An authenticated Vault client. It logs in with AppRole on first use, renews its token
 * before the TTL runs out, and logs in again when Vault returns 403 (an expired or
 * revoked token), retrying the request once. With a static token there is nothing to
 * log in with, so a 403 is final. Sealed, unreachable or denied Vault becomes
 * KeyServiceUnavailableError; other Vault errors become VaultRequestError.
 */
export class VaultClient {
  private readonly client: nodeVault.client;
  private login: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private authenticated = false;
  private closed = false;

  constructor(
    private readonly config: VaultConfig,
    private readonly log: Logger,
  ) {
    this.client = nodeVault({
      endpoint: config.address,
      namespace: config.namespace,
      // node-vault falls back to VAULT_TOKEN from the environment; the token comes from
      // the validated configuration instead, and AppRole sets its own.
      token: config.auth.method === 'token' ? config.auth.token : '',
      requestOptions: {
        // node-vault turns certificate checks off when VAULT_SKIP_VERIFY is set in the
        // environment. Strata never does: use VAULT_CACERT for a private CA.
        strictSSL: true,
        timeout: config.requestTimeoutMs,
        ...(config.caCertPath ? { ca: readFileSync(config.caCertPath) } : {}),
      },
    });
  }

  read(path: string): Promise<VaultResponse> {
    return this.call(path, () => this.client.read(path));
  }

  write(path: string, body: object): Promise<VaultResponse> {
    return this.call(path, () => this.client.write(path, body));
  }

  delete(path: string): Promise<VaultResponse> {
    return this.call(path, () => this.client.delete(path));
  }

  /** `sys/health` needs no token; node-vault returns its body for every status. */
  async health(): Promise<{ initialized?: boolean; sealed?: boolean; standby?: boolean }> {
    return this.client.health({ standbyok: true });
  }

  /** Look up the client's own token, logging in again first where AppRole allows; throws when Vault denies it. */
  async checkToken(): Promise<void> {
    await this.call('auth/token/lookup-self', () => this.client.tokenLookupSelf());
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.renewTimer);
  }

  private async call(path: string, request: () => Promise<VaultResponse>): Promise<VaultResponse> {
    await this.ensureAuthenticated();
    try {
      return await request();
    } catch (error) {
      const failure = classifyVaultError(error, path);
      if (!(failure instanceof KeyServiceUnavailableError && failure.reason === 'denied' && this.config.auth.method === 'approle')) {
        throw failure;
      }

      // A 403 after the token's TTL: log in again and repeat the request once. A
      // second 403 means the policy itself denies the path.
      this.log.warn({ vaultPath: path }, 'Vault denied the request; logging in again with AppRole');
      this.authenticated = false;
      await this.ensureAuthenticated();
      try {
        return await request();
      } catch (retryError) {
        throw classifyVaultError(retryError, path);
      }
    }
  }

  private async ensureAuthenticated(): Promise<void> {
    if (this.authenticated) return;
    this.login ??= this.authenticate().finally(() => {
      this.login = undefined;
    });
    await this.login;
  }

  private async authenticate(): Promise<void> {
    const auth = this.config.auth;
    if (auth.method === 'token') {
      // A static token needs no login; look it up once to schedule renewals when it is
      // renewable. A lookup failure is left to the first real request to report.
      this.authenticated = true;
      await this.scheduleFromLookup();
      return;
    }

    // Drop the old token first: it may be the expired one, and login paths need none.
    this.client.token = '';
    let response: VaultResponse;
    try {
      response = await this.client.approleLogin({ mount_point: auth.mount, role_id: auth.roleId, secret_id: auth.secretId });
    } catch (error) {
      const failure = classifyVaultError(error, `auth/${auth.mount}/login`);
      // Vault returns 400 for a wrong role or secret id. That is access denied, which
      // callers treat like a sealed Vault (503, retry), not a bad request.
      if (failure instanceof VaultRequestError) throw new KeyServiceUnavailableError(`Vault rejected the AppRole login: ${failure.message}; check STRATA_VAULT_ROLE_ID and the secret id`, 'denied', failure);
      throw failure;
    }

    const lease = response.auth as { lease_duration?: number; renewable?: boolean } | undefined;
    this.authenticated = true;
    this.log.info({ ttlSeconds: lease?.lease_duration, renewable: lease?.renewable }, 'logged in to Vault with AppRole');
    this.scheduleRenewal(lease?.lease_duration, lease?.renewable);
  }

  private async scheduleFromLookup(): Promise<void> {
    try {
      const lookup = await this.client.tokenLookupSelf();
      const data = lookup.data as { ttl?: number; renewable?: boolean } | undefined;
      this.scheduleRenewal(data?.ttl, data?.renewable);
    } catch (error) {
      this.log.warn({ err: classifyVaultError(error, 'auth/token/lookup-self') }, 'Vault token lookup failed; the token is not renewed');
    }
  }

  private scheduleRenewal(ttlSeconds: number | undefined, renewable: boolean | undefined): void {
    clearTimeout(this.renewTimer);
    // A TTL of 0 is a token that never expires (root tokens, periodic tokens aside).
    if (this.closed || !ttlSeconds || ttlSeconds <= 0) return;

    const delayMs = Math.max(1, Math.floor(ttlSeconds * RENEW_AT_FRACTION)) * 1000;
    this.renewTimer = setTimeout(() => void this.renew(renewable), delayMs);
    this.renewTimer.unref();
  }

  private async renew(renewable: boolean | undefined): Promise<void> {
    if (renewable === false) {
      // An AppRole token that cannot be renewed is replaced by a fresh login on next use.
      this.authenticated = this.config.auth.method === 'token';
      return;
    }

    try {
      const response = await this.client.tokenRenewSelf({});
      const lease = response.auth as { lease_duration?: number; renewable?: boolean } | undefined;
      this.log.debug({ ttlSeconds: lease?.lease_duration }, 'Vault token renewed');
      this.scheduleRenewal(lease?.lease_duration, lease?.renewable);
    } catch (error) {
      // Past its maximum TTL a token cannot be renewed. AppRole logs in again on next
      // use; a static token keeps failing until the operator replaces it.
      this.log.warn({ err: classifyVaultError(error, 'auth/token/renew-self') }, 'Vault token renewal failed');
      if (this.config.auth.method === 'approle') this.authenticated = false;
    }
  }
}

/** A Vault response body: `data` for reads and transit operations, `auth` for logins. */
export interface VaultResponse {
  data?: Record<string, unknown>;
  auth?: Record<string, unknown>;
  [key: string]: unknown;
}

export { VaultRequestError };
