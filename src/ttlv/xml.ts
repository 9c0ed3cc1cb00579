// KMIP XML encoding ⇄ TTLV tree (KMIP Profiles 2.1 §5.4 "XML Profile"; the form of the
// OASIS test cases in spec/kmip-vectors):
//
//   <RequestMessage>                                       Structure: children, no type
//     <BatchCount type="Integer" value="1"/>               scalar: type + value attributes
//     <CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>
//     <TTLV tag="0x540001" type="TextString" value="x"/>   tag with no name
//
// The reader is a small, strict XML parser of its own: elements, attributes, comments,
// processing instructions (the XML declaration) and the five named plus numeric character
// references. Text content, CDATA and DOCTYPE (entity definitions) are refused: the KMIP
// encoding has no use for them, and DOCTYPE is the door to entity-expansion attacks.
// Every failure is a TtlvError whose offset is a character offset into the text.
import { TtlvError } from './errors.ts';
import { MAX_DEPTH, MAX_ITEMS } from './limits.ts';
import { ItemType } from './generated/itemTypes.ts';
import { TAG_INFO } from './generated/tags.ts';
import {
  ValueTextError, defaultValue, domainInContext, formatScalar, hexTag, parseScalar, siblingAttributeName,
  tagFromName, tagName, checkItem, type ScalarType,
} from './names.ts';
import type { TtlvItem } from './types.ts';

// ---------------------------------------------------------------------------------------
// XML text → element tree

interface XAttr { readonly value: string; readonly offset: number }
interface XNode {
  readonly name: string;
  readonly offset: number;
  readonly attrs: Map<string, XAttr>;
  readonly children: XNode[];
}

/** Element names: XML name characters. A leading digit is tolerated so `<0x540001 …>` reads. */
const NAME_RE = /[A-Za-z0-9_.:\-]+/y;
/** Characters that need more than copying inside an attribute value. */
const ATTR_SPECIAL = /[&<\t\n\r]/;

class XmlReader {
  private pos = 0;
  private elements = 0;

  constructor(private readonly text: string) {}

  private fail(detail: string, offset = this.pos, path = ''): never {
    throw new TtlvError('SYNTAX', detail, offset, path);
  }

  private startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  private skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else break;
    }
  }

  /** Skips white space, comments and processing instructions; stops at anything else. */
  private skipMisc(): void {
    for (;;) {
      this.skipSpace();
      if (this.startsWith('<!--')) {
        const end = this.text.indexOf('-->', this.pos + 4);
        if (end < 0) this.fail('unterminated comment');
        this.pos = end + 3;
      } else if (this.startsWith('<?')) {
        const end = this.text.indexOf('?>', this.pos + 2);
        if (end < 0) this.fail('unterminated processing instruction');
        this.pos = end + 2;
      } else return;
    }
  }

  private readName(): string {
    NAME_RE.lastIndex = this.pos;
    const m = NAME_RE.exec(this.text);
    if (!m) this.fail('expected a name');
    this.pos += m[0].length;
    return m[0];
  }

  private readAttrValue(): string {
    const quote = this.text[this.pos];
    if (quote !== '"' && quote !== "'") this.fail('expected a quoted attribute value');
    this.pos++;
    const t = this.text;
    // Fast path: most values hold no reference, '<' or literal white space.
    const close = t.indexOf(quote, this.pos);
    if (close >= 0) {
      const raw = t.slice(this.pos, close);
      if (!ATTR_SPECIAL.test(raw)) {
        this.pos = close + 1;
        return raw;
      }
    }
    let out = '';
    let runStart = this.pos;
    for (;;) {
      if (this.pos >= t.length) this.fail('unterminated attribute value');
      const c = t[this.pos]!;
      if (c === quote) {
        out += t.slice(runStart, this.pos);
        this.pos++;
        return out;
      }
      if (c === '<') this.fail("'<' is not allowed in an attribute value");
      if (c === '&') {
        out += t.slice(runStart, this.pos);
        out += this.readReference();
        runStart = this.pos;
      } else if (c === '\t' || c === '\n' || c === '\r') {
        // XML 1.0 §3.3.3: literal white space in an attribute value reads as a space
        // (a CR LF pair as one); only character references keep tabs and line breaks.
        out += t.slice(runStart, this.pos) + ' ';
        this.pos += c === '\r' && t[this.pos + 1] === '\n' ? 2 : 1;
        runStart = this.pos;
      } else this.pos++;
    }
  }

  private readReference(): string {
    const start = this.pos;
    const end = this.text.indexOf(';', start);
    if (end < 0 || end - start > 12) this.fail("'&' does not start a character or entity reference", start);
    const body = this.text.slice(start + 1, end);
    this.pos = end + 1;
    switch (body) {
      case 'amp': return '&';
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return "'";
    }
    let cp: number;
    if (/^#x[0-9a-fA-F]+$/.test(body)) cp = parseInt(body.slice(2), 16);
    else if (/^#[0-9]+$/.test(body)) cp = parseInt(body.slice(1), 10);
    else this.fail(`unknown entity &${body};`, start);
    // Any Unicode scalar value is accepted (NUL and control characters included) so every
    // Text String survives a round trip; surrogate halves are not characters.
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail(`character reference &${body}; is not a Unicode character`, start);
    return String.fromCodePoint(cp);
  }

  /** Reads `<Name attr="…" …>` or `<Name …/>`; the position is at '<'. */
  private readStartTag(): { node: XNode; selfClosing: boolean } {
    const offset = this.pos;
    this.pos++;
    const name = this.readName();
    const attrs = new Map<string, XAttr>();
    for (;;) {
      const before = this.pos;
      this.skipSpace();
      if (this.startsWith('/>')) {
        this.pos += 2;
        return { node: { name, offset, attrs, children: [] }, selfClosing: true };
      }
      if (this.startsWith('>')) {
        this.pos++;
        return { node: { name, offset, attrs, children: [] }, selfClosing: false };
      }
      if (this.pos >= this.text.length) this.fail(`unterminated start tag <${name}`, offset);
      if (this.pos === before) this.fail('expected white space before an attribute');
      const attrOffset = this.pos;
      const attr = this.readName();
      this.skipSpace();
      if (this.text[this.pos] !== '=') this.fail(`expected '=' after attribute ${attr}`);
      this.pos++;
      this.skipSpace();
      const valueOffset = this.pos + 1; // first character inside the quotes
      const value = this.readAttrValue();
      if (attrs.has(attr)) this.fail(`duplicate attribute ${attr}`, attrOffset);
      attrs.set(attr, { value, offset: valueOffset });
    }
  }

  parse(): XNode {
    if (this.text.charCodeAt(0) === 0xfeff) this.pos = 1;
    this.skipMisc();
    if (this.startsWith('<!DOCTYPE') || this.startsWith('<!doctype')) this.fail('DOCTYPE is not allowed in KMIP XML');
    if (!this.startsWith('<') || this.startsWith('</') || this.startsWith('<!')) {
      this.fail(this.pos >= this.text.length ? 'no root element' : 'expected the root element');
    }
    const first = this.readStartTag();
    const root = first.node;
    const stack: XNode[] = first.selfClosing ? [] : [root];
    while (stack.length > 0) {
      this.skipMisc();
      const top = stack[stack.length - 1]!;
      if (this.pos >= this.text.length) this.fail(`element <${top.name}> is not closed`, top.offset, pathOf(stack));
      if (this.startsWith('</')) {
        const at = this.pos;
        this.pos += 2;
        const name = this.readName();
        this.skipSpace();
        if (this.text[this.pos] !== '>') this.fail(`expected '>' to end </${name}`);
        this.pos++;
        if (name !== top.name) this.fail(`</${name}> does not close <${top.name}>`, at, pathOf(stack));
        stack.pop();
        continue;
      }
      if (this.startsWith('<![CDATA[')) this.fail('CDATA is not allowed in KMIP XML', this.pos, pathOf(stack));
      if (this.startsWith('<!')) this.fail('declarations are not allowed inside an element', this.pos, pathOf(stack));
      if (this.startsWith('<')) {
        const { node, selfClosing } = this.readStartTag();
        if (++this.elements > MAX_ITEMS) {
          throw new TtlvError('TOO_MANY_ITEMS', `more than ${MAX_ITEMS} elements`, node.offset, pathOf(stack));
        }
        top.children.push(node);
        if (!selfClosing) {
          // The <KMIP> wrapper adds one level the binary message does not have.
          if (stack.length > MAX_DEPTH + 1) {
            throw new TtlvError('TOO_DEEP', `nesting deeper than ${MAX_DEPTH}`, node.offset, pathOf(stack));
          }
          stack.push(node);
        }
        continue;
      }
      this.fail('text content is not allowed in KMIP XML (values go in the value attribute)', this.pos, pathOf(stack));
    }
    this.skipMisc();
    if (this.pos < this.text.length) this.fail('content after the root element');
    return root;
  }
}

function pathOf(stack: readonly XNode[]): string {
  return stack.map((n) => n.name).join('/');
}

// ---------------------------------------------------------------------------------------
// Element tree → TTLV items

const TYPE_NAMES: ReadonlySet<string> = new Set(Object.keys(ItemType));

function nodeTag(node: XNode, path: string): number {
  if (node.name === 'TTLV') {
    const t = node.attrs.get('tag');
    if (!t) throw new TtlvError('BAD_VALUE', '<TTLV> needs a tag attribute', node.offset, path);
    const tag = tagFromName(t.value);
    if (tag === undefined) throw new TtlvError('BAD_VALUE', `tag ${JSON.stringify(t.value)} is not 0x42XXXX or 0x54XXXX`, t.offset, path);
    return tag;
  }
  const tag = tagFromName(node.name);
  if (tag === undefined) throw new TtlvError('BAD_VALUE', `unknown tag name <${node.name}>`, node.offset, path);
  return tag;
}

function convert(node: XNode, parentPath: string, attributeName: string | undefined): TtlvItem {
  const here = parentPath ? `${parentPath}/${node.name}` : node.name;
  const tag = nodeTag(node, here);
  const path = parentPath ? `${parentPath}/${tagName(tag)}` : tagName(tag);
  for (const [k, a] of node.attrs) {
    if (k !== 'type' && k !== 'value' && !(k === 'tag' && node.name === 'TTLV')) {
      throw new TtlvError('BAD_VALUE', `unexpected attribute ${k}`, a.offset, path);
    }
  }
  const typeAttr = node.attrs.get('type');
  const valueAttr = node.attrs.get('value');
  if (typeAttr === undefined || typeAttr.value === 'Structure') {
    if (valueAttr) throw new TtlvError('BAD_VALUE', 'a Structure has children, not a value attribute', valueAttr.offset, path);
    return { tag, type: 'Structure', value: convertChildren(node.children, path) };
  }
  if (!TYPE_NAMES.has(typeAttr.value)) {
    throw new TtlvError('BAD_VALUE', `unknown item type ${JSON.stringify(typeAttr.value)}`, typeAttr.offset, path);
  }
  const type = typeAttr.value as ScalarType;
  if (node.children.length > 0) throw new TtlvError('BAD_VALUE', `a ${type} item has no child elements`, node.children[0]!.offset, path);
  if (!valueAttr) throw new TtlvError('BAD_VALUE', `a ${type} item needs a value attribute`, node.offset, path);
  const text = valueAttr.value;
  if (text.startsWith('$')) {
    // Test-vector variable ($UNIQUE_IDENTIFIER_0, $NOW-3600, …): typed, valueless until
    // the conformance runner substitutes it; the binary encoder refuses it meanwhile.
    return { tag, type, value: defaultValue(type), placeholder: text } as TtlvItem;
  }
  try {
    return { tag, type, value: parseScalar(type, text, domainInContext(tag, attributeName)) } as TtlvItem;
  } catch (e) {
    if (e instanceof ValueTextError) throw new TtlvError('BAD_VALUE', e.message, valueAttr.offset, path);
    throw e;
  }
}

function convertChildren(children: readonly XNode[], path: string): TtlvItem[] {
  // A 1.x Attribute Value is read in the light of its sibling Attribute Name, wherever
  // that sibling stands.
  let attributeName: string | undefined;
  for (const c of children) {
    if (c.name === 'AttributeName' && c.attrs.get('type')?.value === 'TextString') {
      const v = c.attrs.get('value')?.value;
      if (v !== undefined && !v.startsWith('$')) attributeName = v;
    }
  }
  return children.map((c) => convert(c, path, attributeName));
}

/**
 * Parses KMIP XML. Returns every top-level element: the children of a `<KMIP>` root if the
 * document has one, else the single root element. Throws TtlvError ('SYNTAX' for malformed
 * XML, 'BAD_VALUE' for a tag, type or value KMIP cannot take) with a character offset.
 */
export function fromXml(text: string): TtlvItem[] {
  const root = new XmlReader(text).parse();
  if (root.name === 'KMIP') {
    if (root.attrs.size > 0) {
      const [k, a] = [...root.attrs][0]!;
      throw new TtlvError('BAD_VALUE', `unexpected attribute ${k} on <KMIP>`, a.offset, 'KMIP');
    }
    return convertChildren(root.children, '');
  }
  return [convert(root, '', undefined)];
}

// ---------------------------------------------------------------------------------------
// TTLV items → XML text

export interface ToXmlOptions {
  /** Wrap the items in `<KMIP>…</KMIP>`. Default: true for an array, false for one item. */
  root?: boolean;
  /** One level of indentation (default two spaces); '' writes everything on one line. */
  indent?: string;
}

const XML_FORMAT = { maskSeparator: ' ', bigIntegerPrefix: '' } as const;
const NEEDS_ESCAPE = /[&<>"\u0000-\u001f]/;

function escapeAttr(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  // Control characters (tab and line breaks included) are written as references, as a
  // literal one would be read back as a space (XML 1.0 §3.3.3).
  return s.replace(/[&<>"\u0000-\u001f]/g, (c) => {
    switch (c) {
      case '&': return '&amp;';
      case '<': return '&lt;';
      case '>': return '&gt;';
      case '"': return '&quot;';
      default: return `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`;
    }
  });
}

function writeItem(item: TtlvItem, attributeName: string | undefined, depth: number, indent: string, nl: string, out: string[], path: string): void {
  const pad = indent.repeat(depth);
  const known = TAG_INFO.get(item.tag);
  const open = known ? known.name : `TTLV tag="${hexTag(item.tag)}"`;
  const close = known ? known.name : 'TTLV';
  const here = path ? `${path}/${tagName(item.tag)}` : tagName(item.tag);
  if (item.type === 'Structure') {
    if (item.placeholder !== undefined) throw new TtlvError('BAD_VALUE', 'a Structure cannot carry a placeholder', 0, here);
    if (item.value.length === 0) {
      out.push(`${pad}<${open}/>${nl}`);
      return;
    }
    out.push(`${pad}<${open}>${nl}`);
    const name = siblingAttributeName(item.value);
    for (const child of item.value) writeItem(child, name, depth + 1, indent, nl, out, here);
    out.push(`${pad}</${close}>${nl}`);
    return;
  }
  let text: string;
  if (item.placeholder !== undefined) text = item.placeholder;
  else {
    checkItem(item, here);
    text = formatScalar(item, domainInContext(item.tag, attributeName), XML_FORMAT);
  }
  out.push(`${pad}<${open} type="${item.type}" value="${escapeAttr(text)}"/>${nl}`);
}

/** Writes items as KMIP XML (the OASIS test-case layout). Throws TtlvError on an item whose value does not fit its type. */
export function toXml(items: TtlvItem | TtlvItem[], options: ToXmlOptions = {}): string {
  const list = Array.isArray(items) ? items : [items];
  const root = options.root ?? Array.isArray(items);
  const indent = options.indent ?? '  ';
  const nl = indent === '' ? '' : '\n';
  const out: string[] = [];
  if (root) out.push(`<KMIP>${nl}`);
  const name = siblingAttributeName(list);
  for (const item of list) writeItem(item, name, root ? 1 : 0, indent, nl, out, '');
  if (root) out.push(`</KMIP>${nl}`);
  return out.join('');
}

