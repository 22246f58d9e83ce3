import { Ajv, type ValidateFunction } from 'ajv';
import { StrataError } from '../errors.ts';
import type { ActionResult, ActionResultBatch, ClaimRequest, RenewLeasesRequest } from '../wire/acting.ts';
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

/**
 * Build a pattern of the decimal integers from 1 to `max`, without leading zeros: the
 * shorter numbers, then per digit of `max` those that are smaller there and equal before.
 */
function positiveDecimalUpTo(max: string): string {
  const alternatives = [`[1-9][0-9]{0,${max.length - 2}}`];
  for (let index = 0; index < max.length; index++) {
    const lowest = index === 0 ? 1 : 0;
    const digit = Number(max[index]);
    if (digit > lowest) alternatives.push(`${max.slice(0, index)}[${lowest}-${digit - 1}][0-9]{${max.length - 1 - index}}`);
  }
  alternatives.push(max);
  return `^(?:${alternatives.join('|')})$`;
}

/**
 * A tier object id or fence: a positive 64-bit integer as a decimal string. A larger
 * number would fail the bigint cast in SQL with a 500, so the pattern stops at 2^63 - 1.
 */
const INT64_ID = positiveDecimalUpTo('9223372036854775807');

/** Most results one `POST /v1/actions/results` may carry. */
export const MAX_RESULTS_PER_BATCH = 1000;

const claimSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['share', 'kind', 'max'],
  properties: {
    share: { type: 'string', pattern: SHARE_NAME },
    kind: { enum: ['tier', 'recall'] },
    max: { type: 'integer', minimum: 1, maximum: 10_000 },
    leaseSeconds: { type: 'integer', minimum: 5, maximum: 86_400 },
    pattern: { type: 'string', minLength: 1, maxLength: 1024 },
  },
};

const resultProperties = {
  id: { type: 'string', pattern: INT64_ID },
  fence: { type: 'string', pattern: INT64_ID },
  outcome: { enum: ['STUBBED', 'REHYDRATED', 'STALE', 'FAILED'] },
  sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
  sizeBytes: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  error: { type: 'string', maxLength: 2000 },
};

/** STUBBED and REHYDRATED must carry the content's SHA-256. */
const shaWhenCopied = {
  if: { properties: { outcome: { enum: ['STUBBED', 'REHYDRATED'] } } },
  then: { properties: { sha256: { type: 'string' } }, required: ['sha256'] },
};

const resultSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'fence', 'outcome'],
  properties: resultProperties,
  ...shaWhenCopied,
};

/** `POST /v1/actions/{id}/result` carries the id in the path. */
const { id: _pathId, ...singleResultProperties } = resultProperties;
const singleResultSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['fence', 'outcome'],
  properties: singleResultProperties,
  ...shaWhenCopied,
};

const resultBatchSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['results'],
  properties: {
    results: { type: 'array', minItems: 1, maxItems: MAX_RESULTS_PER_BATCH, items: resultSchema },
  },
};

/** Most leases one `POST /v1/actions/renew` may name, the most one claim may hand out. */
export const MAX_RENEWALS_PER_REQUEST = 10_000;

const renewSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['leases'],
  properties: {
    leases: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_RENEWALS_PER_REQUEST,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'fence'],
        properties: { id: resultProperties.id, fence: resultProperties.fence },
      },
    },
    leaseSeconds: claimSchema.properties.leaseSeconds,
  },
};

const actionParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: INT64_ID } },
};

const shareParamsSchema = {
  type: 'object',
  required: ['share'],
  properties: { share: { type: 'string', pattern: SHARE_NAME } },
};

export const validateClaim = ajv.compile<ClaimRequest>(claimSchema);
export const validateResult = ajv.compile<Omit<ActionResult, 'id'>>(singleResultSchema);
export const validateResultBatch = ajv.compile<ActionResultBatch>(resultBatchSchema);
export const validateRenew = ajv.compile<RenewLeasesRequest>(renewSchema);
export const validateActionParams = ajv.compile<{ id: string }>(actionParamsSchema);
export const validateShareParams = ajv.compile<{ share: string }>(shareParamsSchema);

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
