/**
 * The operating-system limits that bound a run: open files per process and ephemeral ports per
 * source address. Node has no getrlimit, so the limit is read from /proc (Linux), else from the
 * shell's `ulimit -n`.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const FALLBACK_OPEN_FILES = 1024;
const FALLBACK_PORT_RANGE: [number, number] = [32768, 60999];

/** This process's soft open-file limit (RLIMIT_NOFILE), which its children inherit. */
export function readOpenFileLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    if (match !== null) return match[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(match[1]);
  } catch {
    // not Linux: ask the shell
  }
  const shell = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const value = shell.stdout?.trim();
  if (value === 'unlimited') return Number.MAX_SAFE_INTEGER;
  const parsed = Number(value);
  return Number.isInteger(parsed) && parsed > 0 ? parsed : FALLBACK_OPEN_FILES;
}

/** The kernel's ephemeral port range: the local ports one source address can use per destination. */
export function readPortRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && high >= low) return [low, high];
  } catch {
    // not Linux
  }
  return FALLBACK_PORT_RANGE;
}
