//! The option-haggling phase as a pure state machine: each option in,
//! bytes to send (or an export to look up) out. The connection code does the
//! socket I/O and the volume lookup; everything the protocol decides is here.

use super::codec::{self, CodecError};
use super::proto::*;

/// The id we give base:allocation when a client selects it.
pub const ALLOCATION_CONTEXT_ID: u32 = 1;

/// Size constraints we advertise: any byte granularity, 4 KiB preferred,
/// 32 MiB per request payload (what interoperable clients expect).
pub const MIN_BLOCK: u32 = 1;
pub const PREFERRED_BLOCK: u32 = 4096;
pub const MAX_PAYLOAD: u32 = 32 << 20;

/// Option data longer than this is hostile: no option we know needs it.
pub const MAX_OPTION_DATA: u32 = 64 << 10;

/// What the connection must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes and read the next option.
    Reply(Vec<u8>),
    /// Send these bytes (possibly none) and close the connection.
    Close(Vec<u8>),
    /// Look the export up, then call [`Negotiation::export_reply`].
    Lookup(Lookup),
}

/// An export the client asked about (INFO), wants to use (GO), or named the
/// old way (EXPORT_NAME).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub option: u32,
    pub name: String,
    pub infos: Vec<u16>,
}

/// What a looked-up export is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    pub size: u64,
    pub read_only: bool,
    pub description: String,
}

/// What transmission will run with, fixed once GO succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub export: String,
    pub size: u64,
    pub flags: u16,
    /// Structured replies were negotiated.
    pub structured: bool,
    /// base:allocation was selected for this export (BLOCK_STATUS allowed).
    pub allocation_context: Option<u32>,
}

/// The negotiated state so far.
#[derive(Debug, Default)]
pub struct Negotiation {
    no_zeroes: bool,
    structured: bool,
    /// The export base:allocation was last selected for (SET_META_CONTEXT).
    meta_export: Option<String>,
}

impl Negotiation {
    pub fn new(flags: codec::ClientFlags) -> Self {
        Negotiation {
            no_zeroes: flags.no_zeroes,
            ..Default::default()
        }
    }

    /// Handles one option and its data.
    pub fn on_option(&mut self, opt: u32, data: &[u8]) -> Step {
        let invalid =
            |e: CodecError| Step::Reply(codec::option_error(opt, REP_ERR_INVALID, &e.to_string()));
        match opt {
            OPT_ABORT => Step::Close(codec::option_reply(opt, REP_ACK, &[])),
            OPT_LIST => {
                if !data.is_empty() {
                    return Step::Reply(codec::option_error(
                        opt,
                        REP_ERR_INVALID,
                        "NBD_OPT_LIST takes no data",
                    ));
                }
                // Export names are capabilities handed out by the volume
                // API (they carry the attachment id), so none is listed.
                Step::Reply(codec::option_reply(opt, REP_ACK, &[]))
            }
            OPT_STRUCTURED_REPLY => {
                if !data.is_empty() {
                    return Step::Reply(codec::option_error(
                        opt,
                        REP_ERR_INVALID,
                        "NBD_OPT_STRUCTURED_REPLY takes no data",
                    ));
                }
                self.structured = true;
                Step::Reply(codec::option_reply(opt, REP_ACK, &[]))
            }
            OPT_LIST_META_CONTEXT | OPT_SET_META_CONTEXT => {
                if !self.structured {
                    if opt == OPT_SET_META_CONTEXT {
                        self.meta_export = None;
                    }
                    return Step::Reply(codec::option_error(
                        opt,
                        REP_ERR_INVALID,
                        "negotiate structured replies first",
                    ));
                }
                match codec::parse_meta(data) {
                    Ok(m) => Step::Reply(self.meta(opt, m)),
                    Err(e) => {
                        if opt == OPT_SET_META_CONTEXT {
                            self.meta_export = None;
                        }
                        invalid(e)
                    }
                }
            }
            OPT_INFO | OPT_GO => match codec::parse_go(data) {
                Ok(g) => Step::Lookup(Lookup {
                    option: opt,
                    name: g.name,
                    infos: g.infos,
                }),
                Err(e) => invalid(e),
            },
            OPT_EXPORT_NAME => match String::from_utf8(data.to_vec()) {
                Ok(name) => Step::Lookup(Lookup {
                    option: opt,
                    name,
                    infos: Vec::new(),
                }),
                // EXPORT_NAME cannot carry an error: the protocol says close.
                Err(_) => Step::Close(Vec::new()),
            },
            OPT_EXTENDED_HEADERS => Step::Reply(codec::option_error(
                opt,
                REP_ERR_UNSUP,
                "extended headers are not supported",
            )),
            OPT_STARTTLS => Step::Reply(codec::option_error(
                opt,
                REP_ERR_UNSUP,
                "TLS is not offered on this port",
            )),
            _ => Step::Reply(codec::option_error(opt, REP_ERR_UNSUP, "unknown option")),
        }
    }

    fn meta(&mut self, opt: u32, m: codec::MetaRequest) -> Vec<u8> {
        let list = opt == OPT_LIST_META_CONTEXT;
        let selected = if list {
            // No query lists everything; `base:` is the namespace wildcard.
            m.queries.is_empty()
                || m.queries
                    .iter()
                    .any(|q| q == "base:" || q == BASE_ALLOCATION)
        } else {
            m.queries.iter().any(|q| q == BASE_ALLOCATION)
        };
        let mut out = Vec::new();
        if selected {
            // In a list the id is reserved and SHOULD be zero.
            let id = if list { 0 } else { ALLOCATION_CONTEXT_ID };
            out.extend(codec::option_reply(
                opt,
                REP_META_CONTEXT,
                &codec::rep_meta_context(id, BASE_ALLOCATION),
            ));
        }
        if !list {
            self.meta_export = selected.then(|| m.export.clone());
        }
        out.extend(codec::option_reply(opt, REP_ACK, &[]));
        out
    }

    /// The transmission flags an export gets on this connection.
    pub fn transmission_flags(&self, read_only: bool) -> u16 {
        let mut f = TFLAG_HAS_FLAGS
            | TFLAG_SEND_FLUSH
            | TFLAG_SEND_FUA
            | TFLAG_SEND_TRIM
            | TFLAG_SEND_WRITE_ZEROES
            | TFLAG_SEND_FAST_ZERO
            // Every connection to a volume on this gateway shares one cache,
            // and FLUSH on any of them writes all of it back: that is what
            // multi-conn promises.
            | TFLAG_CAN_MULTI_CONN;
        if self.structured {
            f |= TFLAG_SEND_DF;
        }
        if read_only {
            f |= TFLAG_READ_ONLY;
        }
        f
    }

    /// The answer to a looked-up export (`None`: no such export, or not
    /// allowed). Returns the bytes to send and, when the client now enters
    /// transmission, its session.
    pub fn export_reply(
        &self,
        lookup: &Lookup,
        export: Option<&ExportInfo>,
    ) -> (Vec<u8>, Option<Session>) {
        let opt = lookup.option;
        let Some(e) = export else {
            if opt == OPT_EXPORT_NAME {
                return (Vec::new(), None);
            }
            let msg = format!("no such export {:?}", lookup.name);
            return (codec::option_error(opt, REP_ERR_UNKNOWN, &msg), None);
        };
        let flags = self.transmission_flags(e.read_only);
        let session = Session {
            export: lookup.name.clone(),
            size: e.size,
            flags,
            structured: self.structured,
            allocation_context: (self.meta_export.as_deref() == Some(lookup.name.as_str()))
                .then_some(ALLOCATION_CONTEXT_ID),
        };
        if opt == OPT_EXPORT_NAME {
            return (
                codec::export_name_reply(e.size, flags, self.no_zeroes),
                Some(session),
            );
        }
        let mut out = codec::option_reply(opt, REP_INFO, &codec::info_export(e.size, flags));
        out.extend(codec::option_reply(
            opt,
            REP_INFO,
            &codec::info_block_size(MIN_BLOCK, PREFERRED_BLOCK, MAX_PAYLOAD),
        ));
        if lookup.infos.contains(&INFO_NAME) {
            out.extend(codec::option_reply(
                opt,
                REP_INFO,
                &codec::info_text(INFO_NAME, &lookup.name),
            ));
        }
        if lookup.infos.contains(&INFO_DESCRIPTION) && !e.description.is_empty() {
            out.extend(codec::option_reply(
                opt,
                REP_INFO,
                &codec::info_text(INFO_DESCRIPTION, &e.description),
            ));
        }
        out.extend(codec::option_reply(opt, REP_ACK, &[]));
        (out, (opt == OPT_GO).then_some(session))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits concatenated option replies into (option, type, data).
    fn replies(mut b: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            assert_eq!(&b[..8], &OPT_REPLY_MAGIC.to_be_bytes());
            let opt = u32::from_be_bytes(b[8..12].try_into().unwrap());
            let typ = u32::from_be_bytes(b[12..16].try_into().unwrap());
            let len = u32::from_be_bytes(b[16..20].try_into().unwrap()) as usize;
            out.push((opt, typ, b[20..20 + len].to_vec()));
            b = &b[20 + len..];
        }
        out
    }

    fn meta_data(export: &str, queries: &[&str]) -> Vec<u8> {
        let mut d = (export.len() as u32).to_be_bytes().to_vec();
        d.extend_from_slice(export.as_bytes());
        d.extend_from_slice(&(queries.len() as u32).to_be_bytes());
        for q in queries {
            d.extend_from_slice(&(q.len() as u32).to_be_bytes());
            d.extend_from_slice(q.as_bytes());
        }
        d
    }

    fn go_data(name: &str, infos: &[u16]) -> Vec<u8> {
        let mut d = (name.len() as u32).to_be_bytes().to_vec();
        d.extend_from_slice(name.as_bytes());
        d.extend_from_slice(&(infos.len() as u16).to_be_bytes());
        for i in infos {
            d.extend_from_slice(&i.to_be_bytes());
        }
        d
    }

    fn reply(s: Step) -> Vec<(u32, u32, Vec<u8>)> {
        match s {
            Step::Reply(b) => replies(&b),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn new() -> Negotiation {
        Negotiation::new(codec::ClientFlags { no_zeroes: true })
    }

    const EXPORT: ExportInfo = ExportInfo {
        size: 1 << 30,
        read_only: false,
        description: String::new(),
    };

    #[test]
    fn qemu_sequence_selects_allocation_and_goes() {
        // qemu 10: EXTENDED_HEADERS (refused), STRUCTURED_REPLY,
        // SET_META_CONTEXT base:allocation, GO with BLOCK_SIZE.
        let mut n = new();
        let r = reply(n.on_option(OPT_EXTENDED_HEADERS, &[]));
        assert_eq!(r[0].1, REP_ERR_UNSUP);
        let r = reply(n.on_option(OPT_STRUCTURED_REPLY, &[]));
        assert_eq!(r, vec![(OPT_STRUCTURED_REPLY, REP_ACK, vec![])]);
        let r = reply(n.on_option(
            OPT_SET_META_CONTEXT,
            &meta_data("v", &[BASE_ALLOCATION, "qemu:dirty-bitmap:a"]),
        ));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1, REP_META_CONTEXT);
        assert_eq!(&r[0].2[..4], &ALLOCATION_CONTEXT_ID.to_be_bytes());
        assert_eq!(&r[0].2[4..], BASE_ALLOCATION.as_bytes());
        assert_eq!(r[1].1, REP_ACK);
        let Step::Lookup(l) = n.on_option(OPT_GO, &go_data("v", &[INFO_BLOCK_SIZE])) else {
            panic!("GO must look the export up");
        };
        let (bytes, session) = n.export_reply(&l, Some(&EXPORT));
        let session = session.unwrap();
        assert!(session.structured);
        assert_eq!(session.allocation_context, Some(ALLOCATION_CONTEXT_ID));
        assert_ne!(session.flags & TFLAG_CAN_MULTI_CONN, 0);
        assert_ne!(session.flags & TFLAG_SEND_DF, 0);
        let r = replies(&bytes);
        assert_eq!(r.last().unwrap().1, REP_ACK);
        let export = r
            .iter()
            .find(|x| x.2[..2] == INFO_EXPORT.to_be_bytes())
            .unwrap();
        assert_eq!(export.2.len(), 12);
        assert_eq!(&export.2[2..10], &(1u64 << 30).to_be_bytes());
        let bs = r
            .iter()
            .find(|x| x.2[..2] == INFO_BLOCK_SIZE.to_be_bytes())
            .unwrap();
        assert_eq!(bs.2.len(), 14);
    }

    #[test]
    fn meta_context_for_another_export_does_not_carry_over() {
        let mut n = new();
        reply(n.on_option(OPT_STRUCTURED_REPLY, &[]));
        reply(n.on_option(OPT_SET_META_CONTEXT, &meta_data("a", &[BASE_ALLOCATION])));
        let Step::Lookup(l) = n.on_option(OPT_GO, &go_data("b", &[])) else {
            panic!()
        };
        let (_, s) = n.export_reply(&l, Some(&EXPORT));
        assert_eq!(s.unwrap().allocation_context, None);
    }

    #[test]
    fn meta_context_needs_structured_replies() {
        let mut n = new();
        let r = reply(n.on_option(OPT_SET_META_CONTEXT, &meta_data("a", &[BASE_ALLOCATION])));
        assert_eq!(r[0].1, REP_ERR_INVALID);
        let Step::Lookup(l) = n.on_option(OPT_GO, &go_data("a", &[])) else {
            panic!()
        };
        let (_, s) = n.export_reply(&l, Some(&EXPORT));
        let s = s.unwrap();
        assert!(!s.structured);
        assert_eq!(s.flags & TFLAG_SEND_DF, 0);
        assert_eq!(s.allocation_context, None);
    }

    #[test]
    fn list_meta_context_wildcards() {
        let mut n = new();
        reply(n.on_option(OPT_STRUCTURED_REPLY, &[]));
        for q in [&[][..], &["base:"][..], &[BASE_ALLOCATION][..]] {
            let r = reply(n.on_option(OPT_LIST_META_CONTEXT, &meta_data("", q)));
            assert_eq!(r.len(), 2, "{q:?}");
            assert_eq!(&r[0].2[..4], &[0, 0, 0, 0]);
        }
        let r = reply(n.on_option(OPT_LIST_META_CONTEXT, &meta_data("", &["x-other:"])));
        assert_eq!(r, vec![(OPT_LIST_META_CONTEXT, REP_ACK, vec![])]);
        // SET with no queries selects nothing.
        let r = reply(n.on_option(OPT_SET_META_CONTEXT, &meta_data("", &[])));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn nbdinfo_sequence() {
        // STRUCTURED_REPLY, INFO [NAME, DESCRIPTION, BLOCK_SIZE], LIST_META_CONTEXT, LIST, GO, ...
        let mut n = new();
        reply(n.on_option(OPT_STRUCTURED_REPLY, &[]));
        let Step::Lookup(l) = n.on_option(
            OPT_INFO,
            &go_data("v", &[INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE]),
        ) else {
            panic!()
        };
        let e = ExportInfo {
            description: "volume v".into(),
            ..EXPORT
        };
        let (bytes, s) = n.export_reply(&l, Some(&e));
        assert!(s.is_none(), "INFO stays in negotiation");
        let r = replies(&bytes);
        assert_eq!(r.len(), 5);
        let r = reply(n.on_option(OPT_LIST, &[]));
        assert_eq!(r, vec![(OPT_LIST, REP_ACK, vec![])]);
        let r = reply(n.on_option(OPT_LIST, &[1]));
        assert_eq!(r[0].1, REP_ERR_INVALID);
        assert!(matches!(n.on_option(OPT_ABORT, &[]), Step::Close(b) if b.len() == 20));
    }

    #[test]
    fn unknown_export_and_bad_data() {
        let mut n = new();
        let Step::Lookup(l) = n.on_option(OPT_GO, &go_data("nope", &[])) else {
            panic!()
        };
        let (bytes, s) = n.export_reply(&l, None);
        assert!(s.is_none());
        assert_eq!(replies(&bytes)[0].1, REP_ERR_UNKNOWN);
        let r = reply(n.on_option(OPT_GO, &[0, 0, 0, 9]));
        assert_eq!(r[0].1, REP_ERR_INVALID);
        let r = reply(n.on_option(OPT_STRUCTURED_REPLY, &[1, 2]));
        assert_eq!(r[0].1, REP_ERR_INVALID);
        let r = reply(n.on_option(99, &[]));
        assert_eq!(r[0].1, REP_ERR_UNSUP);
        let r = reply(n.on_option(OPT_STARTTLS, &[]));
        assert_eq!(r[0].1, REP_ERR_UNSUP);
        // EXPORT_NAME of an unknown export: close without a word.
        let Step::Lookup(l) = n.on_option(OPT_EXPORT_NAME, b"nope") else {
            panic!()
        };
        assert_eq!(n.export_reply(&l, None), (Vec::new(), None));
        assert_eq!(
            n.on_option(OPT_EXPORT_NAME, &[0xff]),
            Step::Close(Vec::new())
        );
    }

    #[test]
    fn export_name_reply_honours_no_zeroes() {
        let mut n = Negotiation::new(codec::ClientFlags { no_zeroes: false });
        let Step::Lookup(l) = n.on_option(OPT_EXPORT_NAME, b"v") else {
            panic!()
        };
        let (bytes, s) = n.export_reply(&l, Some(&EXPORT));
        assert_eq!(bytes.len(), 134);
        assert!(s.is_some());
    }

    #[test]
    fn read_only_flag() {
        let n = new();
        assert_ne!(n.transmission_flags(true) & TFLAG_READ_ONLY, 0);
        assert_eq!(n.transmission_flags(false) & TFLAG_READ_ONLY, 0);
    }
}
