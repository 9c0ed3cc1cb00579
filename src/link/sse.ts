// Server-Sent Events parsing (WHATWG HTML Living Standard §9.2.6 "Interpreting an event
// stream"), the transport of the link's change stream (src/link/protocol.ts). Incremental:
// chunks may split a line, a field or a UTF-8 sequence anywhere.
import { StringDecoder } from 'node:string_decoder';

export interface SseEvent {
  /** `event:` field; 'message' when absent (§9.2.6). */
  event: string;
  data: string;
  /** `id:` field of this event, when it had one. */
  id?: string;
}

/**
 * Longest line accepted (one `data:` line of a change is a few KB; a snapshot never comes
 * this way). Stops a broken or hostile peer from growing the buffer without end.
 */
export const MAX_SSE_LINE_BYTES = 1 << 20;
/** Longest event (all its data lines together). */
export const MAX_SSE_EVENT_BYTES = 4 << 20;

export class SseError extends Error {
  override readonly name = 'SseError';
}

export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  private buf = '';
  private data: string[] = [];
  private dataBytes = 0;
  private eventType = '';
  private eventId: string | undefined;
  private sawCr = false;

  constructor(private readonly onEvent: (e: SseEvent) => void) {}

  push(chunk: Buffer | string): void {
    let text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    // A CRLF split across chunks: the LF that follows a CR already handled is not a second line end.
    if (this.sawCr && text.startsWith('\n')) text = text.slice(1);
    this.sawCr = false;
    this.buf += text;
    let start = 0;
    for (;;) {
      const cr = this.buf.indexOf('\r', start);
      const lf = this.buf.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 < this.buf.length) next = this.buf[cr + 1] === '\n' ? cr + 2 : cr + 1;
        else {
          next = cr + 1;
          this.sawCr = true;
        }
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(this.buf.slice(start, end));
      start = next;
    }
    this.buf = this.buf.slice(start);
    if (Buffer.byteLength(this.buf) > MAX_SSE_LINE_BYTES) throw new SseError(`event stream line longer than ${MAX_SSE_LINE_BYTES} bytes`);
  }

  private line(l: string): void {
    if (l === '') {
      this.dispatch();
      return;
    }
    if (l.startsWith(':')) return; // comment (keep-alive)
    const colon = l.indexOf(':');
    const field = colon === -1 ? l : l.slice(0, colon);
    let value = colon === -1 ? '' : l.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.dataBytes += Buffer.byteLength(value) + 1;
        if (this.dataBytes > MAX_SSE_EVENT_BYTES) throw new SseError(`event stream event larger than ${MAX_SSE_EVENT_BYTES} bytes`);
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\u0000')) this.eventId = value;
        break;
      default:
        break; // retry and unknown fields: ignored (§9.2.6)
    }
  }

  private dispatch(): void {
    if (this.data.length === 0) {
      this.eventType = '';
      this.eventId = undefined;
      return;
    }
    const e: SseEvent = { event: this.eventType || 'message', data: this.data.join('\n') };
    if (this.eventId !== undefined) e.id = this.eventId;
    this.data = [];
    this.dataBytes = 0;
    this.eventType = '';
    this.eventId = undefined;
    this.onEvent(e);
  }
}
