// Writes an ES module next to each CommonJS entry point (dist/index.mjs,
// dist/lib/redis/index.mjs) that re-exports it by name, so
// `import { App } from 'xyra'` and `require('xyra')` give the same objects.

const fs = require('node:fs');
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist');
for (const entry of ['index', 'lib/redis/index']) {
  const file = path.join(dist, `${entry}.js`);
  const base = path.basename(entry);
  const names = Object.keys(require(file)).filter((n) => n !== 'default' && n !== '__esModule');
  const lines = [
    `import cjs from './${base}.js';`,
    ...names.map((n) => `export const ${n} = cjs.${n};`),
    'export default cjs;',
    '',
  ];
  fs.writeFileSync(path.join(dist, `${entry}.mjs`), lines.join('\n'));
  fs.writeFileSync(path.join(dist, `${entry}.d.mts`), `export * from './${base}.js';\nimport cjs from './${base}.js';\nexport default cjs;\n`);
}
// dist/browser/ holds the browser module (tsconfig.browser.json), an ES module in .js files.
if (fs.existsSync(path.join(dist, 'browser'))) fs.writeFileSync(path.join(dist, 'browser', 'package.json'), '{ "type": "module" }\n');
