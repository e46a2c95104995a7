// Runs first in `npm test`: makes sure the system programs the suite uses are present. As root
// with apt-get (CI, a fresh container) it installs what is missing; otherwise it stops at once
// with one line naming the command to run, instead of letting a dozen tests fail a minute later.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const onPath = (name) => spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const packages = [
  ['redis-server', onPath('redis-server')],
  ['chromium', existsSync(chromium)],
  ['openssl', onPath('openssl')],
  ['gcc', onPath('gcc')], // compiles bench/reference/wsgen.c, the reference generator the load tests check
];
const missing = packages.filter(([, present]) => !present).map(([name]) => name);
if (missing.length > 0) {
  const install = `apt-get install -y ${missing.join(' ')}`;
  const canInstall = process.getuid?.() === 0 && onPath('apt-get');
  if (!canInstall) {
    console.error(`npm test needs ${missing.join(', ')}: run "sudo apt-get update && sudo ${install}" (or set CHROMIUM_PATH), then npm test again`);
    process.exit(1);
  }
  console.error(`npm test: installing ${missing.join(', ')} with apt-get (the test suite runs them)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const steps = [['apt-get', ['update', '-qq']], ['apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing]]];
  for (const [command, args] of steps) {
    if (spawnSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status !== 0) {
      console.error(`npm test: "${command} ${args.join(' ')}" failed; install ${missing.join(', ')} by hand, then npm test again`);
      process.exit(1);
    }
  }
}
