//! The memory tools: `memory_search`, `memory_save`, `memory_read`, `memory_pin` and
//! `memory_unpin`, over the session of the run that calls them. A run without a session
//! gets an error saying so, never an empty result. Each is idempotent: the searches and
//! reads change nothing, and a save or a pin is keyed by the call's idempotency key, so a
//! call repeated after a crash saves once.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weft_core::{SessionAccess, SnippetSource, StoreError, ToolContext};
use weft_tool::{Tool, ToolFailure};

/// The session of the calling run, or the error that says there is none.
fn session(context: &ToolContext, tool: &str) -> Result<SessionAccess, ToolFailure> {
    context.session.clone().ok_or_else(|| {
        ToolFailure::invalid_arguments(format!(
            "`{tool}` works on the run's session, and this run has none: start it with `--session NAME` (or post to a session of the daemon)"
        ))
    })
}

fn failed(error: StoreError) -> ToolFailure {
    ToolFailure::fatal(format!("the session store failed: {}", error.message))
}

/// `memory_search`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchArgs {
    /// Words to look for (any language; a word inside Thai text is found too).
    pub query: String,
    /// The most passages to return (default 5, at most 50).
    #[serde(default)]
    pub k: Option<u32>,
}

/// One passage found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Found {
    /// What `memory_read` takes to read it whole (`m12`: message 12; `n3`: note 3).
    pub id: String,
    /// The passage.
    pub text: String,
}

/// Full-text search over the session's messages, tool results and notes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemorySearch;

impl Tool for MemorySearch {
    type Args = SearchArgs;
    type Output = Vec<Found>;
    fn name(&self) -> &str {
        "memory_search"
    }
    fn description(&self) -> &str {
        "Searches everything this conversation's session holds (earlier messages, tool results and saved notes, however old) for passages matching the query, best first. memory_read(id) reads one whole."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(
        &self,
        args: SearchArgs,
        context: ToolContext,
    ) -> Result<Vec<Found>, ToolFailure> {
        let session = session(&context, self.name())?;
        let limit = args.k.unwrap_or(5).clamp(1, 50);
        let snippets = session
            .store
            .search(session.id, &args.query, limit)
            .await
            .map_err(failed)?;
        Ok(snippets
            .into_iter()
            .map(|snippet| Found {
                id: snippet.reference(),
                text: snippet.text,
            })
            .collect())
    }
}

/// `memory_save`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SaveArgs {
    /// The note.
    pub text: String,
    /// Words to file it under.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Saves a note in the session's archive.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemorySave;

impl Tool for MemorySave {
    type Args = SaveArgs;
    type Output = String;
    fn name(&self) -> &str {
        "memory_save"
    }
    fn description(&self) -> &str {
        "Saves a note in this conversation's session, to be found later with memory_search. Answers the note's id."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(&self, args: SaveArgs, context: ToolContext) -> Result<String, ToolFailure> {
        let session = session(&context, self.name())?;
        if args.text.trim().is_empty() {
            return Err(ToolFailure::invalid_arguments("`text` is empty"));
        }
        let id = session
            .store
            .save_note(session.id, &args.text, &args.tags, &context.idempotency_key)
            .await
            .map_err(failed)?;
        Ok(weft_core::session::reference(SnippetSource::Note, id))
    }
}

/// `memory_read`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadArgs {
    /// A message (`m12`) or a note (`n3`), as memory_search and cut results name them.
    pub id: String,
    /// Characters to skip (to read on where a cut result stopped).
    #[serde(default)]
    pub offset: Option<u64>,
}

/// The most characters one read returns.
const READ_CHARACTERS: usize = 8_000;

/// Reads a message or a note whole.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryRead;

impl Tool for MemoryRead {
    type Args = ReadArgs;
    type Output = String;
    fn name(&self) -> &str {
        "memory_read"
    }
    fn description(&self) -> &str {
        "Reads a message (m12) or a saved note (n3) of this conversation's session, from `offset` characters on, 8,000 characters at a time."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(&self, args: ReadArgs, context: ToolContext) -> Result<String, ToolFailure> {
        let session = session(&context, self.name())?;
        let (source, id) = parse_reference(&args.id)?;
        let text = session
            .store
            .read(session.id, source, id)
            .await
            .map_err(failed)?
            .ok_or_else(|| {
                ToolFailure::invalid_arguments(format!("this session has no `{}`", args.id))
            })?;
        let skip = usize::try_from(args.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let total = text.chars().count();
        let part: String = text.chars().skip(skip).take(READ_CHARACTERS).collect();
        let end = skip.saturating_add(part.chars().count());
        if end < total {
            return Ok(format!(
                "{part}\n[{end} of {total} characters; memory_read(id=\"{}\", offset={end}) reads on]",
                args.id
            ));
        }
        Ok(part)
    }
}

/// `m12` -> message 12, `n3` -> note 3.
fn parse_reference(reference: &str) -> Result<(SnippetSource, u64), ToolFailure> {
    let bad = || {
        ToolFailure::invalid_arguments(format!(
            "`{reference}` is not an id: use `m` and a message number (m12) or `n` and a note number (n3), as memory_search gives them"
        ))
    };
    let trimmed = reference.trim();
    let (source, number) = match trimmed.split_at_checked(1) {
        Some(("m", number)) => (SnippetSource::Message, number),
        Some(("n", number)) => (SnippetSource::Note, number),
        _ => return Err(bad()),
    };
    Ok((source, number.parse().map_err(|_| bad())?))
}

/// `memory_pin`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PinArgs {
    /// A fact to keep in front of the model in every later call.
    pub fact: String,
}

/// Pins a fact to the session.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryPin;

impl Tool for MemoryPin {
    type Args = PinArgs;
    type Output = u64;
    fn name(&self) -> &str {
        "memory_pin"
    }
    fn description(&self) -> &str {
        "Pins a fact to this conversation's session: it is given to the model in every later call, however long the conversation grows. Answers the pin's id (for memory_unpin)."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(&self, args: PinArgs, context: ToolContext) -> Result<u64, ToolFailure> {
        let session = session(&context, self.name())?;
        if args.fact.trim().is_empty() {
            return Err(ToolFailure::invalid_arguments("`fact` is empty"));
        }
        session
            .store
            .pin(session.id, args.fact.trim(), &context.idempotency_key)
            .await
            .map_err(failed)
    }
}

/// `memory_unpin`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UnpinArgs {
    /// The pin's id, as memory_pin answered it or the pinned facts show it.
    pub id: u64,
}

/// Unpins a fact.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryUnpin;

impl Tool for MemoryUnpin {
    type Args = UnpinArgs;
    type Output = bool;
    fn name(&self) -> &str {
        "memory_unpin"
    }
    fn description(&self) -> &str {
        "Unpins a fact of this conversation's session (by its id). Answers whether it was pinned."
    }
    fn idempotent(&self) -> bool {
        true
    }
    async fn call(&self, args: UnpinArgs, context: ToolContext) -> Result<bool, ToolFailure> {
        let session = session(&context, self.name())?;
        session
            .store
            .unpin(session.id, args.id)
            .await
            .map_err(failed)
    }
}
