import { escapeNonAscii } from './canonical.js';

/**
 * Canonical forms of `{header, message}` built from the request text as received (DIGEST 7.2): keys sorted,
 * whitespace removed, numbers kept exactly as the sender wrote them (`7.0` stays `7.0`, which a parse and
 * re-serialise would turn into `7`). Strings are written twice: with non-ASCII escaped as `\uXXXX` (Python's
 * json.dumps default, what OpenSPP 2 and OpenG2P hash) and as raw UTF-8 (RFC 8785); a signature over either verifies.
 */

type Node = { k: 'obj'; entries: [string, Node][] } | { k: 'arr'; items: Node[] } | { k: 'str'; v: string } | { k: 'lit'; text: string };

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  parse(): Node {
    const node = this.value();
    this.ws();
    if (this.i !== this.s.length) throw new SyntaxError('trailing characters');
    return node;
  }

  private ws(): void {
    while (this.i < this.s.length && ' \t\n\r'.includes(this.s[this.i])) this.i++;
  }

  private value(): Node {
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return { k: 'str', v: this.string() };
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) throw new SyntaxError(`unexpected character at ${this.i}`);
    this.i += m[0].length;
    return { k: 'lit', text: m[0] };
  }

  private object(): Node {
    this.i++;
    const entries: [string, Node][] = [];
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return { k: 'obj', entries };
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') throw new SyntaxError(`expected a key at ${this.i}`);
      const key = this.string();
      this.ws();
      if (this.s[this.i++] !== ':') throw new SyntaxError(`expected : at ${this.i}`);
      entries.push([key, this.value()]);
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return { k: 'obj', entries };
      if (c !== ',') throw new SyntaxError(`expected , or } at ${this.i}`);
    }
  }

  private array(): Node {
    this.i++;
    const items: Node[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return { k: 'arr', items };
    }
    for (;;) {
      items.push(this.value());
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return { k: 'arr', items };
      if (c !== ',') throw new SyntaxError(`expected , or ] at ${this.i}`);
    }
  }

  private string(): string {
    const start = this.i;
    this.i++;
    while (this.i < this.s.length && this.s[this.i] !== '"') this.i += this.s[this.i] === '\\' ? 2 : 1;
    this.i++;
    return JSON.parse(this.s.slice(start, this.i)) as string;
  }
}

function write(node: Node, ascii: boolean): string {
  const str = (v: string) => (ascii ? escapeNonAscii(JSON.stringify(v)) : JSON.stringify(v));
  switch (node.k) {
    case 'lit':
      return node.text;
    case 'str':
      return str(node.v);
    case 'arr':
      return `[${node.items.map((n) => write(n, ascii)).join(',')}]`;
    case 'obj': {
      const sorted = [...node.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${sorted.map(([key, v]) => `${str(key)}:${write(v, ascii)}`).join(',')}}`;
    }
  }
}

/**
 * The canonical texts of `{"header": ..., "message": ...}` of a raw envelope: [non-ASCII escaped, raw UTF-8].
 * Undefined when the text is not a JSON object with a header.
 */
export function rawCanonicalForms(rawBody: string): string[] | undefined {
  let root: Node;
  try {
    root = new Parser(rawBody).parse();
  } catch {
    return undefined;
  }
  if (root.k !== 'obj') return undefined;
  const pick = (name: string) => root.entries.filter(([k]) => k === name).at(-1)?.[1];
  const header = pick('header');
  const message = pick('message');
  if (!header) return undefined;
  const entries: [string, Node][] = [['header', header]];
  if (message) entries.push(['message', message]);
  const envelope: Node = { k: 'obj', entries };
  const ascii = write(envelope, true);
  const utf8 = write(envelope, false);
  return ascii === utf8 ? [ascii] : [ascii, utf8];
}
