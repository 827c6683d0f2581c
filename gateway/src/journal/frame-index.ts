import { open } from 'node:fs/promises';
import { HEADER_BYTES } from './frame.js';
import type { Segment } from './segments.js';

interface FrameIndex {
  offsets: number[];
  /** The byte after the last frame indexed. */
  end: number;
  /** The extension under way, if any. */
  extending: Promise<void>;
}

/**
 * Where each frame of a segment starts, learnt as the segment grows, so that a read of a few records
 * reads only their bytes. Reads run concurrently (the uplink's, an ack's), so the extensions of one
 * segment's index run one after another.
 */
export class FrameIndexes {
  private readonly indexes = new Map<Segment, FrameIndex>();

  /** The bytes of records `fromSeq`..`throughSeq` of `segment`, all of them durable. */
  async range(segment: Segment, fromSeq: number, throughSeq: number): Promise<Buffer> {
    const index = await this.extend(segment);
    const start = index.offsets[fromSeq - segment.firstSeq] as number;
    const end = index.offsets[throughSeq + 1 - segment.firstSeq] ?? index.end;
    return readRange(segment.path, start, end);
  }

  /** A segment deleted: its index goes with it. */
  forget(segment: Segment): void {
    this.indexes.delete(segment);
  }

  /** Extends a segment's index over the bytes written since it was last extended. */
  private async extend(segment: Segment): Promise<FrameIndex> {
    let index = this.indexes.get(segment);
    if (!index) {
      index = { offsets: [], end: 0, extending: Promise.resolve() };
      this.indexes.set(segment, index);
    }
    const target = index;
    const extension = target.extending.then(async () => {
      const through = segment.bytes;
      if (target.end >= through) return;
      const bytes = await readRange(segment.path, target.end, through);
      let offset = 0;
      while (offset + HEADER_BYTES <= bytes.length) {
        target.offsets.push(target.end + offset);
        offset += HEADER_BYTES + bytes.readUInt32LE(offset);
      }
      if (offset !== through - target.end) throw new Error(`journal segment ${segment.path} ends mid-frame`);
      target.end = through;
    });
    target.extending = extension.catch(() => undefined);
    await extension;
    return target;
  }
}

async function readRange(path: string, start: number, end: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const bytes = Buffer.allocUnsafe(end - start);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, start);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
