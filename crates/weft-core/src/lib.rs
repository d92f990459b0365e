//! weft-core: the types and ports every other weft crate shares.
//!
//! This crate holds data (ids, messages, tool calls, events, state deltas) and the traits
//! that the outer layers implement (the chat-model port, the tool port, the event sink).
//! It performs no I/O and depends on no async runtime, database or HTTP client; a test in
//! the facade package checks that it stays that way.

pub mod clock;
pub mod digest;
pub mod duration;
pub mod error;
pub mod event;
pub mod guard;
pub mod ids;
pub mod keys;
pub mod memory;
pub mod message;
pub mod model;
pub mod queue;
pub mod session;
pub mod state;
pub mod store;
pub mod tokens;
pub mod tool;

pub use clock::{Clock, SystemClock};
pub use digest::sha256_hex;
pub use error::{ErrorKind, StepError, ToolError};
pub use event::{
    AnsweredBy, ChildPlace, Event, EventRecord, ForkPoint, MessageCounts, NodeKind, ParentLink,
    RunSetup, RunStatus, ToolOutcome, UnknownStatus, UnsettledCall, Within,
};
pub use guard::{
    CustomCategory, Guard, GuardAction, GuardCheck, GuardChecked, GuardError, GuardFinding,
    GuardFuture, GuardOutcome, GuardPoint, GuardPolicy, GuardRequest, GuardTurn, LabelScore,
    Speaker, Verdict,
};
pub use ids::{ParseRunIdError, ParseSessionIdError, RunId};
pub use keys::{ApiKey, KeyStore};
pub use memory::{
    DEFAULT_TENANT, Database, Lock, NewSummary, ParseSessionCursorError, SessionCursor,
    SessionFilter, SessionInfo, SessionSpec, SessionStore, Uncompacted, ViewRequest,
};
pub use message::{Message, Role, ToolCall, ToolSpec};
pub use model::{
    ChatEvent, ChatModel, ChatRequest, ChatStream, FinishReason, ModelError, ModelReply,
    ReplyBuilder, Sampling, TokenLogprob, ToolChoice, TopLogprob, Usage,
};
pub use queue::{ClaimedRun, DaemonInfo, QueueDepth, RunQueue};
pub use session::{
    ContextReport, CutResult, PartReport, Pin, SessionId, SessionMessage, SessionRef, SessionView,
    Snippet, SnippetSource, Summary,
};
pub use state::{FieldWrite, StateDelta, StateError, WriteOp};
pub use store::{
    EventSink, Lease, RunFilter, RunStore, RunSummary, StoreError, current_setup, started_session,
    status_after,
};
pub use tokens::{Accuracy, TokenCounter};
pub use tool::{
    McpServer, McpTransport, SessionAccess, ToolBox, ToolContext, ToolFuture, ToolPolicy,
    idempotency_key, tool_matches,
};
