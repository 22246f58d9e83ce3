/**
 * A deterministic synthetic file tree in the agent's chunk format: Windows paths with
 * Unicode and spaces, 3 to 12 levels deep, 1 to 9 files per folder (about 5), access
 * times spread over six years.
 */

const WORDS = [
  'Projekte', 'Données clients', 'Angebote 2021', 'Überblick', '設計資料', 'Rechnungen', 'Q3 Résultats', 'Marketing',
  'Contrats signés', 'Archiv alt', 'Präsentationen', 'Ventas España', 'Финансы', 'Design Reviews', 'Backups', 'Fotos Sommer',
  'Budget FY24', 'Lieferanten', 'Kunden A-M', 'Kunden N-Z', 'Planung', 'Proyectos', '報告書', 'Misc',
];
const EXTENSIONS = ['docx', 'xlsx', 'pdf', 'pptx', 'jpg', 'msg', 'zip', 'txt', 'dwg', 'mp4'];
const SIX_YEARS = 6 * 365 * 86_400;

/** A small seeded generator (mulberry32), so every run produces the same tree. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticRow {
  dirPath: string;
  name: string;
  size: number;
  atime: number;
  mtime: number;
  ctime: number;
}

function quote(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/** Format one row as a chunk CSV line. */
export function csvLine(row: SyntheticRow): string {
  return `${quote(row.dirPath)},${quote(row.name)},${row.size},${row.atime},${row.mtime},${row.ctime}\n`;
}

/**
 * Yield `rows` rows, folder by folder. With `changedShare`, that share of the rows gets
 * a recent access time drawn from `scanSeed`, as a rescan that finds some files used.
 */
export function* syntheticRows(rows: number, options: { now: number; changedShare?: number; scanSeed?: number } = { now: 0 }): Generator<SyntheticRow> {
  const next = random(42);
  const change = random(options.scanSeed ?? 7);
  let emitted = 0;

  for (let folder = 0; emitted < rows; folder++) {
    const depth = 3 + Math.floor(next() * 10);
    const parts = ['D:\\Shares'];
    for (let level = 1; level < depth; level++) {
      parts.push(WORDS[(Math.floor(folder / 4 ** (depth - level)) + level * 7) % WORDS.length]!);
    }
    parts.push(`${WORDS[folder % WORDS.length]} ${folder}`);
    const dirPath = parts.join('\\');

    const files = 1 + Math.floor(next() * 9);
    for (let file = 0; file < files && emitted < rows; file++, emitted++) {
      const name = `${WORDS[(folder + file) % WORDS.length]} ${file}.${EXTENSIONS[(folder * 3 + file) % EXTENSIONS.length]}`;
      const size = Math.floor(2 ** (10 + next() * 17));
      let atime = options.now - Math.floor(next() * SIX_YEARS);
      const mtime = atime - Math.floor(next() * 86_400 * 30);
      const ctime = mtime - Math.floor(next() * 86_400 * 365);
      if (options.changedShare && change() < options.changedShare) atime = options.now - Math.floor(change() * 86_400);
      yield { dirPath, name, size, atime, mtime, ctime };
    }
  }
}
