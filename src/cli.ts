#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=33554432 node --max-semi-space-size=1
/**
 * `wasmsocket` command line: the subcommands and the process's lifecycle.
 *
 * The `#!` line runs it the way the server is measured (README, "Memory" and "Benchmarks"):
 * `--max-semi-space-size=1` keeps an accept storm from leaving the young generation grown, and
 * MALLOC_TRIM_THRESHOLD_ (32 MiB) keeps glibc from handing freed memory back to the kernel at
 * every free at the top of its heap. Without it, each fresh 64 KiB message buffer faulted its
 * pages in again: echo 64 KiB ×100, 4 in flight, inline, 180–270 µs of server CPU per round
 * trip against 93–97 µs with it, 10× fewer page faults, the same RSS.
 */
import { listen } from './main-thread/server.js';
import { surviveUncaughtErrors } from './main-thread/inline-faults.js';
import { readFileSync } from 'node:fs';
import { HelpRequested, parseServeArgs, SERVE_USAGE, USAGE, UsageError } from './cli-args.js';
import { startedByNpm, watchLauncher } from './launcher-watch.js';
import { Logger } from './logging/logger.js';

/** Reads --cert and --key; a missing or unreadable file is one line, exit 2. */
function readCertificate(files: { cert: string; key: string }): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(files.cert), key: readFileSync(files.key) };
  } catch (error) {
    throw new UsageError(`cannot read the TLS certificate or key: ${(error as Error).message}`);
  }
}

async function serve(args: string[]): Promise<void> {
  const { options, certificateFiles } = parseServeArgs(args);
  const tls = certificateFiles === undefined ? undefined : readCertificate(certificateFiles);
  const logger = new Logger({ format: options.logFormat, level: options.logLevel });
  let server;
  try {
    server = await listen({ ...options, tls });
  } catch (error) {
    if (error instanceof TypeError && /^tls:/.test(error.message)) throw new UsageError(error.message);
    throw error;
  }
  // Inline, an application's asynchronous error would end the whole server: logged, survived.
  if (options.workers === 0) surviveUncaughtErrors(server);
  if (certificateFiles !== undefined) {
    // A renewed certificate is picked up without a restart: `kill -HUP <pid>`.
    process.on('SIGHUP', () => {
      try {
        server.setCertificate(readCertificate(certificateFiles));
        logger.log({ level: 'info', event: 'certificate_reloaded', message: 'SIGHUP, TLS certificate reloaded' });
      } catch (error) {
        const reason = (error as Error).message;
        logger.log({ level: 'error', event: 'certificate_reload_failed', message: `SIGHUP, certificate not reloaded (the old one stays): ${reason}`, fields: { reason } });
      }
    });
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log({ level: 'info', event: 'shutting_down', message: `${signal}, closing connections with 1001`, fields: { signal } });
    server.close().then(() => {
      logger.log({ level: 'info', event: 'stopped', message: 'every connection closed, exiting' });
      process.exit(0);
    }, (error) => {
      const reason = (error as Error).message;
      logger.log({ level: 'error', event: 'shutdown_failed', message: `shutdown failed: ${reason}`, fields: { reason } });
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (startedByNpm()) watchLauncher(() => stop('the npm process that started it exited'));
  // Said last: whoever waits for this line may signal the process at once.
  const { address, port } = server.address();
  const host = address.includes(':') ? `[${address}]` : address;
  const url = `${server.secure ? 'wss' : 'ws'}://${host}:${port}/`;
  const http = `${server.secure ? 'https' : 'http'}://${host}:${port}/`;
  // The built-in pub/sub app serves its client page at /; every app has /healthz.
  const page = options.app === 'pubsub' ? http : undefined;
  const metrics = server.metricsPort === undefined ? undefined : `http://${host}:${server.metricsPort}/metrics`;
  const threads = options.workers === 0 ? 'inline' : `${options.workers} worker${options.workers > 1 ? 's' : ''}`;
  logger.log({
    level: 'info', event: 'listening',
    message: `wasmsocket listening on ${url} (app ${options.app}, codec ${options.codec}, ${threads}${options.deflate ? ', permessage-deflate' : ''}); `
      + `${page === undefined ? `health ${http}healthz` : `page ${page}`}${metrics === undefined ? '' : `, metrics ${metrics}`}`,
    fields: { url, page: page ?? null, health: `${http}healthz`, metrics: metrics ?? null, app: options.app, codec: options.codec ?? null, workers: options.workers, deflate: options.deflate === true, pid: process.pid },
  });
}

/** The package's version, from the package.json next to dist/. */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve') {
      await serve(rest);
      return -1; // keeps running until a signal
    }
    // The load generator's code (and hdr-histogram-js) is loaded only for `load`, not by `serve`.
    if (command === 'load') return await (await import('./load/command.js')).runLoadCommand(rest);
    if (command === '--version' || command === '-v') {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command "${command}"`);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(SERVE_USAGE);
      return 0;
    }
    if (error instanceof UsageError) {
      const help = command === 'serve' || command === 'load' ? `wasmsocket ${command} --help` : 'wasmsocket --help';
      process.stderr.write(`wasmsocket: ${error.message} (see "${help}")\n`);
      return 2;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(`wasmsocket: cannot listen: ${(error as Error).message}\n`);
      return 1;
    }
    process.stderr.write(`wasmsocket: ${(error as Error).message}\n`);
    return 1;
  }
}

const exitCode = await main(process.argv.slice(2));
if (exitCode >= 0) process.exitCode = exitCode;
