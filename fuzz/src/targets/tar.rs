//! Tar streams for bulk extract: plain, gzip and bzip2 archives fed in
//! pieces as a request body arrives, through the decompressor and the tar
//! reader, checking that every decompressed piece stays bounded, that
//! entries and their data come out well-formed (no data outside an entry,
//! exactly `size` bytes each), and where each member would be stored.
//!
//! Input: `<format: 0 tar, 1 tar.gz, 2 tar.bz2 (mod 3)><piece size / 64><archive>`.

use bytes::Bytes;
use swirl_proxy::middleware::bulk;
use swirl_proxy::middleware::bulk::tar::{Decoder, Event, TarReader, MAX_OUTPUT};

use crate::input::Input;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let format = ["tar", "tar.gz", "tar.bz2"][usize::from(input.byte() % 3)];
    let piece = usize::from(input.byte()) * 64 + 1;
    let archive = Bytes::copy_from_slice(input.rest());
    let Some(mut decoder) = Decoder::for_format(format) else {
        unreachable!("{format} is a format extract-archive reads");
    };
    let mut reader = TarReader::new();
    let mut check = Check::default();
    for p in archive.chunks(piece) {
        decoder.input(archive.slice_ref(p));
        if !drain(&mut decoder, &mut reader, &mut check, false) {
            return;
        }
    }
    if drain(&mut decoder, &mut reader, &mut check, true) && !check.ended && reader.finish().is_ok()
    {
        assert!(check.left.is_none(), "archive ended inside an entry");
    }
}

/// Feeds what the decoder has to the reader; false once the archive ended
/// or was refused.
fn drain(decoder: &mut Decoder, reader: &mut TarReader, check: &mut Check, last: bool) -> bool {
    if last {
        decoder.finish();
    }
    loop {
        let out = match decoder.output() {
            Ok(Some(out)) => out,
            Ok(None) => return true,
            Err(_) => return false,
        };
        assert!(out.len() <= MAX_OUTPUT, "{} bytes in one piece", out.len());
        let mut events = Vec::new();
        if reader.feed(out, &mut events).is_err() {
            return false;
        }
        for e in events {
            check.event(e);
        }
        if check.ended {
            return false;
        }
    }
}

/// What the events said so far.
#[derive(Default)]
struct Check {
    /// Data bytes still due for the open entry.
    left: Option<u64>,
    ended: bool,
}

impl Check {
    fn event(&mut self, e: Event) {
        assert!(!self.ended, "event after the end");
        match e {
            Event::Entry(entry) => {
                crate::accepted();
                assert!(self.left.is_none(), "entry inside an entry");
                assert!(entry.is_file);
                self.left = Some(entry.size);
                let _ = bulk::member_path("c", &entry.name);
                let _ = bulk::member_path("", &entry.name);
                let _ = bulk::pax_headers(&entry.pax);
            }
            Event::Data(d) => {
                let left = self.left.as_mut().expect("data inside an entry");
                *left = left
                    .checked_sub(d.len() as u64)
                    .expect("data past the entry's size");
            }
            Event::EntryEnd => {
                assert_eq!(self.left.take(), Some(0), "entry ended early");
            }
            Event::End => self.ended = true,
        }
    }
}
