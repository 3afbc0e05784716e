//! Listening sockets for every role, with a deep accept queue: a burst of
//! clients (hundreds connecting at once to the proxy, and the proxy's own
//! fan-out to the storage servers) waits in the kernel's queue instead of
//! having its SYNs dropped, which the connecting side only notices as a
//! connect timeout. The kernel caps the queue at `net.core.somaxconn`
//! (4096 on current kernels).
//!
//! A launcher that must write a port into a ring before its servers start
//! (`swirl aio`) reserves it here: the socket stays bound and listening in
//! this process, and the server's [`bind`] takes it over, so no other
//! process can take the port in between.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// The accept queue every listener asks for.
pub const BACKLOG: i32 = 4096;

/// Listening sockets reserved by [`reserve`], by address, until a server
/// binds that address.
static RESERVED: Mutex<Option<HashMap<SocketAddr, std::net::TcpListener>>> = Mutex::new(None);

/// Binds a listening socket on `ip` at a port the OS picks and keeps it for
/// a later [`bind`] of the same address in this process; returns the port.
pub fn reserve(ip: &str) -> io::Result<u16> {
    let ip: std::net::IpAddr = ip
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{ip}: {e}")))?;
    let s = socket_on(SocketAddr::new(ip, 0))?;
    let l: std::net::TcpListener = s.into();
    let addr = l.local_addr()?;
    let mut r = RESERVED
        .lock()
        .map_err(|_| io::Error::other("reserved listeners poisoned"))?;
    r.get_or_insert_with(HashMap::new).insert(addr, l);
    Ok(addr.port())
}

fn take_reserved(a: SocketAddr) -> Option<std::net::TcpListener> {
    RESERVED.lock().ok()?.as_mut()?.remove(&a)
}

/// Binds `addr` (`ip:port`, or a name that resolves) and listens with
/// [`BACKLOG`], trying each address the name resolves to.
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        if let Some(l) = take_reserved(a) {
            return TcpListener::from_std(l);
        }
        match listen_on(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: no address"))
    }))
}

fn listen_on(a: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::from_std(socket_on(a)?.into())
}

fn socket_on(a: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))?;
    // As tokio's bind: a restarted server rebinds at once past TIME_WAIT.
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&a.into())?;
    s.listen(BACKLOG)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_and_accepts() {
        let l = bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
        assert!(bind("no-such-host.invalid:1").await.is_err());
    }

    #[tokio::test]
    async fn a_reserved_port_is_held_until_bound() {
        let port = reserve("127.0.0.1").unwrap();
        let addr = format!("127.0.0.1:{port}");
        // Nobody else can bind it meanwhile (not even with SO_REUSEADDR,
        // which does not share a listening port).
        assert!(std::net::TcpListener::bind(&addr).is_err());
        let l = bind(&addr).await.unwrap();
        assert_eq!(l.local_addr().unwrap().port(), port);
        let _c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        assert!(l.accept().await.is_ok());
        assert!(reserve("not-an-ip").is_err());
    }
}
