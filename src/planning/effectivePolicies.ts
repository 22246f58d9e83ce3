import { folderTreeRegex, globToRegex, pathStyleOf, type PathStyle } from '../acting/globPattern.ts';
import { DEFAULT_POLICY_SHARE, type AgeBasis, type TierExclusion, type TierPolicy } from './policies.ts';

/** A share's latest OK scan, as LATEST_SCANS returns it. */
export interface LatestScan {
  share_name: string;
  path_style: PathStyle;
  file_count: number | null;
  atime_suspect_count: number | null;
}

/** The rules one plan applies to one share, in the form the plan SQL reads. */
export interface EffectivePolicy {
  share_name: string;
  cutoff: number;
  basis: Exclude<AgeBasis, 'auto'>;
  min_size: number;
  include: string[];
  exclude: string[];
}

/** Origin of a share's age threshold. */
export type PolicySource = 'policy' | 'default policy' | 'override';

export interface ResolvedShare {
  policy: EffectivePolicy;
  source: PolicySource;
}

/**
 * Combine each scanned share's policy (its own, else the tenant default `*`), the
 * exclusion list and an optional age override into the rules the plan SQL applies.
 * A share with neither a policy nor an override is left out and listed in `skipped`.
 * Globs become regular expressions in the share's path style.
 *
 * `tier2Folders` are the tenant's filesystem Tier-2 roots. Every share excludes the
 * ones in its path style, with all they contain. A Tier-2 folder inside a scanned tree
 * contains the only copies of files already tiered, and tiering those would stub them.
 */
export function resolvePolicies(
  scans: LatestScan[],
  policies: TierPolicy[],
  exclusions: TierExclusion[],
  nowUnix: number,
  olderThanSeconds: number | undefined,
  tier2Folders: string[] = [],
): { shares: ResolvedShare[]; skipped: string[] } {
  const byShare = new Map(policies.map((policy) => [policy.share, policy]));
  const fallback = byShare.get(DEFAULT_POLICY_SHARE);
  const shares: ResolvedShare[] = [];
  const skipped: string[] = [];

  for (const scan of scans) {
    const own = byShare.get(scan.share_name);
    const policy = own ?? fallback;
    if (!policy && olderThanSeconds === undefined) {
      skipped.push(scan.share_name);
      continue;
    }

    const style = scan.path_style;
    const excluded = exclusions.filter((entry) => entry.share === null || entry.share === scan.share_name).map((entry) => entry.pattern);
    const minAge = olderThanSeconds ?? policy!.minAgeSeconds;
    const basis = policy?.ageBasis ?? 'auto';
    let source: PolicySource = own ? 'policy' : 'default policy';
    if (olderThanSeconds !== undefined) source = 'override';
    shares.push({
      source,
      policy: {
        share_name: scan.share_name,
        cutoff: nowUnix - minAge,
        // auto: the later of access and modification, which is the last access on a
        // share that maintains access times and falls back to the modification time
        // where access times are unmaintained or impossible.
        basis: basis === 'auto' ? 'later' : basis,
        min_size: policy?.minSizeBytes ?? 0,
        include: (policy?.includeGlobs ?? []).map((glob) => globToRegex(glob, style)),
        exclude: [
          ...[...(policy?.excludeGlobs ?? []), ...excluded].map((glob) => globToRegex(glob, style)),
          ...tier2Folders.filter((folder) => pathStyleOf(folder) === style).map((folder) => folderTreeRegex(folder, style)),
        ],
      },
    });
  }
  return { shares, skipped };
}
