/** A model of the OpenAI Agents SDK that answers from a script, for agent runs without a network. */
import { type Model, type ModelRequest, type ModelResponse, Usage } from "@openai/agents";

/** Each call takes the script's next output; the requests it was given are kept. */
export class ScriptedModel implements Model {
  readonly requests: ModelRequest[] = [];
  constructor(private readonly outputs: ModelResponse["output"][]) {}
  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(request);
    const output = this.outputs.shift();
    if (!output) throw new Error("the script has no more answers");
    return { output, usage: new Usage(), responseId: `resp_${this.requests.length}` };
  }
  // biome-ignore lint/correctness/useYield: the tests run without streaming.
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error("not streamed");
  }
}
