// Writes dist/index.mjs, an ES module that re-exports the CommonJS build by name,
// so `import { App } from 'xyra'` and `require('xyra')` give the same objects.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist');
const names = Object.keys(require(path.join(dist, 'index.js'))).filter((n) => n !== 'default' && n !== '__esModule');
const lines = [
  "import cjs from './index.js';",
  ...names.map((n) => `export const ${n} = cjs.${n};`),
  'export default cjs;',
  '',
];
fs.writeFileSync(path.join(dist, 'index.mjs'), lines.join('\n'));
fs.writeFileSync(path.join(dist, 'index.d.mts'), "export * from './index.js';\nimport cjs from './index.js';\nexport default cjs;\n");
// dist/browser/ holds the browser module (tsconfig.browser.json), an ES module in .js files.
if (fs.existsSync(path.join(dist, 'browser'))) fs.writeFileSync(path.join(dist, 'browser', 'package.json'), '{ "type": "module" }\n');
