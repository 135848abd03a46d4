//! Gzip with one reused deflate state (`flate2::write::GzEncoder` allocates and frees its
//! compressor on every body: about 44 page faults and 4 `brk` calls per scrape here), and with
//! a prefix compressed once: a [`Prefix`] is deflate blocks ended by a sync flush (byte-aligned,
//! not final), so a body is the gzip header and the cached prefix (one shared chunk,
//! [`Prefix::start`]), then the fresh tail compressed now (its blocks reference nothing before
//! them, and a short tail is stored as it is) and a trailer whose CRC combines both
//! ([`Gzip::finish`]). One gzip member: every reader decodes it (browsers read only the first
//! member of several).

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};

/// A reusable gzip writer.
pub struct Gzip {
    deflate: Compress,
}

impl std::fmt::Debug for Gzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gzip")
    }
}

impl Default for Gzip {
    fn default() -> Self {
        Gzip { deflate: Compress::new(Compression::fast(), false) }
    }
}

/// Data compressed once, to start many bodies with.
#[derive(Debug, Clone)]
pub struct Prefix {
    /// The gzip header, then deflate blocks, none final, ending byte-aligned.
    start: Bytes,
    /// CRC-32 of the data.
    crc: u32,
    /// Length of the data.
    len: u64,
}

/// The longest tail [`Gzip::finish`] stores without compressing it.
const STORED_TAIL: usize = 16 * 1024;

/// The gzip header: magic, deflate, no flags, no mtime, fastest, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];

impl Default for Prefix {
    /// No data: the header alone.
    fn default() -> Self {
        Prefix { start: Bytes::from_static(&HEADER), crc: 0, len: 0 }
    }
}

impl Prefix {
    /// The start of every body made with it: the gzip header and the compressed data.
    pub fn start(&self) -> &Bytes {
        &self.start
    }
}

impl Gzip {
    /// Compress `data` as deflate blocks onto `out`, ending with a sync flush when `last` is
    /// false, with the final block when it is true.
    fn blocks(&mut self, data: &[u8], last: bool, out: &mut Vec<u8>) {
        self.deflate.reset();
        let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
        let start = out.len();
        out.reserve(data.len() / 3 + 64);
        let mut input = data;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = self.deflate.total_in();
            let status = self.deflate.compress_vec(input, out, flush);
            input = &input[(self.deflate.total_in() - before) as usize..];
            let done = match status {
                Ok(Status::StreamEnd) => true,
                // A sync flush is complete when all input is in and room was left over.
                Ok(_) if !last => input.is_empty() && out.capacity() - out.len() >= 64,
                Ok(_) => false,
                Err(_) => {
                    // Deflate into a growing Vec does not fail; should it, store the data.
                    out.truncate(start);
                    stored(data, last, out);
                    true
                }
            };
            if done {
                break;
            }
        }
    }

    /// `data` compressed once, to start bodies with ([`Gzip::finish`]).
    pub fn prefix(&mut self, data: &[u8]) -> Prefix {
        let mut start = HEADER.to_vec();
        self.blocks(data, false, &mut start);
        Prefix { start: Bytes::from(start), crc: crc32fast::hash(data), len: data.len() as u64 }
    }

    /// Append what follows [`Prefix::start`] in the gzip member holding the prefix's data, then
    /// `tail`: the tail's blocks, the last one final, and the trailer.
    ///
    /// A tail of at most `STORED_TAIL` bytes (the exporter's own series, fresh on every
    /// scrape) goes in stored blocks, uncompressed: compressing its 3 KB took 15-20 µs per
    /// scrape (resetting the deflate state, building Huffman tables), five times what the
    /// rest of a cached scrape costs, to save 2 KB of a response Prometheus fetches every 15 s.
    pub fn finish(&mut self, prefix: &Prefix, tail: &[u8], out: &mut Vec<u8>) {
        if tail.len() <= STORED_TAIL {
            stored(tail, true, out);
        } else {
            self.blocks(tail, true, out);
        }
        // The CRC of prefix + tail: the prefix's, continued over the tail.
        let mut crc = crc32fast::Hasher::new_with_initial(prefix.crc);
        crc.update(tail);
        out.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE: the length modulo 2^32.
        out.extend_from_slice(&((prefix.len + tail.len() as u64) as u32).to_le_bytes());
    }

    /// One whole gzip member holding the prefix's data, then `tail`, appended to `out`.
    #[cfg(test)]
    fn body(&mut self, prefix: &Prefix, tail: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&prefix.start);
        self.finish(prefix, tail, out);
    }
}

/// `data` as stored (uncompressed) deflate blocks, the last one final when `last`.
fn stored(data: &[u8], last: bool, out: &mut Vec<u8>) {
    let n = stored_blocks(data.len());
    out.reserve(stored_len(data.len()));
    for i in 0..n {
        let c = &data[(i * 65_535).min(data.len())..((i + 1) * 65_535).min(data.len())];
        out.push(u8::from(last && i + 1 == n));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
}

/// The size of the end of a gzip body [`Gzip::finish`] writes for a tail of `len` bytes that
/// is stored: its blocks and the trailer (so that a buffer of exactly this size is not regrown).
pub fn stored_finish_len(len: usize) -> usize {
    stored_len(len) + 8
}

/// Stored blocks for `len` bytes: at most 65,535 bytes each; an empty input is one empty block.
fn stored_blocks(len: usize) -> usize {
    len.div_ceil(65_535).max(1)
}

/// The size of `len` bytes in stored blocks: the data and a 5-byte head per block.
fn stored_len(len: usize) -> usize {
    len + 5 * stored_blocks(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip_first_member(z: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(z).read_to_end(&mut back).unwrap();
        back
    }

    #[test]
    fn a_cached_prefix_and_a_fresh_tail_make_one_member() {
        let mut g = Gzip::default();
        let a = b"# HELP a x\n# TYPE a gauge\na 1\n".repeat(400);
        let p = g.prefix(&a);
        for tail in [&b"process_open_fds 7\n"[..], b"", &b"x".repeat(70_000)] {
            let mut out = Vec::new();
            g.body(&p, tail, &mut out);
            // A single-member reader (as browsers are) sees everything.
            assert_eq!(gunzip_first_member(&out), [a.clone(), tail.to_vec()].concat());
            if tail.len() <= STORED_TAIL {
                assert_eq!(out.len() - p.start.len(), stored_finish_len(tail.len()));
            }
        }
        assert!(p.start.len() < a.len() / 5, "compressed: {}", p.start.len());
        // An empty prefix too.
        let e = g.prefix(b"");
        let mut out = Vec::new();
        g.body(&e, b"tail\n", &mut out);
        assert_eq!(gunzip_first_member(&out), b"tail\n");
    }

    #[test]
    fn stored_blocks_are_valid() {
        let mut out = HEADER.to_vec();
        stored(b"abc", true, &mut out);
        out.extend_from_slice(&crc32fast::hash(b"abc").to_le_bytes());
        out.extend_from_slice(&3u32.to_le_bytes());
        assert_eq!(gunzip_first_member(&out), b"abc");
    }
}
