import { T0001Initial } from './migrations/T0001_initial.ts';
import { T0002DirHash } from './migrations/T0002_dir_hash.ts';
import { T0003PlanKeysAndPaths } from './migrations/T0003_plan_keys_and_paths.ts';
import { T0004ShareNames } from './migrations/T0004_share_names.ts';
import { T0005ScanPartitions } from './migrations/T0005_scan_partitions.ts';
import { T0006StageRoleGrants } from './migrations/T0006_stage_role_grants.ts';
import { T0007ReportViews } from './migrations/T0007_report_views.ts';
import { T0008AccessTimeReliability } from './migrations/T0008_access_time_reliability.ts';
import { T0009TierTargets } from './migrations/T0009_tier_targets.ts';
import { T0010Acting } from './migrations/T0010_acting.ts';
import { T0011Sanitizer } from './migrations/T0011_sanitizer.ts';
import { T0012FolderHashRows } from './migrations/T0012_folder_hash_rows.ts';
import { T0013ScanFolders } from './migrations/T0013_scan_folders.ts';
import { T0014TenantPredicateOnce } from './migrations/T0014_tenant_predicate_once.ts';
import { T0015ScanTotalsFromStagedFolders } from './migrations/T0015_scan_totals_from_staged_folders.ts';
import { T0016ScanKeyOnNameHash } from './migrations/T0016_scan_key_on_name_hash.ts';
import { T0017ResultLogRetention } from './migrations/T0017_result_log_retention.ts';

/**
 * Tenant schema migrations, oldest first. Each runs into one tenant schema at a time;
 * the names are the ledger keys in that schema's `mikro_orm_migrations` table.
 */
export const TENANT_MIGRATIONS = [
  { name: 'T0001_initial', class: T0001Initial },
  { name: 'T0002_dir_hash', class: T0002DirHash },
  { name: 'T0003_plan_keys_and_paths', class: T0003PlanKeysAndPaths },
  { name: 'T0004_share_names', class: T0004ShareNames },
  { name: 'T0005_scan_partitions', class: T0005ScanPartitions },
  { name: 'T0006_stage_role_grants', class: T0006StageRoleGrants },
  { name: 'T0007_report_views', class: T0007ReportViews },
  { name: 'T0008_access_time_reliability', class: T0008AccessTimeReliability },
  { name: 'T0009_tier_targets', class: T0009TierTargets },
  { name: 'T0010_acting', class: T0010Acting },
  { name: 'T0011_sanitizer', class: T0011Sanitizer },
  { name: 'T0012_folder_hash_rows', class: T0012FolderHashRows },
  { name: 'T0013_scan_folders', class: T0013ScanFolders },
  { name: 'T0014_tenant_predicate_once', class: T0014TenantPredicateOnce },
  { name: 'T0015_scan_totals_from_staged_folders', class: T0015ScanTotalsFromStagedFolders },
  { name: 'T0016_scan_key_on_name_hash', class: T0016ScanKeyOnNameHash },
  { name: 'T0017_result_log_retention', class: T0017ResultLogRetention },
];

/** The version a fully migrated tenant schema reports: the last migration's name. */
export const TENANT_TEMPLATE_VERSION = TENANT_MIGRATIONS[TENANT_MIGRATIONS.length - 1]!.name;
