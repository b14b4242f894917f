/** An HTTP answer's body as undici gives it: read in chunks, dropped with `destroy`. */
export interface AnswerBody extends AsyncIterable<Buffer> {
  destroy(error?: Error): unknown;
}

/**
 * What another server answered, as text, reading at most `maxBytes` for at most `deadlineMs`. Past the size the rest
 * is dropped unread and `complete` is false; past the deadline reading fails with a TimeoutError. A peer that
 * streams without end, or trickles a byte at a time (a fault, or an attack), then costs a bounded amount of memory
 * and time: undici's body timeout only bounds the pause between chunks.
 */
export async function readBoundedText(body: AnswerBody, limits: { maxBytes: number; deadlineMs: number }): Promise<{ text: string; complete: boolean }> {
  const timer = setTimeout(() => {
    const error = new Error(`the answer took longer than ${limits.deadlineMs} ms to arrive`);
    error.name = 'TimeoutError';
    body.destroy(error);
  }, limits.deadlineMs);
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      if (size + chunk.length > limits.maxBytes) {
        chunks.push(chunk.subarray(0, limits.maxBytes - size));
        body.destroy();
        return { text: Buffer.concat(chunks).toString('utf8'), complete: false };
      }
      chunks.push(chunk);
      size += chunk.length;
    }
    return { text: Buffer.concat(chunks, size).toString('utf8'), complete: true };
  } finally {
    clearTimeout(timer);
  }
}

/** Largest answer kept from small exchanges: a peer's ACK, a token endpoint's answer. */
export const SMALL_ANSWER_BYTES = 64 * 1024;
