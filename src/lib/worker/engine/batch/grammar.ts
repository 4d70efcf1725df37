/**
 * The xgrammar matchers of a batch's sequences. The token table and the compiler are made
 * as WebLLM 0.2.79 makes them for its first request with a schema, and kept on its
 * pipeline (which disposes them), so the two paths share one. The last schema's compiled
 * grammar is kept, as WebLLM keeps its last: a job's items share one schema, compiled once.
 */
import type { ChatPipeline, Grammar, GrammarMatcher, Xgrammar } from './runtime';

export class Grammars {
  readonly #p: ChatPipeline;
  readonly #xg: Xgrammar;
  #last: { schema: string; grammar: Grammar } | null = null;

  constructor(pipeline: ChatPipeline, xgrammar: Xgrammar) {
    this.#p = pipeline;
    this.#xg = xgrammar;
  }

  /** A matcher that holds a sequence's answer to `schema` (a JSON schema as a string). */
  async matcher(schema: string): Promise<GrammarMatcher> {
    const p = this.#p;
    const xg = this.#xg;
    if (p.xgTokenizerInfo === undefined || p.grammarCompiler === undefined) {
      const table: string[] = [];
      const size = p.tokenizer.getVocabSize();
      for (let id = 0; id < size; id++) table.push(p.tokenizer.idToToken(id));
      p.xgTokenizerInfo = await xg.TokenizerInfo.createTokenizerInfo(
        table,
        p.token_postproc_method,
        p.prepend_space_in_encode,
        p.fullVocabSize,
        p.stopTokens
      );
      p.grammarCompiler = await xg.GrammarCompiler.createGrammarCompiler(p.xgTokenizerInfo);
    }
    if (this.#last?.schema !== schema) {
      const grammar = await p.grammarCompiler.compileJSONSchema(schema);
      this.#last?.grammar.dispose();
      this.#last = { schema, grammar };
    }
    return xg.GrammarMatcher.createGrammarMatcher(this.#last.grammar);
  }

  /** Frees the kept grammar (WebLLM frees the table and the compiler with its pipeline). */
  dispose(): void {
    this.#last?.grammar.dispose();
    this.#last = null;
  }
}
