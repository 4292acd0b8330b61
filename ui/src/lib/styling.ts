// XEP-0393 Message Styling, parsed into a token tree that components render
// as text nodes (never HTML). Links are found in plain text and kept whole,
// so styling directives inside a URL do not break it.

export type Span =
  | { t: 'text'; text: string }
  | { t: 'link'; text: string; href: string }
  | { t: 'code'; text: string }
  | { t: 'strong' | 'em' | 'strike'; children: Span[] };

export type Block =
  | { t: 'line'; spans: Span[] }
  | { t: 'pre'; text: string }
  | { t: 'quote'; blocks: Block[] };

const DIRECTIVES: Record<string, 'strong' | 'em' | 'strike' | 'code'> = {
  '*': 'strong',
  _: 'em',
  '~': 'strike',
  '`': 'code',
};

/** Schemes a message link may have; anything else stays text. */
export const LINK_SCHEMES = ['http', 'https', 'xmpp'] as const;

const LINK = /\b(?:https?:\/\/[^\s<>"]+|xmpp:[^\s<>"]+)/gi;

/**
 * Bidi controls (embeddings and overrides U+202A–U+202E, isolates
 * U+2066–U+2069) and marks (U+200E, U+200F, U+061C): they can make a link
 * show something other than where it goes. Text holding any of them gets no
 * links at all, so the address is never clickable under a false face.
 */
export const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/;
const TRAILING = `.,;:!?'")]}>*_~`;

/** Whether a link may be opened: http(s) with a host, or xmpp:. */
export function safeHref(href: string): boolean {
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/is.exec(href.trim());
  if (!m) return false;
  const scheme = m[1].toLowerCase();
  if (!(LINK_SCHEMES as readonly string[]).includes(scheme)) return false;
  if (/[\s\u0000-\u001f\u007f]/.test(href) || BIDI_CONTROLS.test(href)) return false;
  if (scheme === 'xmpp') return m[2].length > 0;
  return /^\/\/[^/\s]/.test(m[2]);
}

const count = (s: string, c: string): number => s.split(c).length - 1;

/** A link without the punctuation after it; a ")" that closes a "(" in the link stays. */
function trimLink(text: string): string {
  while (text.length > 0) {
    const c = text[text.length - 1];
    if (!TRAILING.includes(c)) break;
    if (c === ')' && count(text, '(') >= count(text, ')')) break;
    text = text.slice(0, -1);
  }
  return text;
}

/** Link ranges `[start, end)` in a line. */
export function findLinks(line: string): [number, number][] {
  const out: [number, number][] = [];
  // An override before a link reorders it as well as one inside it.
  if (BIDI_CONTROLS.test(line)) return out;
  for (const m of line.matchAll(LINK)) {
    const text = trimLink(m[0]);
    const start = m.index ?? 0;
    if (safeHref(text)) out.push([start, start + text.length]);
  }
  return out;
}

const isSpace = (c: string | undefined): boolean => c === undefined || /\s/.test(c);

/** Plain text with links, for a range of a line. */
function plain(line: string, from: number, to: number, links: [number, number][], out: Span[]): void {
  let at = from;
  for (const [a, b] of links) {
    if (b <= from || a >= to) continue;
    if (a > at) out.push({ t: 'text', text: line.slice(at, a) });
    out.push({ t: 'link', text: line.slice(a, b), href: line.slice(a, b) });
    at = b;
  }
  if (at < to) out.push({ t: 'text', text: line.slice(at, to) });
}

const inLink = (i: number, links: [number, number][]): boolean => links.some(([a, b]) => i >= a && i < b);

/** Spans of `line[from, to)` (XEP-0393 §6.2). */
function spans(line: string, from: number, to: number, links: [number, number][]): Span[] {
  const out: Span[] = [];
  let textFrom = from;
  let i = from;
  while (i < to) {
    const c = line[i];
    const kind = DIRECTIVES[c];
    // An opening directive: at the start, or after whitespace or another
    // opening directive; not followed by whitespace; not inside a link.
    if (kind && (i === from || isSpace(line[i - 1]) || DIRECTIVES[line[i - 1]]) && !isSpace(line[i + 1]) && !inLink(i, links)) {
      let close = -1;
      for (let j = i + 2; j < to; j++) {
        if (line[j] === c && !isSpace(line[j - 1]) && !inLink(j, links)) {
          close = j;
          break;
        }
      }
      if (close > i + 1) {
        plain(line, textFrom, i, links, out);
        if (kind === 'code') out.push({ t: 'code', text: line.slice(i, close + 1) });
        else
          out.push({
            t: kind,
            children: [{ t: 'text', text: c }, ...spans(line, i + 1, close, links), { t: 'text', text: c }],
          });
        i = close + 1;
        textFrom = i;
        continue;
      }
    }
    i += 1;
  }
  plain(line, textFrom, to, links, out);
  return merge(out);
}

/** Joins neighbouring text spans. */
function merge(list: Span[]): Span[] {
  const out: Span[] = [];
  for (const s of list) {
    const last = out[out.length - 1];
    if (s.t === 'text' && last?.t === 'text') out[out.length - 1] = { t: 'text', text: last.text + s.text };
    else if (s.t !== 'text' || s.text) out.push(s);
  }
  return out;
}

function line(text: string, linkify: boolean): Block {
  return { t: 'line', spans: spans(text, 0, text.length, linkify ? findLinks(text) : []) };
}

function blocks(lines: string[], linkify: boolean): Block[] {
  const out: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i];
    if (l.startsWith('```')) {
      // Preformatted block: up to a line of exactly ``` or the end.
      const body: string[] = [];
      i += 1;
      while (i < lines.length && lines[i] !== '```') body.push(lines[i++]);
      i += 1;
      out.push({ t: 'pre', text: body.join('\n') });
    } else if (l.startsWith('>')) {
      const quoted: string[] = [];
      while (i < lines.length && lines[i].startsWith('>')) {
        quoted.push(lines[i].slice(1).replace(/^ /, ''));
        i += 1;
      }
      out.push({ t: 'quote', blocks: blocks(quoted, linkify) });
    } else {
      out.push(line(l, linkify));
      i += 1;
    }
  }
  return out;
}

/** Parses a message body. */
export function parseStyling(body: string): Block[] {
  // Bidi controls anywhere in the body: no links in any of its lines (a
  // body shown inline, as in a reply's quote, is one paragraph).
  return blocks(body.replace(/\r\n?/g, '\n').split('\n'), !BIDI_CONTROLS.test(body));
}

/** The body as plain text for one-line previews: the first lines, styling kept as typed. */
export function preview(body: string, max = 140): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
