//! The replica state in two small files beside the database, written alternately.
//!
//! The bft replica persists its state twice per view (before its vote and when it enters the
//! next view), and both writes are on the consensus critical path. A redb commit costs far
//! more than the fsync it needs, and it queues behind block writes; a state file costs one
//! write and one `fdatasync`.
//!
//! Each write replaces the whole content of one of the two files, the older one: a header
//! (magic, sequence number, length, Keccak-256 of these two and the body) and the encoded
//! state. A crash
//! mid-write can only damage the file being written; the other still holds the previous
//! state, which was durable before the write began (every write is synced before it
//! returns). On reading, the valid file with the higher sequence number wins; a file with a
//! bad header or checksum is ignored, so a torn write reads as the state before it.

use std::{
    fs::{File, OpenOptions},
    io::{Read as _, Seek as _, SeekFrom, Write as _},
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use zksync_consensus_crypto::keccak256::Keccak256;

const MAGIC: &[u8; 8] = b"zkcstat1";
/// Magic, sequence number, body length, body hash.
const HEADER: usize = 8 + 8 + 8 + 32;

/// The two state files and the sequence number of the next write.
#[derive(Debug)]
pub(super) struct StateFiles {
    files: [File; 2],
    paths: [PathBuf; 2],
    next_seq: u64,
}

/// One file's content: (sequence number, body) if it is complete and intact.
fn parse(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (header, body) = bytes.split_at_checked(HEADER)?;
    let (magic, rest) = header.split_at(8);
    if magic != MAGIC {
        return None;
    }
    let seq = u64::from_le_bytes(rest[..8].try_into().ok()?);
    let len = usize::try_from(u64::from_le_bytes(rest[8..16].try_into().ok()?)).ok()?;
    let body = body.get(..len)?;
    (digest(seq, body).as_bytes()[..] == rest[16..48]).then_some((seq, body))
}

/// The checksum covers the sequence number and the length too.
fn digest(seq: u64, body: &[u8]) -> Keccak256 {
    let mut input = Vec::with_capacity(16 + body.len());
    input.extend_from_slice(&seq.to_le_bytes());
    input.extend_from_slice(&(body.len() as u64).to_le_bytes());
    input.extend_from_slice(body);
    Keccak256::new(&input)
}

fn encode(seq: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(digest(seq, body).as_bytes());
    out.extend_from_slice(body);
    out
}

impl StateFiles {
    /// Opens (creating them empty if missing) the files `<db>.state0` and `<db>.state1`;
    /// returns them with the newest intact body, if any.
    pub(super) fn open(db: &Path) -> anyhow::Result<(Self, Option<Vec<u8>>)> {
        let paths = [0, 1].map(|i| {
            let mut name = db.as_os_str().to_owned();
            name.push(format!(".state{i}"));
            PathBuf::from(name)
        });
        let mut newest: Option<(u64, Vec<u8>)> = None;
        let mut open = |path: &Path| -> anyhow::Result<File> {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?;
            let mut bytes = vec![];
            f.read_to_end(&mut bytes)
                .with_context(|| format!("reading {}", path.display()))?;
            if let Some((seq, body)) = parse(&bytes)
                && newest.as_ref().is_none_or(|(s, _)| *s < seq)
            {
                newest = Some((seq, body.to_vec()));
            }
            Ok(f)
        };
        let files = [open(&paths[0])?, open(&paths[1])?];
        let next_seq = newest.as_ref().map_or(0, |(s, _)| s + 1);
        let files = Self {
            files,
            paths,
            next_seq,
        };
        Ok((files, newest.map(|(_, b)| b)))
    }

    /// Writes `body` durably over the older file (blocking: call it off the async workers).
    pub(super) fn write(&mut self, body: &[u8]) -> anyhow::Result<()> {
        let seq = self.next_seq;
        let i = (seq % 2) as usize;
        let bytes = encode(seq, body);
        let (f, path) = (&mut self.files[i], &self.paths[i]);
        let res: std::io::Result<()> = (|| {
            f.seek(SeekFrom::Start(0))?;
            f.write_all(&bytes)?;
            f.set_len(bytes.len() as u64)?;
            f.sync_data()
        })();
        res.with_context(|| format!("writing {}", path.display()))?;
        self.next_seq = seq + 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The newest intact file wins; a torn or corrupted newest file reads as the one before;
    /// sequence numbers continue across reopening.
    #[test]
    fn newest_intact_state_wins() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db.redb");
        let (mut f, got) = StateFiles::open(&db).unwrap();
        assert_eq!(got, None);
        f.write(b"one").unwrap();
        f.write(b"two, longer").unwrap();
        f.write(b"three").unwrap();
        drop(f);
        let (mut f, got) = StateFiles::open(&db).unwrap();
        assert_eq!(got.as_deref(), Some(&b"three"[..]));
        f.write(b"four").unwrap();
        drop(f);
        let (_, got) = StateFiles::open(&db).unwrap();
        assert_eq!(got.as_deref(), Some(&b"four"[..]));

        // "four" went to file 1 (sequence 3). Tear it at every length, and flip each byte:
        // "three" (file 0) is read instead.
        let path = dir.path().join("db.redb.state1");
        let full = std::fs::read(&path).unwrap();
        assert_eq!(parse(&full), Some((3, &b"four"[..])));
        for cut in 0..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (_, got) = StateFiles::open(&db).unwrap();
            assert_eq!(got.as_deref(), Some(&b"three"[..]), "cut at {cut}");
        }
        for i in 0..full.len() {
            let mut bad = full.clone();
            bad[i] ^= 0x10;
            std::fs::write(&path, &bad).unwrap();
            let (_, got) = StateFiles::open(&db).unwrap();
            assert_eq!(got.as_deref(), Some(&b"three"[..]), "byte {i} flipped");
        }
        // The next write goes after the newest intact one, into the damaged file.
        let (mut f, _) = StateFiles::open(&db).unwrap();
        f.write(b"five").unwrap();
        assert_eq!(
            parse(&std::fs::read(&path).unwrap()),
            Some((3, &b"five"[..]))
        );
    }
}
