import { strict as assert } from 'node:assert';
import { mtimeChanged } from '../../src/wire/modificationTime.ts';

describe('mtimeChanged', () => {
  const scanned = 1_700_000_000;

  const cases: [string, number, boolean][] = [
    ['same second', 0, false],
    ['FAT rounding, 1 s later', 1, false],
    ['FAT rounding, 2 s earlier', -2, false],
    ['3 s later', 3, true],
    ['one hour later (DST)', 3600, false],
    ['one hour earlier (DST)', -3600, false],
    ['one hour and 2 s later', 3602, false],
    ['one hour and 3 s later', 3603, true],
    ['59 minutes later', 3540, true],
    ['two hours later', 7200, true],
    ['a day later', 86_400, true],
  ];

  for (const [label, shift, changed] of cases) {
    it(`${label}: ${changed ? 'changed' : 'unchanged'}`, () => {
      assert.equal(mtimeChanged(scanned, scanned + shift), changed);
    });
  }
});
