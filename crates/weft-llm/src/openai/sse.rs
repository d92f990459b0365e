//! A server-sent events decoder: bytes in, each event's data out. No I/O.
//!
//! It handles what servers actually send: `\n` or `\r\n` line ends, a line or a UTF-8
//! character split across chunks, comment lines (`: keep-alive`), `event:` names, several
//! `data:` lines joined by `\n`, and a last event without its closing blank line.

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// Its `event:` name, when it had one.
    pub name: Option<String>,
    /// Its `data:` lines, joined by `\n`.
    pub data: String,
}

/// A line longer than this is refused: no server sends one, and it bounds memory.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The decoder's state between chunks.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    name: Option<String>,
    data: String,
    has_data: bool,
    comments: u64,
}

/// A line over [`MAX_LINE_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server sent an event line longer than {MAX_LINE_BYTES} bytes")]
pub struct LineTooLong;

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; complete events are appended to `events`.
    pub fn feed(&mut self, bytes: &[u8], events: &mut Vec<SseEvent>) -> Result<(), LineTooLong> {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|byte| *byte == b'\n') {
            self.line.extend_from_slice(&rest[..end]);
            rest = &rest[end + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.on_line(&line, events);
            line.clear();
            self.line = line;
        }
        self.line.extend_from_slice(rest);
        if self.line.len() > MAX_LINE_BYTES {
            return Err(LineTooLong);
        }
        Ok(())
    }

    /// Ends the stream: an event that lacked its closing blank line is still delivered.
    pub fn finish(&mut self, events: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.on_line(&line, events);
        }
        self.dispatch(events);
    }

    /// How many comment lines (keep-alives) were seen.
    pub fn comments(&self) -> u64 {
        self.comments
    }

    fn on_line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line.first() == Some(&b':') {
            self.comments += 1;
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.name = Some(value.to_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        if self.has_data {
            events.push(SseEvent {
                name: self.name.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.name = None;
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        for chunk in chunks {
            decoder.feed(chunk, &mut events).unwrap();
        }
        decoder.finish(&mut events);
        events
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|event| event.data.as_str()).collect()
    }

    #[test]
    fn lines_split_anywhere_give_the_same_events() {
        let stream = "data: {\"a\":\"é\"}\r\n\r\n: keep-alive\n\nevent: error\ndata: one\ndata: two\n\ndata: [DONE]\n\n";
        let whole = decode(&[stream.as_bytes()]);
        assert_eq!(data(&whole), ["{\"a\":\"é\"}", "one\ntwo", "[DONE]"]);
        assert_eq!(whole[1].name.as_deref(), Some("error"));
        let bytes = stream.as_bytes();
        for split in 0..bytes.len() {
            let (first, second) = bytes.split_at(split);
            assert_eq!(decode(&[first, second]), whole, "split at {split}");
        }
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_delivered() {
        assert_eq!(data(&decode(&[b"data: {}\n\ndata: last"])), ["{}", "last"]);
    }

    #[test]
    fn comments_are_counted_and_dropped() {
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        decoder
            .feed(b": ping\n\n: ping\n\ndata: x\n\n", &mut events)
            .unwrap();
        assert_eq!(decoder.comments(), 2);
        assert_eq!(data(&events), ["x"]);
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        let chunk = vec![b'a'; 1024 * 1024];
        let mut refused = false;
        for _ in 0..17 {
            if decoder.feed(&chunk, &mut events).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused);
    }
}
