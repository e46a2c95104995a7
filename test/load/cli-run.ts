/** Runs `wasmsocket load` as a child process (stdout and stderr are pipes, not a TTY). */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runLoadCli(args: string[], cwd?: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'load', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
    child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}
