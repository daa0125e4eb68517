//! Mux frame headers (protocol.md 5.6): a `u16` little-endian word.
//!
//! | bits | meaning |
//! |---|---|
//! | 15-14 | frame kind: `00` OPEN, `01` DATA, `10` CLOSE; `11` is a protocol error |
//! | 13 | kind of the sender's stream: `0` ACCEPT (client), `1` CONNECT (server) |
//! | 12-0 | stream id |
//!
//! A DATA header is followed by a `u16` little-endian length and that many bytes.

/// Frame kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// The sender is ready for a transient stream.
    Open,
    /// Stream data.
    Data,
    /// End of the sender's half of the transient stream.
    Close,
}

/// Which side of a capability a stream serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamKind {
    /// The client side (listed under `accept` in the handshake).
    Accept,
    /// The server side (listed under `connect`).
    Connect,
}

impl StreamKind {
    /// The other side.
    pub fn opposite(self) -> Self {
        match self {
            Self::Accept => Self::Connect,
            Self::Connect => Self::Accept,
        }
    }
}

/// Stream ids are 13 bits.
pub const MAX_STREAM_ID: u16 = 0x1FFF;
/// Number of stream ids of one kind.
pub const STREAM_IDS: usize = MAX_STREAM_ID as usize + 1;

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Frame kind.
    pub frame: FrameKind,
    /// Kind of the sender's stream.
    pub stream: StreamKind,
    /// Stream id.
    pub id: u16,
}

/// The header word has frame kind `11`.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("invalid mux frame kind in header {0:#06x}")]
pub struct InvalidFrameKind(pub u16);

impl Header {
    /// Encodes the header word.
    pub fn encode(&self) -> [u8; 2] {
        let frame: u16 = match self.frame {
            FrameKind::Open => 0,
            FrameKind::Data => 0x4000,
            FrameKind::Close => 0x8000,
        };
        let stream: u16 = match self.stream {
            StreamKind::Accept => 0,
            StreamKind::Connect => 0x2000,
        };
        (frame | stream | (self.id & MAX_STREAM_ID)).to_le_bytes()
    }

    /// Decodes a header word.
    pub fn decode(raw: [u8; 2]) -> Result<Self, InvalidFrameKind> {
        let w = u16::from_le_bytes(raw);
        let frame = match w >> 14 {
            0 => FrameKind::Open,
            1 => FrameKind::Data,
            2 => FrameKind::Close,
            _ => return Err(InvalidFrameKind(w)),
        };
        let stream = if w & 0x2000 == 0 {
            StreamKind::Accept
        } else {
            StreamKind::Connect
        };
        Ok(Self {
            frame,
            stream,
            id: w & MAX_STREAM_ID,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-level values of protocol.md 5.6.
    #[test]
    fn golden_headers() {
        let h = |frame, stream, id| Header { frame, stream, id }.encode();
        assert_eq!(h(FrameKind::Open, StreamKind::Accept, 0), [0x00, 0x00]);
        assert_eq!(h(FrameKind::Data, StreamKind::Accept, 5), [0x05, 0x40]);
        assert_eq!(h(FrameKind::Close, StreamKind::Accept, 1), [0x01, 0x80]);
        assert_eq!(
            h(FrameKind::Open, StreamKind::Connect, 0x1FFF),
            [0xFF, 0x3F]
        );
        assert_eq!(h(FrameKind::Close, StreamKind::Connect, 2), [0x02, 0xA0]);
    }

    #[test]
    fn every_word_decodes_or_is_kind_11() {
        for w in 0..=u16::MAX {
            match Header::decode(w.to_le_bytes()) {
                Ok(h) => assert_eq!(h.encode(), w.to_le_bytes()),
                Err(e) => assert_eq!((w >> 14, e.0), (3, w)),
            }
        }
    }
}
