import { Router, splitUrl } from '../../lib/router';

describe('Router', () => {
  const r = new Router<string>();
  r.add('/chat', 'static');
  r.add('/room/{id}', 'braces');
  r.add('/user/:name/posts', 'colon');
  r.add('/files/*', 'rest');
  r.add('/', 'root');

  test.each([
    ['/chat', 'static', {}],
    ['/room/42', 'braces', { id: '42' }],
    ['/room/a%20b', 'braces', { id: 'a b' }],
    ['/room/%E0%A4%A', 'braces', { id: '%E0%A4%A' }], // undecodable stays as sent
    ['/user/ana/posts', 'colon', { name: 'ana' }],
    ['/files/a/b/c.txt', 'rest', { '*': 'a/b/c.txt' }],
    ['/files/', 'rest', { '*': '' }],
    ['/', 'root', {}],
  ])('%s -> %s', (path, value, params) => {
    const m = r.match(path);
    expect(m).not.toBeNull();
    expect(m!.value).toBe(value);
    expect(m!.params).toEqual(params);
  });

  test.each(['/chat/x', '/room', '/room/', '/room/1/2', '/user/ana', '/nope', ''])('%s does not match', (path) => {
    expect(r.match(path)).toBeNull();
  });

  test('a static route wins over a pattern; a repeated pattern replaces the earlier one', () => {
    const q = new Router<string>();
    q.add('/a/{x}', 'pattern');
    q.add('/a/b', 'static');
    q.add('/a/:y', 'replaced');
    expect(q.match('/a/b')!.value).toBe('static');
    expect(q.match('/a/c')!.value).toBe('replaced');
    expect(q.size).toBe(2);
  });

  test('a pattern must start with a slash', () => {
    expect(() => new Router<string>().add('chat', 'x')).toThrow(/start with '\/'/);
  });
});

describe('splitUrl', () => {
  test.each([
    ['/chat?room=1&user=ana', '/chat', { room: '1', user: 'ana' }],
    ['/chat', '/chat', {}],
    ['/a?x=1&x=2', '/a', { x: '1' }], // first value wins
    ['/a?q=a%20b', '/a', { q: 'a b' }],
    // RFC 9112 3.2.2: absolute form
    ['http://example.com:8000/chat?x=2', '/chat', { x: '2' }],
    ['ws://example.com', '/', {}],
    ['http://example.com?q=1', '/', { q: '1' }],
  ])('%s', (url, path, query) => {
    expect(splitUrl(url)).toEqual({ path, query });
  });
});
