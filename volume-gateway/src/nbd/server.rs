//! NBD connections, over TCP or over a Unix socket for clients on the
//! gateway's own host: the handshake driven by [`Negotiation`], then the
//! transmission loop. Requests run concurrently (replies match by cookie);
//! the payload bytes in flight per connection are bounded, so a client
//! cannot make the gateway buffer more than that.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{Mutex, Semaphore};
use tracing::{debug, info, warn};

use super::codec::{self, Request, REQUEST_LEN};
use super::command::{self, Command, Verdict};
use super::negotiate::{ExportInfo, Negotiation, Session, Step, MAX_OPTION_DATA};
use super::proto::*;
use crate::store::lifecycle::Store;
use crate::store::registry::Lease;
use crate::store::volume::OpenVolume;

/// How long a client may take over each step of the handshake.
const HANDSHAKE_STEP: Duration = Duration::from_secs(30);
/// Options one handshake may send before we give up on it.
const MAX_OPTIONS: usize = 256;
/// Payload and reply bytes in flight per connection.
const IN_FLIGHT_BYTES: usize = 64 << 20;

type Writer<W> = Arc<Mutex<W>>;

/// Where NBD clients connect.
pub enum Listener {
    Tcp(TcpListener),
    /// A Unix socket: for qemu and libvirt on the gateway's own host,
    /// reachable only as the socket file's permissions allow.
    Unix(UnixListener),
}

/// A client connection of either kind.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listener {
    async fn accept(&self) -> io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                Ok((Stream::Tcp(s), peer.to_string()))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                let peer = match s.peer_cred() {
                    Ok(c) => format!("unix pid {}", c.pid().unwrap_or(0)),
                    Err(_) => "unix".into(),
                };
                Ok((Stream::Unix(s), peer))
            }
        }
    }
}

/// Binds the Unix socket at `path`. A socket file left by a gateway that
/// is gone is replaced; one another process still answers on, or a file
/// that is not a socket, is an error (nothing is removed).
pub async fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match UnixStream::connect(path).await {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: another process serves this socket", path.display()),
                ))
            }
            Err(_) => std::fs::remove_file(path)?,
        },
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists and is not a socket", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    UnixListener::bind(path)
}

/// Accepts NBD connections until `shutdown` resolves (a Unix socket's
/// file is removed then).
pub async fn serve(
    listener: Listener,
    store: Arc<Store>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let socket_file = match &listener {
        Listener::Unix(l) => l
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(PathBuf::from)),
        Listener::Tcp(_) => None,
    };
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "nbd accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let store = store.clone();
        tokio::spawn(async move {
            let r = match stream {
                Stream::Tcp(s) => {
                    let _ = s.set_nodelay(true);
                    let (rd, wr) = s.into_split();
                    connection(rd, wr, &peer, store).await
                }
                Stream::Unix(s) => {
                    let (rd, wr) = s.into_split();
                    connection(rd, wr, &peer, store).await
                }
            };
            if let Err(e) = r {
                debug!(%peer, error = %e, "nbd connection ended");
            }
        });
    }
    if let Some(p) = socket_file {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

async fn timed<T>(f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(HANDSHAKE_STEP, f)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake too slow"))?
}

async fn connection<R, W>(rd: R, mut wr: W, peer: &str, store: Arc<Store>) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut rd = BufReader::with_capacity(256 << 10, rd);
    let Some((session, lease)) = handshake(&mut rd, &mut wr, &store).await? else {
        return Ok(());
    };
    info!(%peer, export = %session.export, size = session.size, "nbd client attached");
    let result = transmission(rd, wr, &session, &lease).await;
    store.registry.release(&lease).await;
    info!(%peer, export = %session.export, "nbd client detached");
    result
}

/// Runs the option phase; `Some` once the client entered transmission.
async fn handshake<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    rd: &mut BufReader<R>,
    wr: &mut W,
    store: &Store,
) -> io::Result<Option<(Session, Lease)>> {
    wr.write_all(&codec::greeting()).await?;
    let flags = timed(rd.read_u32()).await?;
    let Ok(cf) = codec::parse_client_flags(flags) else {
        return Ok(None);
    };
    let mut neg = Negotiation::new(cf);
    for _ in 0..MAX_OPTIONS {
        let mut h = [0u8; 16];
        timed(rd.read_exact(&mut h)).await?;
        // A transmission request or garbage before negotiation ends: the
        // stream is not NBD option haggling, so drop it.
        let Ok((opt, len)) = codec::parse_option_header(&h) else {
            return Ok(None);
        };
        if len > MAX_OPTION_DATA {
            return Ok(None);
        }
        let mut data = vec![0u8; len as usize];
        timed(rd.read_exact(&mut data)).await?;
        let lookup = match neg.on_option(opt, &data) {
            Step::Reply(b) => {
                wr.write_all(&b).await?;
                continue;
            }
            Step::Close(b) => {
                wr.write_all(&b).await?;
                return Ok(None);
            }
            Step::Lookup(l) => l,
        };
        let info = |v: &crate::store::records::VolumeRecord, read_only| ExportInfo {
            size: v.size_bytes(),
            read_only,
            description: v.name.clone().unwrap_or_default(),
        };
        if lookup.option == OPT_INFO {
            let found = match store.describe_export(&lookup.name).await {
                Ok(f) => f,
                Err(e) => {
                    warn!(export = %lookup.name, error = %e, "export lookup failed");
                    None
                }
            };
            let e = found.map(|(v, ro)| info(&v, ro));
            let (bytes, _) = neg.export_reply(&lookup, e.as_ref());
            wr.write_all(&bytes).await?;
            continue;
        }
        let opened = match store.open_export(&lookup.name).await {
            Ok(o) => o,
            Err(e) => {
                warn!(export = %lookup.name, error = %e, "opening an export failed");
                None
            }
        };
        let e = opened.as_ref().map(|(_, ro, v)| info(v, *ro));
        let (bytes, session) = neg.export_reply(&lookup, e.as_ref());
        let sent = wr.write_all(&bytes).await;
        match (session, opened) {
            (Some(s), Some((lease, _, _))) => {
                if let Err(e) = sent {
                    store.registry.release(&lease).await;
                    return Err(e);
                }
                return Ok(Some((s, lease)));
            }
            (_, Some((lease, _, _))) => store.registry.release(&lease).await,
            _ => {}
        }
        sent?;
        if lookup.option == OPT_EXPORT_NAME {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Reads and drops `n` payload bytes.
async fn skip(rd: &mut (impl AsyncRead + Unpin), n: u32) -> io::Result<()> {
    let copied = tokio::io::copy(&mut rd.take(u64::from(n)), &mut tokio::io::sink()).await?;
    if copied < u64::from(n) {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

async fn transmission<R, W>(
    mut rd: BufReader<R>,
    wr: W,
    s: &Session,
    lease: &Lease,
) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let wr: Writer<W> = Arc::new(Mutex::new(wr));
    let budget = Arc::new(Semaphore::new(IN_FLIGHT_BYTES));
    let mut tasks = tokio::task::JoinSet::new();
    let result = loop {
        let mut h = [0u8; REQUEST_LEN];
        tokio::select! {
            r = rd.read_exact(&mut h) => if let Err(e) = r {
                // The client went away (maybe mid-request): nothing to answer.
                break if e.kind() == io::ErrorKind::UnexpectedEof { Ok(()) } else { Err(e) };
            },
            _ = lease.kick.notified() => {
                info!(export = %s.export, "detached by the API: closing the connection");
                break Ok(());
            }
        }
        while tasks.try_join_next().is_some() {}
        let Ok(req) = codec::parse_request(&h) else {
            break Ok(());
        };
        let cmd = match command::check(&req, s) {
            Verdict::Close(why) => {
                warn!(export = %s.export, why, "dropping an nbd client");
                break Ok(());
            }
            Verdict::Fail {
                errno,
                message,
                skip: n,
            } => {
                if n > 0 {
                    if let Err(e) = skip(&mut rd, n).await {
                        break Err(e);
                    }
                }
                let bytes = error_reply(s, &req, errno, message);
                if let Err(e) = wr.lock().await.write_all(&bytes).await {
                    break Err(e);
                }
                continue;
            }
            Verdict::Run(Command::Disconnect) => break Ok(()),
            Verdict::Run(c) => c,
        };
        let cost = match cmd {
            Command::Read { len, .. } | Command::Write { len, .. } => (len as usize).max(1),
            _ => 1,
        };
        let Ok(permit) = budget.clone().acquire_many_owned(cost as u32).await else {
            break Ok(());
        };
        let payload = if let Command::Write { len, .. } = cmd {
            match read_payload(&mut rd, len as usize).await {
                Ok(p) => p,
                Err(e) => break Err(e),
            }
        } else {
            Bytes::new()
        };
        let (vol, wr, s2) = (lease.vol.clone(), wr.clone(), s.clone());
        tasks.spawn(async move {
            let mut reply = run(&vol, &s2, &req, cmd, &payload).await;
            drop(payload);
            let mut w = wr.lock().await;
            let _ = write_parts(&mut *w, &mut reply).await;
            drop(permit);
        });
    };
    // Requests already taken are answered before the connection closes.
    while tasks.join_next().await.is_some() {}
    if let Ok(mut w) = Arc::try_unwrap(wr).map(Mutex::into_inner) {
        let _ = w.shutdown().await;
    }
    result
}

/// A write's payload, read into a buffer it is not first zeroed in.
async fn read_payload(rd: &mut (impl AsyncRead + Unpin), len: usize) -> io::Result<Bytes> {
    let mut p = BytesMut::with_capacity(len);
    while p.len() < len {
        let want = (len - p.len()) as u64;
        if (&mut *rd).take(want).read_buf(&mut p).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(p.freeze())
}

/// Writes a reply's parts, several per system call (a header does not go
/// out as a packet of its own).
async fn write_parts(w: &mut (impl AsyncWrite + Unpin), parts: &mut [Bytes]) -> io::Result<()> {
    let mut i = 0;
    while i < parts.len() {
        let slices: Vec<io::IoSlice<'_>> = parts[i..]
            .iter()
            .take(64)
            .map(|p| io::IoSlice::new(p))
            .collect();
        let mut n = w.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 && i < parts.len() {
            let k = n.min(parts[i].len());
            parts[i].advance(k);
            n -= k;
            if parts[i].is_empty() {
                i += 1;
            }
        }
        while i < parts.len() && parts[i].is_empty() {
            i += 1;
        }
    }
    Ok(())
}

/// The error answer to a request: a structured error chunk where the
/// protocol needs one (READ, BLOCK_STATUS after structured replies), else a
/// simple reply.
fn error_reply(s: &Session, req: &Request, errno: u32, message: &str) -> Vec<u8> {
    let structured_kind = req.kind == CMD_READ || req.kind == CMD_BLOCK_STATUS;
    if s.structured && structured_kind {
        codec::error_chunk(errno, req.cookie, message)
    } else {
        codec::simple_reply(errno, req.cookie).to_vec()
    }
}

/// Runs one command and returns its reply (header and data parts).
async fn run(
    vol: &Arc<OpenVolume>,
    s: &Session,
    req: &Request,
    cmd: Command,
    payload: &Bytes,
) -> Vec<Bytes> {
    let ok = || vec![Bytes::copy_from_slice(&codec::simple_reply(0, req.cookie))];
    let fail = |e: crate::error::Error| {
        warn!(export = %s.export, error = %e, "nbd request failed");
        vec![Bytes::from(error_reply(s, req, e.errno(), &e.to_string()))]
    };
    match cmd {
        Command::Read { offset, len } => match vol.read(offset, len as usize).await {
            Ok(mut data) => {
                let head = if !s.structured {
                    codec::simple_reply(0, req.cookie).to_vec()
                } else if len == 0 {
                    return vec![Bytes::copy_from_slice(&codec::none_chunk(req.cookie))];
                } else {
                    codec::data_chunk_header(req.cookie, offset, len).to_vec()
                };
                data.insert(0, Bytes::from(head));
                data
            }
            Err(e) => fail(e),
        },
        Command::Write { offset, fua, .. } => match vol.write(offset, payload, fua).await {
            Ok(()) => ok(),
            Err(e) => fail(e),
        },
        Command::Flush => match vol.flush().await {
            Ok(()) => ok(),
            Err(e) => fail(e),
        },
        Command::Trim { offset, len, fua } => {
            match vol.zero(offset, u64::from(len), false, fua).await {
                Ok(()) => ok(),
                Err(e) => fail(e),
            }
        }
        Command::WriteZeroes {
            offset,
            len,
            fua,
            no_hole,
            fast,
        } => {
            // Holes are free; allocated zeroes cost as much as a write.
            if fast && no_hole {
                return vec![Bytes::from(error_reply(
                    s,
                    req,
                    ENOTSUP,
                    "allocated zeroes are not fast",
                ))];
            }
            match vol.zero(offset, u64::from(len), no_hole, fua).await {
                Ok(()) => ok(),
                Err(e) => fail(e),
            }
        }
        Command::BlockStatus {
            offset,
            len,
            req_one,
        } => {
            let raw = vol.extents(offset, u64::from(len.max(1)).min(s.size - offset));
            let shaped = command::shape_extents(&raw, len, req_one);
            if shaped.is_empty() {
                return vec![Bytes::from(error_reply(
                    s,
                    req,
                    EINVAL,
                    "no extent at the end of the volume",
                ))];
            }
            let ctx = s.allocation_context.unwrap_or(0);
            vec![Bytes::from(codec::block_status_chunk(
                req.cookie, ctx, &shaped,
            ))]
        }
        Command::Cache => ok(),
        Command::Disconnect => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stale_socket_is_replaced_a_live_one_or_a_file_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nbd.sock");
        // A socket file whose listener is gone: replaced.
        drop(bind_unix(&path).await.expect("first bind"));
        assert!(path.exists());
        let live = bind_unix(&path).await.expect("stale socket replaced");
        // A socket something still listens on: refused, and kept.
        let e = bind_unix(&path).await.expect_err("live socket");
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert!(UnixStream::connect(&path).await.is_ok());
        drop(live);
        // A file that is not a socket: refused, never removed.
        let file = dir.path().join("data");
        std::fs::write(&file, b"keep").expect("write");
        let e = bind_unix(&file).await.expect_err("a plain file");
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&file).expect("read"), b"keep");
    }

    #[tokio::test]
    async fn parts_go_out_whole_and_in_order_through_short_writes() {
        // A pipe that takes a few bytes at a time: every part boundary and
        // partial write is crossed.
        let (mut a, mut b) = tokio::io::duplex(7);
        let parts: Vec<Bytes> = vec![
            Bytes::from_static(b"head"),
            Bytes::new(),
            Bytes::from((0..200u8).collect::<Vec<u8>>()),
            Bytes::from_static(b"z"),
        ];
        let want: Vec<u8> = parts.iter().flat_map(|p| p.to_vec()).collect();
        let mut sent = parts.clone();
        let writer = tokio::spawn(async move {
            write_parts(&mut a, &mut sent).await.expect("write");
        });
        let mut got = vec![0u8; want.len()];
        b.read_exact(&mut got).await.expect("read");
        writer.await.expect("writer");
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_payload_is_read_exactly_and_a_short_one_fails() {
        let (mut a, b) = tokio::io::duplex(5);
        let mut rd = BufReader::with_capacity(3, b);
        tokio::spawn(async move {
            a.write_all(b"0123456789abc").await.expect("write");
        });
        assert_eq!(
            &read_payload(&mut rd, 10).await.expect("10")[..],
            b"0123456789"
        );
        let mut rest = [0u8; 3];
        rd.read_exact(&mut rest).await.expect("rest");
        assert_eq!(&rest, b"abc");
        let e = read_payload(&mut rd, 1).await.expect_err("eof");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
