//! Incremental parser of a chunked body. It only finds where the body ends: the bytes are
//! forwarded verbatim, so nothing is re-chunked.
//!
//! Line endings: CRLF only. HAProxy also accepts a bare LF, but it re-encodes the body it
//! forwards; here the bytes go out verbatim, so a server reading LF differently (as a line
//! end inside an extension, or as data) would frame the body otherwise than the proxy did.
//! Blanks are allowed between the size and its extension or line end.

/// Longest chunk extension accepted, so a peer cannot stream an endless size line.
const MAX_EXTENSION: usize = 4096;
/// Most trailer bytes accepted after the last chunk.
const MAX_TRAILERS: usize = 16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// No hex digit, a bad character, or a size that does not fit in 64 bits.
    BadSize,
    /// A CR not followed by LF, or chunk data not followed by a line end.
    BadLineEnd,
    ExtensionTooLong,
    TrailersTooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a size line, no digit yet.
    SizeStart,
    /// Reading hex digits of the size.
    Size,
    /// Blanks after the size, before `;` or the line end.
    SizeBlank,
    /// Inside a `;ext` until the line end.
    Extension,
    /// Saw CR, expecting LF, at the end of a size line.
    SizeLf,
    Data,
    /// After chunk data: expecting CR or LF.
    DataEnd,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    TrailerLine,
    TrailerLf,
    /// Saw CR on the final empty line.
    FinalLf,
    Done,
}

/// Streaming state machine over a chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    /// Remaining bytes of the current chunk's data.
    remaining: u64,
    /// Bytes seen in the current extension or in all trailers, for the limits.
    counted: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        Self {
            state: State::SizeStart,
            size: 0,
            remaining: 0,
            counted: 0,
        }
    }

    /// Whether the final chunk and the trailers were seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads body bytes from `input` and returns how many of them belong to the body:
    /// all of them unless the body ends inside `input`.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = self.remaining.min((input.len() - i) as u64);
                self.remaining -= take;
                i += take as usize;
                if self.remaining == 0 {
                    self.state = State::DataEnd;
                }
                continue;
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(i)
    }

    /// Whether the last chunk was seen and its trailers are being read.
    pub fn in_trailers(&self) -> bool {
        use State::*;
        matches!(self.state, TrailerStart | TrailerLine | TrailerLf | FinalLf)
    }

    /// Reads `input` up to the next piece of chunk data, for a reader that takes the data
    /// out of its framing: how many bytes were read, and where in `input` the data read
    /// is (empty when none was). Stops where the trailers start, so that every call reads
    /// either framing and data or trailers only ([`ChunkedDecoder::in_trailers`]).
    pub fn next_data(
        &mut self,
        input: &[u8],
    ) -> Result<(usize, std::ops::Range<usize>), ChunkError> {
        let trailers = self.in_trailers();
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let take = self.remaining.min((input.len() - i) as u64) as usize;
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = State::DataEnd;
                }
                return Ok((i + take, i..i + take));
            }
            self.step(input[i])?;
            i += 1;
            if !trailers && self.in_trailers() {
                break;
            }
        }
        Ok((i, i..i))
    }

    fn end_of_size_line(&mut self) {
        if self.size == 0 {
            self.state = State::TrailerStart;
            self.counted = 0;
        } else {
            self.remaining = self.size;
            self.state = State::Data;
        }
    }

    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        use State::*;
        match self.state {
            SizeStart | Size => match hex(b) {
                Some(d) => {
                    if self.state == SizeStart {
                        self.size = 0;
                    }
                    self.size = self
                        .size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(u64::from(d)))
                        .ok_or(ChunkError::BadSize)?;
                    self.state = Size;
                }
                None if self.state == SizeStart => return Err(ChunkError::BadSize),
                None => self.after_size(b)?,
            },
            SizeBlank => self.after_size(b)?,
            Extension => match b {
                b'\r' => self.state = SizeLf,
                b'\n' => return Err(ChunkError::BadLineEnd),
                _ => {
                    self.counted += 1;
                    if self.counted > MAX_EXTENSION {
                        return Err(ChunkError::ExtensionTooLong);
                    }
                }
            },
            SizeLf => match b {
                b'\n' => self.end_of_size_line(),
                _ => return Err(ChunkError::BadLineEnd),
            },
            DataEnd => match b {
                b'\r' => self.state = DataLf,
                _ => return Err(ChunkError::BadLineEnd),
            },
            DataLf => match b {
                b'\n' => self.state = SizeStart,
                _ => return Err(ChunkError::BadLineEnd),
            },
            TrailerStart => match b {
                b'\r' => self.state = FinalLf,
                b'\n' => return Err(ChunkError::BadLineEnd),
                _ => {
                    self.count_trailer()?;
                    self.state = TrailerLine;
                }
            },
            TrailerLine => match b {
                b'\r' => self.state = TrailerLf,
                b'\n' => return Err(ChunkError::BadLineEnd),
                _ => self.count_trailer()?,
            },
            TrailerLf => match b {
                b'\n' => self.state = TrailerStart,
                _ => return Err(ChunkError::BadLineEnd),
            },
            FinalLf => match b {
                b'\n' => self.state = Done,
                _ => return Err(ChunkError::BadLineEnd),
            },
            Data | Done => unreachable!("handled by feed"),
        }
        Ok(())
    }

    /// A byte after the size digits: blanks, an extension, or the line end.
    fn after_size(&mut self, b: u8) -> Result<(), ChunkError> {
        match b {
            b' ' | b'\t' => self.state = State::SizeBlank,
            b';' => {
                self.counted = 0;
                self.state = State::Extension;
            }
            b'\r' => self.state = State::SizeLf,
            b'\n' => return Err(ChunkError::BadLineEnd),
            _ => return Err(ChunkError::BadSize),
        }
        Ok(())
    }

    fn count_trailer(&mut self) -> Result<(), ChunkError> {
        self.counted += 1;
        if self.counted > MAX_TRAILERS {
            return Err(ChunkError::TrailersTooLarge);
        }
        Ok(())
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `body` in pieces of `step` bytes; returns the body length found.
    fn run(body: &[u8], step: usize) -> Result<Option<usize>, ChunkError> {
        let mut d = ChunkedDecoder::new();
        let mut total = 0;
        for piece in body.chunks(step) {
            let n = d.feed(piece)?;
            total += n;
            if d.is_done() {
                return Ok(Some(total));
            }
        }
        Ok(None)
    }

    #[test]
    fn body_end_is_found_whatever_the_read_boundaries() {
        let body = b"5\r\nhello\r\n1a;name=val\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n";
        for step in 1..body.len() {
            assert_eq!(run(body, step), Ok(Some(body.len())), "step {step}");
        }
    }

    #[test]
    fn bytes_after_the_body_are_not_consumed() {
        let mut d = ChunkedDecoder::new();
        let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let n = d.feed(input).unwrap();
        assert!(d.is_done());
        assert_eq!(&input[n..], b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn trailers_are_accepted_and_bare_lf_refused() {
        let body = b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n";
        assert_eq!(run(body, 1), Ok(Some(body.len())));
        for lf in [
            &b"3\nabc\r\n0\r\n\r\n"[..],
            b"3;x\nabc\r\n0\r\n\r\n",
            b"3\r\nabc\n0\r\n\r\n",
            b"0\r\n\n",
            b"0\r\nX: 1\n\r\n",
        ] {
            assert_eq!(run(lf, 2), Err(ChunkError::BadLineEnd), "{lf:?}");
        }
        let blanks = b"3  ;x\r\nabc\r\n0 \r\n\r\n";
        assert_eq!(run(blanks, 3), Ok(Some(blanks.len())));
    }

    #[test]
    fn bad_sizes_and_line_ends_are_refused() {
        assert_eq!(run(b"\r\n", 1), Err(ChunkError::BadSize));
        assert_eq!(run(b"zz\r\n", 1), Err(ChunkError::BadSize));
        assert_eq!(run(b"-1\r\n", 1), Err(ChunkError::BadSize));
        assert_eq!(run(b"0x3\r\n", 1), Err(ChunkError::BadSize));
        assert_eq!(run(b"3 4\r\n", 1), Err(ChunkError::BadSize));
        assert_eq!(run(b"11111111111111111\r\n", 4), Err(ChunkError::BadSize));
        assert_eq!(run(b"3\rxabc", 1), Err(ChunkError::BadLineEnd));
        assert_eq!(run(b"3\r\nabcd\r\n", 1), Err(ChunkError::BadLineEnd));
        assert_eq!(run(b"3\r\nabc\rx", 1), Err(ChunkError::BadLineEnd));
        assert_eq!(run(b"0\r\n\rx", 1), Err(ChunkError::BadLineEnd));
    }

    #[test]
    fn largest_size_fits_and_limits_hold() {
        let mut d = ChunkedDecoder::new();
        assert_eq!(d.feed(b"ffffffffffffffff\r\nab"), Ok(20));
        assert!(!d.is_done());
        let mut long = b"1;".to_vec();
        long.resize(long.len() + MAX_EXTENSION + 1, b'x');
        assert_eq!(run(&long, 64), Err(ChunkError::ExtensionTooLong));
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..2000 {
            trailers.extend_from_slice(b"X-T: 0123456789\r\n");
        }
        assert_eq!(run(&trailers, 512), Err(ChunkError::TrailersTooLarge));
    }

    /// The data comes out of its framing piece by piece, however the input is cut, and
    /// the trailers are read apart from it.
    #[test]
    fn next_data_takes_the_data_out_of_the_chunks() {
        let body = b"5\r\nhello\r\n1;ext=1\r\n \r\n0\r\ngrpc-status: 0\r\n\r\n";
        for cut in 1..body.len() {
            let mut d = ChunkedDecoder::new();
            let (mut data, mut trailers, mut held) = (Vec::new(), Vec::new(), Vec::new());
            for part in [&body[..cut], &body[cut..]] {
                held.extend_from_slice(part);
                let mut at = 0;
                while at < held.len() && !d.is_done() {
                    let in_trailers = d.in_trailers();
                    let (n, r) = d.next_data(&held[at..]).unwrap();
                    data.extend_from_slice(&held[at..][r]);
                    if in_trailers {
                        trailers.extend_from_slice(&held[at..at + n]);
                    }
                    at += n;
                    if n == 0 {
                        break;
                    }
                }
                held.drain(..at);
            }
            assert!(d.is_done(), "cut at {cut}");
            assert_eq!(data, b"hello ", "cut at {cut}");
            assert_eq!(trailers, b"grpc-status: 0\r\n\r\n", "cut at {cut}");
        }
    }
}
