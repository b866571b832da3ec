/**
 * examples/reconnecting-client.ts: the page imports the browser module from
 * the app, and the Node twin (watchFeed) rides out a server restart: it says
 * it is offline, retries, comes back, and what was sent meanwhile arrives.
 */
import * as http from 'node:http';
import { createFeedApp, watchFeed, type FeedApp } from '../../examples/reconnecting-client';
import { SendStatus, type ReconnectingWebSocket } from '../../index';
import { waitFor } from '../lib/helpers';

const apps: FeedApp[] = [];
let client: ReconnectingWebSocket | null = null;
afterEach(async () => {
  client?.terminate();
  client = null;
  for (const a of apps.splice(0)) await a.close();
});

async function start(port = 0): Promise<number> {
  const app = createFeedApp({ intervalMs: 20 });
  apps.push(app);
  return app.listen(port, '127.0.0.1');
}

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

test('the page loads the browser module from the app', async () => {
  const port = await start();
  const page = await get(port, '/');
  expect(page.status).toBe(200);
  expect(page.body).toContain("import { ReconnectingWebSocket } from '/xyra-client.js';");
  const module = await get(port, '/xyra-client.js');
  expect(module.status).toBe(200);
  expect(module.type).toBe('text/javascript; charset=utf-8');
  expect(module.body).toContain('export class ReconnectingWebSocket');
});

test('watchFeed rides out a server restart and sends what was typed meanwhile', async () => {
  const port = await start();
  const lines: string[] = [];
  client = await watchFeed(`ws://127.0.0.1:${port}/feed`, (line) => lines.push(line), 20);
  await waitFor(() => lines.some((l) => l.startsWith('tick ')), 5000, 'a tick');
  expect(lines[0]).toBe('online');

  await apps.shift()!.close();
  await waitFor(() => lines.some((l) => l.includes('retry 2 in')), 5000, 'a failed retry');
  expect(client.send('typed offline')).toBe(SendStatus.BACKPRESSURE);
  await start(port);
  await waitFor(() => lines.includes('echo: typed offline'), 5000, 'the echo');

  const story = lines.filter((l) => !l.startsWith('tick '));
  expect(story[0]).toBe('online');
  expect(story[1]).toMatch(/^offline \(1001\), retry 1 in \d+ ms$/);
  expect(story[2]).toMatch(/^offline \(connect ECONNREFUSED .*\), retry 2 in \d+ ms$/);
  expect(story.slice(-2)).toEqual(['online', 'echo: typed offline']);
  expect(story.filter((l) => l === 'online')).toHaveLength(2);
  client.close();
  await waitFor(() => lines.includes('closed (1000)'), 5000, 'close');
});
