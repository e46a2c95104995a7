import test from 'ava';
import { LOAD_DEFAULTS, LoadHelpRequested, parseLoadArgs, parseSourceIps, UsageError } from '../../src/load/args.js';

test('load flags are parsed into options, with defaults for the rest', (t) => {
  const options = parseLoadArgs(['ws://localhost:9001/chat?room=1', '--scenario', 'echo', '--connections', '500',
    '--ramp', '250', '--size', '64', '--binary', '--in-flight', '4', '--duration', '2.5', '--threads', '2',
    '--source-ips', '127.0.0.1-127.0.0.3', '--codec', 'wasm', '--json']);
  t.like(options, {
    scenario: 'echo', connections: 500, ramp: 250, size: 64, binary: true, inFlight: 4, rate: 0,
    durationMs: 2500, threads: 2, processes: 0, codec: 'wasm', json: true, topic: LOAD_DEFAULTS.topic,
  });
  t.deepEqual(options.target, { host: 'localhost', port: 9001, path: '/chat?room=1', hostHeader: 'localhost:9001', url: 'ws://localhost:9001/chat?room=1', secure: false, insecure: false });
  t.like(parseLoadArgs(['wss://localhost/', '--insecure']).target, { port: 443, secure: true, insecure: true });
  t.deepEqual(options.sourceIps, ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  t.like(parseLoadArgs(['ws://127.0.0.1:1/']), { scenario: 'echo', connections: 100, codec: 'js', durationMs: 10_000, json: false });
  t.like(parseLoadArgs(['ws://127.0.0.1:1/', '--scenario', 'broadcast']), { rate: LOAD_DEFAULTS.broadcastRate, publishers: 1 });
});

test('source addresses are an IPv4 range or a list', (t) => {
  t.deepEqual(parseSourceIps('127.0.0.254-127.0.1.1'), ['127.0.0.254', '127.0.0.255', '127.0.1.0', '127.0.1.1']);
  t.deepEqual(parseSourceIps('127.0.0.1, ::1'), ['127.0.0.1', '::1']);
});

test('bad load flags are usage errors with a clear message', (t) => {
  const url = 'ws://127.0.0.1:9001/';
  const cases: Array<[string[], RegExp]> = [
    [[], /needs the server URL/],
    [['http://127.0.0.1/'], /must start with ws:\/\/ or wss:\/\//],
    [[url, '--insecure'], /--insecure applies to wss:\/\/ URLs/],
    [[url, url], /takes one URL/],
    [[url, '--scenario', 'storm'], /--scenario must be "echo", "broadcast", "connect", "reconnect-storm" or a module path/],
    [[url, '--connections', '0'], /--connections must be between 1 and/],
    [[url, '--connections', 'many'], /--connections must be a whole number/],
    [[url, '--in-flight', '2', '--rate', '100'], /exclude each other/],
    [[url, '--scenario', 'broadcast', '--in-flight', '2', '--rate', '10'], /exclude each other/],
    [[url, '--scenario', 'broadcast', '--in-flight', '100000', '--publishers', '100'], /--publishers × --in-flight must be at most/],
    [[url, '--size', '8'], /--size must be at least 16 for echo/],
    [[url, '--scenario', 'broadcast', '--size', '20'], /--size must be at least 28 for broadcast/],
    [[url, '--duration', '0'], /--duration must be between 0.1 and/],
    [[url, '--duration', 'soon'], /--duration must be a number/],
    [[url, '--codec', 'rust'], /--codec must be "js" or "wasm"/],
    [[url, '--source-ips', '127.0.0.9-127.0.0.1'], /is empty/],
    [[url, '--source-ips', 'nowhere'], /is not an IP address/],
    [[url, '--frobnicate'], /^unknown option --frobnicate$/],
  ];
  for (const [args, message] of cases) {
    const error = t.throws(() => parseLoadArgs(args), { instanceOf: UsageError }, args.join(' '));
    t.regex(error!.message, message, args.join(' '));
  }
  t.throws(() => parseLoadArgs(['--help']), { instanceOf: LoadHelpRequested });
});
