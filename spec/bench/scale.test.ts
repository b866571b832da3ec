/**
 * bench/scale.ts --write: the "## Scale-out" section of bench/RESULTS.md is
 * replaced in place (up to the next `## ` heading), or inserted before
 * "## Frame codec", or appended; the rest of the file is kept byte for byte.
 * (The bench itself is not run here: it starts Redis, four servers and the
 * load generator; `npm run bench:scale -- --quick` is its smoke run.)
 */
import { replaceSection } from '../../bench/scale';

const NEW = '## Scale-out\n\nnew table\n';

describe('replaceSection', () => {
  it.each([
    [
      'replaces an existing section up to the next heading',
      '# R\n\n## Pub/sub\n\nA\n\n## Scale-out\n\nold\nold\n\n## Frame codec\n\nF\n',
      '# R\n\n## Pub/sub\n\nA\n\n## Scale-out\n\nnew table\n\n## Frame codec\n\nF\n',
    ],
    [
      'replaces a last section up to the end',
      '# R\n\n## Scale-out\n\nold\n',
      '# R\n\n## Scale-out\n\nnew table\n',
    ],
    [
      'inserts before Frame codec when missing',
      '# R\n\n## Pub/sub\n\nA\n\n## Frame codec\n\nF\n',
      '# R\n\n## Pub/sub\n\nA\n\n## Scale-out\n\nnew table\n\n## Frame codec\n\nF\n',
    ],
    [
      'keeps the rest byte for byte (blank runs in other sections too)',
      '# R\n\n```\nx\n\n\n\ny\n```\n\n## Scale-out\n\nold\n\n## Frame codec\n\nF\n',
      '# R\n\n```\nx\n\n\n\ny\n```\n\n## Scale-out\n\nnew table\n\n## Frame codec\n\nF\n',
    ],
    ['appends when there is no Frame codec section', '# R\n\n## Pub/sub\n\nA\n', '# R\n\n## Pub/sub\n\nA\n\n## Scale-out\n\nnew table\n'],
  ])('%s', (_name, md, expected) => {
    const once = replaceSection(md, 'Scale-out', NEW);
    expect(once).toBe(expected);
    expect(replaceSection(once, 'Scale-out', NEW)).toBe(expected);
  });
});
