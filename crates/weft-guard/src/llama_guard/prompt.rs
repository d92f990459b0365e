//! Llama Guard 3's prompt, as its model card lays it out: the task for the judged role, the
//! policy's categories, the conversation as `User:` / `Agent:` turns, and the instruction
//! to assess only the last message. In-process models get the whole prompt with the
//! Llama-3.1 tokens (one user turn, no system header); servers get the conversation as
//! chat messages and render it with the guard model's own chat template.

use weft_core::{GuardPolicy, GuardRequest, GuardTurn, Message, Speaker};

/// The model's size, which decides its categories: the 1B model has no S14.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `Llama-Guard-3-8B`: S1 to S14.
    Eight,
    /// `Llama-Guard-3-1B`: S1 to S13.
    One,
}

impl Variant {
    /// The variant a model's name or path says (`...-1B...`: the 1B model).
    pub fn of(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.contains("-1b") || lower.contains("_1b") || lower.contains("guard-3-1b") {
            Self::One
        } else {
            Self::Eight
        }
    }

    /// How many of the standard categories it knows.
    pub fn category_count(self) -> usize {
        match self {
            Self::Eight => 14,
            Self::One => 13,
        }
    }
}

/// Llama Guard 3's hazard categories, S1 to S14, with their names as the model card lists
/// them.
pub const CATEGORIES: [(&str, &str); 14] = [
    ("S1", "Violent Crimes"),
    ("S2", "Non-Violent Crimes"),
    ("S3", "Sex Crimes"),
    ("S4", "Child Exploitation"),
    ("S5", "Defamation"),
    ("S6", "Specialized Advice"),
    ("S7", "Privacy"),
    ("S8", "Intellectual Property"),
    ("S9", "Indiscriminate Weapons"),
    ("S10", "Hate"),
    ("S11", "Self-Harm"),
    ("S12", "Sexual Content"),
    ("S13", "Elections"),
    ("S14", "Code Interpreter Abuse"),
];

/// Who is judged: the speaker of the conversation's last turn.
pub fn judged_role(request: &GuardRequest) -> &'static str {
    match request.conversation.last().map(|turn| turn.speaker) {
        Some(Speaker::Agent) => "Agent",
        Some(Speaker::User) | None => "User",
    }
}

/// Whether the policy keeps the standard category `code` (every one, without a list).
fn keeps(policy: &GuardPolicy, code: &str) -> bool {
    policy
        .categories
        .as_ref()
        .is_none_or(|kept| kept.iter().any(|kept| kept.eq_ignore_ascii_case(code)))
}

/// The policy's custom categories: each one's code and the text after it (its name, its
/// description on the next line). They are numbered after Llama Guard 3's fourteen
/// categories (`S15` on) whatever the model, so a custom code never stands for a standard
/// category of another model (the 1B's thirteen leave S14 unused).
fn custom_categories(policy: &GuardPolicy) -> impl Iterator<Item = (String, String)> + '_ {
    policy.custom.iter().enumerate().map(|(offset, custom)| {
        let name = custom.name.trim();
        let name = name.strip_suffix('.').unwrap_or(name);
        (
            format!("S{}", CATEGORIES.len() + offset + 1),
            format!("{name}.\n{}", custom.description.trim()),
        )
    })
}

/// The policy's category lines: the standard categories the policy keeps (all the
/// variant knows, by default) under their own codes, then the custom ones, each with its
/// description on the next line.
pub fn category_lines(policy: &GuardPolicy, variant: Variant) -> String {
    CATEGORIES[..variant.category_count()]
        .iter()
        .filter(|(code, _)| keeps(policy, code))
        .map(|(code, name)| format!("{code}: {name}."))
        .chain(custom_categories(policy).map(|(code, text)| format!("{code}: {text}")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The conversation as the prompt writes it: `User: ...` and `Agent: ...` turns, a blank
/// line between them.
fn conversation_lines(conversation: &[GuardTurn]) -> String {
    conversation
        .iter()
        .map(|turn| {
            let speaker = match turn.speaker {
                Speaker::User => "User",
                Speaker::Agent => "Agent",
            };
            format!("{speaker}: {}", turn.text.trim())
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The text of the prompt's one user turn.
pub fn instruction(request: &GuardRequest, variant: Variant) -> String {
    let role = judged_role(request);
    format!(
        "Task: Check if there is unsafe content in '{role}' messages in conversations according our safety policy with the below categories.\n\n\
         <BEGIN UNSAFE CONTENT CATEGORIES>\n{}\n<END UNSAFE CONTENT CATEGORIES>\n\n\
         <BEGIN CONVERSATION>\n\n{}\n\n<END CONVERSATION>\n\n\
         Provide your safety assessment for ONLY THE LAST {role} message in the above conversation:\n \
         - First line must read 'safe' or 'unsafe'.\n \
         - If unsafe, a second line must include a comma-separated list of violated categories.",
        category_lines(&request.policy, variant),
        conversation_lines(&request.conversation),
    )
}

/// The whole prompt with the Llama-3.1 tokens: one user turn and the start of the
/// assistant's, with no system header.
pub fn raw_prompt(request: &GuardRequest, variant: Variant) -> String {
    format!(
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        instruction(request, variant)
    )
}

/// The conversation as chat messages, for a server that applies the guard model's chat
/// template: user and assistant turns, alternating as the template requires (turns of
/// one speaker in a row are joined).
pub fn messages(request: &GuardRequest) -> Vec<Message> {
    let mut messages: Vec<Message> = Vec::new();
    for turn in &request.conversation {
        let role = match turn.speaker {
            Speaker::User => weft_core::Role::User,
            Speaker::Agent => weft_core::Role::Assistant,
        };
        match messages.last_mut() {
            Some(last) if last.role == role => {
                last.content.push_str("\n\n");
                last.content.push_str(&turn.text);
            }
            _ => messages.push(match role {
                weft_core::Role::Assistant => Message::assistant(turn.text.clone(), Vec::new()),
                _ => Message::user(turn.text.clone()),
            }),
        }
    }
    if messages
        .first()
        .is_some_and(|first| first.role == weft_core::Role::Assistant)
    {
        messages.insert(0, Message::user(String::new()));
    }
    messages
}

/// The template arguments a server's Llama Guard chat template reads: `categories` (code ->
/// the line after the code, custom categories with their descriptions) and
/// `excluded_category_keys` (the codes the policy leaves out). The 1B model's template
/// reads both; the 8B's lists its own categories whatever it is given, so there the
/// policy's allow-list applies to the reply instead. `None` for the default policy.
pub fn template_arguments(policy: &GuardPolicy, variant: Variant) -> Option<serde_json::Value> {
    if policy.categories.is_none() && policy.custom.is_empty() {
        return None;
    }
    let standard = &CATEGORIES[..variant.category_count()];
    let mut categories: serde_json::Map<String, serde_json::Value> = standard
        .iter()
        .map(|(code, name)| ((*code).to_owned(), serde_json::json!(format!("{name}."))))
        .collect();
    categories
        .extend(custom_categories(policy).map(|(code, text)| (code, serde_json::json!(text))));
    let excluded: Vec<&str> = standard
        .iter()
        .map(|(code, _)| *code)
        .filter(|code| !keeps(policy, code))
        .collect();
    Some(serde_json::json!({
        "categories": categories,
        "excluded_category_keys": excluded,
    }))
}
