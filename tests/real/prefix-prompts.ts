/** The prefix-sharing prompts: a system prompt of 100+ tokens, and three short questions after it. */
export const PREFIX_SYSTEM = [
  'You are a careful reviewer of question and answer pairs taken from a chat history.',
  'For each pair, read the question, then the answer, and judge whether the answer is a',
  'fitting, polite and complete reply to the question as a friend would give it in a chat.',
  'Prefer short answers that stay on topic. Penalise answers that leak private data, that',
  'are rude, or that change the subject. Keep in mind that friends write in a hurry, with',
  'typos and without capitals. Reply with one word: good, fair or poor.'
].join(' ');

export const PREFIX_QUESTIONS = ['Lunch at noon?', 'Did you call mum?', 'Where are the keys?'];
