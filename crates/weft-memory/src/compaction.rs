//! Compaction: when what a session would send passes its threshold, its oldest span is
//! summarized (by a model, or extractively without one) and the summary stands for the span
//! in later contexts. Nothing is deleted: the messages stay in the store, searchable and
//! readable. Summaries pile up as compaction goes on; past [`MAX_LIVE_SUMMARIES`] the
//! oldest are summarized again into one of a higher level.
//!
//! Everything here decides; the runtime performs (calls the summarizer, records the
//! summary in the run's log, from which the store keeps it).

use weft_core::{Message, Pin, Role, SessionMessage, Summary, TokenCounter};

/// Summaries that may stand side by side before the oldest are merged.
pub const MAX_LIVE_SUMMARIES: usize = 4;

/// Messages to summarize: the oldest not summarized yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The first message's sequence number.
    pub first: u64,
    /// The last message's.
    pub last: u64,
}

/// Picks the span to summarize: from the oldest message not summarized (`messages`, oldest
/// first, with their tokens), whole units (a tool call with its results) until what is
/// left of `total` (the tokens of every message not summarized) is at most `keep`, and at
/// most `max_span` tokens (what the summarizer can read). `None` when nothing need be.
pub fn span(messages: &[SessionMessage], total: u32, keep: u32, max_span: u32) -> Option<Span> {
    if total <= keep {
        return None;
    }
    let mut taken = 0u32;
    let mut end = None;
    let mut index = 0;
    while index < messages.len() && total - taken.min(total) > keep {
        let unit_end = unit_end(messages, index);
        let unit: u32 = messages[index..unit_end]
            .iter()
            .map(|message| message.tokens.unwrap_or(0))
            .fold(0, u32::saturating_add);
        if end.is_some() && taken.saturating_add(unit) > max_span {
            break;
        }
        taken = taken.saturating_add(unit);
        end = Some(unit_end - 1);
        index = unit_end;
    }
    let last = messages.get(end?)?.sequence;
    Some(Span {
        first: messages.first()?.sequence,
        last,
    })
}

/// The end (exclusive) of the unit that starts at `start`: an assistant message with tool
/// calls takes the results after it.
fn unit_end(messages: &[SessionMessage], start: usize) -> usize {
    let mut end = start + 1;
    while messages
        .get(end)
        .is_some_and(|message| message.message.role == Role::Tool)
    {
        end += 1;
    }
    end
}

/// The summaries to merge into one of a higher level: all but the newest, once more than
/// [`MAX_LIVE_SUMMARIES`] stand side by side or they pass `share` tokens.
pub fn merge(summaries: &[Summary], share: u32) -> Option<Vec<u64>> {
    let tokens: u32 = summaries
        .iter()
        .map(|summary| summary.tokens.unwrap_or(0))
        .fold(0, u32::saturating_add);
    if summaries.len() < 2 || (summaries.len() <= MAX_LIVE_SUMMARIES && tokens <= share) {
        return None;
    }
    Some(
        summaries[..summaries.len() - 1]
            .iter()
            .map(|summary| summary.id)
            .collect(),
    )
}

/// The instructions a summarizer model gets.
const SUMMARIZER_SYSTEM: &str = "You condense the history of a long conversation between a user, an assistant and its tools, so that the assistant can go on without the full text. Keep every fact, name, number, date, decision, promise and open question; drop pleasantries and repetition. Write in the language the conversation is in (when it uses several, keep each fact in its own language). Write plain sentences or a list, at most the length you are given, and nothing else.";

/// The request that asks a model to summarize `messages` in at most `words` words.
pub fn summarizer_prompt(messages: &[Message], words: u32) -> Vec<Message> {
    let mut transcript = String::new();
    for message in messages {
        transcript.push_str(&transcript_line(message));
        transcript.push('\n');
    }
    vec![
        Message::system(SUMMARIZER_SYSTEM),
        Message::user(format!(
            "Summarize this part of the conversation in at most {words} words.\n\n{transcript}"
        )),
    ]
}

/// The request that asks a model to merge summaries, oldest first, into one.
pub fn merger_prompt(summaries: &[Summary], words: u32) -> Vec<Message> {
    let mut text = String::new();
    for summary in summaries {
        text.push_str(&format!(
            "Messages {} to {}:\n{}\n\n",
            summary.first, summary.last, summary.text
        ));
    }
    vec![
        Message::system(SUMMARIZER_SYSTEM),
        Message::user(format!(
            "These are summaries of consecutive parts of the conversation, oldest first. Merge them into one summary of at most {words} words.\n\n{text}"
        )),
    ]
}

fn transcript_line(message: &Message) -> String {
    let mut line = format!("{}: {}", speaker(message), message.content.trim());
    for call in &message.tool_calls {
        line.push_str(&format!(" [calls {}({})]", call.name, call.arguments));
    }
    line
}

fn speaker(message: &Message) -> &'static str {
    match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool result",
    }
}

/// A summary made without a model: every pinned fact, then each message's first and last
/// lines (each at most a number of characters), shortened until it fits in `target`
/// tokens; when even the shortest lines do not fit, the newest messages' lines are kept.
pub fn extractive(
    texts: &[Message],
    pins: &[Pin],
    target: u32,
    counter: &dyn TokenCounter,
) -> String {
    let mut line_characters = 240usize;
    loop {
        let lines: Vec<String> = texts
            .iter()
            .map(|message| extract(message, line_characters))
            .collect();
        let text = join(pins, &lines);
        if counter.text(&text) <= target || line_characters <= 16 {
            if counter.text(&text) <= target {
                return text;
            }
            return newest_that_fit(pins, &lines, target, counter);
        }
        line_characters /= 2;
    }
}

fn join(pins: &[Pin], lines: &[String]) -> String {
    let mut text = String::new();
    for pin in pins {
        text.push_str(&format!("Pinned: {}\n", pin.text));
    }
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text.trim_end().to_owned()
}

/// The newest lines that fit with the pins (or the pins alone, cut, when not even one does).
fn newest_that_fit(
    pins: &[Pin],
    lines: &[String],
    target: u32,
    counter: &dyn TokenCounter,
) -> String {
    let mut first = lines.len();
    while first > 0 && counter.text(&join(pins, &lines[first - 1..])) <= target {
        first -= 1;
    }
    let text = join(pins, &lines[first..]);
    if counter.text(&text) <= target {
        return text;
    }
    let characters = usize::try_from(target).unwrap_or(usize::MAX);
    text.chars().take(characters).collect()
}

/// One message as `role: first line … last line`, each line cut to `limit` characters.
fn extract(message: &Message, limit: usize) -> String {
    let mut lines = message
        .content
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or_default();
    let last = lines.next_back();
    let mut text = match message.role {
        Role::System => shorten(first, limit),
        Role::User | Role::Assistant | Role::Tool => {
            format!("{}: {}", speaker(message), shorten(first, limit))
        }
    };
    if let Some(last) = last {
        text.push_str(" … ");
        text.push_str(&shorten(last, limit));
    }
    for call in &message.tool_calls {
        text.push_str(&format!(" [called {}]", call.name));
    }
    text
}

fn shorten(line: &str, limit: usize) -> String {
    if line.chars().count() <= limit {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(limit).collect();
    cut.push('…');
    cut
}

/// A summary of summaries without a model: their texts, oldest first, shortened the same
/// way to fit in `target` tokens.
pub fn extractive_merge(summaries: &[Summary], target: u32, counter: &dyn TokenCounter) -> String {
    let texts: Vec<Message> = summaries
        .iter()
        .map(|summary| Message::system(summary.text.clone()))
        .collect();
    extractive(&texts, &[], target, counter)
}

/// A summary a model wrote, held to `target` tokens: a model may write past the words it
/// was asked for (or its tokens may count more in the session's tokenizer), and a summary
/// that outgrows its share would make the next compaction due at once. The start of the
/// text is kept, cut at a character.
pub fn held_to(text: String, target: u32, counter: &dyn TokenCounter) -> String {
    let tokens = counter.text(&text);
    if tokens <= target {
        return text;
    }
    let characters: Vec<char> = text.chars().collect();
    let mut keep = usize::try_from(u64::from(target) * characters.len() as u64 / u64::from(tokens))
        .unwrap_or(characters.len());
    loop {
        let prefix: String = characters[..keep.min(characters.len())].iter().collect();
        if keep == 0 || counter.text(&prefix) <= target {
            return prefix;
        }
        keep = keep * 9 / 10;
    }
}
