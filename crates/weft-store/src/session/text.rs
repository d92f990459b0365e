//! Text for the archive: the words a search looks for, how each dialect is asked for them,
//! and the bounded passage of a found text that a snippet shows. Shared by every dialect,
//! so both find the same things.
//!
//! A query is cut into words at spaces and punctuation. Words are matched as substrings
//! (trigrams), which finds a word inside text written without spaces (Thai); a trigram
//! index cannot match fewer than three characters, so shorter words are left out, and a
//! query with no longer word finds nothing.
//!
//! Ranking is bounded: of the texts that hold any of the words, the [`SEARCH_CANDIDATES`]
//! newest (notes before messages) are ranked, by the characters of the query words each
//! holds (longer words say more; PostgreSQL adds its full-text rank), then the newest
//! first. A context's query is a whole turn, whose common words match most of a long
//! session: ranking all of those (FTS5's bm25 reads every match, in every session of the
//! file, for its statistics) would cost a view in proportion to the session's length.

use std::cmp::Reverse;

/// The fewest characters of a word a search looks for.
pub(crate) const MIN_WORD_CHARACTERS: usize = 3;
/// The most words of one query looked for: the longest, which say the most. A context's
/// query is a whole turn of conversation.
const MAX_QUERY_WORDS: usize = 16;
/// The most characters of a snippet's text (a longer text is cut around its first match).
pub(crate) const SNIPPET_CHARACTERS: usize = 600;
/// How much of a cut snippet comes before its first match.
const SNIPPET_LEAD: usize = SNIPPET_CHARACTERS / 4;
/// The most matching texts ranked by one search.
pub(crate) const SEARCH_CANDIDATES: i64 = 500;

/// A search of one session's archive, as a dialect writes it.
pub struct Search<'a> {
    /// The session, as text.
    pub session: &'a str,
    /// The words (see [`query_words`]); at least one.
    pub words: &'a [String],
    /// Messages from this sequence number on are left out (they are in the context).
    pub exclude_messages_from: i64,
    /// The most rows.
    pub limit: i64,
}

/// The words of `query` a search looks for: distinct (ignoring case), at least
/// [`MIN_WORD_CHARACTERS`] long, the longest first.
pub(crate) fn query_words(query: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for word in query.split(is_separator) {
        if word.chars().count() < MIN_WORD_CHARACTERS {
            continue;
        }
        let folded = word.to_lowercase();
        if !seen.contains(&folded) {
            seen.push(folded);
            words.push(word.to_owned());
        }
    }
    words.sort_by_key(|word| Reverse(word.chars().count()));
    words.truncate(MAX_QUERY_WORDS);
    words
}

/// Whether a character separates words: spaces and punctuation. Marks (Thai tone marks,
/// Devanagari vowel signs) belong to their word.
fn is_separator(character: char) -> bool {
    character.is_whitespace()
        || character.is_ascii_punctuation()
        || character.is_control()
        || matches!(
            character,
            '…' | '—'
                | '–'
                | '‘'
                | '’'
                | '“'
                | '”'
                | '„'
                | '«'
                | '»'
                | '‹'
                | '›'
                | '¿'
                | '¡'
                | '·'
                | '•'
                | '।'
                | '॥'
                | '。'
                | '、'
                | '，'
                | '．'
                | '！'
                | '？'
                | '：'
                | '；'
                | '（'
                | '）'
                | '「'
                | '」'
                | '【'
                | '】'
        )
}

/// An FTS5 query that matches any of `words`, each a quoted string: nothing a person
/// types is read as FTS5 syntax.
#[cfg(feature = "sqlite")]
pub(crate) fn match_expression(words: &[String]) -> String {
    words
        .iter()
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// `ILIKE` patterns that match texts containing each of `words`.
#[cfg(feature = "postgres")]
pub(crate) fn contains_patterns(words: &[String]) -> Vec<String> {
    words
        .iter()
        .map(|word| {
            let mut pattern = String::with_capacity(word.len() + 2);
            pattern.push('%');
            for character in word.chars() {
                if matches!(character, '%' | '_' | '\\') {
                    pattern.push('\\');
                }
                pattern.push(character);
            }
            pattern.push('%');
            pattern
        })
        .collect()
}

/// Each word's weight in a text's rank: its characters.
pub(crate) fn weights(words: &[String]) -> Vec<i64> {
    words
        .iter()
        .map(|word| i64::try_from(word.chars().count()).unwrap_or(i64::MAX))
        .collect()
}

/// A web-search query (PostgreSQL's `websearch_to_tsquery`) for any of `words`, to rank by.
#[cfg(feature = "postgres")]
pub(crate) fn any_word_query(words: &[String]) -> String {
    words.join(" or ")
}

/// What a snippet shows of `text`: all of it when short, else [`SNIPPET_CHARACTERS`]
/// around the first of `words` found in it (or from its start), marked `…` where cut.
pub(crate) fn excerpt(text: &str, words: &[String]) -> String {
    let characters: Vec<char> = text.chars().collect();
    if characters.len() <= SNIPPET_CHARACTERS {
        return text.to_owned();
    }
    let folded: Vec<char> = characters.iter().copied().map(fold).collect();
    let first_match = words
        .iter()
        .filter_map(|word| find(&folded, &word.chars().map(fold).collect::<Vec<_>>()))
        .min();
    let start = first_match
        .map_or(0, |found| found.saturating_sub(SNIPPET_LEAD))
        .min(characters.len() - SNIPPET_CHARACTERS);
    let end = start + SNIPPET_CHARACTERS;
    let mut passage = String::new();
    if start > 0 {
        passage.push('…');
    }
    passage.extend(&characters[start..end]);
    if end < characters.len() {
        passage.push('…');
    }
    passage
}

/// A character as it compares ignoring case (one character for one, so positions match).
fn fold(character: char) -> char {
    character.to_lowercase().next().unwrap_or(character)
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[char], needle: &[char]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_cut_at_spaces_and_punctuation_and_short_ones_left_out() {
        assert_eq!(
            query_words("l'école, \"quoted\" (NEAR) x* a:b -not ok"),
            ["quoted", "école", "NEAR", "not"]
        );
        assert_eq!(query_words("Cat cat CAT"), ["Cat"]);
        assert!(query_words("  a b ").is_empty());
        assert_eq!(query_words("นอนบนเสื่อ"), ["นอนบนเสื่อ"]);
        assert_eq!(query_words("नमस्ते दुनिया।"), ["नमस्ते", "दुनिया"]);
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn fts5_queries_quote_what_people_type() {
        let words = vec!["say\"hi".to_owned(), "50%_off".to_owned()];
        assert_eq!(match_expression(&words), "\"say\"\"hi\" OR \"50%_off\"");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn like_patterns_escape_what_people_type() {
        let words = vec!["say\"hi".to_owned(), "50%_off".to_owned()];
        assert_eq!(contains_patterns(&words)[1], "%50\\%\\_off%");
        assert_eq!(any_word_query(&words), "say\"hi or 50%_off");
    }

    #[test]
    fn long_texts_are_cut_around_the_first_match() {
        let text = format!("{}needle{}", "a".repeat(1_000), "b".repeat(1_000));
        let passage = excerpt(&text, &["NEEDLE".to_owned()]);
        assert!(passage.starts_with('…') && passage.ends_with('…'));
        assert_eq!(passage.chars().count(), SNIPPET_CHARACTERS + 2);
        assert!(passage.contains("needle"));
        let start = excerpt(&text, &["missing".to_owned()]);
        assert!(start.starts_with("aaa") && start.ends_with('…'));
        assert_eq!(excerpt("short", &[]), "short");
    }
}
