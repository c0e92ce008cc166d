/**
 * A deterministic embedder for tests of semantic search: a text's vector counts its letters and letter
 * pairs, hashed into `dims` slots. Texts sharing words are near, and the same text always has the same
 * vector, whatever else is embedded with it (as a real model's). Also seeded sentences to embed.
 */

export interface TestEmbeddings {
  embedDocuments(texts: string[]): Promise<number[][]>;
  embedQuery(text: string): Promise<number[]>;
}

export function embedText(text: string, dims: number): number[] {
  const vector = new Array<number>(dims).fill(0);
  const lower = text.toLowerCase();
  for (let i = 0; i < lower.length; i++) {
    const a = lower.charCodeAt(i);
    vector[a % dims] = (vector[a % dims] as number) + 1;
    if (i + 1 < lower.length) {
      const slot = (a * 31 + lower.charCodeAt(i + 1)) % dims;
      vector[slot] = (vector[slot] as number) + 0.5;
    }
  }
  return vector;
}

export function letterEmbeddings(dims: number): TestEmbeddings {
  return {
    embedDocuments: async (texts) => texts.map((text) => embedText(text, dims)),
    embedQuery: async (text) => embedText(text, dims),
  };
}

export function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  a.forEach((x, i) => {
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  });
  return dot / Math.sqrt(na * nb);
}

const WORDS = (
  "agent memory graph vector search store queue worker timer signal step stream durable " +
  "postgres index embed query result score nearest cosine distance batch namespace key value " +
  "retry lease claim complete fail snooze schedule cron tenant fair group order strict flow"
).split(" ");

/** `count` words chosen by `seed` (a linear congruential sequence: the same seed, the same words). */
export function sentence(seed: number, count: number): string {
  let state = (seed * 2654435761 + 12345) >>> 0;
  const words: string[] = [];
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    words.push(WORDS[(state >>> 16) % WORDS.length] as string);
  }
  return words.join(" ");
}
