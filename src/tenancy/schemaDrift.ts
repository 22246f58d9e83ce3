import type { SchemaDescription } from './describeSchema.ts';

/** One way a tenant schema differs from the template. */
export interface SchemaDifference {
  /** The object, e.g. `column dir.dir_hash` or `policy scan.tenant_isolation`. */
  object: string;
  kind: 'missing' | 'unexpected' | 'changed';
  /** The template's definition; absent for an object the template does not have. */
  expected?: string;
  /** The tenant's definition; absent for an object the tenant lacks. */
  actual?: string;
}

/** List every object whose presence or definition differs between the template and a tenant, sorted by object. */
export function compareSchemas(template: SchemaDescription, tenant: SchemaDescription): SchemaDifference[] {
  const differences: SchemaDifference[] = [];

  for (const [object, expected] of template) {
    const actual = tenant.get(object);
    if (actual === undefined) differences.push({ object, kind: 'missing', expected });
    else if (actual !== expected) differences.push({ object, kind: 'changed', expected, actual });
  }
  for (const [object, actual] of tenant) {
    if (!template.has(object)) differences.push({ object, kind: 'unexpected', actual });
  }

  return differences.sort((a, b) => a.object.localeCompare(b.object));
}

/** Format one difference as a line of `strata migrate --check` output. */
export function formatDifference(difference: SchemaDifference): string {
  switch (difference.kind) {
    case 'missing':
      return `missing ${difference.object}: template has ${difference.expected}`;
    case 'unexpected':
      return `unexpected ${difference.object}: not in the template: ${difference.actual}`;
    case 'changed':
      return `changed ${difference.object}: template has ${difference.expected}; tenant has ${difference.actual}`;
  }
}
