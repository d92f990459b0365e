//! What a failed program said: the end of its standard error, quoted in error messages of
//! command tools and MCP servers alike.

/// The last `characters` characters of a program's standard error, as `: <text>`, or
/// nothing when it wrote none.
pub(crate) fn stderr_tail(stderr: &[u8], characters: usize) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let start = text
        .char_indices()
        .rev()
        .nth(characters)
        .map_or(0, |(index, _)| index);
    format!(": {}", &text[start..])
}
