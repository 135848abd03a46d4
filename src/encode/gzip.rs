//! Gzip members written with one reused deflate state: `flate2::write::GzEncoder` allocates
//! (and frees) its compressor on every body, about 44 page faults and 4 `brk` calls per scrape
//! here. Members may be concatenated (RFC 1952 §2.2); Prometheus and every gzip reader accept
//! a body of several, so a cached part and a fresh part are compressed apart.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

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

impl Gzip {
    /// Append one gzip member holding `data` to `out`.
    pub fn member(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.deflate.reset();
        // Header: magic, deflate, no flags, no mtime, fastest, unknown OS.
        out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
        let body_start = out.len();
        out.reserve(data.len() / 3 + 64);
        let mut input = data;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(data.len() / 4 + 64);
            }
            let (before_in, before_out) = (self.deflate.total_in(), self.deflate.total_out());
            let status = self.deflate.compress_vec(input, out, FlushCompress::Finish);
            let used = (self.deflate.total_in() - before_in) as usize;
            input = &input[used..];
            match status {
                Ok(Status::StreamEnd) => break,
                Ok(_) if used == 0 && self.deflate.total_out() == before_out => out.reserve(out.capacity().max(256)),
                Ok(_) => {}
                // Deflate into a growing Vec does not fail; should it, store the data
                // uncompressed instead (a stored block), still a valid member.
                Err(_) => {
                    out.truncate(body_start);
                    stored(data, out);
                    break;
                }
            }
        }
        let mut crc = Crc::new();
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    }
}

/// `data` as stored (uncompressed) deflate blocks.
fn stored(data: &[u8], out: &mut Vec<u8>) {
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let n = c.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn members_concatenate_and_read_back() {
        let mut g = Gzip::default();
        let a = b"# HELP a x\n# TYPE a gauge\na 1\n".repeat(400);
        let b = b"process_open_fds 7\n".to_vec();
        let mut out = Vec::new();
        g.member(&a, &mut out);
        g.member(&b, &mut out);
        g.member(b"", &mut out);
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&out[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, [a.clone(), b].concat());
        assert!(out.len() < a.len() / 5, "compressed: {}", out.len());
    }
}
