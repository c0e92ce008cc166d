/**
 * Semantic search in LangGraph's long-term memory: FlowstoreStore with an `index` embeds the fields
 * it names when an item is put, and ranks a search's items by how near they are to its query. It needs
 * pgvector: on PostgreSQL the `vector` extension, on the embedded store the npm package
 * @electric-sql/pglite-pgvector beside flowstore.
 *
 *   npx tsx examples/semantic-memory.ts
 */
import { openStore } from "flowstore";
import { FlowstoreStore } from "flowstore/langgraph";

// Stands in for an embedding model (such as OpenAIEmbeddings from @langchain/openai, or any function
// from texts to vectors): a text's vector counts its words of each topic.
const TOPICS = [
  ["ramen", "dumplings", "spicy", "cook", "dinner", "recipe", "eat"],
  ["flight", "lisbon", "trip", "hotel", "train", "travel"],
  ["typescript", "python", "code", "tests", "compiler"],
];
const embed = async (texts: string[]) =>
  texts.map((text) => {
    const words = text.toLowerCase().match(/[a-z]+/g) ?? [];
    return TOPICS.map((topic) => 0.01 + words.filter((word) => topic.includes(word)).length);
  });

const store = await openStore();

// #region search
const memory = new FlowstoreStore({ store, index: { dims: 3, embed, fields: ["text"] } });
const ada = ["users", "ada", "memories"];
await memory.put(ada, "m1", { text: "Loves spicy ramen and dumplings" });
await memory.put(ada, "m2", { text: "Flight to Lisbon on Friday, hotel booked" });
await memory.put(ada, "m3", { text: "Prefers TypeScript to Python, writes tests first" });

// Ranked by meaning (cosine similarity of the query's vector to each item's), highest first.
const found = await memory.search(ada, { query: "What should I cook for dinner?", limit: 2 });
for (const item of found) console.log(item.score?.toFixed(2), item.value.text);
// #endregion

await store.close();
