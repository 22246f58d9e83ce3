import { BlockList, isIP } from 'node:net';
import { Ajv } from 'ajv';
import { SHARE_NAME } from '../api/schemas.ts';
import { StrataError } from '../errors.ts';
import { normalizeStorePrefix } from '../tier2/objectKeys.ts';
import type { TargetConfig } from '../tier2/targetConfig.ts';

const ajv = new Ajv({ allErrors: false, strict: true });

const PREFIX = { type: 'string', maxLength: 512 };
const URL_TEXT = { type: 'string', minLength: 8, maxLength: 2048, pattern: '^https?://' };

const targetConfigSchema = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'root'],
      properties: {
        kind: { const: 'fs' },
        // An absolute POSIX path, a Windows drive path or a UNC path.
        root: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^(/|[A-Za-z]:\\\\|\\\\\\\\[^\\\\]+\\\\[^\\\\]+)' },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'bucket', 'region', 'accessKeyId', 'secretAccessKey'],
      properties: {
        kind: { const: 's3' },
        // S3 bucket naming rules: 3 to 63 lowercase letters, digits, dots and hyphens.
        bucket: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' },
        prefix: PREFIX,
        region: { type: 'string', pattern: '^[a-z0-9-]{1,32}$' },
        endpoint: URL_TEXT,
        forcePathStyle: { type: 'boolean' },
        accessKeyId: { type: 'string', minLength: 1, maxLength: 256 },
        secretAccessKey: { type: 'string', minLength: 1, maxLength: 1024 },
        sessionToken: { type: 'string', minLength: 1, maxLength: 8192 },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'container', 'accountUrl', 'accountName'],
      properties: {
        kind: { const: 'azure' },
        // Azure container naming rules: 3 to 63 lowercase letters, digits and single hyphens.
        container: { type: 'string', pattern: '^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$' },
        prefix: PREFIX,
        accountUrl: URL_TEXT,
        accountName: { type: 'string', pattern: '^[a-z0-9]{3,24}$' },
        accountKey: { type: 'string', minLength: 1, maxLength: 1024 },
        sasToken: { type: 'string', minLength: 1, maxLength: 8192 },
      },
    },
  ],
};

const validate = ajv.compile<TargetConfig>(targetConfigSchema);
const shareNamePattern = new RegExp(SHARE_NAME, 'u');

/** Check a share name against the rule the API applies; throws a 422 naming the share. */
export function assertTargetShareName(shareName: string): void {
  if (!shareNamePattern.test(shareName)) {
    throw StrataError.invalid('INVALID_SHARE_NAME', `share name ${JSON.stringify(shareName)} is invalid: use 1 to 80 characters without control characters or any of " / \\ [ ] : | < > + = ; , ? *, and no leading or trailing space`);
  }
}

/**
 * Check a target config and return it typed. The message names the field at fault and
 * never contains a credential's value.
 */
export function validTargetConfig(value: unknown): TargetConfig {
  if (!validate(value)) throw StrataError.invalid('INVALID_TARGET', `target is invalid: ${describeFailure(value)}`);
  const config = value;

  if (config.kind === 's3' || config.kind === 'azure') {
    try {
      normalizeStorePrefix(config.prefix);
    } catch (error) {
      throw StrataError.invalid('INVALID_TARGET', `target is invalid: prefix: ${(error as Error).message}`);
    }
  }
  if (config.kind === 's3' && config.endpoint) assertServiceUrl('endpoint', config.endpoint);
  if (config.kind === 'azure') {
    if ((config.accountKey === undefined) === (config.sasToken === undefined)) throw StrataError.invalid('INVALID_TARGET', 'target is invalid: give exactly one of accountKey and sasToken');
    assertServiceUrl('accountUrl', config.accountUrl);
  }
  return config;
}

/**
 * Reject service URLs that would put a secret in the clear settings (user info, a query
 * such as a SAS token) or aim at a link-local address, where cloud instance metadata
 * services listen.
 */
function assertServiceUrl(field: string, text: string): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The URL parser's message repeats the input, which is checked for secrets below.
    throw StrataError.invalid('INVALID_TARGET', `target is invalid: ${field} is not a URL`);
  }
  if (url.username || url.password) throw StrataError.invalid('INVALID_TARGET', `target is invalid: ${field} must not contain a user name or password; give credentials separately`);
  if (url.search || url.hash) throw StrataError.invalid('INVALID_TARGET', `target is invalid: ${field} must not contain a query or fragment; give a SAS token as a credential`);
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (isMetadataAddress(host)) {
    throw StrataError.invalid('INVALID_TARGET', `target is invalid: ${field} points at a link-local or instance metadata address`);
  }
}

/** Addresses where cloud instance metadata services listen, as the URL parser normalises them. */
const METADATA = new BlockList();
METADATA.addSubnet('169.254.0.0', 16, 'ipv4');
METADATA.addAddress('100.100.100.200', 'ipv4');
METADATA.addSubnet('fe80::', 10, 'ipv6');
METADATA.addAddress('fd00:ec2::254', 'ipv6');

/**
 * Tell whether a URL's host is a metadata address, an IPv6 form that embeds one (IPv4-
 * mapped `::ffff:a9fe:a9fe`, IPv4-compatible, NAT64 `64:ff9b::`), or a metadata name.
 * NOTE: a DNS name that resolves to such an address is not caught; the check would have
 * to run on every connection, inside the SDKs.
 */
export function isMetadataAddress(host: string): boolean {
  if (host === 'metadata.google.internal' || host === 'metadata') return true;
  if (isIP(host) === 4) return METADATA.check(host, 'ipv4');
  if (isIP(host) !== 6) return false;

  const embedded = /^(?:::ffff:|::|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (embedded) {
    const high = parseInt(embedded[1]!, 16);
    const low = parseInt(embedded[2]!, 16);
    const ipv4 = [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
    if (METADATA.check(ipv4, 'ipv4')) return true;
  }
  return METADATA.check(host, 'ipv6');
}

function describeFailure(value: unknown): string {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (kind !== 'fs' && kind !== 's3' && kind !== 'azure') return 'kind must be fs, s3 or azure';

  // oneOf reports every branch; the branch of the given kind names the real problem.
  const errors = (validate.errors ?? []).filter((error) => !error.schemaPath.startsWith('#/oneOf') || error.schemaPath.startsWith(`#/oneOf/${['fs', 's3', 'azure'].indexOf(kind)}/`));
  const first = errors.find((error) => error.keyword !== 'oneOf' && error.keyword !== 'const') ?? errors[0];
  if (!first) return 'it does not match its kind';
  if (first.keyword === 'required' && 'missingProperty' in first.params) return `${String(first.params.missingProperty)} is required`;
  if (first.keyword === 'additionalProperties' && 'additionalProperty' in first.params) return `${String(first.params.additionalProperty)} is not a setting of kind ${kind}`;
  return `${first.instancePath.slice(1) || 'target'} ${first.message ?? 'is invalid'}`;
}
