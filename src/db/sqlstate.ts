/**
 * SQLSTATE codes the service branches on, kept in one place. Never branch on message text.
 * Source: PostgreSQL documentation, appendix A "PostgreSQL Error Codes".
 */
export const SqlState = {
  uniqueViolation: '23505',
  checkViolation: '23514',
  notNullViolation: '23502',
  invalidTextRepresentation: '22P02',
  badCopyFileFormat: '22P04',
  characterNotInRepertoire: '22021',
  untranslatableCharacter: '22P05',
  numericValueOutOfRange: '22003',
  stringDataRightTruncation: '22001',
  invalidDatetimeFormat: '22007',
  datetimeFieldOverflow: '22008',
  insufficientPrivilege: '42501',
  duplicateObject: '42710',
  duplicateSchema: '42P06',
  undefinedTable: '42P01',
  invalidSchemaName: '3F000',
  invalidCatalogName: '3D000',
  lockNotAvailable: '55P03',
  queryCanceled: '57014',
} as const;

/** Classes of data errors (class 22) and integrity violations (class 23) in client-sent rows. */
export function isBadDataError(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('22') || code.startsWith('23'));
}

export function sqlStateOf(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
