/**
 * examples/mastra-observational-memory.ts runs as a user runs it (`npx tsx
 * examples/mastra-observational-memory.ts`, flowstore imported by name), on the embedded default in a
 * new directory and on a server through DATABASE_URL, and prints what its comments say: the agent's
 * four answers, the last one read from its memory, then the two generations kept in the store, the
 * Observer's two notes in the first and the Reflector's condensed note in the second.
 */
import { itRunsExample } from "../../support/example-process.js";
import { describeMastra } from "../../support/mastra.js";

const PRINTS = new RegExp(
  `^${[
    "ann: Hi, I am Ann\\. I ordered two desk lamps, order 1042\\.",
    "agent: Thanks, Ann: order 1042, two desk lamps\\.",
    "ann: Please deliver it to my office, not my home\\.",
    "agent: Done: order 1042 goes to your office\\.",
    "ann: Can it arrive before Friday\\?",
    "agent: Yes: it ships on Wednesday and arrives on Thursday\\.",
    "ann: What do you remember about my order\\?",
    "agent: I remember: Ann's order 1042, two desk lamps, goes to her office by Thursday",
    "generation 1 \\(reflection\\): - 🔴 Ann's order 1042, two desk lamps, goes to her office by Thursday",
    "generation 0 \\(initial\\): - 🔴 Ann ordered two desk lamps \\(order 1042\\), to be delivered to her " +
      "office / - 🟡 Ann asked for delivery before Friday: order 1042 arrives on Thursday",
  ].join("\\n")}\\n$`,
  "u",
);

describeMastra("examples/mastra-observational-memory.ts", () =>
  itRunsExample("mastra-observational-memory.ts", PRINTS),
);
