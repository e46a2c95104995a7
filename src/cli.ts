#!/usr/bin/env node
/** `wasmsocket` command line: the subcommands and the process's lifecycle. */
import { listen } from './server/server.js';
import { HelpRequested, parseServeArgs, USAGE, UsageError } from './cli-args.js';
import { runLoadCommand } from './load/command.js';

async function serve(args: string[]): Promise<void> {
  const { options } = parseServeArgs(args);
  const server = await listen({
    ...options,
    onError: (error) => console.error(`wasmsocket: ${error.stack ?? error.message}`),
  });
  const { address, port } = server.address();
  console.log(`wasmsocket listening on ws://${address.includes(':') ? `[${address}]` : address}:${port}/ (app ${options.app}, codec ${options.codec}, ${options.workers === 0 ? "inline" : `${options.workers} worker${options.workers > 1 ? "s" : ""}`}${options.deflate ? ", permessage-deflate" : ""})`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`wasmsocket: ${signal}, closing connections with 1001`);
    server.close().then(() => process.exit(0), (error) => {
      console.error(`wasmsocket: shutdown failed: ${(error as Error).message}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve') {
      await serve(rest);
      return -1; // keeps running until a signal
    }
    if (command === 'load') return await runLoadCommand(rest);
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command "${command}"`);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`wasmsocket: ${error.message}\nRun "wasmsocket --help" for usage.\n`);
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
