//! What of a question is looked for: its content words, without the
//! function words and question words of English and French; and the
//! language it is asked in, to answer "not found" in it.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::search::terms::{fold, tokens, Stems};

/// Words that say nothing of what is asked (compared accents folded).
const ENGLISH: &str = "a about above after again all also am an and any are as at be been \
    before being below between both but by can could did do does doing down during each few \
    for from further had has have having he her here hers him his how i if in into is it its \
    itself just me more most my no nor not now of off on once only or other our ours out over \
    own same she should so some such than that the their theirs them then there these they \
    this those through to too under until up very was we were what when where which while who \
    whom whose why will with would you your yours tell give show find please say says said \
    many much";
const FRENCH: &str = "a au aux avec ce ces cet cette dans de des du elle elles en est et eu \
    etre il ils je la le les leur leurs lui ma mais me meme mes moi mon ne nos notre nous on \
    ou par pas pour qu que quel quelle quelles quels qui sa sans se ses son sont sur ta te tes \
    toi ton tu un une vos votre vous c d j l m n s t y quand comment pourquoi combien quoi \
    dont lequel laquelle lesquels est-ce ete sont etait etaient fait faut peut doit dit \
    dites donne donnez indique indiquez";

static STOP: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    ENGLISH
        .split_whitespace()
        .chain(FRENCH.split_whitespace())
        .collect()
});
static FRENCH_ONLY: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    let english: HashSet<&str> = ENGLISH.split_whitespace().collect();
    FRENCH
        .split_whitespace()
        .filter(|w| !english.contains(w))
        .collect()
});

/// The language a question is answered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    French,
}

/// A question's words that are looked for, each once, in order.
pub fn content_words(question: &str) -> Vec<Stems> {
    let mut seen = HashSet::new();
    tokens(question)
        .iter()
        .filter(|t| !STOP.contains(fold(t).as_str()))
        .map(|t| Stems::of(t))
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// French when it has more French function words than English ones, or
/// French letters.
pub fn language(question: &str) -> Language {
    let words = tokens(question);
    let french = words
        .iter()
        .filter(|w| FRENCH_ONLY.contains(fold(w).as_str()))
        .count();
    let english = words
        .iter()
        .filter(|w| {
            let w = fold(w);
            STOP.contains(w.as_str()) && !FRENCH_ONLY.contains(w.as_str())
        })
        .count();
    let accents = question.chars().any(|c| "éèêàùçôîœ".contains(c));
    if french > english || (french == english && accents) {
        Language::French
    } else {
        Language::English
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_and_question_words_are_left_out() {
        let words = content_words("What is the warranty period of the Halcyon pumps?");
        assert_eq!(
            words,
            ["warranty", "period", "halcyon", "pumps"].map(Stems::of)
        );
        let words = content_words("Quelle est la durée de la garantie de la pompe ?");
        assert_eq!(words, ["durée", "garantie", "pompe"].map(Stems::of));
        assert!(content_words("What is it?").is_empty());
    }

    #[test]
    fn a_word_is_looked_for_once() {
        let words = content_words("pump pumps Pump");
        assert_eq!(words.len(), 1);
    }

    #[test]
    fn the_language_of_a_question() {
        assert_eq!(
            language("What is the warranty of the pump?"),
            Language::English
        );
        assert_eq!(
            language("Quelle est la garantie de la pompe ?"),
            Language::French
        );
        assert_eq!(language("Garantie pompe été"), Language::French);
        assert_eq!(language("pump warranty"), Language::English);
    }
}
