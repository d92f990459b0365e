//! A byte-level BPE `tokenizer.json` with the Llama-3.1 special tokens.
//!
//! Every byte is a token (so any text encodes), the special tokens sit after the bytes in
//! Llama-3.1's order, and for a large vocabulary the ids between are filled with
//! decodable multi-byte tokens that encoding never produces.

use serde_json::{Map, Value, json};

/// Llama-3.1's special tokens in id order from its first special id (128000 there).
pub const SPECIAL_TOKENS: [&str; 11] = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|reserved_special_token_2|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
];

/// GPT-2's byte-to-character table: printable bytes stand for themselves, the others are
/// moved past 255.
fn byte_characters() -> Vec<char> {
    let mut characters = vec!['\0'; 256];
    let mut shifted = 0u32;
    for byte in 0..=255u32 {
        let printable = (33..=126).contains(&byte)
            || (161..=172).contains(&byte)
            || (174..=255).contains(&byte);
        let code = if printable {
            byte
        } else {
            shifted += 1;
            255 + shifted
        };
        characters[byte as usize] = char::from_u32(code).unwrap_or('?');
    }
    characters
}

/// The tokenizer for a vocabulary of `vocab_size` ids whose special tokens start at
/// `first_special`; returns the JSON and the ids of the special tokens.
pub fn tokenizer_json(vocab_size: usize, first_special: usize) -> Value {
    let characters = byte_characters();
    let mut vocab = byte_and_filler_vocabulary(&characters, first_special);
    let added = add_special_tokens(&mut vocab, first_special, vocab_size);
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": false,
            "trim_offsets": true,
            "use_regex": true
        },
        "post_processor": post_processor(first_special),
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": true,
            "trim_offsets": true,
            "use_regex": true
        },
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": []
        }
    })
}

/// The ids below `first_special`: every byte's character at its byte's id, then filler
/// tokens up to the first special id.
fn byte_and_filler_vocabulary(characters: &[char], first_special: usize) -> Map<String, Value> {
    let mut vocab = Map::new();
    for (byte, character) in characters.iter().enumerate() {
        vocab.insert(character.to_string(), json!(byte));
    }
    let mut filler = filler_tokens(characters);
    for id in 256..first_special {
        if let Some(token) = filler.next() {
            vocab.insert(token, json!(id));
        }
    }
    vocab
}

/// Fillers: two-, then three-character strings of byte characters, decodable tokens that
/// no merge ever produces (the merges are empty).
fn filler_tokens(characters: &[char]) -> impl Iterator<Item = String> + '_ {
    (0usize..).map(|index| {
        if index < 256 * 256 {
            format!("{}{}", characters[index / 256], characters[index % 256])
        } else {
            let index = index - 256 * 256;
            format!(
                "{}{}{}",
                characters[(index / 65536) % 256],
                characters[(index / 256) % 256],
                characters[index % 256]
            )
        }
    })
}

/// Puts the special tokens (Llama-3.1's, then reserved ones to fill the vocabulary) into
/// `vocab` from `first_special` to `vocab_size`; returns their `added_tokens` entries.
fn add_special_tokens(
    vocab: &mut Map<String, Value>,
    first_special: usize,
    vocab_size: usize,
) -> Vec<Value> {
    let mut added = Vec::new();
    for id in first_special..vocab_size {
        let offset = id - first_special;
        let content = match SPECIAL_TOKENS.get(offset) {
            Some(token) => (*token).to_owned(),
            None => format!("<|reserved_special_token_{}|>", offset - 8),
        };
        vocab.insert(content.clone(), json!(id));
        added.push(json!({
            "id": id,
            "content": content,
            "single_word": false,
            "lstrip": false,
            "rstrip": false,
            "normalized": false,
            "special": true,
        }));
    }
    added
}

/// The post-processor that puts `<|begin_of_text|>` (id `first_special`) before every
/// sequence.
fn post_processor(first_special: usize) -> Value {
    let begin = SPECIAL_TOKENS[0];
    json!({
        "type": "TemplateProcessing",
        "single": [
            {"SpecialToken": {"id": begin, "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}}
        ],
        "pair": [
            {"SpecialToken": {"id": begin, "type_id": 0}},
            {"Sequence": {"id": "A", "type_id": 0}},
            {"SpecialToken": {"id": begin, "type_id": 1}},
            {"Sequence": {"id": "B", "type_id": 1}}
        ],
        "special_tokens": {
            begin: {"id": begin, "ids": [first_special], "tokens": [begin]}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_has_its_own_character() {
        let characters = byte_characters();
        let mut sorted = characters.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 256);
        assert_eq!(characters[b'a' as usize], 'a');
        assert_eq!(characters[b' ' as usize], 'Ġ');
    }

    #[test]
    fn the_vocabulary_is_dense_and_holds_the_special_tokens() {
        let tokenizer = tokenizer_json(300, 280);
        let vocab = tokenizer["model"]["vocab"].as_object().unwrap();
        assert_eq!(vocab.len(), 300);
        assert_eq!(vocab["<|eot_id|>"], json!(289));
        assert_eq!(vocab["<|python_tag|>"], json!(290));
        let mut ids: Vec<u64> = vocab.values().map(|id| id.as_u64().unwrap()).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..300).collect::<Vec<u64>>());
    }
}
