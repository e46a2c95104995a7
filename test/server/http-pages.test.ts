/**
 * Plain HTTP on the WebSocket port is the application's: the pubsub application serves its
 * client page at `/` through its `httpGet` hook, an application without the hook gets 404 there,
 * a hook's own pages are served in every mode, and a hook that throws answers 500 and is reported.
 */
import test from 'ava';
import { listen, loadApplication, type Application } from '../../src/index.js';
import { writeAppModule } from '../helpers/app-module.js';

async function get(port: number, path: string): Promise<{ status: number; type: string | null; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
}

for (const workers of [0, 1]) {
  const mode = workers === 0 ? 'inline' : '1 worker';

  test(`[${mode}] the pubsub application serves its page at / and /index.html; echo serves none`, async (t) => {
    const pubsub = await listen({ port: 0, app: 'pubsub', workers });
    t.teardown(() => pubsub.close());
    for (const path of ['/', '/index.html', '/?room=1']) {
      const page = await get(pubsub.port, path);
      t.is(page.status, 200, path);
      t.is(page.type, 'text/html; charset=utf-8', path);
      t.regex(page.body, /<title>wasmsocket pub\/sub<\/title>/, path);
    }
    t.is((await get(pubsub.port, '/other')).status, 404);
    const echo = await listen({ port: 0, app: 'echo', workers });
    t.teardown(() => echo.close());
    const none = await get(echo.port, '/');
    t.is(none.status, 404);
    t.is(none.body, 'not found\n');
    t.is((await get(echo.port, '/healthz')).status, 200, '/healthz is the server\'s, whatever the app');
  });
}

test("an application object's httpGet answers its paths; one that throws answers 500 and reaches onError", async (t) => {
  const errors: Error[] = [];
  const app: Application = {
    httpGet(path) {
      if (path === '/broken') throw new Error('page failed');
      return path === '/status' ? { contentType: 'application/json', body: '{"up":true}' } : undefined;
    },
  };
  const server = await listen({ port: 0, app, onError: (error) => errors.push(error) });
  t.teardown(() => server.close());
  t.deepEqual(await get(server.port, '/status'), { status: 200, type: 'application/json', body: '{"up":true}' });
  t.is((await get(server.port, '/')).status, 404);
  t.is((await get(server.port, '/broken')).status, 500);
  t.deepEqual(errors.map((error) => error.message), ['page failed']);
});

test('an application module whose httpGet is not a function is refused when loaded', async (t) => {
  await t.throwsAsync(loadApplication(writeAppModule(t, 'export default { httpGet: "index.html" };\n')), { instanceOf: TypeError, message: /httpGet must be a function/ });
});
