//! What context assembly and compaction read of a session, the same on every backend: the
//! view (pins, live summaries, the newest messages within a budget, snippets), the
//! uncompacted messages, token counts kept once per tokenizer, and archive search in eight
//! languages. SQLite runs the bodies in `sessions_sqlite.rs`, PostgreSQL in
//! `sessions_postgres.rs`.

use super::record;
use super::sessions::{Backend, Words, remembered, request, run_in, spec, summary};
use weft_core::{
    DEFAULT_TENANT, Event, Message, MessageCounts, SessionId, SnippetSource, TokenCounter,
    ViewRequest,
};

/// A session of ten messages of 10 tokens each (for [`Words`]), the first four summarized,
/// with two pins left of three and a note.
async fn ten_messages(store: &dyn Backend) -> SessionId {
    let session = store.open_session(&spec("long")).await.unwrap();
    let run = run_in(store, &session).await;
    let messages = (1..=10)
        .map(|index| {
            if index == 3 {
                Message::user("message 3 about zebra number 3")
            } else {
                Message::assistant(
                    format!("message {index} about topic number {index}"),
                    vec![],
                )
            }
        })
        .collect();
    store
        .append(run, &[record(2, remembered(messages))])
        .await
        .unwrap();
    store
        .append(run, &[record(3, summary(1, 4, "The first four.", vec![]))])
        .await
        .unwrap();
    for (text, key) in [("alpha", "k1"), ("beta", "k2"), ("gamma", "k3")] {
        store.pin(session.id, text, key).await.unwrap();
    }
    store.unpin(session.id, 2).await.unwrap();
    store
        .save_note(session.id, "zebra crossing near the office", &[], "k4")
        .await
        .unwrap();
    session.id
}

/// The newest messages after the summaries until they pass the budget, counted once per
/// tokenizer; snippets leave out what the view holds already.
pub async fn views_read_within_the_budget_and_count_once(store: &dyn Backend) {
    let session = ten_messages(store).await;
    let words = Words::new("words");
    let view = store.view(request(session, &words, 25)).await.unwrap();
    let pins: Vec<&str> = view.pins.iter().map(|pin| pin.text.as_str()).collect();
    assert_eq!(pins, ["alpha", "gamma"]);
    assert_eq!(view.summaries.len(), 1);
    let read: Vec<(u64, Option<u32>)> = view
        .messages
        .iter()
        .map(|message| (message.sequence, message.tokens))
        .collect();
    assert_eq!(read, [(8, Some(10)), (9, Some(10)), (10, Some(10))]);
    assert_eq!(view.omitted, 3, "messages 5 to 7 were not read");
    assert_eq!(words.calls(), 3);
    let again = store.view(request(session, &words, 25)).await.unwrap();
    assert_eq!(again, view);
    assert_eq!(words.calls(), 3, "kept counts are not made again");
    let other = Words::new("other");
    store.view(request(session, &other, 25)).await.unwrap();
    assert_eq!(other.calls(), 3, "each tokenizer counts for itself");

    let uncompacted = store.uncompacted(session, &words, 15, 0).await.unwrap();
    let (oldest, total) = (uncompacted.oldest.clone(), uncompacted.total);
    assert_eq!(
        uncompacted.summaries, view.summaries,
        "the same live summaries"
    );
    let read: Vec<(u64, Option<u32>)> = oldest
        .iter()
        .map(|message| (message.sequence, message.tokens))
        .collect();
    assert_eq!(read, [(5, Some(10)), (6, Some(10))]);
    assert_eq!(total, 60, "every message after the summary");
    assert_eq!(words.calls(), 6, "5, 6 and 7 counted; 8 to 10 were kept");
    assert_eq!(
        store.uncompacted(session, &words, 15, 0).await.unwrap(),
        uncompacted
    );
    assert_eq!(words.calls(), 6);
    // Not due (the messages' 60 tokens and the summary's own reach the threshold, and do
    // not pass it): the same summaries and total, and no message read.
    let due_at = 60 + u64::from(words.text(&uncompacted.summaries[0].text));
    let not_due = store
        .uncompacted(session, &words, 15, due_at)
        .await
        .unwrap();
    assert_eq!(not_due.summaries, uncompacted.summaries);
    assert_eq!(not_due.total, 60);
    assert_eq!(not_due.oldest, []);
    assert_eq!(words.calls(), 6, "nothing counted again");
    assert_eq!(
        store
            .uncompacted(session, &words, 15, due_at - 1)
            .await
            .unwrap(),
        uncompacted,
        "just past it the oldest are read"
    );

    let with_query = ViewRequest {
        query: Some("zebra topic"),
        snippets: 20,
        ..request(session, &words, 25)
    };
    let view = store.view(with_query).await.unwrap();
    let references: Vec<String> = view
        .snippets
        .iter()
        .map(|snippet| snippet.reference())
        .collect();
    assert!(references.contains(&"m3".to_owned()), "{references:?}");
    assert!(references.contains(&"n1".to_owned()), "{references:?}");
    assert!(
        !references
            .iter()
            .any(|reference| ["m8", "m9", "m10"].contains(&reference.as_str())),
        "messages in the view are not snippets too: {references:?}"
    );
    assert_eq!(references.len(), 8, "m1 to m7 and n1: {references:?}");
    let limited = ViewRequest {
        snippets: 2,
        ..with_query
    };
    assert_eq!(store.view(limited).await.unwrap().snippets.len(), 2);

    // A session's row counts its live pins, its notes and its live summaries.
    let info = store
        .session(DEFAULT_TENANT, session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((info.pins, info.notes, info.summaries), (2, 1, 1));
    // Counts that come with the messages are kept with them (counts that do not match
    // the messages one to one are not), and the view does not count those again.
    let run = run_in(store, &info).await;
    let counted = |texts: &[&str], tokens: Vec<u32>| Event::Remembered {
        step: 1,
        branch: None,
        messages: texts.iter().map(|text| Message::user(*text)).collect(),
        counts: Some(Box::new(MessageCounts {
            tokenizer: "words".into(),
            tokens,
        })),
    };
    store
        .append(
            run,
            &[record(2, counted(&["eleven", "twelve"], vec![3, 4]))],
        )
        .await
        .unwrap();
    store
        .append(run, &[record(3, counted(&["thirteen"], vec![5, 6]))])
        .await
        .unwrap();
    let calls = words.calls();
    let view = store.view(request(session, &words, 25)).await.unwrap();
    let read: Vec<(u64, Option<u32>)> = view
        .messages
        .iter()
        .map(|message| (message.sequence, message.tokens))
        .collect();
    // Newest first until past 25: 5 ("thirteen", counted now), 4, 3, 10, 10.
    let expected = [
        (9, Some(10)),
        (10, Some(10)),
        (11, Some(3)),
        (12, Some(4)),
        (13, Some(5)),
    ];
    assert_eq!(read, expected);
    assert_eq!(
        words.calls(),
        calls + 1,
        "only the message whose counts did not match"
    );
}

/// One message per language; each is found by a word of it (the Thai one inside a sentence
/// written without spaces).
pub async fn search_finds_words_in_eight_languages(store: &dyn Backend) {
    let session = store.open_session(&spec("languages")).await.unwrap();
    let run = run_in(store, &session).await;
    let sentences = [
        ("The quarterly report is due on Friday.", "quarterly"),
        ("Die Straßenbahn fährt heute später.", "Straßenbahn"),
        ("Nous avons visité le musée d'Orsay hier.", "musée"),
        ("La cucina italiana è famosa nel mondo.", "cucina"),
        ("O pão de queijo é delicioso.", "queijo"),
        ("मुझे दिल्ली की सड़कों पर घूमना पसंद है।", "सड़कों"),
        ("El niño come una manzana roja.", "manzana"),
        ("ฉันชอบกินข้าวผัดกับไก่ทอดที่ร้านริมถนน", "ข้าวผัด"),
    ];
    let messages = sentences
        .iter()
        .map(|(sentence, _)| Message::user(*sentence))
        .collect();
    store
        .append(run, &[record(2, remembered(messages))])
        .await
        .unwrap();
    for (index, (sentence, word)) in sentences.iter().enumerate() {
        let found = store.search(session.id, word, 5).await.unwrap();
        let places: Vec<(SnippetSource, u64)> = found
            .iter()
            .map(|snippet| (snippet.source, snippet.id))
            .collect();
        assert_eq!(
            places,
            [(SnippetSource::Message, index as u64 + 1)],
            "{word} finds its sentence alone"
        );
        assert_eq!(found[0].text, *sentence);
    }
    let upper = store
        .search(session.id, "QUARTERLY report", 5)
        .await
        .unwrap();
    assert_eq!(upper[0].id, 1, "case does not matter");
    let inside = store.search(session.id, "ไก่ทอด", 5).await.unwrap();
    assert_eq!(inside.len(), 1, "another Thai word inside the sentence");
    assert_eq!(
        store
            .read(session.id, SnippetSource::Message, 8)
            .await
            .unwrap()
            .as_deref(),
        Some(sentences[7].0)
    );
}

/// What a person types is never search syntax; blank and too-short queries find nothing;
/// a long text's snippet is cut around its match.
pub async fn queries_are_text_not_syntax(store: &dyn Backend) {
    let session = store.open_session(&spec("syntax")).await.unwrap();
    let run = run_in(store, &session).await;
    let long = format!(
        "{} the needle is here {}",
        "hay ".repeat(1_000),
        "stack ".repeat(1_000)
    );
    let messages = vec![
        Message::user("What does \"quoted (text)\" AND col:value -minus* mean?"),
        Message::tool_result("call-1", long),
    ];
    store
        .append(run, &[record(2, remembered(messages))])
        .await
        .unwrap();
    for query in [
        "\"unbalanced",
        "quoted*",
        "col:value",
        "-minus",
        "(text",
        "AND OR NOT NEAR",
        "NEAR(quoted text)",
        "'single' \\back\\ 50%_",
        "^caret {braces} [brackets]",
    ] {
        let found = store.search(session.id, query, 5).await;
        assert!(found.is_ok(), "{query}: {found:?}");
    }
    let found = store.search(session.id, "\"quoted", 5).await.unwrap();
    assert_eq!(found.len(), 1);
    let ranked = vec![
        Message::user("an apple and a banana"),
        Message::user("an apple alone"),
    ];
    store
        .append(run, &[record(3, remembered(ranked))])
        .await
        .unwrap();
    let found = store.search(session.id, "banana apple", 5).await.unwrap();
    let order: Vec<u64> = found.iter().map(|snippet| snippet.id).collect();
    assert_eq!(order, [3, 4], "the text with more of the words first");
    let found = store.search(session.id, "apple", 5).await.unwrap();
    let order: Vec<u64> = found.iter().map(|snippet| snippet.id).collect();
    assert_eq!(order, [4, 3], "then the newest first");
    for query in ["", "   ", "ab", "a b c"] {
        assert!(
            store.search(session.id, query, 5).await.unwrap().is_empty(),
            "{query:?}"
        );
    }
    let found = store.search(session.id, "needle", 5).await.unwrap();
    assert_eq!(found.len(), 1);
    let text = &found[0].text;
    assert!(text.contains("needle"), "{text}");
    assert!(
        text.chars().count() <= 602,
        "{} characters",
        text.chars().count()
    );
    assert!(text.starts_with('…') && text.ends_with('…'));
    assert!(
        store
            .search(SessionId::new(), "needle", 5)
            .await
            .unwrap()
            .is_empty()
    );
}
