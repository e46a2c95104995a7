// The package.json a consumer installs is not the repo's: it has no scripts (a consumer's npm
// would list `prepare` among the install scripts to approve, and `npm run` in node_modules has no
// sources to build), no devDependencies, devEngines, allowScripts or ava configuration.
//
//   prepack  → `write`:   keeps package.json aside and writes the published manifest in its place
//   postpack → `restore`: puts the repo's package.json back
//   prepublishOnly → `refuse-directory-publish`: `npm publish` of the directory re-reads
//     package.json after postpack and would send the repo's manifest as the registry's metadata;
//     publishing the packed tarball (`npm publish wasmsocket-<version>.tgz`) sends the tarball's.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.env.npm_package_json ? dirname(process.env.npm_package_json) : join(dirname(fileURLToPath(import.meta.url)), '..');
const manifestPath = join(root, 'package.json');
const keptPath = join(root, 'package.json.repo');

/** Fields only the repo uses. */
const REPO_ONLY = ['scripts', 'devDependencies', 'devEngines', 'allowScripts', 'ava'];

function restore() {
  if (existsSync(keptPath)) renameSync(keptPath, manifestPath);
}

function write() {
  // prepack runs only from a manifest with scripts, the repo's: a package.json.repo left by a pack
  // that failed before its postpack is older than this one and is overwritten.
  const text = readFileSync(manifestPath, 'utf8');
  const manifest = JSON.parse(text);
  for (const field of REPO_ONLY) delete manifest[field];
  writeFileSync(keptPath, text);
  const next = `${manifestPath}.next`;
  writeFileSync(next, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(next, manifestPath);
}

const command = process.argv[2];
if (command === 'write') write();
else if (command === 'restore') restore();
else if (command === 'refuse-directory-publish') {
  console.error('wasmsocket: publish the packed tarball, not the directory: npm run build && npm pack && npm publish wasmsocket-<version>.tgz');
  process.exit(1);
} else {
  console.error('usage: node scripts/published-manifest.mjs write|restore|refuse-directory-publish');
  process.exit(2);
}
