//! The prompt of a question: instructions, the conversation so far, and
//! as many retrieved passages as the model's context holds, counted in
//! the model's own tokens; and the citations read back from the answer.

use super::passages::held;
use super::question::{content_words, Language};
use crate::search::terms::fold;

/// Tokens a chat template adds around one message (role markers, ends),
/// with room to spare, and around the whole prompt.
pub const PER_MESSAGE: u32 = 8;
pub const PER_PROMPT: u32 = 16;
/// Tokens of slack per passage: text counted alone and counted joined to
/// the next may differ at the seam.
pub const PER_PASSAGE: u32 = 2;

/// The conversation so far takes at most this share of the context.
const HISTORY_SHARE: u32 = 4;

pub fn system(language: Language) -> &'static str {
    match language {
        Language::English => {
            "You answer questions about the user's documents. Use only the numbered passages \
             given with the question. Answer briefly, in English, and cite the passages you \
             used like [1]. If the passages do not contain the answer, reply exactly: \
             I could not find this in your documents."
        }
        Language::French => {
            "Tu réponds aux questions sur les documents de l'utilisateur. Utilise seulement \
             les passages numérotés donnés avec la question. Réponds brièvement, en français, \
             et cite les passages utilisés comme [1]. Si les passages ne contiennent pas la \
             réponse, réponds exactement : Je n'ai pas trouvé cela dans vos documents."
        }
    }
}

/// The instructions of a conversation with the model alone.
pub fn assistant(language: Language) -> &'static str {
    match language {
        Language::English => {
            "You are the assistant of Scriptorium, a private document platform. Answer \
             briefly, in the language of the question."
        }
        Language::French => {
            "Tu es l'assistant de Scriptorium, une plateforme documentaire privée. Réponds \
             brièvement, dans la langue de la question."
        }
    }
}

/// The answer when the library holds nothing relevant.
pub fn not_found(language: Language) -> &'static str {
    match language {
        Language::English => "I could not find this in your documents.",
        Language::French => "Je n'ai pas trouvé cela dans vos documents.",
    }
}

/// Whether the model said it did not find the answer.
pub fn says_not_found(answer: &str) -> bool {
    let answer = fold(answer);
    ["could not find this", "pas trouve cela"]
        .iter()
        .any(|p| answer.contains(p))
}

/// A passage as the model reads it.
pub fn passage_text(n: usize, document: &str, page: u32, text: &str) -> String {
    format!("[{n}] {document}, page {page}: {text}")
}

/// The user message: the passages, then the question.
pub fn user_message(passages: &[String], question: &str, language: Language) -> String {
    let (head, ask) = match language {
        Language::English => ("Passages:", "Question:"),
        Language::French => ("Passages :", "Question :"),
    };
    format!("{head}\n\n{}\n\n{ask} {question}", passages.join("\n\n"))
}

/// What the prompt is made of, each piece counted in tokens.
pub struct Counted {
    pub context: u32,
    pub answer: u32,
    pub system: u32,
    pub question: u32,
    /// Earlier turns, oldest first: the tokens of question and answer.
    pub history: Vec<u32>,
    /// Candidate passages, best first, as [`passage_text`] writes them.
    pub passages: Vec<u32>,
    pub max_passages: usize,
}

/// What fits: the latest `history` turns kept, the best `passages` kept.
#[derive(Debug, PartialEq, Eq)]
pub struct Fit {
    pub history: usize,
    pub passages: usize,
    /// The prompt's size as counted.
    pub tokens: u32,
}

/// The most of the conversation (up to a share of the context) and then
/// of the passages, best first, that fit beside the answer's tokens.
/// `None` when not even the question fits.
pub fn fit(c: &Counted) -> Option<Fit> {
    let mut used = PER_PROMPT + 2 * PER_MESSAGE + c.system + c.question + c.answer;
    if used > c.context {
        return None;
    }
    let history_budget = c.context / HISTORY_SHARE;
    let mut history = 0;
    let mut history_used = 0;
    for turn in c.history.iter().rev() {
        let cost = turn + 2 * PER_MESSAGE;
        if history_used + cost > history_budget || used + cost > c.context {
            break;
        }
        history_used += cost;
        used += cost;
        history += 1;
    }
    let mut passages = 0;
    for p in c.passages.iter().take(c.max_passages) {
        let cost = p + PER_PASSAGE;
        if used + cost > c.context {
            break;
        }
        used += cost;
        passages += 1;
    }
    Some(Fit {
        history,
        passages,
        tokens: used - c.answer,
    })
}

/// The passages an answer cites by number (`[2]`, `[1, 3]`), each once,
/// in order; numbers outside `1..=given` are not citations.
pub fn cited(answer: &str, given: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inside = &rest[..close];
        if inside
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == ' ')
        {
            for n in inside.split(',').filter_map(|n| n.trim().parse().ok()) {
                if (1..=given).contains(&n) && !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        rest = &rest[close..];
    }
    out
}

/// When an answer cites no passage by number: the one that holds the
/// most of the answer's words, if it holds enough of them to say so.
pub fn attributed(answer: &str, passages: &[&str]) -> Option<usize> {
    let words = content_words(answer);
    if words.is_empty() {
        return None;
    }
    let (best, count) = passages
        .iter()
        .enumerate()
        .map(|(i, text)| (i, held(text, &words).iter().filter(|h| **h).count()))
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
    let enough = count >= 2.min(words.len()) && count * 3 >= words.len();
    enough.then_some(best + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(context: u32, history: Vec<u32>, passages: Vec<u32>) -> Counted {
        Counted {
            context,
            answer: 100,
            system: 50,
            question: 10,
            history,
            passages,
            max_passages: 6,
        }
    }

    #[test]
    fn passages_fill_what_the_context_leaves() {
        // 16 + 16 + 50 + 10 + 100 = 192 before any passage.
        let fit = fit(&counted(500, vec![], vec![100, 100, 100, 100])).unwrap();
        assert_eq!(fit.passages, 3);
        assert_eq!(fit.tokens, 192 - 100 + 3 * 102);
        assert!(fit.tokens + 100 <= 500);
    }

    #[test]
    fn at_most_so_many_passages() {
        let fit = fit(&counted(100_000, vec![], vec![10; 20])).unwrap();
        assert_eq!(fit.passages, 6);
    }

    #[test]
    fn the_latest_turns_within_their_share() {
        // A quarter of 1,000 is 250: two turns of 100 + 16.
        let fit = fit(&counted(1000, vec![100, 100, 100], vec![])).unwrap();
        assert_eq!(fit.history, 2);
    }

    #[test]
    fn a_question_longer_than_the_context_does_not_fit() {
        assert_eq!(fit(&counted(150, vec![], vec![])), None);
    }

    #[test]
    fn citations_by_number() {
        assert_eq!(cited("It is 36 months [2]. See [1, 2] and [9].", 3), [2, 1]);
        assert_eq!(cited("[a] [] [0] [3", 3), Vec::<usize>::new());
        assert_eq!(cited("x [1][3]", 3), [1, 3]);
    }

    #[test]
    fn an_answer_without_numbers_is_attributed_by_its_words() {
        let passages = ["the pump is blue", "The warranty lasts 36 months"];
        assert_eq!(attributed("The warranty is 36 months.", &passages), Some(2));
        assert_eq!(attributed("Yes.", &passages), None);
        assert_eq!(attributed("Lyon, in France.", &passages), None);
    }

    #[test]
    fn not_found_in_either_language() {
        assert!(says_not_found("I could not find this in your documents."));
        assert!(says_not_found(
            "Je n'ai pas trouvé cela dans vos documents."
        ));
        assert!(!says_not_found("It is 36 months."));
    }
}
