/** An HTTP answer's body as undici gives it: read in chunks, dropped with `destroy`. */
export interface AnswerBody extends AsyncIterable<Buffer> {
  destroy(): unknown;
}

/**
 * What another server answered, as text, reading at most `maxBytes`: past that the rest is dropped unread and
 * `complete` is false. A peer that streams without end (a fault, or an attack) then costs `maxBytes` of memory, not
 * all of it; undici's body timeout only bounds the pause between chunks.
 */
export async function readBoundedText(body: AnswerBody, maxBytes: number): Promise<{ text: string; complete: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size + chunk.length > maxBytes) {
      chunks.push(chunk.subarray(0, maxBytes - size));
      body.destroy();
      return { text: Buffer.concat(chunks).toString('utf8'), complete: false };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { text: Buffer.concat(chunks, size).toString('utf8'), complete: true };
}

/** Largest answer kept from small exchanges: a peer's ACK, a token endpoint's answer. */
export const SMALL_ANSWER_BYTES = 64 * 1024;
