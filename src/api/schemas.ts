import { Ajv, type ValidateFunction } from 'ajv';
import { StrataError } from '../errors.ts';
import type { CompleteScanRequest, OpenScanRequest } from '../wire/contract.ts';

const ajv = new Ajv({ allErrors: false, strict: true });

/**
 * A share name as SMB allows it: 1 to 80 characters, Unicode letters included, none of
 * " / \\ [ ] : | < > + = ; , ? * or control characters, no leading or trailing space.
 */
export const SHARE_NAME = '^(?! )[^\\u0000-\\u001f"/\\\\\\[\\]:|<>+=;,?*]{1,80}(?<! )$';

const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/** Unix seconds from 1601 (the NTFS epoch) to the year 9999, as 64-bit integers. */
const UNIX_SECONDS = { type: 'integer', minimum: -11_644_473_600, maximum: 253_402_300_799 };

const openScanSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['scanGuid', 'shareName', 'sourceType', 'rootPath', 'pathStyle', 'startedAt'],
  properties: {
    scanGuid: { type: 'string', pattern: UUID },
    shareName: { type: 'string', pattern: SHARE_NAME },
    sourceType: { enum: ['NTFS', 'SMB', 'LucidLink', 'POSIX'] },
    rootPath: { type: 'string', minLength: 1, maxLength: 32767 },
    pathStyle: { enum: ['windows', 'posix'] },
    startedAt: UNIX_SECONDS,
    agentHost: { type: 'string', maxLength: 255 },
    agentVersion: { type: 'string', maxLength: 64 },
  },
};

const completeScanSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['chunkCount', 'rowCount', 'unreadableCount'],
  properties: {
    chunkCount: { type: 'integer', minimum: 0, maximum: 10_000_000 },
    rowCount: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    unreadableCount: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  },
};

const scanParamsSchema = {
  type: 'object',
  required: ['scanGuid'],
  properties: {
    scanGuid: { type: 'string', pattern: UUID },
    seq: { type: 'string', pattern: '^(0|[1-9][0-9]{0,6})$' },
  },
};

export const validateOpenScan = ajv.compile<OpenScanRequest>(openScanSchema);
export const validateCompleteScan = ajv.compile<CompleteScanRequest>(completeScanSchema);
export const validateScanParams = ajv.compile<{ scanGuid: string; seq?: string }>(scanParamsSchema);

/** Check a value against a compiled schema; a failure is a 400 that names the field. */
export function assertValid<T>(validate: ValidateFunction<T>, value: unknown, what: string): T {
  if (validate(value)) return value;

  const first = validate.errors?.[0];
  const field = first?.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : '';
  const missing = first?.params && 'missingProperty' in first.params ? String(first.params.missingProperty) : '';
  const extra = first?.params && 'additionalProperty' in first.params ? String(first.params.additionalProperty) : '';
  const subject = missing || field || extra || what;
  let reason = first?.message ?? 'is invalid';
  if (missing) reason = 'is required';
  else if (extra) reason = 'is not a known field';

  throw new StrataError('INVALID_REQUEST', `${what}: ${subject} ${reason}`, 400);
}
