import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_CODE_DOCS } from '../../src/errors.js';
import { VARIANTS, rangeText } from '../../src/catalogue/variants.js';
import { DEFAULT_RELEASE } from '../../src/catalogue/versions.js';
import { BOARDS } from '../../src/catalogue/arch.js';
import { crossConfigSite } from '../../src/render/dockerfile.js';
import { resolveArch } from '../../src/catalogue/arch.js';

const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

describe('README stays in sync with the code', () => {
  it('documents every exit code exactly', () => {
    for (const [code, text] of Object.entries(EXIT_CODE_DOCS)) expect(readme).toContain(`| ${code} | ${text} |`);
  });
  it('documents every variant with its version range', () => {
    for (const v of VARIANTS) expect(readme).toMatch(new RegExp(`\\| \`${v.name}\` \\| ${rangeText(v).replace('+', '\\+')} \\|`));
  });
  it('documents what each MAJOR.MINOR builds', () => {
    for (const [mm, ver] of Object.entries(DEFAULT_RELEASE)) expect(readme).toMatch(new RegExp(`\\| \`${mm.replace('.', '\\.')}\` \\| ${ver.replace(/\./g, '\\.')}`));
  });
  it('documents every board with its architecture and CPU, and every cross-build answer', () => {
    for (const b of BOARDS) expect(readme).toMatch(new RegExp(`\\| \`${b.name}\` — [^|]+ \\| ${b.arch} \\| ${b.cpu} \\|`));
    for (const line of crossConfigSite({ major: 3, minor: 13 }, resolveArch('arm64')).split('\n')) {
      if (line.startsWith('ac_cv_')) expect(readme).toContain(line);
    }
  });
  it('names the test command that .ci/run runs', () => {
    const ci = readFileSync(join(import.meta.dirname, '..', '..', '.ci', 'run'), 'utf8');
    expect(readme).toContain('```sh\nnpm test\n```');
    expect(ci).toMatch(/^npm test$/m);
  });
});
