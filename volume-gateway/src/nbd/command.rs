//! Transmission-phase requests judged without I/O: which command to run, or
//! which error the protocol says to answer, or that the stream cannot be
//! trusted any more. Also the shaping of block-status extents.

use super::codec::Request;
use super::negotiate::{Session, MAX_PAYLOAD};
use super::proto::*;

/// A request that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Read {
        offset: u64,
        len: u32,
    },
    Write {
        offset: u64,
        len: u32,
        fua: bool,
    },
    Flush,
    Trim {
        offset: u64,
        len: u32,
        fua: bool,
    },
    WriteZeroes {
        offset: u64,
        len: u32,
        fua: bool,
        no_hole: bool,
        fast: bool,
    },
    BlockStatus {
        offset: u64,
        len: u32,
        req_one: bool,
    },
    /// NBD_CMD_CACHE: a hint; answered with success.
    Cache,
    Disconnect,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Run(Command),
    /// Answer `errno` (after reading and dropping `skip` payload bytes).
    Fail {
        errno: u32,
        message: &'static str,
        skip: u32,
    },
    /// The request cannot be answered safely (a write payload too large to
    /// read): drop the connection.
    Close(&'static str),
}

/// Judges one request against the session.
pub fn check(r: &Request, s: &Session) -> Verdict {
    let end = r.offset.checked_add(u64::from(r.length));
    let past_end = end.is_none_or(|e| e > s.size);
    let read_only = s.flags & TFLAG_READ_ONLY != 0;
    let fail = |errno, message, skip| Verdict::Fail {
        errno,
        message,
        skip,
    };
    let flags_ok = |allowed: u16| r.flags & !allowed == 0;
    let fua = r.flags & CMD_FLAG_FUA != 0;
    match r.kind {
        CMD_READ => {
            let allowed = if s.structured {
                CMD_FLAG_FUA | CMD_FLAG_DF
            } else {
                CMD_FLAG_FUA
            };
            if !flags_ok(allowed) {
                fail(EINVAL, "unknown flag on READ", 0)
            } else if r.length > MAX_PAYLOAD {
                fail(EINVAL, "READ longer than the maximum payload", 0)
            } else if past_end {
                fail(EINVAL, "READ past the end of the volume", 0)
            } else {
                Verdict::Run(Command::Read {
                    offset: r.offset,
                    len: r.length,
                })
            }
        }
        CMD_WRITE => {
            if r.length > MAX_PAYLOAD {
                // Reading an untrusted multi-gigabyte payload only to throw
                // it away helps nobody; the protocol allows a disconnect.
                Verdict::Close("WRITE payload larger than the maximum")
            } else if !flags_ok(CMD_FLAG_FUA) {
                fail(EINVAL, "unknown flag on WRITE", r.length)
            } else if read_only {
                fail(EPERM, "the volume is attached read-only", r.length)
            } else if past_end {
                fail(ENOSPC, "WRITE past the end of the volume", r.length)
            } else {
                Verdict::Run(Command::Write {
                    offset: r.offset,
                    len: r.length,
                    fua,
                })
            }
        }
        CMD_DISC => Verdict::Run(Command::Disconnect),
        CMD_FLUSH => {
            if !flags_ok(0) {
                fail(EINVAL, "unknown flag on FLUSH", 0)
            } else {
                Verdict::Run(Command::Flush)
            }
        }
        CMD_TRIM => {
            if !flags_ok(CMD_FLAG_FUA) {
                fail(EINVAL, "unknown flag on TRIM", 0)
            } else if read_only {
                fail(EPERM, "the volume is attached read-only", 0)
            } else if past_end {
                fail(EINVAL, "TRIM past the end of the volume", 0)
            } else {
                Verdict::Run(Command::Trim {
                    offset: r.offset,
                    len: r.length,
                    fua,
                })
            }
        }
        CMD_WRITE_ZEROES => {
            if !flags_ok(CMD_FLAG_FUA | CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO) {
                fail(EINVAL, "unknown flag on WRITE_ZEROES", 0)
            } else if read_only {
                fail(EPERM, "the volume is attached read-only", 0)
            } else if past_end {
                fail(ENOSPC, "WRITE_ZEROES past the end of the volume", 0)
            } else {
                Verdict::Run(Command::WriteZeroes {
                    offset: r.offset,
                    len: r.length,
                    fua,
                    no_hole: r.flags & CMD_FLAG_NO_HOLE != 0,
                    fast: r.flags & CMD_FLAG_FAST_ZERO != 0,
                })
            }
        }
        CMD_BLOCK_STATUS => {
            if !flags_ok(CMD_FLAG_REQ_ONE) {
                fail(EINVAL, "unknown flag on BLOCK_STATUS", 0)
            } else if s.allocation_context.is_none() {
                fail(EINVAL, "no metadata context was selected", 0)
            } else if past_end {
                fail(EINVAL, "BLOCK_STATUS past the end of the volume", 0)
            } else {
                Verdict::Run(Command::BlockStatus {
                    offset: r.offset,
                    len: r.length,
                    req_one: r.flags & CMD_FLAG_REQ_ONE != 0,
                })
            }
        }
        CMD_CACHE => {
            if past_end {
                fail(EINVAL, "CACHE past the end of the volume", 0)
            } else {
                Verdict::Run(Command::Cache)
            }
        }
        _ => fail(EINVAL, "unknown command", 0),
    }
}

/// Most extents one reply carries (the protocol's SHOULD).
pub const MAX_EXTENTS: usize = 1 << 20;

/// Turns storage extents (starting at the request offset, each `(length,
/// flags)`) into a reply: neighbours with equal flags merged, the total cut
/// to the requested length, one extent only with REQ_ONE. A request of
/// length 0 still gets one extent (the protocol needs at least one).
pub fn shape_extents(extents: &[(u64, u32)], req_len: u32, req_one: bool) -> Vec<(u32, u32)> {
    let want = u64::from(req_len.max(1));
    let mut out: Vec<(u64, u32)> = Vec::new();
    let mut total = 0u64;
    for &(len, flags) in extents {
        if total >= want || len == 0 {
            if total >= want {
                break;
            }
            continue;
        }
        let len = len.min(want - total);
        total += len;
        match out.last_mut() {
            Some(last) if last.1 == flags => last.0 += len,
            _ => out.push((len, flags)),
        }
    }
    if req_one {
        out.truncate(1);
    }
    out.truncate(MAX_EXTENTS);
    // Lengths fit u32: the total never exceeds the u32 request length.
    out.into_iter().map(|(l, f)| (l as u32, f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(size: u64, structured: bool, ctx: bool, ro: bool) -> Session {
        Session {
            export: "v".into(),
            size,
            flags: TFLAG_HAS_FLAGS | if ro { TFLAG_READ_ONLY } else { 0 },
            structured,
            allocation_context: ctx.then_some(1),
        }
    }

    fn req(kind: u16, flags: u16, offset: u64, length: u32) -> Request {
        Request {
            flags,
            kind,
            cookie: 1,
            offset,
            length,
        }
    }

    #[test]
    fn reads() {
        let s = session(1 << 20, true, true, false);
        assert_eq!(
            check(&req(CMD_READ, 0, 0, 4096), &s),
            Verdict::Run(Command::Read {
                offset: 0,
                len: 4096
            })
        );
        assert!(matches!(
            check(&req(CMD_READ, 0, (1 << 20) - 1, 2), &s),
            Verdict::Fail { errno: EINVAL, .. }
        ));
        assert!(matches!(
            check(&req(CMD_READ, 0, u64::MAX, 2), &s),
            Verdict::Fail { errno: EINVAL, .. }
        ));
        assert!(matches!(
            check(
                &req(CMD_READ, 0, 0, MAX_PAYLOAD + 1),
                &session(u64::MAX, true, true, false)
            ),
            Verdict::Fail { errno: EINVAL, .. }
        ));
        assert!(matches!(
            check(
                &req(CMD_READ, CMD_FLAG_DF, 0, 1),
                &session(10, false, false, false)
            ),
            Verdict::Fail { errno: EINVAL, .. }
        ));
    }

    #[test]
    fn writes() {
        let s = session(1 << 20, false, false, false);
        assert_eq!(
            check(&req(CMD_WRITE, CMD_FLAG_FUA, 512, 512), &s),
            Verdict::Run(Command::Write {
                offset: 512,
                len: 512,
                fua: true
            })
        );
        assert_eq!(
            check(&req(CMD_WRITE, 0, 1 << 20, 512), &s),
            Verdict::Fail {
                errno: ENOSPC,
                message: "WRITE past the end of the volume",
                skip: 512
            }
        );
        assert!(matches!(
            check(
                &req(CMD_WRITE, 0, 0, 512),
                &session(1 << 20, false, false, true)
            ),
            Verdict::Fail {
                errno: EPERM,
                skip: 512,
                ..
            }
        ));
        assert!(matches!(
            check(&req(CMD_WRITE, 0, 0, u32::MAX), &s),
            Verdict::Close(_)
        ));
        assert!(matches!(
            check(&req(CMD_WRITE, 0x100, 0, 8), &s),
            Verdict::Fail {
                errno: EINVAL,
                skip: 8,
                ..
            }
        ));
    }

    #[test]
    fn zeroes_trim_status() {
        let s = session(1 << 30, true, true, false);
        assert_eq!(
            check(
                &req(
                    CMD_WRITE_ZEROES,
                    CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO,
                    0,
                    1 << 30
                ),
                &s
            ),
            Verdict::Run(Command::WriteZeroes {
                offset: 0,
                len: 1 << 30,
                fua: false,
                no_hole: true,
                fast: true
            })
        );
        assert!(matches!(
            check(&req(CMD_TRIM, 0, 1 << 30, 1), &s),
            Verdict::Fail { errno: EINVAL, .. }
        ));
        assert!(matches!(
            check(&req(CMD_BLOCK_STATUS, CMD_FLAG_REQ_ONE, 0, 1), &s),
            Verdict::Run(Command::BlockStatus { req_one: true, .. })
        ));
        assert!(matches!(
            check(
                &req(CMD_BLOCK_STATUS, 0, 0, 1),
                &session(10, true, false, false)
            ),
            Verdict::Fail { errno: EINVAL, .. }
        ));
        assert!(matches!(
            check(&req(42, 0, 0, 0), &s),
            Verdict::Fail { errno: EINVAL, .. }
        ));
        assert_eq!(
            check(&req(CMD_DISC, 0, 0, 0), &s),
            Verdict::Run(Command::Disconnect)
        );
        assert_eq!(
            check(&req(CMD_FLUSH, 0, 0, 0), &s),
            Verdict::Run(Command::Flush)
        );
    }

    #[test]
    fn extents_are_merged_cut_and_limited() {
        let e = [(100u64, 3u32), (50, 3), (200, 0), (1000, 3)];
        assert_eq!(
            shape_extents(&e, 400, false),
            vec![(150, 3), (200, 0), (50, 3)]
        );
        assert_eq!(shape_extents(&e, 120, true), vec![(120, 3)]);
        assert_eq!(shape_extents(&e, 10_000, false).len(), 3);
        assert_eq!(
            shape_extents(&[(1 << 40, 3)], u32::MAX, false),
            vec![(u32::MAX, 3)]
        );
        assert_eq!(shape_extents(&[(0, 1), (5, 0)], 0, false), vec![(1, 0)]);
    }
}
