/**
 * Under npm, the server stops when the process that started it exits.
 *
 * `npx wasmsocket serve` (and any npm script that runs `wasmsocket serve`) starts the server
 * through `sh -c`, and dash (Debian's and Ubuntu's /bin/sh) forks for the last command instead of
 * exec'ing it. npm forwards SIGTERM and SIGINT only to its own child, that shell, which dies of
 * them: without this watch the server would be reparented and keep its port, and a supervisor
 * that stops a service by the PID it started (Docker, systemd, pm2) would never stop it.
 * `npm start` itself execs the server (its script begins with `exec`), so there the signal
 * arrives directly; the watch then covers npm being killed outright.
 */

/** How often the parent is checked: `process.ppid` is one getppid() call. */
const CHECK_INTERVAL_MS = 250;

/** Started by npm: npm sets npm_lifecycle_event for `npm run`/`npm start` ("start") and `npx` ("npx"). */
export function startedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.npm_lifecycle_event !== undefined;
}

/** Calls `onExit` once, when this process's parent has exited (it is then reparented). */
export function watchLauncher(onExit: () => void, intervalMs = CHECK_INTERVAL_MS): () => void {
  const launcher = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === launcher) return;
    clearInterval(timer);
    onExit();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
