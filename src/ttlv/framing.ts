// Socket chunks → whole TTLV messages (KMIP 2.1 s.10.1; the transport profiles frame by
// the top-level item's length). Separate from the codec, as pg-protocol's parser is:
// this layer only finds message boundaries and never looks inside a message.
import { TtlvError } from './errors.ts';
import { DEFAULT_MAX_MESSAGE_SIZE } from './limits.ts';

export const HEADER_SIZE = 8;

export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError';
  constructor(readonly claimed: number, readonly max: number) {
    super(`message of ${claimed} bytes exceeds the maximum of ${max} bytes`);
  }
}

export class TtlvFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Size of the frame being assembled, once its header has been read. */
  private need = -1;

  constructor(readonly maxMessageSize: number = DEFAULT_MAX_MESSAGE_SIZE) {}

  /** Bytes held while waiting for the rest of a frame. */
  get pending(): number {
    return this.buffered;
  }

  /**
   * Feeds one chunk; returns every message it completes. Throws FrameTooLargeError as
   * soon as a header claims more than the maximum, before buffering that frame's body.
   * After that error the stream cannot be resynchronised; the caller closes it.
   */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let data = chunk;
    // Fast path: nothing pending, whole messages in this chunk, views without copying.
    if (this.buffered === 0) {
      let off = 0;
      while (data.length - off >= HEADER_SIZE) {
        const size = this.frameSize(data, off);
        if (data.length - off < size) break;
        out.push(data.subarray(off, off + size));
        off += size;
      }
      if (off === data.length) return out;
      data = data.subarray(off);
    }
    this.chunks.push(data);
    this.buffered += data.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < HEADER_SIZE) break;
        this.need = this.frameSize(this.peekHeader(), 0);
      }
      if (this.buffered < this.need) break;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      out.push(all.subarray(0, this.need));
      const rest = all.subarray(this.need);
      this.chunks = rest.length ? [rest] : [];
      this.buffered = rest.length;
      this.need = -1;
    }
    return out;
  }

  private peekHeader(): Buffer {
    if (this.chunks[0]!.length >= HEADER_SIZE) return this.chunks[0]!;
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined;
  }

  /** Whole frame size from the header at `off`: 8 header bytes + the Length field. */
  private frameSize(b: Buffer, off: number): number {
    const len = b.readUInt32BE(off + 4);
    const size = HEADER_SIZE + len;
    if (size > this.maxMessageSize) throw new FrameTooLargeError(size, this.maxMessageSize);
    return size;
  }
}

export { TtlvError };
