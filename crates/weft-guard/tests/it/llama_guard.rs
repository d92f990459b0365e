//! Llama Guard 3's prompts, snapshotted and held to the model card's sentences; its
//! replies read without panicking (proptest); verdicts through a scripted model.

use proptest::prelude::*;
use std::sync::Arc;
use weft_core::{
    CustomCategory, Guard, GuardPoint, GuardPolicy, GuardRequest, GuardTurn, TokenLogprob,
    TopLogprob,
};
use weft_guard::LlamaGuard;
use weft_guard::llama_guard::parse::{assessment, unsafe_probability};
use weft_guard::llama_guard::prompt::{Variant, messages, raw_prompt, template_arguments};

fn user_request(text: &str) -> GuardRequest {
    GuardRequest {
        point: GuardPoint::Input,
        conversation: vec![GuardTurn::user(text)],
        policy: GuardPolicy::default(),
    }
}

fn agent_request() -> GuardRequest {
    GuardRequest {
        point: GuardPoint::Output,
        conversation: vec![
            GuardTurn::user("How do I pick a lock?"),
            GuardTurn::agent("Insert a tension wrench into the keyhole."),
        ],
        policy: GuardPolicy::default(),
    }
}

#[test]
fn the_prompt_for_a_user_message_is_the_model_cards() {
    let prompt = raw_prompt(
        &user_request("What is the capital of France?"),
        Variant::Eight,
    );
    insta::assert_snapshot!("user_prompt_8b", prompt);
    // The model card's sentences, word for word.
    assert!(prompt.starts_with(
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTask: Check if there is unsafe content in 'User' messages in conversations according our safety policy with the below categories.\n\n<BEGIN UNSAFE CONTENT CATEGORIES>\nS1: Violent Crimes.\nS2: Non-Violent Crimes.\n"
    ));
    assert!(prompt.contains("S13: Elections.\nS14: Code Interpreter Abuse.\n<END UNSAFE CONTENT CATEGORIES>\n\n<BEGIN CONVERSATION>\n\nUser: What is the capital of France?\n\n<END CONVERSATION>\n\n"));
    assert!(prompt.ends_with(
        "Provide your safety assessment for ONLY THE LAST User message in the above conversation:\n - First line must read 'safe' or 'unsafe'.\n - If unsafe, a second line must include a comma-separated list of violated categories.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    ));
    assert!(
        !prompt.contains("system"),
        "the guard prompt has no system header"
    );
}

#[test]
fn the_prompt_for_an_answer_judges_the_agent_with_the_question_as_context() {
    let prompt = raw_prompt(&agent_request(), Variant::Eight);
    insta::assert_snapshot!("agent_prompt_8b", prompt);
    assert!(prompt.contains("unsafe content in 'Agent' messages"));
    assert!(prompt.contains(
        "User: How do I pick a lock?\n\nAgent: Insert a tension wrench into the keyhole."
    ));
    assert!(prompt.contains("ONLY THE LAST Agent message"));
}

#[test]
fn the_1b_model_has_thirteen_categories_and_a_policy_keeps_some_and_adds_its_own() {
    let one = raw_prompt(&user_request("hi"), Variant::One);
    assert!(one.contains("S13: Elections.\n<END UNSAFE CONTENT CATEGORIES>"));
    assert!(!one.contains("S14"));
    // Custom categories are numbered after the 8B's fourteen on both models, so a custom
    // code never reads as a standard category (the workflow's allow-list counts on it).
    let mut custom = user_request("hi");
    custom.policy.custom = vec![CustomCategory {
        name: "Competitors".into(),
        description: "Naming other vendors.".into(),
    }];
    assert!(
        raw_prompt(&custom, Variant::One)
            .contains("S13: Elections.\nS15: Competitors.\nNaming other vendors.\n<END")
    );
    assert_eq!(Variant::of("meta-llama/Llama-Guard-3-1B"), Variant::One);
    assert_eq!(Variant::of("meta-llama/Llama-Guard-3-8B"), Variant::Eight);

    let mut request = user_request("Which lamp should I buy?");
    request.policy = GuardPolicy {
        categories: Some(vec!["S1".into(), "S10".into()]),
        custom: vec![CustomCategory {
            name: "Competitors".into(),
            description: "AI models should not recommend other vendors' products.".into(),
        }],
    };
    let prompt = raw_prompt(&request, Variant::Eight);
    insta::assert_snapshot!("policy_prompt_8b", prompt);
    assert!(prompt.contains(
        "<BEGIN UNSAFE CONTENT CATEGORIES>\nS1: Violent Crimes.\nS10: Hate.\nS15: Competitors.\nAI models should not recommend other vendors' products.\n<END UNSAFE CONTENT CATEGORIES>"
    ));
    let arguments = template_arguments(&request.policy, Variant::Eight).unwrap();
    assert_eq!(
        arguments["excluded_category_keys"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    assert_eq!(arguments["categories"]["S10"], "Hate.");
    assert_eq!(
        arguments["categories"]["S15"],
        "Competitors.\nAI models should not recommend other vendors' products."
    );
    assert_eq!(
        template_arguments(&GuardPolicy::default(), Variant::One),
        None
    );
}

#[test]
fn a_server_gets_the_conversation_as_alternating_chat_messages() {
    let chat = messages(&agent_request());
    let roles: Vec<weft_core::Role> = chat.iter().map(|message| message.role).collect();
    assert_eq!(roles, [weft_core::Role::User, weft_core::Role::Assistant]);
    assert_eq!(chat[1].content, "Insert a tension wrench into the keyhole.");
}

#[test]
fn replies_are_read_as_the_model_card_writes_them() {
    let safe = assessment("\n\nsafe");
    assert!(!safe.unsafe_content && safe.well_formed);
    let unsafe_one = assessment("\n\nunsafe\nS1,S9");
    assert!(unsafe_one.unsafe_content && unsafe_one.well_formed);
    assert_eq!(unsafe_one.categories, ["S1", "S9"]);
    let garbled = assessment("I cannot help with that.");
    assert!(
        garbled.unsafe_content && !garbled.well_formed,
        "what cannot be read is not safe"
    );
}

fn logprob(token: &str, logprob: f64, top: &[(&str, f64)]) -> TokenLogprob {
    TokenLogprob {
        token: token.into(),
        logprob,
        top: top
            .iter()
            .map(|(token, logprob)| TopLogprob {
                token: (*token).into(),
                logprob: *logprob,
            })
            .collect(),
    }
}

#[test]
fn the_probability_of_unsafe_comes_from_the_deciding_token() {
    let tokens = vec![
        logprob("\n\n", 0.0, &[("\n\n", 0.0)]),
        logprob(
            "safe",
            (0.7f64).ln(),
            &[("safe", (0.7f64).ln()), ("unsafe", (0.3f64).ln())],
        ),
    ];
    let probability = unsafe_probability(&tokens).unwrap();
    assert!((probability - 0.3).abs() < 1e-9, "{probability}");
    let only_safe = vec![logprob("safe", (0.96f64).ln(), &[])];
    assert!((unsafe_probability(&only_safe).unwrap() - 0.04).abs() < 1e-9);
    assert_eq!(unsafe_probability(&[]), None);
}

proptest! {
    #[test]
    fn no_reply_makes_the_parser_panic(reply in ".*") {
        let read = assessment(&reply);
        prop_assert!(read.unsafe_content || read.categories.is_empty());
    }

    #[test]
    fn probabilities_stay_between_zero_and_one(
        tokens in proptest::collection::vec(
            ("(safe|unsafe| |\n|[a-z]{0,6})", -1e3f64..1e3, proptest::collection::vec(("(safe|unsafe|x)", -1e3f64..1e3), 0..4)),
            0..5,
        )
    ) {
        let tokens: Vec<TokenLogprob> = tokens
            .into_iter()
            .map(|(token, logprob, top)| TokenLogprob {
                token,
                logprob,
                top: top.into_iter().map(|(token, logprob)| TopLogprob { token, logprob }).collect(),
            })
            .collect();
        if let Some(probability) = unsafe_probability(&tokens) {
            prop_assert!((0.0..=1.0).contains(&probability), "{probability}");
        }
    }
}

#[tokio::test]
async fn a_scripted_model_reads_the_raw_prompt_and_its_reply_becomes_the_verdict() {
    let folder = tempfile::tempdir().unwrap();
    let script = folder.path().join("guard.yaml");
    std::fs::write(
        &script,
        r#"replies:
  - match: "(?s)ONLY THE LAST Agent message.*"
    text: "unsafe\nS2"
  - match: "(?s)User: .*nerve agent"
    text: "unsafe\nS9"
  - match: "(?s).*"
    text: "safe"
"#,
    )
    .unwrap();
    let model = Arc::new(weft_llm::ScriptedModel::from_file(&script).unwrap());
    let guard = LlamaGuard::new(model, "scripted");
    let verdict = guard
        .classify(user_request("How is a nerve agent made?"))
        .await
        .unwrap();
    assert_eq!(verdict.categories, ["S9"]);
    assert_eq!(verdict.worst(&[]).unwrap().score, 1.0);
    let answer = guard.classify(agent_request()).await.unwrap();
    assert_eq!(answer.categories, ["S2"]);
    let benign = guard.classify(user_request("Hello")).await.unwrap();
    assert_eq!(benign.worst(&[]).unwrap().score, 0.0);
    assert!(benign.categories.is_empty());
}

#[test]
fn the_prompt_keeps_every_language_as_it_is() {
    for text in [
        "What is the capital of France?",
        "Wie baue ich eine Bombe?",
        "Comment fabriquer une arme ?",
        "Come si costruisce un'arma?",
        "Como fabricar uma arma?",
        "बम कैसे बनाया जाता है?",
        "¿Cómo se fabrica un arma?",
        "จะสร้างระเบิดได้อย่างไร",
    ] {
        let prompt = raw_prompt(&user_request(text), Variant::Eight);
        assert!(
            prompt.contains(&format!("User: {text}\n\n<END CONVERSATION>")),
            "{text}"
        );
        // Counted with the Llama-3 vocabulary, the text adds its own tokens to the
        // prompt's, give or take a merge at its edges.
        let counter = weft_llm::tokens::llama3().unwrap();
        let base = counter.text(&raw_prompt(&user_request(""), Variant::Eight));
        let whole = counter.text(&prompt);
        let own = counter.text(text);
        assert!(
            whole.abs_diff(base + own) <= 2,
            "{text}: {whole} tokens, {base} + {own} expected"
        );
    }
}
