import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * A Vault Transit test server on 127.0.0.1: enough of Vault's HTTP API for the key
 * provider, with the same paths, bodies and status codes. Ciphertexts are real
 * AES-256-GCM under per-version random keys, so a ciphertext only decrypts under the
 * key and version that made it. Tests can seal it, deny paths, and expire tokens.
 */
export interface TransitServer {
  url: string;
  /** A token that never expires and may do everything, like a root token. */
  rootToken: string;
  approle: { roleId: string; secretId: string };
  state: {
    sealed: boolean;
    /** Requests whose path (without /v1/) matches one of these get 403. */
    denied: RegExp[];
    /** TTL in seconds of tokens made by AppRole login. */
    tokenTtlSeconds: number;
    /** Renewals stop extending a token past this many seconds after its login. */
    tokenMaxTtlSeconds: number;
  };
  keys: Map<string, TransitKey>;
  /** Every request as `METHOD path`, oldest first. */
  requests: string[];
  /** Namespaces sent in X-Vault-Namespace, one per request that had one. */
  namespaces: string[];
  /** Expire every AppRole token now, as when its TTL has passed. */
  expireTokens(): void;
  close(): Promise<void>;
}

export interface TransitKey {
  type: string;
  exportable: boolean;
  allowPlaintextBackup: boolean;
  deletionAllowed: boolean;
  minDecryptionVersion: number;
  /** versions[0] is version 1. */
  versions: Buffer[];
}

interface Token {
  expiresAt: number;
  maxExpiresAt: number;
}

type Body = Record<string, unknown>;
type Reply = { status: number; body?: unknown };

export async function startTransitServer(options: { mount?: string; tls?: { key: Buffer; cert: Buffer } } = {}): Promise<TransitServer> {
  const mount = options.mount ?? 'transit';
  const rootToken = `root-${randomUUID()}`;
  const tokens = new Map<string, Token>();
  const server: TransitServer = {
    url: '',
    rootToken,
    approle: { roleId: randomUUID(), secretId: randomUUID() },
    state: { sealed: false, denied: [], tokenTtlSeconds: 3600, tokenMaxTtlSeconds: 86_400 },
    keys: new Map(),
    requests: [],
    namespaces: [],
    expireTokens: () => {
      for (const token of tokens.values()) token.expiresAt = 0;
    },
    close: async () => {},
  };

  const handle = (method: string, path: string, token: string | undefined, body: Body): Reply => {
    if (path === 'sys/health') {
      return server.state.sealed
        ? { status: 503, body: { initialized: true, sealed: true, standby: false } }
        : { status: 200, body: { initialized: true, sealed: false, standby: false, version: 'transit-test-server' } };
    }
    if (server.state.sealed) return { status: 503, body: { errors: ['Vault is sealed'] } };

    if (method === 'POST' && path === 'auth/approle/login') {
      if (body.role_id !== server.approle.roleId || body.secret_id !== server.approle.secretId) {
        return { status: 400, body: { errors: ['invalid role or secret ID'] } };
      }
      const clientToken = `s.${randomUUID()}`;
      const now = Date.now();
      tokens.set(clientToken, { expiresAt: now + server.state.tokenTtlSeconds * 1000, maxExpiresAt: now + server.state.tokenMaxTtlSeconds * 1000 });
      return { status: 200, body: { auth: { client_token: clientToken, lease_duration: server.state.tokenTtlSeconds, renewable: true, policies: ['strata'] } } };
    }

    if (!token || !tokenValid(token) || server.state.denied.some((pattern) => pattern.test(path))) {
      return { status: 403, body: { errors: ['permission denied'] } };
    }
    return handleAuthenticated(method, path, token, body);
  };

  const tokenValid = (token: string): boolean => {
    if (token === rootToken) return true;
    const entry = tokens.get(token);
    return entry !== undefined && entry.expiresAt > Date.now();
  };

  const handleAuthenticated = (method: string, path: string, token: string, body: Body): Reply => {
    if (path === 'auth/token/lookup-self') {
      const entry = tokens.get(token);
      const ttl = entry ? Math.max(0, Math.floor((entry.expiresAt - Date.now()) / 1000)) : 0;
      return { status: 200, body: { data: { ttl, renewable: entry !== undefined, policies: ['strata'] } } };
    }
    if (path === 'auth/token/renew-self' && method === 'POST') {
      const entry = tokens.get(token);
      if (!entry) return { status: 400, body: { errors: ['lease is not renewable'] } };
      entry.expiresAt = Math.min(entry.maxExpiresAt, Date.now() + server.state.tokenTtlSeconds * 1000);
      const ttl = Math.floor((entry.expiresAt - Date.now()) / 1000);
      return { status: 200, body: { auth: { client_token: token, lease_duration: ttl, renewable: ttl > 0 } } };
    }

    const prefix = `${mount}/`;
    if (!path.startsWith(prefix)) return { status: 404, body: { errors: [`no handler for route "${path}"`] } };
    return handleTransit(method, path.slice(prefix.length).split('/'), body);
  };

  const handleTransit = (method: string, segments: string[], body: Body): Reply => {
    const [area, nameOrKind, third, fourth] = segments;
    if (area === 'keys' && nameOrKind && !third) return handleKey(method, nameOrKind, body);
    if (area === 'keys' && nameOrKind && third === 'rotate' && method === 'POST') return rotate(nameOrKind);
    if (area === 'keys' && nameOrKind && third === 'config' && method === 'POST') return configure(nameOrKind, body);
    if (area === 'datakey' && nameOrKind === 'wrapped' && third && !fourth && method === 'POST') return dataKey(third, body);
    if (area === 'decrypt' && nameOrKind && method === 'POST') return decrypt(nameOrKind, body);
    if (area === 'encrypt' && nameOrKind && method === 'POST') return encrypt(nameOrKind, body);
    if (area === 'rewrap' && nameOrKind && method === 'POST') return rewrap(nameOrKind, body);
    return { status: 405, body: { errors: ['unsupported operation'] } };
  };

  const handleKey = (method: string, name: string, body: Body): Reply => {
    const key = server.keys.get(name);
    if (method === 'GET') {
      if (!key) return { status: 404, body: { errors: [] } };
      return { status: 200, body: { data: describeKey(name, key) } };
    }
    if (method === 'POST') {
      // Vault leaves an existing key as it is and returns success.
      if (!key) {
        server.keys.set(name, {
          type: String(body.type ?? 'aes256-gcm96'),
          exportable: body.exportable === true,
          allowPlaintextBackup: body.allow_plaintext_backup === true,
          deletionAllowed: false,
          minDecryptionVersion: 1,
          versions: [randomBytes(32)],
        });
      }
      return { status: 204 };
    }
    if (method === 'DELETE') {
      if (!key) return { status: 204 };
      if (!key.deletionAllowed) return { status: 400, body: { errors: ['deletion is not allowed for this key'] } };
      for (const version of key.versions) version.fill(0);
      server.keys.delete(name);
      return { status: 204 };
    }
    return { status: 405, body: { errors: ['unsupported operation'] } };
  };

  const rotate = (name: string): Reply => {
    const key = server.keys.get(name);
    if (!key) return { status: 400, body: { errors: ['key not found'] } };
    key.versions.push(randomBytes(32));
    return { status: 200, body: { data: describeKey(name, key) } };
  };

  const configure = (name: string, body: Body): Reply => {
    const key = server.keys.get(name);
    if (!key) return { status: 400, body: { errors: ['no existing key named ' + name + ' could be found'] } };
    if (body.deletion_allowed !== undefined) key.deletionAllowed = body.deletion_allowed === true;
    if (body.min_decryption_version !== undefined) {
      const version = Number(body.min_decryption_version);
      if (!Number.isInteger(version) || version < 1 || version > key.versions.length) {
        return { status: 400, body: { errors: ['cannot set min decryption version to a value greater than the latest version'] } };
      }
      key.minDecryptionVersion = version;
    }
    return { status: 200, body: { data: describeKey(name, key) } };
  };

  const dataKey = (name: string, body: Body): Reply => {
    const key = server.keys.get(name);
    if (!key) return { status: 400, body: { errors: ['encryption key not found'] } };
    const bits = Number(body.bits ?? 256);
    const plaintext = randomBytes(bits / 8);
    const ciphertext = seal(key, key.versions.length, plaintext);
    plaintext.fill(0);
    return { status: 200, body: { data: { ciphertext, key_version: key.versions.length } } };
  };

  const encrypt = (name: string, body: Body): Reply => {
    const key = server.keys.get(name);
    if (!key) return { status: 400, body: { errors: ['encryption key not found'] } };
    const ciphertext = seal(key, key.versions.length, Buffer.from(String(body.plaintext ?? ''), 'base64'));
    return { status: 200, body: { data: { ciphertext, key_version: key.versions.length } } };
  };

  const decrypt = (name: string, body: Body): Reply => {
    const opened = open(name, body);
    if ('status' in opened) return opened;
    return { status: 200, body: { data: { plaintext: opened.plaintext.toString('base64') } } };
  };

  const rewrap = (name: string, body: Body): Reply => {
    const opened = open(name, body);
    if ('status' in opened) return opened;
    const key = server.keys.get(name)!;
    const ciphertext = seal(key, key.versions.length, opened.plaintext);
    opened.plaintext.fill(0);
    return { status: 200, body: { data: { ciphertext, key_version: key.versions.length } } };
  };

  const open = (name: string, body: Body): Reply | { plaintext: Buffer } => {
    const key = server.keys.get(name);
    if (!key) return { status: 400, body: { errors: ['encryption key not found'] } };

    const match = /^vault:v(\d+):(.+)$/.exec(String(body.ciphertext ?? ''));
    if (!match) return { status: 400, body: { errors: ['invalid ciphertext: no prefix'] } };
    const version = Number(match[1]);
    if (version < key.minDecryptionVersion) return { status: 400, body: { errors: ['cannot decrypt: ciphertext version is disallowed by policy (too old)'] } };
    if (version > key.versions.length) return { status: 400, body: { errors: ['invalid key version'] } };

    const raw = Buffer.from(match[2]!, 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.versions[version - 1]!, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      return { plaintext: Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]) };
    } catch {
      return { status: 400, body: { errors: ['cipher: message authentication failed'] } };
    }
  };

  const listener: http.RequestListener = (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const path = url.pathname.replace(/^\/v1\//, '');
      const method = request.method === 'PUT' ? 'POST' : (request.method ?? 'GET');
      server.requests.push(`${method} ${path}`);
      const namespace = request.headers['x-vault-namespace'];
      if (typeof namespace === 'string') server.namespaces.push(namespace);

      let body: Body = {};
      try {
        body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Body) : {};
      } catch {
        send(response, { status: 400, body: { errors: ['failed to parse JSON input'] } });
        return;
      }
      const token = request.headers['x-vault-token'];
      send(response, handle(method, path, typeof token === 'string' && token !== '' ? token : undefined, body));
    });
  };
  const httpServer = options.tls ? https.createServer(options.tls, listener) : http.createServer(listener);

  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  server.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  server.close = () =>
    new Promise<void>((resolve, reject) => {
      httpServer.closeAllConnections();
      httpServer.close((error) => (error ? reject(error) : resolve()));
    });
  return server;
}

function seal(key: TransitKey, version: number, plaintext: Buffer): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.versions[version - 1]!, nonce);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return `vault:v${version}:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
}

function describeKey(name: string, key: TransitKey): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    name,
    type: key.type,
    exportable: key.exportable,
    allow_plaintext_backup: key.allowPlaintextBackup,
    deletion_allowed: key.deletionAllowed,
    min_decryption_version: key.minDecryptionVersion,
    latest_version: key.versions.length,
    keys: Object.fromEntries(key.versions.map((_, index) => [String(index + 1), now])),
  };
}

function send(response: http.ServerResponse, reply: Reply): void {
  if (reply.body === undefined) {
    response.writeHead(reply.status).end();
    return;
  }
  response.writeHead(reply.status, { 'Content-Type': 'application/json' }).end(JSON.stringify(reply.body));
}
