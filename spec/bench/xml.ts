/**
 * A strict XML well-formedness check for the bench's SVG output (no XML
 * parser among the dev dependencies): one root element, balanced and
 * properly nested tags, quoted and unique attributes, only the five named
 * entities or numeric references, no raw '<' or '&' in text or attributes.
 * Returns the element names in document order, or throws with the offset.
 */
export function checkXml(doc: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  let roots = 0;
  let i = 0;
  const NAME = /^[A-Za-z_:][-A-Za-z0-9_.:]*/;
  const ENTITY = /^&(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/;
  const fail = (why: string): never => {
    throw new Error(`not well-formed XML at ${i}: ${why}: ${JSON.stringify(doc.slice(i, i + 60))}`);
  };
  const checkText = (text: string, at: number): void => {
    for (let k = 0; k < text.length; k++) {
      if (text[k] === '<') {
        i = at + k;
        fail('raw <');
      }
      if (text[k] === '&' && !ENTITY.test(text.slice(k))) {
        i = at + k;
        fail('bad entity');
      }
    }
  };
  if (doc.startsWith('<?xml')) {
    const end = doc.indexOf('?>');
    if (end < 0) fail('unterminated declaration');
    i = end + 2;
  }
  while (i < doc.length) {
    const lt = doc.indexOf('<', i);
    const text = doc.slice(i, lt < 0 ? doc.length : lt);
    if (stack.length === 0 && text.trim() !== '') fail('text outside the root element');
    checkText(text, i);
    if (lt < 0) break;
    i = lt;
    if (doc.startsWith('<!--', i)) {
      const end = doc.indexOf('-->', i);
      if (end < 0) fail('unterminated comment');
      i = end + 3;
      continue;
    }
    if (doc.startsWith('</', i)) {
      const m = NAME.exec(doc.slice(i + 2));
      if (m === null) fail('bad end tag');
      const close = doc.indexOf('>', i);
      if (doc.slice(i + 2 + m![0].length, close).trim() !== '') fail('junk in end tag');
      if (stack.pop() !== m![0]) fail(`end tag ${m![0]} does not match`);
      i = close + 1;
      continue;
    }
    const m = NAME.exec(doc.slice(i + 1));
    if (m === null) fail('bad start tag');
    const name = m![0];
    if (stack.length === 0) {
      roots++;
      if (roots > 1) fail('second root element');
    }
    names.push(name);
    i += 1 + name.length;
    const seen = new Set<string>();
    for (;;) {
      const ws = /^\s*/.exec(doc.slice(i))![0].length;
      i += ws;
      if (doc.startsWith('/>', i)) {
        i += 2;
        break;
      }
      if (doc[i] === '>') {
        stack.push(name);
        i += 1;
        break;
      }
      if (ws === 0) fail('attributes must be separated by whitespace');
      const a = /^([A-Za-z_:][-A-Za-z0-9_.:]*)\s*=\s*"([^"]*)"/.exec(doc.slice(i));
      if (a === null) fail('bad attribute');
      if (seen.has(a![1])) fail(`duplicate attribute ${a![1]}`);
      seen.add(a![1]);
      checkText(a![2], i + a![0].indexOf('"') + 1);
      i += a![0].length;
    }
  }
  if (stack.length > 0) fail(`unclosed ${stack.join(' > ')}`);
  if (roots !== 1) fail('no root element');
  return names;
}
