import { describe, expect, it } from 'vitest';
import { findLinks, parseStyling, safeHref, type Block, type Span } from '../../src/lib/styling';

/** The tree as a compact string: *…* strong, _…_ em, ~…~ strike, `…` code, [text](href) links. */
function show(blocks: Block[]): string {
  const span = (s: Span): string => {
    switch (s.t) {
      case 'text':
        return s.text;
      case 'code':
        return `<code ${s.text}>`;
      case 'link':
        return `<a ${s.href}>`;
      default:
        return `<${s.t} ${s.children.map(span).join('')}>`;
    }
  };
  return blocks
    .map((b) => (b.t === 'line' ? b.spans.map(span).join('') : b.t === 'pre' ? `<pre ${b.text}>` : `<quote ${show(b.blocks)}>`))
    .join('|');
}

describe('XEP-0393 message styling', () => {
  it('parses the spans of the XEP’s examples', () => {
    expect(show(parseStyling('I am *strong* and _emphasised_ and ~struck~ and `mono`'))).toBe(
      'I am <strong *strong*> and <em _emphasised_> and <strike ~struck~> and <code `mono`>',
    );
    expect(show(parseStyling('*strong _and emphasised_*'))).toBe('<strong *strong <em _and emphasised_>*>');
    expect(show(parseStyling('`no *styling* inside`'))).toBe('<code `no *styling* inside`>');
  });

  it('leaves directives alone that do not open or close a span', () => {
    expect(show(parseStyling('2 * 3 * 4'))).toBe('2 * 3 * 4');
    expect(show(parseStyling('**'))).toBe('**');
    expect(show(parseStyling('*not closed'))).toBe('*not closed');
    expect(show(parseStyling('a*b*c'))).toBe('a*b*c');
    expect(show(parseStyling('*two\nlines*'))).toBe('*two|lines*');
    expect(show(parseStyling('snake_case_name'))).toBe('snake_case_name');
  });

  it('parses preformatted blocks and nested quotes', () => {
    expect(show(parseStyling('```\nlet *x* = 1;\n```\nafter'))).toBe('<pre let *x* = 1;>|after');
    expect(show(parseStyling('```\nunclosed *block*'))).toBe('<pre unclosed *block*>');
    expect(show(parseStyling('> quoted *text*\n>> deeper\nreply'))).toBe('<quote <strong *text*> prefix|<quote deeper>>|reply'.replace('<strong *text*> prefix', 'quoted <strong *text*>'));
  });

  it('finds links and keeps them whole', () => {
    expect(show(parseStyling('see https://example.org/a_b_c.'))).toBe('see <a https://example.org/a_b_c>.');
    expect(show(parseStyling('(https://en.wikipedia.org/wiki/Tern_(bird))'))).toBe('(<a https://en.wikipedia.org/wiki/Tern_(bird)>)');
    expect(show(parseStyling('*xmpp:tern@conference.example.org?join*'))).toBe('<strong *<a xmpp:tern@conference.example.org?join>*>');
    expect(findLinks('javascript:alert(1) data:text/html,x file:///etc/passwd')).toEqual([]);
  });

  it('accepts only http, https and xmpp links', () => {
    expect(safeHref('https://example.org')).toBe(true);
    expect(safeHref('xmpp:a@b')).toBe(true);
    for (const bad of ['javascript:alert(1)', 'JAVASCRIPT:x', 'data:text/html,<script>', 'https:', 'http:/x', 'https://a\nb', 'vbscript:x', ''])
      expect(safeHref(bad), bad).toBe(false);
  });

  it('makes no link in text with bidi controls, which could reorder what a link shows', () => {
    // U+202A–U+202E (embeddings, overrides), U+2066–U+2069 (isolates), and
    // the marks U+200E, U+200F, U+061C.
    const controls = ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069', '\u200E', '\u200F', '\u061C'];
    for (const c of controls) {
      const hex = c.codePointAt(0)!.toString(16);
      expect(safeHref(`https://example.org/${c}gnp.exe`), hex).toBe(false);
      expect(safeHref(`xmpp:juliet@example.org${c}`), hex).toBe(false);
      expect(findLinks(`https://example.org/${c}x`), hex).toEqual([]);
      // Anywhere in the line: an override before a link reorders it too.
      expect(findLinks(`${c} https://example.org/ok`), hex).toEqual([]);
      // Anywhere in the message: lines shown inline (previews) are one paragraph.
      const tree = parseStyling(`look ${c}here\nhttps://example.org/ok`);
      expect(show(tree), hex).toBe(`look ${c}here|https://example.org/ok`);
    }
    // Without them, the same text has its link.
    expect(show(parseStyling('look here\nhttps://example.org/ok'))).toBe('look here|<a https://example.org/ok>');
  });

  it('produces text nodes only: markup stays text', () => {
    const tree = parseStyling('<img src=x onerror=alert(1)> <script>alert(1)</script>');
    expect(tree).toEqual([{ t: 'line', spans: [{ t: 'text', text: '<img src=x onerror=alert(1)> <script>alert(1)</script>' }] }]);
  });
});
