// A strict RFC 5424 parser for the tests (independent of src/audit/export/format.ts), and
// an RFC 6587 octet-counting de-framer. Throws on anything malformed.

export interface Syslog5424 {
  pri: number;
  facility: number;
  severity: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: Map<string, Record<string, string>>;
  msg: string;
  bom: boolean;
}

const TOKEN = /^[\x21-\x7e]+$/;

export function parse5424(line: string): Syslog5424 {
  const m = /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(line);
  if (!m) throw new Error(`not an RFC 5424 header: ${line.slice(0, 80)}`);
  const pri = Number(m[1]);
  if (pri > 191 || (m[1]!.length > 1 && m[1]!.startsWith('0'))) throw new Error(`bad PRI ${m[1]}`);
  const [timestamp, hostname, appName, procId, msgId] = [m[3]!, m[4]!, m[5]!, m[6]!, m[7]!];
  // §6.2.3: FULL-DATE "T" FULL-TIME, at most 6 fraction digits, Z or offset.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/.test(timestamp)) throw new Error(`bad TIMESTAMP ${timestamp}`);
  if (!TOKEN.test(hostname) || hostname.length > 255) throw new Error(`bad HOSTNAME ${hostname}`);
  if (!TOKEN.test(appName) || appName.length > 48) throw new Error(`bad APP-NAME ${appName}`);
  if (!TOKEN.test(procId) || procId.length > 128) throw new Error(`bad PROCID ${procId}`);
  if (!TOKEN.test(msgId) || msgId.length > 32) throw new Error(`bad MSGID ${msgId}`);
  let i = m[0].length;
  const sd = new Map<string, Record<string, string>>();
  if (line[i] === '-') {
    i++;
  } else {
    while (line[i] === '[') {
      i++;
      const idEnd = line.indexOf(' ', i);
      const id = line.slice(i, idEnd);
      if (!/^[^= \]"]{1,32}$/.test(id)) throw new Error(`bad SD-ID ${id}`);
      i = idEnd;
      const params: Record<string, string> = {};
      while (line[i] === ' ') {
        i++;
        const eq = line.indexOf('="', i);
        const name = line.slice(i, eq);
        if (!/^[^= \]"]{1,32}$/.test(name)) throw new Error(`bad PARAM-NAME ${name}`);
        i = eq + 2;
        let value = '';
        for (;;) {
          const c = line[i];
          if (c === undefined) throw new Error('unterminated PARAM-VALUE');
          if (c === '\\' && (line[i + 1] === '"' || line[i + 1] === '\\' || line[i + 1] === ']')) { value += line[i + 1]; i += 2; continue; }
          if (c === '"') { i++; break; }
          if (c === ']') throw new Error(`unescaped ] in PARAM-VALUE of ${name}`);
          value += c;
          i++;
        }
        params[name] = value;
      }
      if (line[i] !== ']') throw new Error(`SD-ELEMENT ${id} not closed at ${i}`);
      i++;
      sd.set(id, params);
    }
    if (sd.size === 0) throw new Error('no STRUCTURED-DATA');
  }
  let msg = '';
  if (i < line.length) {
    if (line[i] !== ' ') throw new Error('no SP before MSG');
    msg = line.slice(i + 1);
  }
  const bom = msg.startsWith('\ufeff');
  if (bom) msg = msg.slice(1);
  return { pri, facility: pri >> 3, severity: pri & 7, version: Number(m[2]), timestamp, hostname, appName, procId, msgId, sd, msg, bom };
}

/** Splits an octet-counted stream (RFC 6587 §3.4.1); returns whole messages and the rest. */
export function deframe(buf: Buffer): { messages: string[]; rest: Buffer } {
  const messages: string[] = [];
  let off = 0;
  for (;;) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) break;
    const lenText = buf.subarray(off, sp).toString('ascii');
    if (!/^[1-9]\d{0,8}$/.test(lenText)) throw new Error(`bad MSG-LEN ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    if (buf.length < sp + 1 + len) break;
    messages.push(buf.subarray(sp + 1, sp + 1 + len).toString('utf8'));
    off = sp + 1 + len;
  }
  return { messages, rest: buf.subarray(off) };
}

/** Parses a CEF line into its 7 header fields and extension map (undoing the escapes). */
export function parseCef(line: string): { header: string[]; ext: Record<string, string> } {
  const header: string[] = [];
  let i = 0;
  let cur = '';
  while (header.length < 7) {
    const c = line[i];
    if (c === undefined) throw new Error('CEF header truncated');
    if (c === '\\') { const n = line[i + 1]; if (n !== '\\' && n !== '|') throw new Error(`bad header escape \\${n}`); cur += n; i += 2; continue; }
    if (c === '|') { header.push(cur); cur = ''; i++; continue; }
    cur += c;
    i++;
  }
  const extText = line.slice(i);
  const ext: Record<string, string> = {};
  // key=value pairs; a key starts after a space and runs to an unescaped '='.
  const re = /(?:^| )([A-Za-z0-9_]+)=((?:\\.|[^\\=])*?)(?= [A-Za-z0-9_]+=|$)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(extText)) !== null) {
    ext[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
    consumed += m[0].length;
  }
  if (consumed !== extText.length) throw new Error(`CEF extension not fully parsed: ${extText}`);
  return { header, ext };
}
