//! Messages grouped into units that are kept or left out together (an assistant message
//! that calls tools and the results of those calls), and tool results cut to fit.

use weft_core::{Message, Role, TokenCounter};

/// A message with its tokens and, for a session message, its sequence number.
#[derive(Debug, Clone)]
pub(crate) struct Counted {
    pub message: Message,
    pub tokens: u32,
    pub sequence: Option<u64>,
}

/// Messages kept or left out together.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub messages: Vec<Counted>,
}

impl Unit {
    pub fn tokens(&self) -> u32 {
        self.messages
            .iter()
            .map(|counted| counted.tokens)
            .fold(0, u32::saturating_add)
    }
}

/// The units of `count` messages (`message(index)` gives each), newest first, each as the
/// indices of its messages in order. An assistant message with tool calls takes the
/// results after it that answer its calls; a tool result that answers no call just before
/// it (the messages began between them) is dropped, so no result is ever sent without its
/// call. Lazy: a caller that stops early never looks at the older messages.
pub(crate) fn newest_first<'a>(
    count: usize,
    message: impl Fn(usize) -> &'a Message + 'a,
) -> impl Iterator<Item = Vec<usize>> + 'a {
    let mut end = count;
    std::iter::from_fn(move || {
        let mut results = Vec::new();
        while end > 0 && message(end - 1).role == Role::Tool {
            end -= 1;
            results.push(end);
        }
        if end == 0 {
            return None;
        }
        end -= 1;
        let head = message(end);
        let mut unit = vec![end];
        unit.extend(results.into_iter().rev().filter(|index| {
            message(*index)
                .tool_call_id
                .as_ref()
                .is_some_and(|id| head.tool_calls.iter().any(|call| &call.id == id))
        }));
        Some(unit)
    })
}

/// The fewest tokens a cut tool result keeps of its text.
pub(crate) const MIN_KEPT: u32 = 32;

/// What cutting a result did.
pub(crate) struct Cut {
    pub tool_call_id: String,
    pub sequence: Option<u64>,
    pub tokens: u32,
    pub kept: u32,
}

/// Cuts the tool results of `unit` until it fits in `room` tokens, the largest results
/// first; each keeps the start of its text and a note saying how to read the rest. `None`
/// when it cannot fit even so.
pub(crate) fn cut_to_fit(
    unit: &mut Unit,
    room: u32,
    counter: &dyn TokenCounter,
) -> Option<Vec<Cut>> {
    let mut cuts = Vec::new();
    let mut order: Vec<usize> = (0..unit.messages.len())
        .filter(|index| unit.messages[*index].message.role == Role::Tool)
        .collect();
    order.sort_by_key(|index| std::cmp::Reverse(unit.messages[*index].tokens));
    for index in order {
        let total = unit.tokens();
        if total <= room {
            break;
        }
        let counted = &mut unit.messages[index];
        let over = total - room;
        let target = counted.tokens.saturating_sub(over);
        if let Some(cut) = cut_result(counted, target, counter) {
            cuts.push(cut);
        }
    }
    (unit.tokens() <= room).then_some(cuts)
}

/// Cuts one result to at most `target` tokens, note included.
fn cut_result(counted: &mut Counted, target: u32, counter: &dyn TokenCounter) -> Option<Cut> {
    if target < MIN_KEPT {
        return None;
    }
    let original = counted.tokens;
    let text = counted.message.content.clone();
    let note = |kept_characters: usize, total_characters: usize| match counted.sequence {
        Some(sequence) => format!(
            "\n[cut to fit the context window: {kept_characters} of {total_characters} characters shown; memory_read(id=\"m{sequence}\", offset={kept_characters}) reads the rest]"
        ),
        None => format!(
            "\n[cut to fit the context window: {kept_characters} of {total_characters} characters shown]"
        ),
    };
    let total_characters = text.chars().count();
    // Start from the share of the text the target is of the whole, then shrink until the
    // message, note included, fits.
    let mut keep =
        usize::try_from(u64::from(target) * total_characters as u64 / u64::from(original.max(1)))
            .unwrap_or(total_characters);
    loop {
        let prefix: String = text.chars().take(keep).collect();
        let candidate = format!("{prefix}{}", note(keep, total_characters));
        let mut message = counted.message.clone();
        message.content = candidate;
        let tokens = counter.message(&message);
        if tokens <= target {
            counted.message = message;
            counted.tokens = tokens;
            return Some(Cut {
                tool_call_id: counted.message.tool_call_id.clone().unwrap_or_default(),
                sequence: counted.sequence,
                tokens: original,
                kept: tokens,
            });
        }
        if keep == 0 {
            return None;
        }
        // Shrink by the share that is over, and at least by a tenth.
        let over = u64::from(tokens - target);
        let step = (keep as u64 * over / u64::from(tokens.max(1)))
            .max(keep as u64 / 10)
            .max(1);
        keep = keep.saturating_sub(usize::try_from(step).unwrap_or(keep));
    }
}
